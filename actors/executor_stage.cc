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
        pool_(std::move(executor)) {}

  behavior_type make_behavior() override {
    start();
    return {
        [this](const wire::attach_msg& m) { on_attach(m); },
        [this](const wire::item_batch_msg& m) {
          for (auto& item : received(m)) {
            // Only generated items run: rejected ones (unparseable reply, model error) and items
            // that arrive with their executions (annotation of a verified set) pass through.
            if (item.item_state() != ItemState::kGenerated) emit(std::move(item));
            else run(std::move(item));
          }
          flush();
        },
        [this](const wire::execution_done_msg& m) {
          auto done = wire::unpack(m);
          if (!done) {
            spdlog::error("stage=executor event=bad-result error=\"{}\"", done.error());
            return;
          }
          Item item = std::move(done->item);
          if (!advance(item, ItemEvent::kExecutionsAttached))
            spdlog::error("stage=executor event=illegal-transition item={} state={}", item.id,
                          to_string(item.item_state()));
          emit(std::move(item));
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
  // Runs the item's rationale runs_per_item times, one after another on the
  // pool, and posts the item back to this actor when all runs are done.
  struct RunChain : std::enable_shared_from_this<RunChain> {
    caf::weak_actor_ptr stage;
    sandbox::Executor* pool;
    sandbox::RunLimits limits;
    uint32_t runs;
    Item item;

    void submit() {
      pool->submit({item.rationale, limits, item.required_modules}, [chain = shared_from_this()](RunResult r) { chain->on_result(r); });
    }
    void on_result(const RunResult& r) {
      item.executions.push_back(to_execution(r));
      // A failed run needs no second run: the item is rejected either way.
      if (r.status == sandbox::RunStatus::kOk && item.executions.size() < runs) {
        submit();
        return;
      }
      if (auto strong = stage.lock())
        caf::anon_send(caf::actor_cast<wire::executor_actor>(strong),
                       wire::pack(wire::ExecutionDone{std::move(item)}));
    }
  };

  void run(Item item) {
    auto chain = std::make_shared<RunChain>();
    chain->stage = caf::actor_cast<caf::weak_actor_ptr>(this->ctrl());
    chain->pool = pool_.get();
    chain->limits = options_.limits;
    chain->runs = options_.runs_per_item;
    chain->item = std::move(item);
    chain->submit();
  }

  ExecutorStageOptions options_;
  std::shared_ptr<sandbox::Executor> pool_;
};

}  // namespace

wire::executor_actor spawn_executor_stage(caf::actor_system& sys, ExecutorStageOptions options,
                                          std::shared_ptr<sandbox::Executor> executor,
                                          wire::downstream_actor next, wire::monitor_actor monitor) {
  return sys.spawn<ExecutorStage>(std::move(options), std::move(executor), std::move(next), std::move(monitor));
}

}  // namespace vf
