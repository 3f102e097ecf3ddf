#include "actors/middle_stage.h"
#include "actors/stages.h"

namespace vf {
namespace {

class Verifier : public MiddleStage<wire::stage_actor::base> {
 public:
  Verifier(caf::actor_config& cfg, std::shared_ptr<const Check> check, VerifierOptions options,
           wire::downstream_actor next, wire::monitor_actor monitor)
      : MiddleStage(cfg, "verifier", options.capacity, options.batch_size, options.report_interval_ms,
                    std::move(next), std::move(monitor)),
        check_(std::move(check)) {
    use_log(options.store, 0, nullptr);
  }

  behavior_type make_behavior() override {
    start();
    return {
        [this](const wire::attach_msg& m) { on_attach(m); },
        [this](const wire::item_batch_msg& m) {
          for (auto& item : received(m)) {
            bool verified = item.item_state() == ItemState::kExecuted;
            emit(verify(std::move(item)), verified);
          }
          flush();
        },
        [this](const wire::credit_msg& m) { on_credit(m); },
        [this](const wire::eos_msg& m) { on_eos(m); },
    };
  }

  void on_exit() override { release_links(); }

 private:
  Item verify(Item item) {
    // Items rejected upstream pass through untouched, reason intact.
    if (item.item_state() != ItemState::kExecuted) return item;
    Verdict v = check_->check(item);
    item.verdict_note = std::move(v.note);
    for (size_t i = 0; i < v.agrees.size() && i < item.solver_samples.size(); ++i) item.solver_samples[i].agrees = v.agrees[i];
    if (v.pass_rate >= 0) {
      item.pass_rate = v.pass_rate;
      item.difficulty = v.difficulty;
    }
    if (v.accepted) {
      item.answer = std::move(v.answer);
      advance(item, ItemEvent::kAccept);
    } else {
      if (!v.answer.empty()) item.answer = std::move(v.answer);
      reject(item, std::move(v.reason), std::move(v.detail));
    }
    return item;
  }

  std::shared_ptr<const Check> check_;
};

}  // namespace

wire::stage_actor spawn_verifier(caf::actor_system& sys, std::shared_ptr<const Check> check,
                                 VerifierOptions options, wire::downstream_actor next, wire::monitor_actor monitor) {
  return sys.spawn<Verifier>(std::move(check), options, std::move(next), std::move(monitor));
}

}  // namespace vf
