// LLM stage: a middle stage around a ModelTask (generation or solving).
// Items the task does not want pass straight through. For the others, the
// task's calls go to the shared ModelClient; each reply comes back to this
// actor as a CallDone message (posted from the client's thread), is logged
// as the item's r/ entry, and when an item's last reply is in, the task
// applies them all. All stage state stays in the actor. At most `capacity`
// items are held, which bounds the calls in flight. A resumed job's item
// issues only the calls its log does not hold.
#include <map>
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
    use_log(options.store, options.log_code, options.audit);
    code_ = options.log_code;
    for (const auto& q : options.similarity_pool) pool_.add(q);
  }

  behavior_type make_behavior() override {
    if (similarity_threshold_ > 0 && store()) {
      // The questions earlier sessions of the job let through.
      auto s = store()->for_each_pool_question([&](uint64_t, std::string_view q) -> Status {
        pool_.add(std::string(q));
        return {};
      });
      if (!s) fail(s.error());
    }
    start();
    return {
        [this](const wire::attach_msg& m) { on_attach(m); },
        [this](const wire::item_batch_msg& m) {
          for (auto& item : received(m)) {
            if (task_->wants(item)) begin(std::move(item));
            else emit(std::move(item));
          }
          flush();
        },
        [this](const wire::call_done_msg& m) {
          auto done = wire::unpack(m);
          if (!done) {
            spdlog::error("stage={} event=bad-result error=\"{}\"", stage_name(), done.error());
            return;
          }
          auto it = pending_.find(done->item);
          if (it == pending_.end() || done->index >= it->second.outcomes.size()) {
            spdlog::error("stage={} event=unknown-call item={} call={}", stage_name(), done->item, done->index);
            return;
          }
          log_partial(done->item, done->index, encode(done->outcome), "call", call_key(done->item, done->index));
          it->second.outcomes[done->index] = std::move(done->outcome);
          if (--it->second.left == 0) finish(it);
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
  struct Pending {
    Item item;
    std::vector<std::optional<LoggedCall>> outcomes;
    size_t left = 0;
  };

  std::string call_key(uint64_t id, uint32_t index) const {
    return std::to_string(id) + "." + stage_name() + "." + std::to_string(index);
  }

  void begin(Item item) {
    auto calls = task_->calls(item);
    uint64_t id = item.id;
    auto [it, inserted] = pending_.emplace(id, Pending{std::move(item), {}, 0});
    if (!inserted) {
      spdlog::error("stage={} event=duplicate-item item={}", stage_name(), id);
      return;
    }
    Pending& p = it->second;
    p.outcomes.resize(calls.size());
    if (store()) {
      auto s = store()->for_each_partial(id, log_code(), [&](uint32_t index, std::string_view bytes) -> Status {
        if (index >= p.outcomes.size()) return {};
        auto c = decode<LoggedCall>(bytes, "logged model call");
        if (!c) return Error{"item " + std::to_string(id) + ": " + c.error()};
        p.outcomes[index] = std::move(c.value());
        return {};
      });
      if (!s) return fail(s.error());
    }
    auto stage = caf::actor_cast<caf::weak_actor_ptr>(this->ctrl());
    for (uint32_t i = 0; i < calls.size(); ++i) {
      if (p.outcomes[i]) continue;  // finished in an earlier session
      ++p.left;
      if (audit()) audit()->record("start", "call", call_key(id, i));
      client_->chat(std::move(calls[i]), [stage, id, i](model::ChatOutcome o) {
        if (auto strong = stage.lock())
          caf::anon_send(caf::actor_cast<wire::model_stage_actor>(strong),
                         wire::pack(wire::CallDone{id, i, to_logged(o)}));
      });
    }
    if (p.left == 0) finish(it);
  }

  void finish(std::map<uint64_t, Pending>::iterator it) {
    Item item = std::move(it->second.item);
    std::vector<model::ChatOutcome> outcomes;
    for (auto& o : it->second.outcomes) outcomes.push_back(from_logged(*o));
    auto calls = static_cast<uint32_t>(outcomes.size());
    pending_.erase(it);
    task_->apply(item, std::move(outcomes));
    if (similarity_threshold_ > 0 && item.item_state() != ItemState::kRejected && !item.question.empty()) {
      auto [score, closest] = pool_.closest(item.question);
      if (score >= similarity_threshold_) {
        reject(item, "too-similar",
               "ROUGE-L " + std::to_string(score).substr(0, 4) + " against '" + closest.substr(0, 160) + "'");
      } else {
        pool_.add(item.question);
        if (store()) pending_log().put_pool_question(item.id, item.question);
      }
    }
    emit(std::move(item), true, calls);
  }

  char log_code() const { return code_; }

  std::shared_ptr<const ModelTask> task_;
  std::shared_ptr<model::ModelClient> client_;
  double similarity_threshold_;
  SimilarityPool pool_;                  // questions seen by this stage (state of the actor)
  std::map<uint64_t, Pending> pending_;  // items waiting for replies, at most `capacity`
  char code_ = '?';
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
