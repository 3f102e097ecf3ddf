#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <thread>

#include <spdlog/spdlog.h>

#include "actors/stages.h"
#include "dataflow/curriculum.h"
#include "dataflow/commit_gate.h"
#include "dataflow/credit.h"
#include "dataflow/records.h"
#include "storage/job_store.h"

namespace vf {
namespace {

// An append-only JSON Lines file.
class LineFile {
 public:
  Status open(const std::string& path) {
    path_ = path;
    f_ = std::fopen(path.c_str(), "a");
    if (!f_) return Error{"cannot open " + path + ": " + std::strerror(errno)};
    return {};
  }
  ~LineFile() {
    if (f_) std::fclose(f_);
  }
  Status append(const std::string& line) {
    if (std::fwrite(line.data(), 1, line.size(), f_) != line.size() || std::fputc('\n', f_) == EOF)
      return Error{"cannot write " + path_ + ": " + std::strerror(errno)};
    return {};
  }
  Status flush(bool sync) {
    if (std::fflush(f_) != 0) return Error{"cannot write " + path_ + ": " + std::strerror(errno)};
    if (sync && fsync(fileno(f_)) != 0) return Error{"cannot sync " + path_ + ": " + std::strerror(errno)};
    return {};
  }
  bool is_open() const { return f_ != nullptr; }

 private:
  std::string path_;
  std::FILE* f_ = nullptr;
};

class Writer : public wire::writer_actor::base {
 public:
  Writer(caf::actor_config& cfg, WriterOptions options, wire::monitor_actor monitor)
      : wire::writer_actor::base(cfg),
        options_(std::move(options)),
        monitor_(std::move(monitor)),
        inbound_(options_.capacity, std::max<uint32_t>(1, options_.capacity / 4)),
        gate_(options_.target ? options_.target : CommitGate::kUnlimited),
        started_(std::chrono::steady_clock::now()) {}

  behavior_type make_behavior() override {
    if (auto s = init(); !s) fail(s.error());
    return {
        [this](const wire::attach_msg&) {
          upstream_ = caf::actor_cast<wire::upstream_actor>(current_sender());
          if (upstream_) send(upstream_, wire::pack(wire::Credit{inbound_.initial_grant(), false, {}}));
        },
        [this](const wire::item_batch_msg& m) { on_batch(m); },
        [this](const wire::eos_msg& m) { on_eos(m); },
    };
  }

  void on_exit() override {
    upstream_ = wire::upstream_actor{};
    monitor_ = wire::monitor_actor{};
    store_.reset();  // closes the job database
  }

 private:
  Status init() {
    if (options_.mode == WriterMode::kSeedCheck) {
      if (!options_.mismatches_file.empty())
        if (auto s = mismatches_.open(options_.mismatches_file); !s) return s;
      return options_.results_file.empty() ? Status{} : results_.open(options_.results_file);
    }
    if (auto s = accepted_.open(options_.out_dir + "/accepted.jsonl"); !s) return s;
    if (auto s = rejected_.open(options_.out_dir + "/rejected.jsonl"); !s) return s;
    if (auto s = sharegpt_.open(options_.out_dir + "/sft.sharegpt.jsonl"); !s) return s;
    if (auto s = openai_.open(options_.out_dir + "/sft.openai.jsonl"); !s) return s;
    if (auto s = rl_.open(options_.out_dir + "/rl.jsonl"); !s) return s;
    auto store = JobStore::open(options_.out_dir + "/db", {options_.sync, true});
    if (!store) return Error{store.error()};
    store_ = std::move(store.value());
    for (auto [k, v] : std::initializer_list<std::pair<std::string, std::string>>{
             {"format_version", std::to_string(kFormatVersion)},
             {"job_name", options_.job_name},
             {"config", options_.config_text},
             {"seed_hash", std::to_string(options_.seed_hash)},
             {"target_accepted", std::to_string(options_.target)}}) {
      if (auto s = store_->put_meta(k, v); !s) return s;
    }
    return {};
  }

  void fail(const std::string& error) {
    if (failed_) return;
    failed_ = true;
    spdlog::error("stage=writer event=failed error=\"{}\"", error);
    send(monitor_, wire::pack(wire::JobReport{false, error, ""}));
    quit(caf::make_error(caf::sec::runtime_error, error));
  }

  void on_batch(const wire::item_batch_msg& m) {
    if (failed_) return;
    auto batch = wire::unpack(m);
    if (!batch) return fail(batch.error());
    uint32_t n = static_cast<uint32_t>(batch->items.size());
    if (!inbound_.on_received(n))
      spdlog::error("stage=writer event=credit-overrun held={} capacity={}", inbound_.held(), inbound_.capacity());
    received_ += n;
    Status s = options_.mode == WriterMode::kSeedCheck ? write_seed_checks(batch->items)
                                                        : write_dataset(batch->items);
    if (!s) return fail(s.error());
    if (options_.delay_ms)
      std::this_thread::sleep_for(std::chrono::milliseconds(uint64_t{options_.delay_ms} * n));
    uint32_t g = inbound_.on_released(n);
    if ((g > 0 || !feedback_.empty()) && upstream_) {
      send(upstream_, wire::pack(wire::Credit{g, stop_sent_, std::move(feedback_)}));
      feedback_.clear();
    }
    if (gate_.target_covered() && !stop_sent_ && upstream_) {
      stop_sent_ = true;
      send(upstream_, wire::pack(wire::Credit{0, true, {}}));
      spdlog::info("stage=writer event=target-covered accepted_known={}", gate_.accepted_known());
    }
    report(false);
  }

  Status write_seed_checks(std::vector<Item>& items) {
    for (auto& item : items) {
      tally_seeds_.add(item);
      bool executed = !item.executions.empty() && item.executions.front().status == static_cast<uint8_t>(sandbox::RunStatus::kOk);
      bool mismatch = executed && !item.reject_reason.empty();
      if (!results_.is_open() && !(mismatch && mismatches_.is_open())) continue;
      std::string line = seed_check_record(item).dump();
      if (results_.is_open())
        if (auto s = results_.append(line); !s) return s;
      if (mismatch && mismatches_.is_open())
        if (auto s = mismatches_.append(line); !s) return s;
    }
    if (mismatches_.is_open())
      if (auto s = mismatches_.flush(options_.sync); !s) return s;
    return results_.is_open() ? results_.flush(options_.sync) : Status{};
  }

  Status write_dataset(std::vector<Item>& items) {
    std::vector<JobStore::StateUpdate> states;
    std::vector<uint64_t> unpark;
    for (auto& item : items) {
      max_id_seen_ = std::max(max_id_seen_, item.id + 1);
      CommitGate::Outcome out;
      if (item.item_state() == ItemState::kAccepted) {
        out = gate_.on_decided(item.id, true);
        if (std::find(out.parked.begin(), out.parked.end(), item.id) != out.parked.end())
          pending_park_.emplace(item.id, item);
      } else {
        if (item.item_state() != ItemState::kRejected) {
          spdlog::error("stage=writer event=unexpected-state item={} state={}", item.id, to_string(item.item_state()));
          item.reject_reason = "protocol-error";
          item.reject_detail = std::string("reached the writer in state ") + std::string(to_string(item.item_state()));
          item.state = static_cast<uint8_t>(ItemState::kRejected);
        }
        tally_.rejected(item.provenance.domain, item.reject_reason);
        if (auto s = rejected_.append(rejected_record(item, options_.job_name).dump()); !s) return s;
        advance(item, ItemEvent::kWriteRejected);
        states.push_back({item.id, {item.state, item.reject_reason}});
        out = gate_.on_decided(item.id, false);
      }
      for (uint64_t id : out.release) {
        Item released;
        if (id == item.id) {
          released = item;
          pending_park_.erase(id);
        } else if (auto s = take_parked(id, released, unpark); !s) {
          return s;
        }
        tally_.accepted(released.provenance.domain);
        if (auto s = accepted_.append(accepted_record(released, options_.job_name).dump()); !s) return s;
        if (options_.feedback)
          feedback_.push_back(Feedback{released.id, released.question, released.rationale, released.answer,
                                       released.provenance});
        if (auto s = sharegpt_.append(sharegpt_record(released, options_.job_name).dump()); !s) return s;
        if (auto s = openai_.append(openai_sft_record(released, options_.job_name).dump()); !s) return s;
        if (auto s = rl_.append(rl_record(released, options_.job_name).dump()); !s) return s;
        advance(released, ItemEvent::kWriteAccepted);
        states.push_back({id, {released.state, ""}});
      }
      for (uint64_t id : out.surplus) {
        if (!pending_park_.erase(id) && id != item.id) unpark.push_back(id);
        tally_.surplus();
        states.push_back({id, {static_cast<uint8_t>(ItemState::kSurplus), ""}});
      }
    }
    if (auto s = accepted_.flush(options_.sync); !s) return s;
    if (auto s = rejected_.flush(options_.sync); !s) return s;
    if (auto s = sharegpt_.flush(options_.sync); !s) return s;
    if (auto s = openai_.flush(options_.sync); !s) return s;
    if (auto s = rl_.flush(options_.sync); !s) return s;
    // Items still parked leave memory: they wait in the store.
    std::vector<std::pair<uint64_t, std::string>> park;
    for (auto& [id, it] : pending_park_) park.emplace_back(id, encode(it));
    pending_park_.clear();
    return store_->commit(states, park, unpark);
  }

  Status take_parked(uint64_t id, Item& out, std::vector<uint64_t>& unpark) {
    if (auto it = pending_park_.find(id); it != pending_park_.end()) {
      out = std::move(it->second);
      pending_park_.erase(it);
      return {};
    }
    auto bytes = store_->parked(id);
    if (!bytes) return Error{bytes.error()};
    if (!bytes.value()) return Error{"parked item " + std::to_string(id) + " is missing from the job store"};
    auto item = decode<Item>(**bytes, "parked item");
    if (!item) return Error{item.error()};
    out = std::move(item.value());
    unpark.push_back(id);
    return {};
  }

  void on_eos(const wire::eos_msg& m) {
    if (failed_) return;
    auto e = wire::unpack(m);
    std::string reason = e ? e->reason : "unknown";
    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    nlohmann::json summary;
    if (options_.mode == WriterMode::kSeedCheck) {
      summary = {{"items", tally_seeds_.items()}, {"domains", tally_seeds_.to_json()},
                 {"table", tally_seeds_.table()}, {"elapsed_s", elapsed}};
    } else {
      if (gate_.parked_count() != 0)
        return fail("job ended with " + std::to_string(gate_.parked_count()) + " undecided parked items");
      summary = tally_.to_json();
      summary["job"] = options_.job_name;
      summary["target_accepted"] = options_.target;
      summary["generated"] = max_id_seen_;
      summary["end_reason"] = reason;
      summary["target_met"] = tally_.total_accepted() >= options_.target;
      summary["elapsed_s"] = elapsed;
      summary["accepted_per_s"] = elapsed > 0 ? tally_.total_accepted() / elapsed : 0.0;
      if (options_.curriculum) {
        if (auto s = rl_.flush(true); !s) return fail(s.error());
        if (auto s = write_curriculum(options_.out_dir + "/rl.jsonl", options_.out_dir + "/rl.curriculum.jsonl",
                                      options_.out_dir + "/.curriculum-scratch");
            !s)
          return fail(s.error());
      }
      std::string text = summary.dump(2) + "\n";
      if (auto s = write_summary(text); !s) return fail(s.error());
      if (auto s = store_->put_meta("summary", summary.dump()); !s) return fail(s.error());
    }
    spdlog::info("stage=writer event=end received={} accepted={} rejected={} peak_held={}", received_,
                 tally_.total_accepted(), tally_.total_rejected(), inbound_.peak_held());
    report(true);
    send(monitor_, wire::pack(wire::JobReport{true, "", summary.dump()}));
    quit();
  }

  Status write_summary(const std::string& text) {
    std::string path = options_.out_dir + "/summary.json", tmp = path + ".tmp";
    std::FILE* f = std::fopen(tmp.c_str(), "w");
    if (!f) return Error{"cannot write " + tmp + ": " + std::strerror(errno)};
    bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
    ok = std::fflush(f) == 0 && ok;
    ok = fsync(fileno(f)) == 0 && ok;
    std::fclose(f);
    if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0)
      return Error{"cannot write " + path + ": " + std::strerror(errno)};
    return {};
  }

  void report(bool finished) {
    auto now = std::chrono::steady_clock::now();
    if (!finished && now - last_report_ < std::chrono::milliseconds(options_.report_interval_ms)) return;
    last_report_ = now;
    wire::StageReport r;
    r.stage = "writer";
    r.received = received_;
    r.accepted = options_.mode == WriterMode::kSeedCheck ? 0 : tally_.total_accepted();
    r.rejected = tally_.total_rejected();
    r.held = inbound_.held();
    r.peak_held = inbound_.peak_held();
    r.capacity = inbound_.capacity();
    r.finished = finished;
    send(monitor_, wire::pack(r));
  }

  WriterOptions options_;
  wire::monitor_actor monitor_;
  wire::upstream_actor upstream_;
  InboundBudget inbound_;
  CommitGate gate_;
  Tally tally_;
  SeedCheckTally tally_seeds_;
  LineFile accepted_, rejected_, sharegpt_, openai_, rl_, results_, mismatches_;
  std::vector<Feedback> feedback_;  // accepted since the last credit message
  std::unique_ptr<JobStore> store_;
  std::map<uint64_t, Item> pending_park_;  // parked during the current batch
  uint64_t received_ = 0;
  uint64_t max_id_seen_ = 0;
  bool stop_sent_ = false;
  bool failed_ = false;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point last_report_{};
};

}  // namespace

wire::writer_actor spawn_writer(caf::actor_system& sys, WriterOptions options, wire::monitor_actor monitor) {
  return sys.spawn<Writer>(std::move(options), std::move(monitor));
}

}  // namespace vf
