// CommitGate: decides which accepted items belong to the job's output so that
// the exported set is "the first `target` accepted items in id order", which
// depends only on the item ids and verdicts, never on the order in which
// concurrent stages happen to finish.
//
// Item ids are dense (0, 1, 2, ...) as issued by the generator. An accepted
// item i is released when, even if every still-undecided item below i turned
// out accepted, i would still be within the target; it is surplus once the
// accepted items known below it already fill the target; otherwise it is
// parked until lower ids are decided. Memory is proportional to the items in
// flight (decided ids above the low watermark, parked ids), not to the job.
//
// Pure logic; not thread-safe; one owner (the writer).
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <vector>

#include <msgpack.hpp>

namespace vf {

// What a gate knows, for the writer's checkpoint: bounded by the items
// decided above the low watermark and the parked ones.
struct GateSnapshot {
  uint64_t target = 0;
  uint64_t low_watermark = 0;
  uint64_t accepted_below_watermark = 0;
  std::vector<uint64_t> accepted_above;  // decided above the watermark, accepted
  std::vector<uint64_t> rejected_above;  // decided above the watermark, rejected
  std::vector<uint64_t> parked;
  uint64_t accepted_known = 0;
  uint64_t released = 0;
  MSGPACK_DEFINE(target, low_watermark, accepted_below_watermark, accepted_above, rejected_above, parked,
                 accepted_known, released)
};

class CommitGate {
 public:
  static constexpr uint64_t kUnlimited = std::numeric_limits<uint64_t>::max();

  explicit CommitGate(uint64_t target) : target_(target) {}

  struct Outcome {
    std::vector<uint64_t> release;  // export now, ascending ids
    std::vector<uint64_t> surplus;  // accepted but beyond the target
    std::vector<uint64_t> parked;   // newly parked (caller stores them aside)
  };

  // Records the verdict for `id` (each id exactly once; a repeat is ignored
  // and returns an empty outcome).
  Outcome on_decided(uint64_t id, bool accepted);

  // True once the accepted items among issued ids already fill the target:
  // the generator may stop, the remaining work only decides which ones.
  GateSnapshot snapshot() const;
  // A gate that continues from `s` (its target stays the snapshot's).
  static CommitGate restore(const GateSnapshot& s);

  // True when `id` has had its verdict (a repeat must not be written again).
  bool decided(uint64_t id) const { return id < low_watermark_ || decided_above_.count(id) > 0; }

  bool target_covered() const { return accepted_known_ >= target_; }

  uint64_t target() const { return target_; }
  // An operator's raise, before the target is covered (nothing is surplus
  // yet, so no verdict given so far changes); a lower value is ignored.
  void raise_target(uint64_t target) {
    if (target > target_) target_ = target;
  }
  uint64_t accepted_known() const { return accepted_known_; }
  uint64_t released() const { return released_; }
  uint64_t low_watermark() const { return low_watermark_; }
  size_t parked_count() const { return parked_.size(); }
  size_t tracked_count() const { return decided_above_.size(); }

 private:
  // Accepted ids known below `id` and ids below `id` still undecided
  // (valid for id >= low watermark; parked ids below it are settled).
  void counts_below(uint64_t id, uint64_t& accepted, uint64_t& undecided) const;
  void advance_watermark(Outcome& out);
  void resolve_parked(Outcome& out);

  uint64_t target_;
  uint64_t low_watermark_ = 0;        // every id below is decided
  uint64_t accepted_below_watermark_ = 0;
  std::map<uint64_t, bool> decided_above_;  // id >= watermark -> accepted?
  std::set<uint64_t> parked_;
  uint64_t accepted_known_ = 0;
  uint64_t released_ = 0;
};

}  // namespace vf
