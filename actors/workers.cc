// Workers: the actors that do a stage's work on the items their dispatcher
// leases to them. A worker answers the dispatcher's Attach with its capacity
// as credit, does the work of each lease (skipping the parts the lease says
// are logged already), reports every finished part and every finished item
// in WorkReports, and quits when the dispatcher ends the stream. A worker
// holds nothing the job would lose with it: everything it finished is in
// the coordinator's log, and its unfinished leases are dispatched again.
//
//   execute  runs the rationale runs_per_item times, one after another, on
//            the process's sandbox pool (whose threads wait on the children)
//   model    the generate or solve task's calls through the model client
//   verify   the job's check
#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>

#include "actors/pipeline.h"
#include "storage/codec.h"

namespace vf {
namespace {

static_assert(static_cast<uint8_t>(sandbox::RunStatus::kOk) == static_cast<uint8_t>(ExecStatus::kOk));
static_assert(static_cast<uint8_t>(sandbox::RunStatus::kError) == static_cast<uint8_t>(ExecStatus::kError));
static_assert(static_cast<uint8_t>(sandbox::RunStatus::kTimeout) == static_cast<uint8_t>(ExecStatus::kTimeout));
static_assert(static_cast<uint8_t>(sandbox::RunStatus::kMissingDependency) ==
              static_cast<uint8_t>(ExecStatus::kMissingDependency));
static_assert(static_cast<uint8_t>(sandbox::RunStatus::kOutputTooLarge) ==
              static_cast<uint8_t>(ExecStatus::kOutputTooLarge));
static_assert(static_cast<uint8_t>(sandbox::RunStatus::kKilledByLimit) ==
              static_cast<uint8_t>(ExecStatus::kKilledByLimit));
static_assert(static_cast<uint8_t>(sandbox::RunStatus::kSandboxFailure) ==
              static_cast<uint8_t>(ExecStatus::kSandboxFailure));

Execution to_execution(const sandbox::RunResult& r) {
  Execution e;
  e.status = static_cast<uint8_t>(r.status);
  e.exit_code = r.exit_code;
  e.output = r.output;
  e.error_tail = r.error_tail;
  e.detail = r.detail;
  e.wall_ms = r.wall_ms;
  return e;
}

// The work protocol's worker side, shared by every kind of worker.
template <class Base>
class Worker : public Base {
 public:
  Worker(caf::actor_config& cfg, std::string stage, uint32_t capacity, std::shared_ptr<WorkerCounters> counters)
      : Base(cfg),
        stage_(std::move(stage)),
        capacity_(std::max<uint32_t>(1, capacity)),
        counters_(counters ? std::move(counters) : std::make_shared<WorkerCounters>()) {}

 protected:
  void on_attach(wire::attach_msg&) {
    auto sender = this->current_sender();
    // The first dispatcher to attach owns this worker; nobody else may.
    if (dispatcher_ && sender != caf::actor_cast<caf::strong_actor_ptr>(dispatcher_)) {
      spdlog::warn("stage={} event=refused type=attach reason=not-its-dispatcher", stage_);
      return;
    }
    dispatcher_ = caf::actor_cast<wire::dispatcher_actor>(sender);
    if (!dispatcher_) {
      spdlog::error("stage={} event=attach-without-sender role=worker", stage_);
      return;
    }
    this->send(dispatcher_, wire::pack(wire::Credit{capacity_, false, {}}));
  }

  std::vector<wire::Lease> accept(wire::lease_batch_msg& m) {
    if (!m.ok()) {
      spdlog::error("stage={} event=bad-message type=lease_batch error=\"{}\"", stage_, m.decode_error);
      return {};
    }
    if (!dispatcher_ || this->current_sender() != caf::actor_cast<caf::strong_actor_ptr>(dispatcher_)) {
      spdlog::warn("stage={} event=refused type=lease_batch reason=not-its-dispatcher leases={}", stage_,
                   m.value.leases.size());
      return {};
    }
    counters_->held += m.value.leases.size();
    return std::move(m.value.leases);
  }

  void part_done(uint64_t lease, uint64_t item, uint32_t index, std::string bytes) {
    report_.parts.push_back(wire::PartDone{lease, item, wire::WorkPart{index, std::move(bytes)}});
  }
  void lease_done(uint64_t lease, Item item, uint32_t parts) {
    --counters_->held;
    ++counters_->done;
    if (item.item_state() == ItemState::kRejected &&
        (item.reject_reason == "model-error" ||
         std::any_of(item.executions.begin(), item.executions.end(),
                     [](const Execution& e) { return e.exec_status() == ExecStatus::kSandboxFailure; })))
    {
      ++counters_->failures;
      ++counters_->failures_in_a_row;
    } else {
      counters_->failures_in_a_row = 0;
    }
    report_.done.push_back(wire::LeaseDone{lease, std::move(item), parts});
  }
  // Sends what finished since the last report.
  void send_report() {
    tick_pending_ = false;
    if (report_.parts.empty() && report_.done.empty()) return;
    if (dispatcher_) this->send(dispatcher_, wire::pack(std::move(report_)));
    report_ = wire::WorkReport{};
  }
  // Sends the report once the messages already waiting are handled: one
  // report for a burst of finished calls or runs.
  template <class Handle>
  void report_soon(const Handle& self) {
    if (tick_pending_ || (report_.parts.empty() && report_.done.empty())) return;
    tick_pending_ = true;
    this->send(self, wire::pack(wire::Tick{}));
  }

  void on_eos(wire::eos_msg&) { this->quit(); }

  // Costly work starts only while the node is in contact with the
  // coordinator (WorkerCounters::contact_ms); otherwise it waits here and is
  // tried again every 100 ms.
  bool may_start() const { return !counters_->out_of_contact(); }
  template <class Handle>
  void defer(const Handle& self, std::function<void()> start) {
    if (deferred_.empty()) spdlog::warn("stage={} event=out-of-contact action=holding-new-work", stage_);
    deferred_.push_back(std::move(start));
    if (!retry_scheduled_) {
      retry_scheduled_ = true;
      this->delayed_send(self, std::chrono::milliseconds(100), wire::pack(wire::Tick{}));
    }
  }
  template <class Handle>
  void run_deferred(const Handle& self) {
    retry_scheduled_ = false;
    if (deferred_.empty()) return;
    if (!may_start()) {
      retry_scheduled_ = true;
      this->delayed_send(self, std::chrono::milliseconds(100), wire::pack(wire::Tick{}));
      return;
    }
    auto waiting = std::move(deferred_);
    deferred_.clear();
    for (auto& f : waiting) f();
  }

  const std::string& stage() const { return stage_; }
  void release() { dispatcher_ = wire::dispatcher_actor{}; }

 private:
  std::string stage_;
  uint32_t capacity_;
  std::shared_ptr<WorkerCounters> counters_;
  wire::dispatcher_actor dispatcher_;
  wire::WorkReport report_;
  bool tick_pending_ = false;
  std::vector<std::function<void()>> deferred_;
  bool retry_scheduled_ = false;
};


// --- execute ---------------------------------------------------------------------

class ExecuteWorker : public Worker<wire::execute_worker_actor::base> {
 public:
  ExecuteWorker(caf::actor_config& cfg, ExecuteWorkerSetup setup)
      : Worker(cfg, setup.stage, setup.capacity, setup.counters), setup_(std::move(setup)) {}

  behavior_type make_behavior() override {
    return {
        [this](wire::attach_msg& m) { on_attach(m); },
        [this](wire::lease_batch_msg& m) {
          for (auto& lease : accept(m)) begin(std::move(lease));
          send_report();
        },
        [this](wire::run_done_msg& m) {
          auto it = running_.find(m.value.lease);
          if (!m.ok() || it == running_.end()) {
            spdlog::error("stage={} event=unknown-run lease={}", stage(), m.value.lease);
            return;
          }
          Item& item = it->second.item;
          auto index = static_cast<uint32_t>(item.executions.size());
          part_done(it->first, item.id, index, encode(m.value.execution));
          item.executions.push_back(std::move(m.value.execution));
          continue_or_finish(it);
          report_soon(caf::actor_cast<wire::execute_worker_actor>(this));
        },
        [this](wire::tick_msg&) {
          send_report();
          run_deferred(caf::actor_cast<wire::execute_worker_actor>(this));
        },
        [this](wire::eos_msg& m) { on_eos(m); },
    };
  }

  void on_exit() override {
    setup_.executor.reset();  // the last owner waits for running snippets; their results go nowhere
    release();
  }

 private:
  struct Running {
    Item item;
  };

  void begin(wire::Lease lease) {
    Item item = std::move(lease.item);
    // The runs a previous session (or a lost worker) logged, in order; a gap
    // ends what can be reused.
    std::map<uint32_t, std::string> logged;
    for (auto& p : lease.parts) logged[p.index] = std::move(p.bytes);
    item.executions.clear();
    for (auto& [index, bytes] : logged) {
      if (index != item.executions.size()) break;
      auto e = decode<Execution>(bytes, "logged code run");
      if (!e) break;
      item.executions.push_back(std::move(e.value()));
    }
    if (!item.executions.empty())
      spdlog::debug("stage={} event=resume-runs item={} logged_runs={}", stage(), item.id, item.executions.size());
    auto [it, inserted] = running_.emplace(lease.lease, Running{std::move(item)});
    if (!inserted) {
      spdlog::error("stage={} event=duplicate-lease lease={}", stage(), lease.lease);
      return;
    }
    continue_or_finish(it);
  }

  // Runs the rationale runs_per_item times, one after another; a failed run
  // needs no second one (the item is rejected either way).
  void continue_or_finish(std::map<uint64_t, Running>::iterator it) {
    Item& item = it->second.item;
    bool failed = !item.executions.empty() && !item.executions.back().ok();
    if (!failed && item.executions.size() < setup_.runs_per_item) {
      if (!may_start()) {
        uint64_t lease = it->first;
        defer(caf::actor_cast<wire::execute_worker_actor>(this), [this, lease] {
          if (auto again = running_.find(lease); again != running_.end()) submit(lease, again->second.item);
        });
        return;
      }
      submit(it->first, item);
      return;
    }
    Item done = std::move(item);
    uint64_t lease = it->first;
    running_.erase(it);
    if (!advance(done, ItemEvent::kExecutionsAttached))
      spdlog::error("stage={} event=illegal-transition item={} state={}", stage(), done.id,
                    to_string(done.item_state()));
    auto runs = static_cast<uint32_t>(done.executions.size());
    lease_done(lease, std::move(done), runs);
  }

  void submit(uint64_t lease, const Item& item) {
    if (setup_.audit)
      setup_.audit->record("start", "run", std::to_string(item.id) + "." + std::to_string(item.executions.size()));
    auto self = caf::actor_cast<caf::weak_actor_ptr>(this->ctrl());
    setup_.executor->submit({item.rationale, setup_.limits, item.required_modules}, [self, lease](sandbox::RunResult r) {
      if (auto strong = self.lock())
        caf::anon_send(caf::actor_cast<wire::execute_worker_actor>(strong),
                       wire::pack(wire::RunDone{lease, to_execution(r)}));
    });
  }

  ExecuteWorkerSetup setup_;
  std::map<uint64_t, Running> running_;  // lease -> item, at most `capacity`
};

// --- model (generate, solve) ------------------------------------------------------

class ModelWorker : public Worker<wire::model_worker_actor::base> {
 public:
  ModelWorker(caf::actor_config& cfg, ModelWorkerSetup setup)
      : Worker(cfg, setup.stage, setup.capacity, setup.counters), setup_(std::move(setup)) {}

  behavior_type make_behavior() override {
    return {
        [this](wire::attach_msg& m) { on_attach(m); },
        [this](wire::lease_batch_msg& m) {
          for (auto& lease : accept(m)) {
            if (may_start()) {
              begin(std::move(lease));
            } else {
              defer(caf::actor_cast<wire::model_worker_actor>(this),
                    [this, l = std::move(lease)]() mutable { begin(std::move(l)); });
            }
          }
          send_report();
        },
        [this](wire::call_done_msg& m) {
          auto it = pending_.find(m.value.lease);
          if (!m.ok() || it == pending_.end() || m.value.index >= it->second.outcomes.size()) {
            spdlog::error("stage={} event=unknown-call lease={} call={}", stage(), m.value.lease, m.value.index);
            return;
          }
          part_done(it->first, it->second.item.id, m.value.index, encode(m.value.outcome));
          it->second.outcomes[m.value.index] = std::move(m.value.outcome);
          if (--it->second.left == 0) finish(it);
          report_soon(caf::actor_cast<wire::model_worker_actor>(this));
        },
        [this](wire::tick_msg&) {
          send_report();
          run_deferred(caf::actor_cast<wire::model_worker_actor>(this));
        },
        [this](wire::eos_msg& m) { on_eos(m); },
    };
  }

  void on_exit() override {
    setup_.client.reset();
    setup_.task.reset();
    release();
  }

 private:
  struct Pending {
    Item item;
    std::vector<std::optional<LoggedCall>> outcomes;
    size_t left = 0;
  };

  std::string call_key(uint64_t id, uint32_t index) const {
    return std::to_string(id) + "." + stage() + "." + std::to_string(index);
  }

  void begin(wire::Lease lease) {
    auto calls = setup_.task->calls(lease.item);
    uint64_t id = lease.item.id;
    auto [it, inserted] = pending_.emplace(lease.lease, Pending{std::move(lease.item), {}, 0});
    if (!inserted) {
      spdlog::error("stage={} event=duplicate-lease lease={}", stage(), lease.lease);
      return;
    }
    Pending& p = it->second;
    p.outcomes.resize(calls.size());
    for (auto& part : lease.parts) {  // finished in an earlier session, or by a lost worker
      if (part.index >= p.outcomes.size()) continue;
      auto c = decode<LoggedCall>(part.bytes, "logged model call");
      if (c) p.outcomes[part.index] = std::move(c.value());
    }
    auto self = caf::actor_cast<caf::weak_actor_ptr>(this->ctrl());
    uint64_t lease_id = lease.lease;
    for (uint32_t i = 0; i < calls.size(); ++i) {
      if (p.outcomes[i]) continue;
      ++p.left;
      if (setup_.audit) setup_.audit->record("start", "call", call_key(id, i));
      setup_.client->chat(std::move(calls[i]), [self, lease_id, i](model::ChatOutcome o) {
        if (auto strong = self.lock())
          caf::anon_send(caf::actor_cast<wire::model_worker_actor>(strong),
                         wire::pack(wire::CallDone{lease_id, i, to_logged(o)}));
      });
    }
    if (p.left == 0) finish(it);
  }

  void finish(std::map<uint64_t, Pending>::iterator it) {
    Item item = std::move(it->second.item);
    std::vector<model::ChatOutcome> outcomes;
    for (auto& o : it->second.outcomes) outcomes.push_back(from_logged(*o));
    auto calls = static_cast<uint32_t>(outcomes.size());
    uint64_t lease = it->first;
    pending_.erase(it);
    setup_.task->apply(item, std::move(outcomes));
    lease_done(lease, std::move(item), calls);
  }

  ModelWorkerSetup setup_;
  std::map<uint64_t, Pending> pending_;  // lease -> item waiting for replies, at most `capacity`
};

// --- verify ----------------------------------------------------------------------

class VerifyWorker : public Worker<wire::worker_actor::base> {
 public:
  VerifyWorker(caf::actor_config& cfg, VerifyWorkerSetup setup)
      : Worker(cfg, setup.stage, setup.capacity, setup.counters), setup_(std::move(setup)) {}

  behavior_type make_behavior() override {
    return {
        [this](wire::attach_msg& m) { on_attach(m); },
        [this](wire::lease_batch_msg& m) {
          for (auto& lease : accept(m)) {
            verify_item(*setup_.check, lease.item);
            lease_done(lease.lease, std::move(lease.item), 0);
          }
          send_report();
        },
        [this](wire::eos_msg& m) { on_eos(m); },
    };
  }

  void on_exit() override {
    setup_.check.reset();
    release();
  }

 private:
  VerifyWorkerSetup setup_;
};

}  // namespace

sandbox::RunLimits run_limits(const ExecuteWork& w) {
  sandbox::RunLimits l;
  l.wall_timeout_s = w.wall_timeout_s;
  l.cpu_seconds = w.cpu_seconds;
  l.address_space_mb = w.address_space_mb;
  l.max_output_bytes = w.max_output_bytes;
  l.max_file_bytes = w.max_file_bytes;
  l.max_processes = w.max_processes;
  return l;
}

wire::worker_actor spawn_execute_worker(caf::actor_system& sys, ExecuteWorkerSetup setup) {
  return sys.spawn<ExecuteWorker>(std::move(setup));
}
wire::worker_actor spawn_model_worker(caf::actor_system& sys, ModelWorkerSetup setup) {
  return sys.spawn<ModelWorker>(std::move(setup));
}
wire::worker_actor spawn_verify_worker(caf::actor_system& sys, VerifyWorkerSetup setup) {
  return sys.spawn<VerifyWorker>(std::move(setup));
}

}  // namespace vf
