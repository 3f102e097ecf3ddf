// Stage<Base>: the skeleton every pipeline stage shares (generator,
// dispatchers, writers): links to upstreams and downstreams with credit
// (dataflow/credit.h), logging through the job's JobLog with the items
// released only when their batch is durable, stop and feedback travelling
// upstream, end of stream, and progress reports to the monitor.
//
// A derived actor supplies the work: it calls accept_batch() for each
// incoming batch, hands finished items to forward() (optionally after a log
// commit()), and calls released() once for every item that left it, which
// returns credit to the item's upstream link. finish_when_drained() ends the
// stage (EndOfStream to every downstream) once every upstream ended and
// nothing is held. The handlers for the protocol messages are
// on_attach/on_credit/on_eos/on_log_done, to be listed in make_behavior().
//
// Lives inside one actor; not thread-safe (CAF runs one handler at a time).
// Handles to neighbours are strong: release_links() in on_exit() breaks the
// cycles so the actors (and what they own) are destroyed.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <spdlog/spdlog.h>

#include "actors/wire.h"
#include "dataflow/credit.h"
#include "dataflow/stage_time.h"
#include "base/histogram.h"
#include "storage/job_log.h"

namespace vf {

template <class Base>
class Stage : public Base {
 public:
  struct Options {
    std::string name;
    uint32_t capacity = 16;    // per upstream link
    uint32_t batch_size = 8;
    uint32_t report_interval_ms = 500;
  };

  Stage(caf::actor_config& cfg, Options options, wire::monitor_actor monitor)
      : Base(cfg),
        name_(std::move(options.name)),
        batch_size_(std::max<uint32_t>(1, options.batch_size)),
        inbound_(options.capacity, std::max<uint32_t>(1, std::min(options.batch_size, options.capacity / 2))),
        outbound_(options.batch_size),
        report_interval_(options.report_interval_ms),
        monitor_(std::move(monitor)) {}

  const std::string& stage_name() const { return name_; }

 protected:
  // --- downstream links ---------------------------------------------------

  // Attaches to a stage after this one; its Credit answer opens the link.
  void connect(wire::downstream_actor next) {
    LinkId id = next_link_++;
    downstream_[caf::actor_cast<caf::actor_addr>(next)] = id;
    downstream_handles_[id] = next;
    outbound_.add_link(id);
    this->send(next, wire::pack(wire::Attach{name_}));
  }

  // Queues an item for downstream; it leaves as credit allows (flush()).
  void forward(Item item) { outbound_.push(std::move(item)); }

  // Credit from a downstream link (or, for dispatchers, a worker: the
  // derived actor routes by sender before calling this).
  void on_credit(wire::credit_msg& m) {
    if (!m.ok()) {
      spdlog::error("stage={} event=bad-message type=credit error=\"{}\"", name_, m.decode_error);
      return;
    }
    auto& c = m.value;
    auto it = downstream_.find(caf::actor_cast<caf::actor_addr>(this->current_sender()));
    if (it == downstream_.end()) {
      // Only a stage this one attached to may grant credit or stop the job.
      spdlog::warn("stage={} event=refused type=credit reason=not-a-downstream-link", name_);
      return;
    }
    outbound_.grant(it->second, c.credits);
    if (c.stop && !stop_seen_) {
      stop_seen_ = true;
      on_stop();
    }
    if (!c.accepted.empty()) on_feedback(std::move(c.accepted));
    flush();
  }

  // Hooks: the target is covered / accepted items came back. By default both
  // travel on upstream (the generator overrides them).
  virtual void on_stop() { send_upstream(wire::Credit{0, true, {}}); }
  virtual void on_feedback(std::vector<Feedback> accepted) { send_upstream(wire::Credit{0, stop_seen_, std::move(accepted)}); }

  // Sends what credit allows, then ends the stage if it has drained.
  void flush() {
    if (failed_) return;
    while (auto batch = outbound_.next_batch()) {
      auto& [link, items] = *batch;
      auto n = static_cast<uint32_t>(items.size());
      sent_ += n;
      for (const auto& item : items) released(item.id);
      this->send(downstream_handles_[link], wire::pack(wire::ItemBatch{std::move(items)}));
    }
    observe_activity();
    finish_when_drained();
    report(false);
  }

  // What the stage is doing now, for the busy/idle/backpressured shares:
  // called after each change (flush, a batch in, a report).
  void observe_activity() { time_.observe(current_activity(), std::chrono::steady_clock::now()); }
  // Finished items waiting for credit: backpressured; items held: busy.
  virtual StageActivity current_activity() const {
    if (!outbound_.empty()) return StageActivity::kBackpressured;
    return inbound_.held() > 0 || busy() ? StageActivity::kBusy : StageActivity::kIdle;
  }

  // --- upstream links -----------------------------------------------------

  void on_attach(wire::attach_msg&) {
    auto sender = this->current_sender();
    auto up = caf::actor_cast<wire::upstream_actor>(sender);
    if (!up) {
      spdlog::error("stage={} event=attach-without-sender", name_);
      return;
    }
    // The pipeline's links are in-process; a peer node talks to a
    // dispatcher only as a work actor the registry vouched for.
    if (sender->node() != this->node()) {
      spdlog::warn("stage={} event=refused type=attach reason=from-another-node node={}", name_,
                   caf::to_string(sender->node()));
      return;
    }
    auto addr = caf::actor_cast<caf::actor_addr>(sender);
    auto [it, fresh] = upstream_.try_emplace(addr, next_link_);
    if (fresh) upstream_handles_[next_link_++] = up;
    this->send(up, wire::pack(wire::Credit{inbound_.attach(it->second), stop_seen_, {}}));
  }

  // The items of a batch from an upstream link, accounted against its
  // credit; empty (and logged) on a protocol error.
  std::vector<Item> accept_batch(wire::item_batch_msg& m) {
    if (!m.ok()) {
      spdlog::error("stage={} event=bad-message type=item_batch error=\"{}\"", name_, m.decode_error);
      return {};
    }
    auto it = upstream_.find(caf::actor_cast<caf::actor_addr>(this->current_sender()));
    if (it == upstream_.end()) {
      spdlog::error("stage={} event=batch-from-unattached-sender items={}", name_, m.value.items.size());
      return {};
    }
    auto& items = m.value.items;
    received_ += items.size();
    if (!inbound_.on_received(it->second, static_cast<uint32_t>(items.size()))) {
      ++credit_overruns_;
      spdlog::error("stage={} event=credit-overrun held={} capacity={}", name_, inbound_.held(),
                    inbound_.capacity());
    }
    auto arrived = std::chrono::steady_clock::now();
    for (const auto& item : items) origin_[item.id] = {it->second, arrived};
    observe_activity();
    return std::move(items);
  }

  // An item received from upstream has left this stage (sent on, written or
  // dropped): its credit goes back to the link it came by.
  void released(uint64_t item_id) {
    auto it = origin_.find(item_id);
    if (it == origin_.end()) return;  // not from an upstream (the generator's own items)
    auto [link, arrived] = it->second;
    origin_.erase(it);
    latency_.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - arrived).count());
    if (uint32_t g = inbound_.on_released(link, 1); g > 0)
      if (auto h = upstream_handles_.find(link); h != upstream_handles_.end())
        this->send(h->second, wire::pack(wire::Credit{g, stop_seen_, {}}));
  }

  void send_upstream(wire::Credit c) {
    for (auto& [_, h] : upstream_handles_) this->send(h, wire::pack(c));
  }

  void on_eos(wire::eos_msg& m) {
    auto it = upstream_.find(caf::actor_cast<caf::actor_addr>(this->current_sender()));
    if (it == upstream_.end()) {
      spdlog::warn("stage={} event=refused type=end_of_stream reason=not-an-upstream-link", name_);
      return;
    }
    inbound_.end(it->second);
    if (m.ok() && end_reason_.empty()) end_reason_ = m.value.reason;
    if (!m.ok()) end_reason_ = "unknown";
    upstream_ended();
  }

  // Hook: an upstream ended (dispatchers and writers act on it).
  virtual void upstream_ended() { flush(); }

  bool all_upstreams_ended() const { return inbound_.all_ended(); }
  uint32_t held() const { return inbound_.held(); }

  // Ends the stage once every upstream ended, nothing is held, nothing waits
  // for the log or for credit, and the derived stage has nothing in progress.
  void finish_when_drained() {
    if (finished_ || failed_ || !inbound_.all_ended()) return;
    if (inbound_.held() != 0 || !outbound_.empty() || !pending_commits_.empty() || busy()) return;
    end_stream(end_reason_);
  }
  // Hook: work the derived stage still has in progress (leases, parked items).
  virtual bool busy() const { return false; }

  // EndOfStream to every downstream; the stage quits.
  void end_stream(const std::string& reason) {
    finished_ = true;
    for (auto& [_, h] : downstream_handles_) this->send(h, wire::pack(wire::EndOfStream{sent_, reason}));
    spdlog::info("stage={} event=end reason={} received={} sent={} rejected={} peak_held={} capacity={}", name_,
                 reason, received_, sent_, rejected_, inbound_.peak_held(), inbound_.capacity());
    on_finished();
    report(true);
    this->quit();
  }
  // Hook: the stage is about to end (the writer writes its summary here).
  virtual void on_finished() {}

  // --- the job log ----------------------------------------------------------

  void use_log(std::shared_ptr<JobLog> log) { log_ = std::move(log); }
  JobLog* log() const { return log_.get(); }

  // Commits `batch`, then runs `then` (on this actor) once it is durable. An
  // empty batch, or no log, runs `then` at once. A failed commit fails the job.
  void commit(LogBatch batch, std::function<void()> then) { commit(std::move(batch), {}, std::move(then)); }
  // The same, once `files` are synced too (the writer's outputs).
  void commit(LogBatch batch, std::vector<std::shared_ptr<WritableFile>> files, std::function<void()> then) {
    if (failed_) return;
    if (!log_ || (batch.empty() && files.empty())) {
      then();
      return;
    }
    uint64_t ticket = next_ticket_++;
    pending_commits_.emplace(ticket, std::move(then));
    auto self = caf::actor_cast<caf::weak_actor_ptr>(this->ctrl());
    log_->commit(std::move(batch), std::move(files), [self, ticket](Status s) {
      if (auto strong = self.lock())
        caf::anon_send(caf::actor_cast<caf::actor>(strong), wire::pack(wire::LogDone{ticket, s.ok(), s.error()}));
    });
  }

  void on_log_done(wire::log_done_msg& m) {
    auto it = pending_commits_.find(m.value.ticket);
    if (it == pending_commits_.end()) return;
    auto then = std::move(it->second);
    pending_commits_.erase(it);
    if (!m.value.ok) return fail(m.value.error);
    then();
    if (auto b = after_commits_.find(m.value.ticket); b != after_commits_.end()) {
      auto waiting = std::move(b->second);
      after_commits_.erase(b);
      for (auto& f : waiting) f();
    }
  }

  // Runs `then` once every commit made so far is durable (the log acknowledges
  // commits in the order they were made).
  void after_commits(std::function<void()> then) {
    if (pending_commits_.empty()) return then();
    after_commits_[pending_commits_.rbegin()->first].push_back(std::move(then));
  }

  // --- reports and failure --------------------------------------------------

  // Reports every report interval from now on, whether or not anything moves.
  template <class Handle>
  void start_reporting(const Handle& self) {
    this->delayed_send(self, report_interval_, wire::pack(wire::ReportDue{}));
  }
  template <class Handle>
  void on_report_due(const Handle& self) {
    if (finished_ || failed_) return;
    report(false, true);
    this->delayed_send(self, report_interval_, wire::pack(wire::ReportDue{}));
  }

  void report(bool finished) { report(finished, false); }
  void report(bool finished, bool due) {
    auto now = std::chrono::steady_clock::now();
    if (!finished && !due && now - last_report_ < report_interval_) return;
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
    r.credit_overruns = credit_overruns_;
    observe_activity();
    auto share = time_.take(now);
    r.busy = share.busy;
    r.idle = share.idle;
    r.backpressured = share.backpressured;
    if (latency_.count() > 0) {
      r.latency_counts = latency_.counts();
      r.latency_sum = latency_.sum();
      latency_ = Histogram();
    }
    fill_report(r);
    this->send(monitor_, wire::pack(r));
  }
  // Hook: the derived stage's own figures.
  virtual void fill_report(wire::StageReport&) {}

  void fail(const std::string& error) {
    if (failed_) return;
    failed_ = true;
    wire::stop_job(this, monitor_, name_, error);
  }
  bool failed() const { return failed_; }

  void count_rejected() { ++rejected_; }
  void count_sent(uint64_t n) { sent_ += n; }
  uint64_t received_count() const { return received_; }
  uint64_t sent_count() const { return sent_; }
  uint64_t credit_overruns() const { return credit_overruns_; }
  bool stop_seen() const { return stop_seen_; }
  bool is_finished() const { return finished_; }
  const std::string& end_reason() const { return end_reason_; }
  void set_end_reason(std::string r) { end_reason_ = std::move(r); }
  uint32_t batch_size() const { return batch_size_; }
  Outbound<Item>& outbound() { return outbound_; }
  const Inbound& inbound() const { return inbound_; }
  const wire::monitor_actor& monitor() const { return monitor_; }
  size_t pending_commits() const { return pending_commits_.size(); }

  void release_links() {
    downstream_handles_.clear();
    upstream_handles_.clear();
    monitor_ = wire::monitor_actor{};
    log_.reset();
  }

 private:
  std::string name_;
  uint32_t batch_size_;
  Inbound inbound_;
  Outbound<Item> outbound_;
  std::chrono::milliseconds report_interval_;
  wire::monitor_actor monitor_;
  LinkId next_link_ = 0;
  std::map<caf::actor_addr, LinkId> upstream_;
  std::map<LinkId, wire::upstream_actor> upstream_handles_;
  std::map<caf::actor_addr, LinkId> downstream_;
  std::map<LinkId, wire::downstream_actor> downstream_handles_;
  // Items held: the link each came by and when it arrived.
  std::unordered_map<uint64_t, std::pair<LinkId, std::chrono::steady_clock::time_point>> origin_;
  Histogram latency_;  // seconds in this stage of the items that left since the last report
  std::shared_ptr<JobLog> log_;
  uint64_t next_ticket_ = 1;
  std::map<uint64_t, std::function<void()>> pending_commits_;
  std::map<uint64_t, std::vector<std::function<void()>>> after_commits_;  // ticket -> run after it
  uint64_t received_ = 0, sent_ = 0, rejected_ = 0, credit_overruns_ = 0;
  bool stop_seen_ = false;
  bool finished_ = false;
  bool failed_ = false;
  std::string end_reason_;
  std::chrono::steady_clock::time_point last_report_{};
  StageTime time_{std::chrono::steady_clock::now()};
};

}  // namespace vf
