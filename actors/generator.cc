#include <chrono>

#include <spdlog/spdlog.h>

#include "actors/stages.h"
#include "dataflow/credit.h"

namespace vf {
namespace {

class Generator : public wire::generator_actor::base {
 public:
  Generator(caf::actor_config& cfg, std::shared_ptr<ItemSource> source, GeneratorOptions options,
            wire::downstream_actor next, wire::monitor_actor monitor)
      : wire::generator_actor::base(cfg),
        source_(std::move(source)),
        options_(options),
        next_(std::move(next)),
        monitor_(std::move(monitor)) {}

  behavior_type make_behavior() override {
    send(next_, wire::pack(wire::Attach{"generator"}));
    return {
        [this](const wire::credit_msg& m) {
          auto c = wire::unpack(m);
          if (!c) {
            spdlog::error("stage=generator event=bad-message error=\"{}\"", c.error());
            return;
          }
          credit_.grant(c->credits);
          for (const auto& fb : c->accepted) source_->on_accepted(fb);
          if (c->stop && !stopping_) {
            stopping_ = true;
            end_reason_ = "target-covered";
            spdlog::info("stage=generator event=stop reason=target-covered generated={}", sent_);
          }
          produce();
        },
    };
  }

  void on_exit() override {
    next_ = wire::downstream_actor{};
    monitor_ = wire::monitor_actor{};
    source_.reset();
  }

 private:
  void produce() {
    while (!ended_ && credit_.available() > 0) {
      if (stopping_) break;
      std::vector<Item> batch;
      uint32_t room = credit_.take(options_.batch_size);
      while (batch.size() < room) {
        if (options_.max_items && sent_ + batch.size() >= options_.max_items) {
          end_reason_ = "max-generated";
          stopping_ = true;
          break;
        }
        auto item = source_->next();
        if (!item) {
          end_reason_ = source_->end_reason();
          stopping_ = true;
          break;
        }
        batch.push_back(std::move(*item));
      }
      // Unused credit goes back to the window.
      if (batch.size() < room) credit_.grant(room - static_cast<uint32_t>(batch.size()));
      if (!batch.empty()) {
        sent_ += batch.size();
        send(next_, wire::pack(wire::ItemBatch{std::move(batch)}));
      }
    }
    if (stopping_ && !ended_) {
      ended_ = true;
      spdlog::info("stage=generator event=end reason={} generated={}", end_reason_, sent_);
      send(next_, wire::pack(wire::EndOfStream{sent_, end_reason_}));
      report(true);
      quit();
      return;
    }
    report(false);
  }

  void report(bool finished) {
    auto now = std::chrono::steady_clock::now();
    if (!finished && now - last_report_ < std::chrono::milliseconds(options_.report_interval_ms)) return;
    last_report_ = now;
    wire::StageReport r;
    r.stage = "generator";
    r.sent = sent_;
    r.finished = finished;
    send(monitor_, wire::pack(r));
  }

  std::shared_ptr<ItemSource> source_;
  GeneratorOptions options_;
  wire::downstream_actor next_;
  wire::monitor_actor monitor_;
  CreditWindow credit_;
  uint64_t sent_ = 0;
  bool stopping_ = false;
  bool ended_ = false;
  std::string end_reason_;
  std::chrono::steady_clock::time_point last_report_{};
};

}  // namespace

wire::generator_actor spawn_generator(caf::actor_system& sys, std::shared_ptr<ItemSource> source,
                                      GeneratorOptions options, wire::downstream_actor next,
                                      wire::monitor_actor monitor) {
  return sys.spawn<Generator>(std::move(source), options, std::move(next), std::move(monitor));
}

}  // namespace vf
