// Dispatcher: one pipeline stage on the coordinator (generate, execute,
// solve, verify). It holds at most `capacity` items per upstream link, leases
// the items the stage works on to its workers as their credit allows, logs
// each finished part of the work and each finished item through the job log,
// and forwards an item only once its new form is durable. Within credit, a
// lease goes to the worker expected to finish it first by the throughput
// observed (dataflow/placement.h). Items the stage
// does not work on pass straight through. A report for a lease the
// dispatcher no longer holds is discarded and counted (fencing).
#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <set>
#include <memory>
#include <unordered_map>

#include "actors/pipeline.h"
#include "actors/stage.h"
#include "dataflow/pipeline_plan.h"
#include "dataflow/placement.h"
#include "dataflow/similarity.h"
#include "storage/codec.h"

namespace vf {
namespace {

class Dispatcher : public Stage<wire::stage_actor::base> {
 public:
  Dispatcher(caf::actor_config& cfg, DispatcherSetup setup, wire::monitor_actor monitor)
      : Stage(cfg, {setup.spec.name, setup.spec.capacity, setup.batch_size, setup.report_interval_ms},
              std::move(monitor)),
        setup_(std::move(setup)),
        code_(log_code(setup_.spec.kind)) {
    use_log(setup_.log);
  }

  behavior_type make_behavior() override {
    connect(setup_.next);
    for (auto& w : setup_.workers) add_worker(std::move(w));
    setup_.workers.clear();
    start_reporting(caf::actor_cast<wire::stage_actor>(this));
    // A worker that goes away (its process killed, its node cut off and
    // noticed by the heartbeat) gives its leases back to the queue.
    this->set_down_handler([this](caf::down_msg& d) { lose_worker(d.source, "down"); });
    return {
        [this](wire::report_due_msg&) {
          on_report_due(caf::actor_cast<wire::stage_actor>(this));
          dispatch();  // a quarantine may have ended
          flush();
        },
        [this](wire::attach_msg& m) { on_attach(m); },
        [this](wire::item_batch_msg& m) {
          for (auto& item : accept_batch(m)) {
            if (stage_wants(setup_.spec.kind, item)) waiting_.push_back(std::move(item));
            else forward(std::move(item));
          }
          dispatch();
          flush();
        },
        [this](wire::credit_msg& m) {
          auto sender = caf::actor_cast<caf::actor_addr>(current_sender());
          if (auto w = worker_links_.find(sender); w != worker_links_.end()) {
            if (m.ok()) workers_[w->second].credit += m.value.credits;
            dispatch();
            flush();
            return;
          }
          on_credit(m);
        },
        [this](wire::work_report_msg& m) { on_report(m); },
        [this](wire::tick_msg&) { commit_finished(); },
        [this](wire::log_done_msg& m) { on_log_done(m); },
        [this](wire::eos_msg& m) { on_eos(m); },
        [this](wire::add_worker_atom, caf::actor& w, uint32_t node) {
          add_worker(caf::actor_cast<wire::worker_actor>(w), node);
          dispatch();
          flush();
        },
        [this](wire::cordon_atom, uint32_t node, bool on) {
          if (on) {
            cordoned_.insert(node);
          } else {
            cordoned_.erase(node);
            dispatch();
            flush();
          }
          spdlog::info("stage={} event={} node={}", stage_name(), on ? "node-cordoned" : "node-uncordoned", node);
        },
        [this](wire::drop_node_atom, uint32_t node) {
          std::vector<caf::actor_addr> gone;
          for (auto& [id, w] : workers_)
            if (w.node == node && node != 0) gone.push_back(caf::actor_cast<caf::actor_addr>(w.handle));
          for (auto& a : gone) {
            if (auto it = worker_links_.find(a); it != worker_links_.end())
              send(workers_[it->second].handle, wire::pack(wire::EndOfStream{0, "node-left"}));
            lose_worker(a, "left");
          }
        },
    };
  }

  void on_exit() override {
    for (auto& [_, w] : workers_) send(w.handle, wire::pack(wire::EndOfStream{0, "stage-ended"}));
    workers_.clear();
    worker_links_.clear();
    setup_ = DispatcherSetup{};
    release_links();
  }

 protected:
  bool busy() const override {
    return !waiting_.empty() || !leases_.empty() || !pending_finished_.empty() || tick_pending_ || returning_ > 0;
  }

  void upstream_ended() override { flush(); }

  void fill_report(wire::StageReport& r) override {
    r.fenced = fenced_;
    r.workers = static_cast<uint32_t>(workers_.size());
    r.requeued = requeued_;
    r.quarantines = quarantines_;
  }

 private:
  std::set<uint32_t> cordoned_;  // nodes an operator cordoned: no new leases
  struct Worker {
    wire::worker_actor handle;
    uint32_t credit = 0;
    uint64_t leased = 0;  // leases outstanding
    uint32_t node = 0;    // 0: this process
    uint32_t failures_in_a_row = 0;
    std::chrono::steady_clock::time_point quarantined_until{};
    ThroughputMeter meter;
  };
  struct Held {
    Item item;
    LinkId worker = 0;
    uint64_t bytes = 0;  // estimated, counted against the worker's node
    uint32_t attempt = 1;
    std::vector<uint32_t> logged_parts;  // parts with an r/ entry (earlier sessions, earlier reports)
  };

  void add_worker(wire::worker_actor w, uint32_t node = 0) {
    if (!w) return;
    LinkId id = next_worker_++;
    worker_links_[caf::actor_cast<caf::actor_addr>(w)] = id;
    workers_[id] = Worker{w, 0, 0, node, 0, {}, {}};
    caf::local_actor::monitor(caf::actor_cast<caf::actor>(w));
    send(w, wire::pack(wire::Attach{stage_name()}));
    spdlog::info("stage={} event=worker-added node={} workers={}", stage_name(), node, workers_.size());
  }

  // Forgets a worker; its leases go back to the head of the queue with a new
  // lease id each, so a late report of the old lease is fenced.
  void lose_worker(const caf::actor_addr& addr, const char* why) {
    auto link = worker_links_.find(addr);
    if (link == worker_links_.end()) return;
    LinkId id = link->second;
    uint32_t node = workers_[id].node;
    worker_links_.erase(link);
    workers_.erase(id);
    std::vector<Item> returned;
    for (auto it = leases_.begin(); it != leases_.end();) {
      if (it->second.worker == id) {
        node_bytes_[node] -= std::min(node_bytes_[node], it->second.bytes);
        returned.push_back(std::move(it->second.item));
        it = leases_.erase(it);
      } else {
        ++it;
      }
    }
    requeued_ += returned.size();
    spdlog::warn("stage={} event=worker-lost reason={} node={} leases_requeued={} workers={}", stage_name(), why, node,
                 returned.size(), workers_.size());
    if (returned.empty()) return;
    // The parts the worker reported are logged (or on their way): lease the
    // items again only once those commits are durable, so the next worker is
    // told about every finished part and redoes none of them.
    if (tick_pending_ || !pending_batch_.empty() || !pending_finished_.empty()) commit_finished();
    returning_ += returned.size();
    after_commits([this, returned = std::move(returned)]() mutable {
      returning_ -= returned.size();
      // Back to the front, in id order, ahead of items not yet leased.
      for (auto it = returned.rbegin(); it != returned.rend(); ++it) waiting_.push_front(std::move(*it));
      dispatch();
      flush();
    });
  }

  // Leases waiting items, each to the worker expected to finish it first
  // (dataflow/placement.h), as credit, quarantine and the node's byte budget
  // allow; one batch per worker.
  void dispatch() {
    if (waiting_.empty()) return;
    auto now = std::chrono::steady_clock::now();
    std::vector<PlacementCandidate> candidates;
    for (auto& [id, w] : workers_)
      if (w.credit > 0 && now >= w.quarantined_until && !cordoned_.count(w.node))
        candidates.push_back({id, w.credit, w.leased, w.meter.rate(w.leased, now)});
    std::map<LinkId, wire::LeaseBatch> batches;
    while (!waiting_.empty()) {
      auto chosen = place_next(candidates);
      if (!chosen) break;
      auto& candidate = *std::find_if(candidates.begin(), candidates.end(),
                                      [&](const PlacementCandidate& c) { return c.id == *chosen; });
      Worker& w = workers_[*chosen];
      uint64_t& node_bytes = node_bytes_[w.node];
      if (w.node != 0 && node_bytes >= setup_.lease_bytes_per_node) {
        candidate.credit = 0;  // its node's link is full: not this round
        continue;
      }
      Item item = std::move(waiting_.front());
      waiting_.pop_front();
      uint64_t bytes = estimated_bytes(item);
      node_bytes += bytes;
      wire::Lease lease;
      lease.lease = next_lease_++;
      lease.attempt = ++attempts_[item.id];
      if (auto s = logged_parts(item.id, lease.parts); !s) return fail(s.error());
      lease.item = item;
      Held held{std::move(item), static_cast<LinkId>(*chosen), bytes, lease.attempt, {}};
      for (const auto& p : lease.parts) held.logged_parts.push_back(p.index);
      leases_.emplace(lease.lease, std::move(held));
      w.meter.leased(w.leased, now);
      --w.credit;
      ++w.leased;
      --candidate.credit;
      ++candidate.held;
      auto& batch = batches[*chosen];
      batch.leases.push_back(std::move(lease));
      if (batch.leases.size() >= batch_size()) {
        send(w.handle, wire::pack(std::move(batch)));
        batches.erase(*chosen);
      }
    }
    for (auto& [id, batch] : batches) send(workers_[id].handle, wire::pack(std::move(batch)));
  }

  // What an item weighs on the wire, near enough: its text.
  static uint64_t estimated_bytes(const Item& item) {
    uint64_t n = 256 + item.question.size() + item.rationale.size() + item.answer.size();
    for (const auto& e : item.executions) n += e.output.size() + e.error_tail.size();
    for (const auto& s : item.solver_samples) n += s.response.size();
    return n;
  }

  // A joined worker that fails item after item (a broken sandbox or
  // endpoint on its node) is taken out of rotation for a while.
  void count_outcome(Worker& w, const Item& item) {
    bool failure = item.item_state() == ItemState::kRejected &&
                   (item.reject_reason == "model-error" ||
                    std::any_of(item.executions.begin(), item.executions.end(), [](const Execution& e) {
                      return e.exec_status() == ExecStatus::kSandboxFailure;
                    }));
    if (!failure) {
      w.failures_in_a_row = 0;
      return;
    }
    if (++w.failures_in_a_row < setup_.worker_failure_limit || w.node == 0) return;
    w.quarantined_until = std::chrono::steady_clock::now() + std::chrono::seconds(setup_.quarantine_s);
    w.failures_in_a_row = setup_.worker_failure_limit - 1;  // on probation: one more failure and it is out again
    ++quarantines_;
    spdlog::warn("stage={} event=worker-quarantined node={} failures_in_a_row={} for_s={} reason={}", stage_name(),
                 w.node, setup_.worker_failure_limit, setup_.quarantine_s,
                 item.reject_reason.empty() ? "sandbox-failure" : item.reject_reason);
  }

  // The parts of this stage's work the log holds for an item (a resumed job's).
  Status logged_parts(uint64_t id, std::vector<wire::WorkPart>& out) {
    if (!log() || code_ == 0) return {};
    return log()->store().for_each_partial(id, code_, [&](uint32_t index, std::string_view bytes) -> Status {
      out.push_back(wire::WorkPart{index, std::string(bytes)});
      return {};
    });
  }

  void on_report(wire::work_report_msg& m) {
    if (!m.ok()) {
      spdlog::error("stage={} event=bad-message type=work_report error=\"{}\"", stage_name(), m.decode_error);
      return;
    }
    auto from = worker_links_.find(caf::actor_cast<caf::actor_addr>(current_sender()));
    if (from == worker_links_.end()) {
      fenced_ += m.value.parts.size() + m.value.done.size();
      spdlog::warn("stage={} event=fenced reason=unknown-worker parts={} done={}", stage_name(), m.value.parts.size(),
                   m.value.done.size());
      return;
    }
    LogBatch& batch = pending_batch_;
    std::vector<std::string>& audit_keys = pending_audit_;
    // A part whose item finishes in the same report needs no r/ entry of its
    // own: the item's new i/ record, in the same batch, holds its result.
    std::set<uint64_t> finishing;
    for (const auto& d : m.value.done) finishing.insert(d.lease);
    for (auto& p : m.value.parts) {
      auto it = leases_.find(p.lease);
      if (it == leases_.end() || it->second.worker != from->second) {
        ++fenced_;
        continue;
      }
      if (code_ != 0 && log() && !finishing.count(p.lease)) {
        batch.put_partial(p.item, code_, p.part.index, p.part.bytes);
        it->second.logged_parts.push_back(p.part.index);
      }
      if (setup_.audit) audit_keys.push_back(part_key(p.item, p.part.index));
    }
    std::vector<Item>& finished = pending_finished_;
    for (auto& d : m.value.done) {
      auto it = leases_.find(d.lease);
      if (it == leases_.end() || it->second.worker != from->second) {
        ++fenced_;
        continue;
      }
      Worker& w = workers_[it->second.worker];
      w.meter.finished(w.leased, 1, std::chrono::steady_clock::now());
      --w.leased;
      ++w.credit;  // a finished lease returns its credit
      node_bytes_[w.node] -= std::min(node_bytes_[w.node], it->second.bytes);
      count_outcome(w, d.item);
      std::vector<uint32_t> logged = std::move(it->second.logged_parts);
      leases_.erase(it);
      attempts_.erase(d.item.id);
      Item item = std::move(d.item);
      if (setup_.similarity && item.item_state() != ItemState::kRejected)
        setup_.similarity->apply(item, log() ? &batch : nullptr);
      if (item.item_state() == ItemState::kRejected) count_rejected();
      if (log()) {
        batch.put_item(item.id, encode(item));
        for (uint32_t index : logged) batch.erase_partial(item.id, code_, index);
      }
      finished.push_back(std::move(item));
    }
    // Commit once the reports already waiting are in too: one log batch for
    // a burst of reports.
    if (!tick_pending_ && (!pending_batch_.empty() || !pending_finished_.empty() || !pending_audit_.empty())) {
      tick_pending_ = true;
      send(caf::actor_cast<wire::stage_actor>(this), wire::pack(wire::Tick{}));
    }
    dispatch();
    flush();
  }

  // Logs what the reports since the last commit finished; the finished items
  // move on once that is durable.
  void commit_finished() {
    tick_pending_ = false;
    auto audit = setup_.audit;
    std::string kind = setup_.spec.kind == StageKind::kExecute ? "run" : "call";
    commit(std::move(pending_batch_),
           [this, finished = std::move(pending_finished_), audit_keys = std::move(pending_audit_), audit,
            kind]() mutable {
             if (audit)
               for (const auto& k : audit_keys) audit->record("logged", kind, k);
             for (auto& item : finished) forward(std::move(item));
             dispatch();
             flush();
           });
    pending_batch_ = LogBatch();
    pending_finished_.clear();
    pending_audit_.clear();
    flush();
  }

  // The audit trail's key of a part: "<id>.<index>" for runs, "<id>.<stage>.<index>" for calls.
  std::string part_key(uint64_t id, uint32_t index) const {
    if (setup_.spec.kind == StageKind::kExecute) return std::to_string(id) + "." + std::to_string(index);
    return std::to_string(id) + "." + stage_name() + "." + std::to_string(index);
  }

  DispatcherSetup setup_;
  char code_;
  std::deque<Item> waiting_;                  // received, waiting for a worker's credit
  std::map<uint64_t, Held> leases_;           // lease id -> the item at a worker
  std::unordered_map<uint64_t, uint32_t> attempts_;  // item id -> leases so far
  std::map<LinkId, Worker> workers_;
  std::map<caf::actor_addr, LinkId> worker_links_;
  LinkId next_worker_ = 0;
  uint64_t next_lease_ = 1;
  uint64_t fenced_ = 0;
  uint64_t requeued_ = 0;  // leases returned by workers that went away
  size_t returning_ = 0;   // of those, waiting for the commits of their reported parts
  uint64_t quarantines_ = 0;
  std::map<uint32_t, uint64_t> node_bytes_;  // node -> estimated bytes leased there
  // Finished by reports and not yet committed (until the next tick).
  LogBatch pending_batch_;
  std::vector<Item> pending_finished_;
  std::vector<std::string> pending_audit_;
  bool tick_pending_ = false;
};

}  // namespace

wire::stage_actor spawn_dispatcher(caf::actor_system& sys, DispatcherSetup setup, wire::monitor_actor monitor) {
  return sys.spawn<Dispatcher>(std::move(setup), std::move(monitor));
}

}  // namespace vf
