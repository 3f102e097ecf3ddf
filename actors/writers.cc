// The pipeline's last stage, one class per kind of output:
//
//   DatasetWriter    (`run`) decides with the commit gate which accepted items
//                    belong to the output, appends their records and the
//                    rejected ones, makes them durable, then commits their
//                    states, the gate and the files' new lengths in one log
//                    batch; at the end writes the curriculum export and
//                    reports the summary.
//   SeedCheckWriter  (`verify-seeds`) one result line per seed and the
//                    per-domain tally.
#include <unistd.h>

#include <chrono>
#include <map>
#include <thread>

#include "actors/pipeline.h"
#include "actors/stage.h"
#include "dataflow/commit_gate.h"
#include "dataflow/curriculum.h"
#include "dataflow/records.h"
#include "storage/codec.h"
#include "storage/output_file.h"

namespace vf {
namespace {

class DatasetWriter : public Stage<wire::writer_actor::base> {
 public:
  DatasetWriter(caf::actor_config& cfg, DatasetWriterSetup setup, wire::monitor_actor monitor)
      : Stage(cfg, {"writer", setup.capacity, std::max<uint32_t>(1, setup.capacity / 4), setup.report_interval_ms},
              std::move(monitor)),
        setup_(std::move(setup)),
        gate_(setup_.target ? setup_.target : CommitGate::kUnlimited),
        accepted_(setup_.env),
        rejected_(setup_.env),
        sharegpt_(setup_.env),
        openai_(setup_.env),
        rl_(setup_.env) {
    use_log(setup_.log);
  }

  behavior_type make_behavior() override {
    if (auto s = init(); !s) fail(s.error());
    start_reporting(caf::actor_cast<wire::writer_actor>(this));
    return {
        [this](wire::report_due_msg&) { on_report_due(caf::actor_cast<wire::writer_actor>(this)); },
        [this](wire::attach_msg& m) { on_attach(m); },
        [this](wire::item_batch_msg& m) { on_batch(m); },
        [this](wire::eos_msg& m) { on_eos(m); },
        [this](wire::log_done_msg& m) {
          on_log_done(m);
          maybe_finish();
        },
        [this](wire::set_target_msg& m) {
          if (!m.ok()) return;
          if (stop_sent_ || m.value.target <= gate_.target()) {
            spdlog::warn("stage=writer event=set-target-refused target={} current={} covered={}", m.value.target,
                         gate_.target(), stop_sent_);
            return;
          }
          gate_.raise_target(m.value.target);
          setup_.target = m.value.target;
          spdlog::info("stage=writer event=set-target target={}", m.value.target);
          report(false, true);
        },
    };
  }

  void on_exit() override {
    setup_.log.reset();  // the last owner closes the job database
    release_links();
  }

 protected:
  void upstream_ended() override { maybe_finish(); }

  void fill_report(wire::StageReport& r) override {
    r.received = received_;
    r.accepted = tally_.total_accepted();
    r.rejected = tally_.total_rejected();
  }

 private:
  JobStore& store() { return setup_.log->store(); }

  Status init() {
    auto logged = store().get_meta(meta::kWriter);
    if (!logged) return logged.failure();
    if (logged.value()) {
      auto c = decode<WriterCheckpoint>(*logged.value(), "writer checkpoint (m/writer)");
      if (!c) return corruption("job store " + store().path() + ": " + c.error());
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
      auto repair = f->open(setup_.out_dir + "/" + name, progress_.file_lengths[name]);
      if (!repair) return repair.failure();
      if (repair->cut_bytes)
        spdlog::warn("stage=writer event=output-repaired file={} cut_bytes={} torn_line={} committed={}", name,
                     repair->cut_bytes, repair->torn_line, progress_.file_lengths[name]);
    }
    return {};
  }

  // In the order they are handed to the OS: a rejected record before the
  // accepted ones it may have let through the gate, accepted.jsonl before the
  // exports that copy it (what a crash leaves is a prefix of this order).
  std::vector<OutputFile*> files() { return {&rejected_, &accepted_, &sharegpt_, &openai_, &rl_}; }
  std::string file_name(const OutputFile& f) const {
    if (&f == &accepted_) return "accepted.jsonl";
    if (&f == &rejected_) return "rejected.jsonl";
    if (&f == &sharegpt_) return "sft.sharegpt.jsonl";
    if (&f == &openai_) return "sft.openai.jsonl";
    return "rl.jsonl";
  }

  void on_batch(wire::item_batch_msg& m) {
    if (failed()) return;
    auto items = accept_batch(m);
    if (items.empty()) return;
    received_ += items.size();
    std::vector<uint64_t> ids;
    ids.reserve(items.size());
    for (const auto& item : items) ids.push_back(item.id);
    LogBatch log;
    std::vector<std::shared_ptr<WritableFile>> to_sync;
    std::vector<uint64_t> parked;
    if (auto s = write_dataset(items, log, to_sync, parked); !s) return fail(s.error());
    if (setup_.delay_ms) std::this_thread::sleep_for(std::chrono::milliseconds(uint64_t{setup_.delay_ms} * items.size()));
    auto feedback = std::move(feedback_);
    feedback_.clear();
    bool covered = gate_.target_covered() && !stop_sent_;
    if (covered) stop_sent_ = true;
    commit(std::move(log), std::move(to_sync),
           [this, ids = std::move(ids), feedback = std::move(feedback), covered, parked = std::move(parked)]() mutable {
      for (uint64_t id : parked) parks_in_flight_.erase(id);  // in the store now
      for (uint64_t id : ids) released(id);
      if (!feedback.empty()) send_upstream(wire::Credit{0, stop_sent_, std::move(feedback)});
      if (covered) {
        send_upstream(wire::Credit{0, true, {}});
        spdlog::info("stage=writer event=target-covered accepted_known={}", gate_.accepted_known());
      }
      report(false);
    });
  }

  // Decides the batch's items and appends their records (handed to the OS);
  // `log` gets their states, the gate and the files' new lengths, `to_sync`
  // the files the commit must sync first, `parked` the items parked here.
  // The caller commits: after a crash the log's lengths say which records
  // count, and what a crash left past them is adopted or cut on resume.
  Status write_dataset(std::vector<Item>& items, LogBatch& log, std::vector<std::shared_ptr<WritableFile>>& to_sync,
                       std::vector<uint64_t>& parked) {
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
          if (!reject(item, "protocol-error",
                      "reached the writer in state " + std::string(to_string(item.item_state())))) {
            spdlog::error("stage=writer event=dropped item={} reason=undecidable-state", item.id);
            continue;
          }
        }
        tally_.rejected(item.provenance.domain, item.reject_reason);
        if (auto s = rejected_.append_line(rejected_record(item, setup_.job_name).dump()); !s) return s;
        advance(item, ItemEvent::kWriteRejected);
        log.put_state(item.id, {item.state, item.reject_reason});
        out = gate_.on_decided(item.id, false);
      }
      log.erase_item(item.id);  // decided (or parked below): no longer in flight
      for (uint64_t id : out.release) {
        Item released_item;
        if (id == item.id) {
          released_item = item;
          pending_park_.erase(id);
        } else if (auto s = take_parked(id, released_item, log); !s) {
          return s;
        }
        tally_.accepted(released_item.provenance.domain);
        if (auto s = accepted_.append_line(accepted_record(released_item, setup_.job_name).dump()); !s) return s;
        if (setup_.feedback) {
          Feedback fb{released_item.id, released_item.question, released_item.rationale, released_item.answer,
                      released_item.provenance};
          log.put_feedback(fb.id, encode(fb));
          feedback_.push_back(std::move(fb));
        }
        if (auto s = sharegpt_.append_line(sharegpt_record(released_item, setup_.job_name).dump()); !s) return s;
        if (auto s = openai_.append_line(openai_sft_record(released_item, setup_.job_name).dump()); !s) return s;
        if (auto s = rl_.append_line(rl_record(released_item, setup_.job_name).dump()); !s) return s;
        advance(released_item, ItemEvent::kWriteAccepted);
        log.put_state(id, {released_item.state, ""});
      }
      for (uint64_t id : out.surplus) {
        bool in_store = !pending_park_.erase(id) && id != item.id;
        parks_in_flight_.erase(id);
        if (in_store) log.unpark(id);
        tally_.surplus();
        // Surplus items are accepted ones beyond the target (the gate knows no other kind).
        auto surplus = next_state(ItemState::kAccepted, ItemEvent::kMarkSurplus);
        log.put_state(id, {static_cast<uint8_t>(*surplus), ""});
      }
    }
    for (auto* f : files()) {
      if (auto s = f->flush(false); !s) return s;
      if (auto file = f->to_sync(); file && setup_.sync) to_sync.push_back(std::move(file));
    }
    // Items still parked leave memory once their commit is durable: they wait in the store.
    for (auto& [id, it] : pending_park_) {
      log.park(id, encode(it));
      parked.push_back(id);
      parks_in_flight_.emplace(id, std::move(it));
    }
    pending_park_.clear();
    checkpoint(log, false, "");
    return {};
  }

  void checkpoint(LogBatch& log, bool finished, const std::string& end_reason) {
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
    log.put_meta(meta::kWriter, encode(progress_));
  }

  Status take_parked(uint64_t id, Item& out, LogBatch& log) {
    if (auto it = pending_park_.find(id); it != pending_park_.end()) {
      out = std::move(it->second);
      pending_park_.erase(it);
      return {};
    }
    if (auto it = parks_in_flight_.find(id); it != parks_in_flight_.end()) {
      // Parked by a commit not yet durable: the store may not have it yet.
      out = std::move(it->second);
      parks_in_flight_.erase(it);
      log.unpark(id);  // written after the park: commits apply in order
      return {};
    }
    auto bytes = store().parked(id);
    if (!bytes) return bytes.failure();
    if (!bytes.value()) return corruption("parked item " + std::to_string(id) + " is missing from the job store");
    auto item = decode<Item>(**bytes, "parked item");
    if (!item) return corruption(item.error());
    out = std::move(item.value());
    log.unpark(id);
    return {};
  }

  // The end: once every upstream ended and every batch is durable, the
  // curriculum export and the final commit; then the job report.
  void maybe_finish() {
    if (failed() || finishing_ || !all_upstreams_ended() || held() != 0 || pending_commits() != 0) return;
    finishing_ = true;
    if (gate_.parked_count() != 0)
      return fail("job ended with " + std::to_string(gate_.parked_count()) + " undecided parked items");
    double elapsed = progress_.active_s +
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - last_commit_).count();
    nlohmann::json summary = tally_.to_json();
    summary["job"] = setup_.job_name;
    summary["target_accepted"] = setup_.target;
    summary["generated"] = max_id_seen_;
    summary["end_reason"] = end_reason();
    summary["target_met"] = tally_.total_accepted() >= setup_.target;
    summary["elapsed_s"] = elapsed;
    summary["accepted_per_s"] = elapsed > 0 ? tally_.total_accepted() / elapsed : 0.0;
    if (setup_.curriculum) {
      if (auto s = rl_.flush(true); !s) return fail(s.error());
      if (auto s = write_curriculum(setup_.out_dir + "/rl.jsonl", setup_.out_dir + "/rl.curriculum.jsonl",
                                    setup_.out_dir + "/.curriculum-scratch");
          !s)
        return fail(s.error());
    }
    LogBatch log;
    log.put_meta(meta::kSummary, summary.dump());
    checkpoint(log, true, end_reason());
    commit(std::move(log), [this, summary] {
      spdlog::info("stage=writer event=end received={} accepted={} rejected={} peak_held={}", received_,
                   tally_.total_accepted(), tally_.total_rejected(), inbound().peak_held());
      report(true);
      send(monitor(), wire::pack(wire::JobReport{true, "", summary.dump()}));
      quit();
    });
  }

  DatasetWriterSetup setup_;
  CommitGate gate_;
  Tally tally_;
  OutputFile accepted_, rejected_, sharegpt_, openai_, rl_;
  WriterCheckpoint progress_;  // as last committed
  std::chrono::steady_clock::time_point last_commit_ = std::chrono::steady_clock::now();
  std::vector<Feedback> feedback_;         // accepted since the last commit
  std::map<uint64_t, Item> pending_park_;     // parked during the current batch
  std::map<uint64_t, Item> parks_in_flight_;  // parked by a commit not yet durable
  uint64_t received_ = 0;
  uint64_t max_id_seen_ = 0;
  bool stop_sent_ = false;
  bool finishing_ = false;
};

class SeedCheckWriter : public Stage<wire::writer_actor::base> {
 public:
  SeedCheckWriter(caf::actor_config& cfg, SeedCheckWriterSetup setup, wire::monitor_actor monitor)
      : Stage(cfg, {"writer", setup.capacity, std::max<uint32_t>(1, setup.capacity / 4), setup.report_interval_ms},
              std::move(monitor)),
        setup_(std::move(setup)),
        started_(std::chrono::steady_clock::now()) {}

  behavior_type make_behavior() override {
    if (auto s = init(); !s) fail(s.error());
    start_reporting(caf::actor_cast<wire::writer_actor>(this));
    return {
        [this](wire::report_due_msg&) { on_report_due(caf::actor_cast<wire::writer_actor>(this)); },
        [this](wire::attach_msg& m) { on_attach(m); },
        [this](wire::item_batch_msg& m) {
          if (failed()) return;
          auto items = accept_batch(m);
          if (auto s = write(items); !s) return fail(s.error());
          for (const auto& item : items) released(item.id);
          report(false);
        },
        [this](wire::eos_msg& m) { on_eos(m); },
        [this](wire::log_done_msg& m) { on_log_done(m); },
        [](wire::set_target_msg&) {},  // seed checks have no target
    };
  }

  void on_exit() override { release_links(); }

 protected:
  void upstream_ended() override {
    if (failed() || !all_upstreams_ended() || held() != 0) return;
    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    nlohmann::json summary = {{"items", tally_.items()},
                              {"domains", tally_.to_json()},
                              {"table", tally_.table()},
                              {"elapsed_s", elapsed}};
    report(true);
    send(monitor(), wire::pack(wire::JobReport{true, "", summary.dump()}));
    quit();
  }

  void fill_report(wire::StageReport& r) override { r.received = received_count(); }

 private:
  Status init() {
    if (!setup_.mismatches_file.empty())
      if (auto s = mismatches_.open(setup_.mismatches_file, 0); !s) return s.failure();
    if (!setup_.results_file.empty())
      if (auto s = results_.open(setup_.results_file, 0); !s) return s.failure();
    return {};
  }

  Status write(const std::vector<Item>& items) {
    for (const auto& item : items) {
      tally_.add(item);
      bool executed = !item.executions.empty() && item.executions.front().ok();
      bool mismatch = executed && !item.reject_reason.empty();
      if (!results_.is_open() && !(mismatch && mismatches_.is_open())) continue;
      std::string line = seed_check_record(item).dump();
      if (results_.is_open())
        if (auto s = results_.append_line(line); !s) return s;
      if (mismatch && mismatches_.is_open())
        if (auto s = mismatches_.append_line(line); !s) return s;
    }
    if (mismatches_.is_open())
      if (auto s = mismatches_.flush(false); !s) return s;
    return results_.is_open() ? results_.flush(false) : Status{};
  }

  SeedCheckWriterSetup setup_;
  SeedCheckTally tally_;
  OutputFile results_, mismatches_;
  std::chrono::steady_clock::time_point started_;
};

}  // namespace

wire::writer_actor spawn_dataset_writer(caf::actor_system& sys, DatasetWriterSetup setup, wire::monitor_actor monitor) {
  return sys.spawn<DatasetWriter>(std::move(setup), std::move(monitor));
}

wire::writer_actor spawn_seed_check_writer(caf::actor_system& sys, SeedCheckWriterSetup setup,
                                           wire::monitor_actor monitor) {
  return sys.spawn<SeedCheckWriter>(std::move(setup), std::move(monitor));
}

}  // namespace vf
