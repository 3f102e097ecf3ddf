// MiddleStage: the credit-protocol plumbing shared by stages that both receive
// and send items (executor stage, verifier). The derived actor supplies the
// work: it calls received() for each incoming batch and emit() for each item
// it finished; MiddleStage forwards items as downstream credit allows, returns
// credit upstream as items leave, forwards stop requests upstream, and sends
// EndOfStream downstream once upstream ended and the stage has drained.
// With a checkpoint log (use_log), what the stage logged while handling a
// message (finished parts, finished items) is written in one batch before
// any item leaves: nothing travels downstream that the log does not hold.
// A failed log write fails the job (the stage stops; nothing is lost that
// was logged before).
// Lives inside one actor; not thread-safe (CAF runs one handler at a time).
#pragma once

#include <chrono>
#include <string>

#include <spdlog/spdlog.h>

#include "actors/wire.h"
#include "dataflow/credit.h"
#include "storage/audit_trail.h"
#include "storage/codec.h"
#include "storage/job_store.h"

namespace vf {

template <class Base>
class MiddleStage : public Base {
 public:
  MiddleStage(caf::actor_config& cfg, std::string name, uint32_t capacity, uint32_t batch_size,
              uint32_t report_interval_ms, wire::downstream_actor next, wire::monitor_actor monitor)
      : Base(cfg),
        name_(std::move(name)),
        inbound_(capacity, std::max<uint32_t>(1, std::min(batch_size, capacity / 2))),
        outbox_(batch_size),
        report_interval_(report_interval_ms),
        next_(std::move(next)),
        monitor_(std::move(monitor)) {}

 protected:
  void start() { this->send(next_, wire::pack(wire::Attach{name_})); }

  // The job's checkpoint log (null: none). `stage_code` names this stage's r/ entries.
  void use_log(std::shared_ptr<JobStore> store, char stage_code, std::shared_ptr<AuditTrail> audit) {
    store_ = std::move(store);
    stage_code_ = stage_code;
    audit_ = std::move(audit);
  }
  JobStore* store() const { return store_.get(); }
  AuditTrail* audit() const { return audit_.get(); }

  // A finished part of the work on an item (one code run, one model call).
  void log_partial(uint64_t id, uint32_t index, const std::string& bytes, std::string audit_kind,
                   std::string audit_key) {
    if (!store_) return;
    pending_log_.put_partial(id, stage_code_, index, bytes);
    if (audit_) pending_audit_.emplace_back(std::move(audit_kind), std::move(audit_key));
  }
  LogBatch& pending_log() { return pending_log_; }

  // Writes what this handler logged; false (and the job fails) when the store refuses.
  bool commit_log() {
    if (failed_) return false;
    if (!store_ || pending_log_.empty()) return true;
    if (auto s = store_->write(pending_log_); !s) {
      fail(s.error());
      return false;
    }
    for (const auto& [kind, key] : pending_audit_) audit_->record("logged", kind, key);
    pending_audit_.clear();
    return true;
  }

  void fail(const std::string& error) {
    if (failed_) return;
    failed_ = true;
    wire::stop_job(this, monitor_, name_, error);
  }

  void on_attach(const wire::attach_msg&) {
    upstream_ = caf::actor_cast<wire::upstream_actor>(this->current_sender());
    if (!upstream_) {
      spdlog::error("stage={} event=attach-without-sender", name_);
      return;
    }
    this->send(upstream_, wire::pack(wire::Credit{inbound_.initial_grant(), stop_seen_, {}}));
  }

  // Decodes a batch and accounts for it; empty on a protocol error.
  std::vector<Item> received(const wire::item_batch_msg& m) {
    auto batch = wire::unpack(m);
    if (!batch) {
      spdlog::error("stage={} event=bad-batch error=\"{}\"", name_, batch.error());
      return {};
    }
    received_ += batch->items.size();
    if (!inbound_.on_received(static_cast<uint32_t>(batch->items.size())))
      spdlog::error("stage={} event=credit-overrun held={} capacity={}", name_, inbound_.held(),
                    inbound_.capacity());
    return std::move(batch->items);
  }

  // An item leaves this stage. `finished_here`: the stage changed it, so its
  // new form is logged (and its r/ entries dropped) before it moves on.
  // `partials`: how many r/ entries the stage logged for it (now dropped).
  void emit(Item item, bool finished_here = false, uint32_t partials = 0) {
    if (item.item_state() == ItemState::kRejected) ++rejected_;
    if (finished_here && store_) {
      pending_log_.put_item(item.id, encode(item));
      pending_log_.erase_partials(item.id, stage_code_, partials);
    }
    outbox_.push(std::move(item));
  }

  void on_credit(const wire::credit_msg& m) {
    auto c = wire::unpack(m);
    if (!c) {
      spdlog::error("stage={} event=bad-credit error=\"{}\"", name_, c.error());
      return;
    }
    outbox_.grant(c->credits);
    if (c->stop && !stop_seen_) {
      stop_seen_ = true;
      if (upstream_) this->send(upstream_, wire::pack(wire::Credit{0, true, {}}));
    }
    // Accepted items travel on towards the generator.
    if (!c->accepted.empty() && upstream_)
      this->send(upstream_, wire::pack(wire::Credit{0, stop_seen_, std::move(c->accepted)}));
    flush();
  }

  void on_eos(const wire::eos_msg& m) {
    auto e = wire::unpack(m);
    upstream_ended_ = true;
    end_reason_ = e ? e->reason : "unknown";
    flush();
  }

  void flush() {
    if (!commit_log()) return;
    for (auto batch = outbox_.next_batch(); !batch.empty(); batch = outbox_.next_batch()) {
      uint32_t n = static_cast<uint32_t>(batch.size());
      sent_ += n;
      this->send(next_, wire::pack(wire::ItemBatch{std::move(batch)}));
      if (uint32_t g = inbound_.on_released(n); g > 0 && upstream_)
        this->send(upstream_, wire::pack(wire::Credit{g, stop_seen_, {}}));
    }
    if (upstream_ended_ && !finished_ && inbound_.held() == 0 && outbox_.empty()) {
      finished_ = true;
      this->send(next_, wire::pack(wire::EndOfStream{sent_, end_reason_}));
      spdlog::info("stage={} event=end received={} sent={} rejected={} peak_held={} capacity={}", name_,
                   received_, sent_, rejected_, inbound_.peak_held(), inbound_.capacity());
      report(true);
      this->quit();
      return;
    }
    report(false);
  }

  void report(bool finished) {
    auto now = std::chrono::steady_clock::now();
    if (!finished && now - last_report_ < report_interval_) return;
    last_report_ = now;
    wire::StageReport r;
    r.stage = name_;
    r.received = received_;
    r.sent = sent_;
    r.rejected = rejected_;
    r.held = inbound_.held();
    r.peak_held = inbound_.peak_held();
    r.capacity = inbound_.capacity();
    r.finished = finished;
    this->send(monitor_, wire::pack(r));
  }

  const std::string& stage_name() const { return name_; }

  // Stages hold strong handles to their neighbours; dropping them on exit
  // breaks the cycle so the actors (and what they own) are destroyed.
  void release_links() {
    store_.reset();
    next_ = wire::downstream_actor{};
    upstream_ = wire::upstream_actor{};
    monitor_ = wire::monitor_actor{};
  }

 private:
  std::string name_;
  InboundBudget inbound_;
  Outbox<Item> outbox_;
  std::chrono::milliseconds report_interval_;
  wire::downstream_actor next_;
  wire::monitor_actor monitor_;
  wire::upstream_actor upstream_;
  std::shared_ptr<JobStore> store_;
  char stage_code_ = '?';
  std::shared_ptr<AuditTrail> audit_;
  LogBatch pending_log_;
  std::vector<std::pair<std::string, std::string>> pending_audit_;
  bool failed_ = false;
  uint64_t received_ = 0, sent_ = 0, rejected_ = 0;
  bool stop_seen_ = false;
  bool upstream_ended_ = false;
  bool finished_ = false;
  std::string end_reason_;
  std::chrono::steady_clock::time_point last_report_{};
};

}  // namespace vf
