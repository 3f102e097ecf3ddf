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
#include "storage/codec.h"
#include "storage/job_store.h"
#include "storage/output_file.h"

namespace vf {
namespace {

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
        if (auto s = mismatches_.open(options_.mismatches_file, 0); !s) return Error{s.error()};
      if (!options_.results_file.empty())
        if (auto s = results_.open(options_.results_file, 0); !s) return Error{s.error()};
      return {};
    }
    store_ = options_.store;
    if (!store_) {  // a job without a shared log (tests, tools): the writer keeps its own
      auto opened = JobStore::open(options_.out_dir + "/db");
      if (!opened) return Error{opened.error()};
      store_ = std::move(opened.value());
    }
    auto logged = store_->get_meta("writer");
    if (!logged) return Error{logged.error()};
    if (logged.value()) {
      auto c = decode<WriterCheckpoint>(*logged.value(), "writer checkpoint (m/writer)");
      if (!c) return Error{"job store " + store_->path() + ": " + c.error()};
      progress_ = std::move(c.value());
      progress_.gate.target = gate_.target();  // a target changed with --force applies from here on
      gate_ = CommitGate::restore(progress_.gate);
      tally_ = progress_.tally;
      received_ = progress_.received;
      max_id_seen_ = progress_.max_id_seen;
      spdlog::info("stage=writer event=resume accepted={} rejected={} watermark={} parked={}", tally_.total_accepted(),
                   tally_.total_rejected(), gate_.low_watermark(), gate_.parked_count());
    }
    for (auto* f : files()) {
      auto name = file_name(*f);
      auto repair = f->open(options_.out_dir + "/" + name, progress_.file_lengths[name]);
      if (!repair) return Error{repair.error()};
      if (repair->cut_bytes)
        spdlog::warn("stage=writer event=output-repaired file={} cut_bytes={} torn_line={} committed={}", name,
                     repair->cut_bytes, repair->torn_line, progress_.file_lengths[name]);
    }
    return {};
  }

  std::vector<OutputFile*> files() { return {&accepted_, &rejected_, &sharegpt_, &openai_, &rl_}; }
  std::string file_name(const OutputFile& f) const {
    if (&f == &accepted_) return "accepted.jsonl";
    if (&f == &rejected_) return "rejected.jsonl";
    if (&f == &sharegpt_) return "sft.sharegpt.jsonl";
    if (&f == &openai_) return "sft.openai.jsonl";
    return "rl.jsonl";
  }

  void fail(const std::string& error) {
    if (failed_) return;
    failed_ = true;
    wire::stop_job(this, monitor_, "writer", error);
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
        if (auto s = results_.append_line(line); !s) return s;
      if (mismatch && mismatches_.is_open())
        if (auto s = mismatches_.append_line(line); !s) return s;
    }
    if (mismatches_.is_open())
      if (auto s = mismatches_.flush(options_.sync); !s) return s;
    return results_.is_open() ? results_.flush(options_.sync) : Status{};
  }

  // Appends the batch's records, makes them durable, then commits their
  // states, the gate and the files' new lengths to the log in one batch: after
  // a crash the log's lengths say exactly which records count (init() cuts
  // the rest, and the items those were, still in flight in the log, come again).
  Status write_dataset(std::vector<Item>& items) {
    LogBatch log;
    for (auto& item : items) {
      if (gate_.decided(item.id)) {
        // Recovery re-sends only undecided items; a repeat is a bug upstream, never a second record.
        spdlog::error("stage=writer event=repeated-item item={} state={}", item.id, to_string(item.item_state()));
        continue;
      }
      max_id_seen_ = std::max(max_id_seen_, item.id + 1);
      tally_.tokens(item.prompt_tokens, item.completion_tokens);
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
        if (auto s = rejected_.append_line(rejected_record(item, options_.job_name).dump()); !s) return s;
        advance(item, ItemEvent::kWriteRejected);
        log.put_state(item.id, {item.state, item.reject_reason});
        out = gate_.on_decided(item.id, false);
      }
      log.erase_item(item.id);  // decided (or parked below): no longer in flight
      for (uint64_t id : out.release) {
        Item released;
        if (id == item.id) {
          released = item;
          pending_park_.erase(id);
        } else if (auto s = take_parked(id, released, log); !s) {
          return s;
        }
        tally_.accepted(released.provenance.domain);
        if (auto s = accepted_.append_line(accepted_record(released, options_.job_name).dump()); !s) return s;
        if (options_.feedback) {
          Feedback fb{released.id, released.question, released.rationale, released.answer, released.provenance};
          log.put_feedback(fb.id, encode(fb));
          feedback_.push_back(std::move(fb));
        }
        if (auto s = sharegpt_.append_line(sharegpt_record(released, options_.job_name).dump()); !s) return s;
        if (auto s = openai_.append_line(openai_sft_record(released, options_.job_name).dump()); !s) return s;
        if (auto s = rl_.append_line(rl_record(released, options_.job_name).dump()); !s) return s;
        advance(released, ItemEvent::kWriteAccepted);
        log.put_state(id, {released.state, ""});
      }
      for (uint64_t id : out.surplus) {
        if (!pending_park_.erase(id) && id != item.id) log.unpark(id);
        tally_.surplus();
        log.put_state(id, {static_cast<uint8_t>(ItemState::kSurplus), ""});
      }
    }
    for (auto* f : files())
      if (auto s = f->flush(options_.sync); !s) return s;
    // Items still parked leave memory: they wait in the store.
    for (auto& [id, it] : pending_park_) log.park(id, encode(it));
    pending_park_.clear();
    return commit_progress(log, false, "");
  }

  Status commit_progress(LogBatch& log, bool finished, const std::string& end_reason) {
    progress_.gate = gate_.snapshot();
    progress_.tally = tally_;
    progress_.received = received_;
    progress_.max_id_seen = max_id_seen_;
    for (auto* f : files()) progress_.file_lengths[file_name(*f)] = f->length();
    auto now = std::chrono::steady_clock::now();
    progress_.active_s += std::chrono::duration<double>(now - last_commit_).count();
    last_commit_ = now;
    progress_.finished = finished;
    progress_.end_reason = end_reason;
    log.put_meta("writer", encode(progress_));
    return store_->write(log);
  }

  Status take_parked(uint64_t id, Item& out, LogBatch& log) {
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
    log.unpark(id);
    return {};
  }

  void on_eos(const wire::eos_msg& m) {
    if (failed_) return;
    auto e = wire::unpack(m);
    std::string reason = e ? e->reason : "unknown";
    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    if (store_) elapsed = progress_.active_s + std::chrono::duration<double>(std::chrono::steady_clock::now() - last_commit_).count();
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
      LogBatch log;
      log.put_meta("summary", summary.dump());
      if (auto s = commit_progress(log, true, reason); !s) return fail(s.error());
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
  OutputFile accepted_, rejected_, sharegpt_, openai_, rl_, results_, mismatches_;
  WriterCheckpoint progress_;  // as last committed (dataset mode)
  std::chrono::steady_clock::time_point last_commit_ = std::chrono::steady_clock::now();
  std::vector<Feedback> feedback_;  // accepted since the last credit message
  std::shared_ptr<JobStore> store_;
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
