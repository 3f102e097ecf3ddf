// Credit-based flow control between pipeline stages.
//
// Protocol: a receiving stage grants each upstream link `capacity` credits
// when the link is attached; an upstream sends on a link at most as many
// items as it holds credits for it; the receiver grants one credit back on a
// link for each item from that link that has left it (forwarded, written or
// dropped). Hence for every link
//   items held by receiver from it + credits held by sender + grants not yet sent
//     == capacity
// and no queue can grow past the sum of its links' capacities, however slow
// a later stage is. Grants are batched (grant_batch) to save messages, and
// flushed whenever the link drains to empty so it never stalls on a partial
// batch.
//
// A stage may have several upstream links (Inbound) and several downstream
// links (Outbound: items go to the link with the most credit, so a faster
// receiver, which returns credit sooner, gets more). Links are named by small
// integers the owning stage assigns.
//
// Pure logic: no CAF, no I/O, no threads. Not thread-safe; one owner each.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <utility>
#include <vector>

namespace vf {

using LinkId = uint32_t;

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

// Receiver side of one link: what the stage holds from it and what it owes.
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

// Receiver side of a stage with any number of upstream links, each with its
// own window of `capacity_per_link`. held() <= links x capacity_per_link.
class Inbound {
 public:
  Inbound(uint32_t capacity_per_link, uint32_t grant_batch)
      : capacity_(std::max<uint32_t>(1, capacity_per_link)), grant_batch_(grant_batch) {}

  // The grant for a newly attached link (0 when it was attached before).
  uint32_t attach(LinkId link) {
    auto [it, fresh] = links_.try_emplace(link, capacity_, grant_batch_);
    (void)fresh;
    return it->second.initial_grant();
  }
  bool attached(LinkId link) const { return links_.count(link) > 0; }
  // False when the link overran its window, or was never attached.
  bool on_received(LinkId link, uint32_t n) {
    auto it = links_.find(link);
    held_ += n;
    peak_held_ = std::max(peak_held_, held_);
    return it != links_.end() && it->second.on_received(n);
  }
  // Credits to grant on `link` now.
  uint32_t on_released(LinkId link, uint32_t n) {
    auto it = links_.find(link);
    if (it == links_.end()) return 0;
    uint32_t before = it->second.held();
    uint32_t g = it->second.on_released(n);
    held_ -= std::min(held_, before - it->second.held());
    return g;
  }
  // The upstream said it sends nothing more.
  void end(LinkId link) { ended_.insert(link); }
  // Every attached link ended (and at least one was attached).
  bool all_ended() const {
    if (links_.empty()) return false;
    for (const auto& [id, _] : links_)
      if (!ended_.count(id)) return false;
    return true;
  }
  uint32_t held() const { return held_; }
  uint32_t peak_held() const { return peak_held_; }
  uint32_t capacity() const { return capacity_ * static_cast<uint32_t>(std::max<size_t>(1, links_.size())); }
  size_t links() const { return links_.size(); }

 private:
  uint32_t capacity_;
  uint32_t grant_batch_;
  std::map<LinkId, InboundBudget> links_;
  std::set<LinkId> ended_;
  uint32_t held_ = 0;
  uint32_t peak_held_ = 0;
};

// Items ready to go downstream over any number of links, released in batches
// as each link's credit allows. A link's credit is spent only on items sent
// over it; removing a link drops its credit (its receiver is gone).
template <class T>
class Outbound {
 public:
  explicit Outbound(uint32_t max_batch) : max_batch_(std::max<uint32_t>(1, max_batch)) {}

  void add_link(LinkId link) { links_.try_emplace(link); }
  void remove_link(LinkId link) { links_.erase(link); }
  bool has_link(LinkId link) const { return links_.count(link) > 0; }
  void grant(LinkId link, uint32_t n) {
    if (auto it = links_.find(link); it != links_.end()) it->second.grant(n);
  }

  void push(T item) { ready_.push_back(std::move(item)); }

  // The next batch and the link it goes to: the link with the most credit
  // (the lowest id among equals); nullopt when no item or no credit.
  std::optional<std::pair<LinkId, std::vector<T>>> next_batch() {
    if (ready_.empty()) return std::nullopt;
    CreditWindow* best = nullptr;
    LinkId best_id = 0;
    for (auto& [id, w] : links_)
      if (w.available() > 0 && (!best || w.available() > best->available())) {
        best = &w;
        best_id = id;
      }
    if (!best) return std::nullopt;
    uint32_t n = best->take(static_cast<uint32_t>(std::min<size_t>(ready_.size(), max_batch_)));
    std::vector<T> batch;
    batch.reserve(n);
    for (uint32_t i = 0; i < n; ++i) {
      batch.push_back(std::move(ready_.front()));
      ready_.pop_front();
    }
    return std::make_pair(best_id, std::move(batch));
  }

  size_t pending() const { return ready_.size(); }
  bool empty() const { return ready_.empty(); }
  // Credits held over every link.
  uint64_t credit() const {
    uint64_t total = 0;
    for (const auto& [_, w] : links_) total += w.available();
    return total;
  }
  uint32_t credit(LinkId link) const {
    auto it = links_.find(link);
    return it == links_.end() ? 0 : it->second.available();
  }
  std::vector<LinkId> link_ids() const {
    std::vector<LinkId> out;
    for (const auto& [id, _] : links_) out.push_back(id);
    return out;
  }

 private:
  uint32_t max_batch_;
  std::deque<T> ready_;
  std::map<LinkId, CreditWindow> links_;
};

}  // namespace vf
