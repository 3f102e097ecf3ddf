// Generator: the head of the pipeline. Draws items from its ItemSource as
// downstream credit allows, logs each batch (with the source's progress)
// before it leaves, sends a resumed job's in-flight items first, and ends the
// stream when the source is exhausted, max_items is reached or the writer
// says the target is covered.
#include <deque>

#include "actors/pipeline.h"
#include "actors/stage.h"
#include "storage/codec.h"

namespace vf {
namespace {

class Generator : public Stage<wire::generator_actor::base> {
 public:
  Generator(caf::actor_config& cfg, GeneratorSetup setup, wire::monitor_actor monitor)
      : Stage(cfg, {"generator", 1, setup.batch_size, setup.report_interval_ms}, std::move(monitor)),
        setup_(std::move(setup)),
        in_flight_(std::make_move_iterator(setup_.in_flight.begin()), std::make_move_iterator(setup_.in_flight.end())),
        issued_(setup_.resume_from.issued),
        paused_(setup_.start_paused) {
    setup_.in_flight.clear();
    use_log(setup_.log);
    if (setup_.resume_from.ended) {
      stopping_ = true;
      set_end_reason(setup_.resume_from.end_reason);
    } else if (setup_.target_covered) {
      stopping_ = true;
      set_end_reason("target-covered");
    }
    if (!in_flight_.empty() || issued_ > 0)
      spdlog::info("stage=generator event=resume issued={} in_flight={} ended={}", issued_, in_flight_.size(),
                   stopping_);
  }

  behavior_type make_behavior() override {
    connect(setup_.next);
    start_reporting(caf::actor_cast<wire::generator_actor>(this));
    return {
        [this](wire::report_due_msg&) { on_report_due(caf::actor_cast<wire::generator_actor>(this)); },
        [this](wire::credit_msg& m) {
          on_credit(m);
          produce();
        },
        [this](wire::log_done_msg& m) {
          on_log_done(m);
          produce();
        },
        [this](wire::set_target_msg& m) {
          if (!m.ok() || !m.value.max_items || m.value.max_items <= setup_.max_items) return;
          setup_.max_items = m.value.max_items;
          spdlog::info("stage=generator event=set-max-items max_items={}", setup_.max_items);
          produce();
        },
        [this](wire::pause_msg& m) {
          if (!m.ok() || m.value.paused == paused_) return;
          paused_ = m.value.paused;
          spdlog::info("stage=generator event={} issued={}", paused_ ? "paused" : "resumed", issued_);
          produce();
        },
    };
  }

  void on_exit() override {
    setup_ = GeneratorSetup{};
    release_links();
  }

 protected:
  void on_stop() override {
    if (stopping_) return;
    stopping_ = true;
    set_end_reason("target-covered");
    spdlog::info("stage=generator event=stop reason=target-covered generated={}", sent_count());
  }
  void on_feedback(std::vector<Feedback> accepted) override {
    for (const auto& fb : accepted) setup_.source->on_accepted(fb);
  }
  // The generator holds nothing from upstream: it is held back when it would
  // make items but has no credit, busy while its items are being logged.
  StageActivity current_activity() const override {
    if (committing_ > 0) return StageActivity::kBusy;
    if (!stopping_ && !paused_ && !is_finished() && const_cast<Generator*>(this)->room() == 0)
      return StageActivity::kBackpressured;
    return StageActivity::kIdle;
  }
  void fill_report(wire::StageReport& r) override {
    r.sent = issued_;
    r.held = static_cast<uint32_t>(committing_ + outbound().pending());
  }

 private:
  // Items may be made while the credit held exceeds the items already made
  // and not yet sent (being logged, or waiting in the outbox).
  uint64_t room() {
    uint64_t waiting = committing_ + outbound().pending();
    uint64_t credit = outbound().credit();
    return credit > waiting ? credit - waiting : 0;
  }

  void produce() {
    if (failed() || is_finished()) return;
    // Items a previous session left in flight go first; they are in the log already.
    while (!in_flight_.empty() && room() > 0) {
      forward(std::move(in_flight_.front()));
      in_flight_.pop_front();
    }
    while (in_flight_.empty() && !stopping_ && !paused_ && room() > 0) {
      std::vector<Item> batch;
      uint64_t want = std::min<uint64_t>(room(), batch_size());
      while (batch.size() < want) {
        if (setup_.max_items && issued_ + batch.size() >= setup_.max_items) {
          set_end_reason("max-generated");
          stopping_ = true;
          break;
        }
        auto item = setup_.source->next();
        if (!item) {
          set_end_reason(setup_.source->end_reason());
          stopping_ = true;
          break;
        }
        batch.push_back(std::move(*item));
      }
      if (batch.empty()) break;
      issued_ += batch.size();
      committing_ += batch.size();
      LogBatch log;
      if (setup_.log) {
        for (const auto& item : batch) log.put_item(item.id, encode(item));
        setup_.source->checkpoint(log);
        log.put_meta(meta::kGenerator, encode(GeneratorCheckpoint{issued_, false, ""}));
      }
      // Without a log this runs at once; with one, when the batch is durable
      // (the LogDone handler then produces more).
      commit(std::move(log), [this, batch = std::move(batch)]() mutable {
        committing_ -= batch.size();
        for (auto& item : batch) forward(std::move(item));
        flush();
      });
    }
    flush();
    if (stopping_ && in_flight_.empty() && committing_ == 0 && outbound().empty() && !ending_) {
      ending_ = true;
      LogBatch log;
      if (setup_.log) log.put_meta(meta::kGenerator, encode(GeneratorCheckpoint{issued_, true, end_reason()}));
      commit(std::move(log), [this] { end_stream(end_reason()); });
    }
  }

  GeneratorSetup setup_;
  std::deque<Item> in_flight_;  // recovered from the log, sent before anything new
  uint64_t issued_ = 0;         // ids issued over every session: the next new item's id
  bool paused_ = false;         // an operator's pause: nothing new is made until resumed
  uint64_t committing_ = 0;     // made, waiting for the log
  bool stopping_ = false;
  bool ending_ = false;
};

}  // namespace

wire::generator_actor spawn_generator(caf::actor_system& sys, GeneratorSetup setup, wire::monitor_actor monitor) {
  return sys.spawn<Generator>(std::move(setup), std::move(monitor));
}

}  // namespace vf
