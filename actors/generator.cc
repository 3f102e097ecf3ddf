#include <chrono>
#include <deque>

#include <spdlog/spdlog.h>

#include "actors/stages.h"
#include "dataflow/credit.h"
#include "storage/codec.h"

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
        monitor_(std::move(monitor)),
        in_flight_(std::make_move_iterator(options_.in_flight.begin()), std::make_move_iterator(options_.in_flight.end())),
        issued_(options_.resume_from.issued) {
    options_.in_flight.clear();
    if (options_.resume_from.ended) {
      stopping_ = true;
      end_reason_ = options_.resume_from.end_reason;
    } else if (options_.target_covered) {
      stopping_ = true;
      end_reason_ = "target-covered";
    }
    if (!in_flight_.empty() || issued_ > 0)
      spdlog::info("stage=generator event=resume issued={} in_flight={} ended={}", issued_, in_flight_.size(),
                   stopping_);
  }

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
    options_.store.reset();
  }

 private:
  void produce() {
    // Items a previous session left in flight go first; they are in the log already.
    while (!ended_ && failed_ == false && credit_.available() > 0 && !in_flight_.empty()) {
      std::vector<Item> batch;
      uint32_t room = credit_.take(options_.batch_size);
      while (batch.size() < room && !in_flight_.empty()) {
        batch.push_back(std::move(in_flight_.front()));
        in_flight_.pop_front();
      }
      if (batch.size() < room) credit_.grant(room - static_cast<uint32_t>(batch.size()));
      sent_ += batch.size();
      send(next_, wire::pack(wire::ItemBatch{std::move(batch)}));
    }
    while (!ended_ && !failed_ && in_flight_.empty() && credit_.available() > 0) {
      if (stopping_) break;
      std::vector<Item> batch;
      uint32_t room = credit_.take(options_.batch_size);
      while (batch.size() < room) {
        if (options_.max_items && issued_ + batch.size() >= options_.max_items) {
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
        if (!log_issued(batch, false)) return;
        issued_ += batch.size();
        sent_ += batch.size();
        send(next_, wire::pack(wire::ItemBatch{std::move(batch)}));
      }
    }
    if (stopping_ && !ended_ && in_flight_.empty() && !failed_) {
      if (!log_issued({}, true)) return;
      ended_ = true;
      spdlog::info("stage=generator event=end reason={} generated={}", end_reason_, sent_);
      send(next_, wire::pack(wire::EndOfStream{sent_, end_reason_}));
      report(true);
      quit();
      return;
    }
    report(false);
  }

  // Logs new items with the generator's progress, in one batch, before they leave.
  bool log_issued(const std::vector<Item>& batch, bool ending) {
    if (!options_.store) return true;
    LogBatch log;
    for (const auto& item : batch) log.put_item(item.id, encode(item));
    source_->checkpoint(log);
    log.put_meta("generator", encode(GeneratorCheckpoint{issued_ + batch.size(), ending, ending ? end_reason_ : ""}));
    if (auto s = options_.store->write(log); !s) {
      failed_ = true;
      wire::stop_job(this, monitor_, "generator", s.error());
      return false;
    }
    return true;
  }

  void report(bool finished) {
    auto now = std::chrono::steady_clock::now();
    if (!finished && now - last_report_ < std::chrono::milliseconds(options_.report_interval_ms)) return;
    last_report_ = now;
    wire::StageReport r;
    r.stage = "generator";
    r.sent = issued_;
    r.finished = finished;
    send(monitor_, wire::pack(r));
  }

  std::shared_ptr<ItemSource> source_;
  GeneratorOptions options_;
  wire::downstream_actor next_;
  wire::monitor_actor monitor_;
  CreditWindow credit_;
  std::deque<Item> in_flight_;  // recovered from the log, sent before anything new
  uint64_t issued_ = 0;         // ids issued over every session: the next new item's id
  uint64_t sent_ = 0;           // items sent in this session
  bool failed_ = false;
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
