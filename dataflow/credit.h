// Credit-based flow control between two pipeline stages.
//
// Protocol: a receiving stage grants its upstream `capacity` credits when the
// link is attached; the upstream sends at most as many items as it holds
// credits; the receiver grants one credit back for each item that has left
// it (forwarded downstream, written, or dropped). Hence for every link
//   items held by receiver + credits held by sender + grants not yet sent
//     == capacity
// and no queue can grow past `capacity`, however slow a later stage is.
// Grants are batched (grant_batch) to save messages, and flushed whenever the
// receiver drains to empty so the link never stalls on a partial batch.
//
// Pure logic: no CAF, no I/O, no threads. Not thread-safe; one owner each.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <vector>

namespace vf {

// Sender side of a link: credits received and not yet spent.
class CreditWindow {
 public:
  uint32_t available() const { return available_; }
  void grant(uint32_t n) {
    available_ += n;
    total_granted_ += n;
  }
  // Spends up to `want` credits and returns how many were spent.
  uint32_t take(uint32_t want) {
    uint32_t n = std::min(want, available_);
    available_ -= n;
    total_spent_ += n;
    return n;
  }
  uint64_t total_granted() const { return total_granted_; }
  uint64_t total_spent() const { return total_spent_; }

 private:
  uint32_t available_ = 0;
  uint64_t total_granted_ = 0;
  uint64_t total_spent_ = 0;
};

// Receiver side of a link: what the stage holds and what it owes upstream.
class InboundBudget {
 public:
  InboundBudget(uint32_t capacity, uint32_t grant_batch)
      : capacity_(std::max<uint32_t>(1, capacity)),
        grant_batch_(std::clamp<uint32_t>(grant_batch, 1, capacity_)) {}

  // The grant to send when the upstream attaches. Only the first call
  // returns a non-zero value: attaching twice must not double the window.
  uint32_t initial_grant() {
    if (attached_) return 0;
    attached_ = true;
    return capacity_;
  }

  // Items arrived. Returns false when the sender overran the credits it was
  // given: a protocol violation the caller must treat as a bug upstream.
  bool on_received(uint32_t n) {
    held_ += n;
    peak_held_ = std::max(peak_held_, held_);
    return held_ + owed_ <= capacity_;
  }

  // Items left this stage. Returns the credits to grant upstream now
  // (0 while a batch is still accumulating).
  uint32_t on_released(uint32_t n) {
    n = std::min(n, held_);
    held_ -= n;
    owed_ += n;
    if (owed_ >= grant_batch_ || held_ == 0) {
      uint32_t g = owed_;
      owed_ = 0;
      return g;
    }
    return 0;
  }

  uint32_t capacity() const { return capacity_; }
  uint32_t held() const { return held_; }
  uint32_t peak_held() const { return peak_held_; }
  uint32_t owed() const { return owed_; }

 private:
  uint32_t capacity_;
  uint32_t grant_batch_;
  uint32_t held_ = 0;
  uint32_t owed_ = 0;
  uint32_t peak_held_ = 0;
  bool attached_ = false;
};

// Items ready to go downstream, released in batches as credit allows.
template <class T>
class Outbox {
 public:
  explicit Outbox(uint32_t max_batch) : max_batch_(std::max<uint32_t>(1, max_batch)) {}

  void push(T item) { ready_.push_back(std::move(item)); }
  void grant(uint32_t n) { window_.grant(n); }

  // Takes the next batch that credit allows; empty when no credit or no item.
  std::vector<T> next_batch() {
    uint32_t want = static_cast<uint32_t>(std::min<size_t>(ready_.size(), max_batch_));
    uint32_t n = window_.take(want);
    std::vector<T> batch;
    batch.reserve(n);
    for (uint32_t i = 0; i < n; ++i) {
      batch.push_back(std::move(ready_.front()));
      ready_.pop_front();
    }
    return batch;
  }

  size_t pending() const { return ready_.size(); }
  bool empty() const { return ready_.empty(); }
  uint32_t credit() const { return window_.available(); }
  const CreditWindow& window() const { return window_; }

 private:
  uint32_t max_batch_;
  std::deque<T> ready_;
  CreditWindow window_;
};

}  // namespace vf
