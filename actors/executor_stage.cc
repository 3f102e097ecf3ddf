#include <map>
#include <memory>

#include "actors/middle_stage.h"
#include "actors/stages.h"

namespace vf {
namespace {

using sandbox::RunResult;

Execution to_execution(const RunResult& r) {
  Execution e;
  e.status = static_cast<uint8_t>(r.status);
  e.exit_code = r.exit_code;
  e.output = r.output;
  e.error_tail = r.error_tail;
  e.detail = r.detail;
  e.wall_ms = r.wall_ms;
  return e;
}

class ExecutorStage : public MiddleStage<wire::executor_actor::base> {
 public:
  ExecutorStage(caf::actor_config& cfg, ExecutorStageOptions options, std::shared_ptr<sandbox::Executor> executor,
                wire::downstream_actor next, wire::monitor_actor monitor)
      : MiddleStage(cfg, "executor", options.capacity, options.batch_size, options.report_interval_ms,
                    std::move(next), std::move(monitor)),
        options_(std::move(options)),
        pool_(std::move(executor)) {
    use_log(options_.store, kRunsStage, options_.audit);
  }

  behavior_type make_behavior() override {
    start();
    return {
        [this](const wire::attach_msg& m) { on_attach(m); },
        [this](const wire::item_batch_msg& m) {
          for (auto& item : received(m)) {
            // Only generated items run: rejected ones (unparseable reply, model error) and items
            // that arrive with their executions (annotation of a verified set) pass through.
            if (item.item_state() != ItemState::kGenerated) emit(std::move(item));
            else begin(std::move(item));
          }
          flush();
        },
        [this](const wire::run_done_msg& m) {
          auto done = wire::unpack(m);
          if (!done) {
            spdlog::error("stage=executor event=bad-result error=\"{}\"", done.error());
            return;
          }
          auto it = running_.find(done->item);
          if (it == running_.end()) {
            spdlog::error("stage=executor event=unknown-run item={}", done->item);
            return;
          }
          Item& item = it->second;
          uint32_t index = static_cast<uint32_t>(item.executions.size());
          log_partial(item.id, index, encode(done->execution), "run", run_key(item.id, index));
          item.executions.push_back(std::move(done->execution));
          continue_or_finish(it);
          flush();
        },
        [this](const wire::credit_msg& m) { on_credit(m); },
        [this](const wire::eos_msg& m) { on_eos(m); },
    };
  }

  void on_exit() override {
    pool_.reset();  // waits for running snippets; their results go nowhere
    release_links();
  }

 private:
  static std::string run_key(uint64_t id, uint32_t index) { return std::to_string(id) + "." + std::to_string(index); }

  // Picks up the runs a previous session of the job logged for this item,
  // then runs what is missing.
  void begin(Item item) {
    if (store()) {
      std::vector<Execution> logged;
      auto s = store()->for_each_partial(item.id, kRunsStage, [&](uint32_t index, std::string_view bytes) -> Status {
        auto e = decode<Execution>(bytes, "logged code run");
        if (!e) return Error{e.error()};
        if (index != logged.size()) return Error{"logged runs of item " + std::to_string(item.id) + " have a gap"};
        logged.push_back(std::move(e.value()));
        return {};
      });
      if (!s) return fail(s.error());
      if (!logged.empty())
        spdlog::debug("stage=executor event=resume-runs item={} logged_runs={}", item.id, logged.size());
      item.executions = std::move(logged);
    }
    auto [it, inserted] = running_.emplace(item.id, std::move(item));
    if (!inserted) {
      spdlog::error("stage=executor event=duplicate-item item={}", it->first);
      return;
    }
    continue_or_finish(it);
  }

  // Runs the item's rationale runs_per_item times, one after another on the
  // pool; a failed run needs no second one (the item is rejected either way).
  void continue_or_finish(std::map<uint64_t, Item>::iterator it) {
    Item& item = it->second;
    bool failed = !item.executions.empty() && item.executions.back().status != static_cast<uint8_t>(sandbox::RunStatus::kOk);
    if (!failed && item.executions.size() < options_.runs_per_item) {
      submit(item);
      return;
    }
    Item done = std::move(item);
    running_.erase(it);
    if (!advance(done, ItemEvent::kExecutionsAttached))
      spdlog::error("stage=executor event=illegal-transition item={} state={}", done.id, to_string(done.item_state()));
    auto runs = static_cast<uint32_t>(done.executions.size());
    emit(std::move(done), true, runs);
  }

  void submit(const Item& item) {
    uint64_t id = item.id;
    if (audit()) audit()->record("start", "run", run_key(id, static_cast<uint32_t>(item.executions.size())));
    auto stage = caf::actor_cast<caf::weak_actor_ptr>(this->ctrl());
    pool_->submit({item.rationale, options_.limits, item.required_modules}, [stage, id](RunResult r) {
      if (auto strong = stage.lock())
        caf::anon_send(caf::actor_cast<wire::executor_actor>(strong), wire::pack(wire::RunDone{id, to_execution(r)}));
    });
  }

  ExecutorStageOptions options_;
  std::shared_ptr<sandbox::Executor> pool_;
  std::map<uint64_t, Item> running_;  // at most `capacity` items
};

}  // namespace

wire::executor_actor spawn_executor_stage(caf::actor_system& sys, ExecutorStageOptions options,
                                          std::shared_ptr<sandbox::Executor> executor,
                                          wire::downstream_actor next, wire::monitor_actor monitor) {
  return sys.spawn<ExecutorStage>(std::move(options), std::move(executor), std::move(next), std::move(monitor));
}

}  // namespace vf
