// LLM stage: a middle stage around a ModelTask (generation or solving).
// Items the task does not want pass straight through. For the others, the
// task's calls go to the shared ModelClient; when the last reply of an item
// arrives (on the client's thread) the task applies them and the item comes
// back to this actor as a ModelDone message, so all stage state stays in the
// actor. At most `capacity` items are held, which bounds the calls in flight.
#include <atomic>
#include <memory>

#include "actors/middle_stage.h"
#include "actors/stages.h"

namespace vf {
namespace {

class LlmStage : public MiddleStage<wire::model_stage_actor::base> {
 public:
  LlmStage(caf::actor_config& cfg, LlmStageOptions options, std::shared_ptr<const ModelTask> task,
           std::shared_ptr<model::ModelClient> client, wire::downstream_actor next, wire::monitor_actor monitor)
      : MiddleStage(cfg, options.name, options.capacity, options.batch_size, options.report_interval_ms,
                    std::move(next), std::move(monitor)),
        task_(std::move(task)),
        client_(std::move(client)),
        similarity_threshold_(options.similarity_threshold) {
    for (const auto& q : options.similarity_pool) pool_.add(q);
  }

  behavior_type make_behavior() override {
    start();
    return {
        [this](const wire::attach_msg& m) { on_attach(m); },
        [this](const wire::item_batch_msg& m) {
          for (auto& item : received(m)) {
            if (task_->wants(item)) call(std::move(item));
            else emit(std::move(item));
          }
          flush();
        },
        [this](const wire::model_done_msg& m) {
          auto done = wire::unpack(m);
          if (!done) {
            spdlog::error("stage={} event=bad-result error=\"{}\"", stage_name(), done.error());
            return;
          }
          Item item = std::move(done->item);
          if (similarity_threshold_ > 0 && item.item_state() != ItemState::kRejected && !item.question.empty()) {
            auto [score, closest] = pool_.closest(item.question);
            if (score >= similarity_threshold_) {
              reject(item, "too-similar",
                     "ROUGE-L " + std::to_string(score).substr(0, 4) + " against '" + closest.substr(0, 160) + "'");
            } else {
              pool_.add(item.question);
            }
          }
          emit(std::move(item));
          flush();
        },
        [this](const wire::credit_msg& m) { on_credit(m); },
        [this](const wire::eos_msg& m) { on_eos(m); },
    };
  }

  void on_exit() override {
    client_.reset();
    release_links();
  }

 private:
  // The replies of one item's calls, gathered on the client's thread.
  struct Gather {
    caf::weak_actor_ptr stage;
    std::shared_ptr<const ModelTask> task;
    Item item;
    std::vector<model::ChatOutcome> outcomes;
    std::atomic<size_t> left{0};
  };

  void call(Item item) {
    auto calls = task_->calls(item);
    auto g = std::make_shared<Gather>();
    g->stage = caf::actor_cast<caf::weak_actor_ptr>(this->ctrl());
    g->task = task_;
    g->item = std::move(item);
    g->outcomes.resize(calls.size());
    g->left = calls.size();
    for (size_t i = 0; i < calls.size(); ++i) {
      client_->chat(std::move(calls[i]), [g, i](model::ChatOutcome o) {
        g->outcomes[i] = std::move(o);
        if (--g->left > 0) return;
        g->task->apply(g->item, std::move(g->outcomes));
        if (auto strong = g->stage.lock())
          caf::anon_send(caf::actor_cast<wire::model_stage_actor>(strong), wire::pack(wire::ModelDone{std::move(g->item)}));
      });
    }
  }

  std::shared_ptr<const ModelTask> task_;
  std::shared_ptr<model::ModelClient> client_;
  double similarity_threshold_;
  SimilarityPool pool_;  // questions seen by this stage (state of the actor)
};

}  // namespace

wire::model_stage_actor spawn_llm_stage(caf::actor_system& sys, LlmStageOptions options,
                                        std::shared_ptr<const ModelTask> task,
                                        std::shared_ptr<model::ModelClient> client, wire::downstream_actor next,
                                        wire::monitor_actor monitor) {
  return sys.spawn<LlmStage>(std::move(options), std::move(task), std::move(client), std::move(next),
                             std::move(monitor));
}

}  // namespace vf
