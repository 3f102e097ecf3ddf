#include "dataflow/commit_gate.h"

namespace vf {

void CommitGate::counts_below(uint64_t id, uint64_t& accepted, uint64_t& undecided) const {
  uint64_t decided = low_watermark_;
  accepted = accepted_below_watermark_;
  for (auto it = decided_above_.begin(); it != decided_above_.end() && it->first < id; ++it) {
    ++decided;
    if (it->second) ++accepted;
  }
  undecided = id >= decided ? id - decided : 0;
}

void CommitGate::advance_watermark(Outcome& out) {
  while (!decided_above_.empty() && decided_above_.begin()->first == low_watermark_) {
    uint64_t id = low_watermark_;
    bool accepted = decided_above_.begin()->second;
    // Everything below `id` is decided now: a parked `id` is settled exactly.
    if (parked_.erase(id)) {
      if (accepted_below_watermark_ < target_) {
        out.release.push_back(id);
        ++released_;
      } else {
        out.surplus.push_back(id);
      }
    }
    if (accepted) ++accepted_below_watermark_;
    decided_above_.erase(decided_above_.begin());
    ++low_watermark_;
  }
}

void CommitGate::resolve_parked(Outcome& out) {
  for (auto it = parked_.begin(); it != parked_.end();) {
    uint64_t accepted = 0, undecided = 0;
    counts_below(*it, accepted, undecided);
    if (accepted >= target_) {
      out.surplus.push_back(*it);
      it = parked_.erase(it);
    } else if (accepted + undecided + 1 <= target_) {
      out.release.push_back(*it);
      ++released_;
      it = parked_.erase(it);
    } else {
      ++it;
    }
  }
}

CommitGate::Outcome CommitGate::on_decided(uint64_t id, bool accepted) {
  Outcome out;
  if (id < low_watermark_ || decided_above_.count(id)) return out;
  decided_above_.emplace(id, accepted);
  if (accepted) {
    ++accepted_known_;
    parked_.insert(id);
  }
  advance_watermark(out);
  resolve_parked(out);
  if (accepted && parked_.count(id)) out.parked.push_back(id);
  return out;
}

GateSnapshot CommitGate::snapshot() const {
  GateSnapshot s;
  s.target = target_;
  s.low_watermark = low_watermark_;
  s.accepted_below_watermark = accepted_below_watermark_;
  for (const auto& [id, accepted] : decided_above_) (accepted ? s.accepted_above : s.rejected_above).push_back(id);
  s.parked.assign(parked_.begin(), parked_.end());
  s.accepted_known = accepted_known_;
  s.released = released_;
  return s;
}

CommitGate CommitGate::restore(const GateSnapshot& s) {
  CommitGate g(s.target);
  g.low_watermark_ = s.low_watermark;
  g.accepted_below_watermark_ = s.accepted_below_watermark;
  for (uint64_t id : s.accepted_above) g.decided_above_.emplace(id, true);
  for (uint64_t id : s.rejected_above) g.decided_above_.emplace(id, false);
  g.parked_.insert(s.parked.begin(), s.parked.end());
  g.accepted_known_ = s.accepted_known;
  g.released_ = s.released;
  return g;
}

}  // namespace vf
