#include "dataflow/placement.h"

#include <algorithm>

namespace vf {

void ThroughputMeter::advance(uint64_t held_before, Clock::time_point now) {
  if (started_ && held_before > 0 && now > last_) busy_ += now - last_;
  last_ = now;
  started_ = true;
}

void ThroughputMeter::finished(uint64_t held_before, uint64_t n, Clock::time_point now) {
  advance(held_before, now);
  done_ += n;
  if (busy_ < kWindow) return;
  double window_rate = static_cast<double>(done_) / std::chrono::duration<double>(busy_).count();
  mean_ = mean_ ? kWeight * window_rate + (1 - kWeight) * *mean_ : window_rate;
  busy_ = {};
  done_ = 0;
}

std::optional<double> ThroughputMeter::rate(uint64_t held, Clock::time_point now) const {
  if (!mean_) return std::nullopt;
  Clock::duration busy = busy_;
  if (started_ && held > 0 && now > last_) busy += now - last_;
  double busy_s = std::chrono::duration<double>(busy).count();
  // What the open window shows, were the next item to finish right now: if
  // that is below the mean, the worker has gone quiet and the mean is stale.
  if (busy_s > 0) {
    double at_best = static_cast<double>(done_ + 1) / busy_s;
    if (at_best < *mean_) return at_best;
  }
  return mean_;
}

std::optional<uint64_t> place_next(std::span<const PlacementCandidate> candidates) {
  double best_measured = 0;
  for (const auto& c : candidates)
    if (c.rate) best_measured = std::max(best_measured, *c.rate);
  const PlacementCandidate* best = nullptr;
  double best_delay = 0;
  for (const auto& c : candidates) {
    if (c.credit == 0) continue;
    double rate = c.rate ? *c.rate : best_measured;
    // Nothing measured anywhere: rank by free credit (delay = -credit).
    double delay = best_measured > 0 ? (rate > 0 ? static_cast<double>(c.held + 1) / rate : 1e300)
                                     : -static_cast<double>(c.credit);
    if (!best || delay < best_delay || (delay == best_delay && c.credit > best->credit)) {
      best = &c;
      best_delay = delay;
    }
  }
  if (!best) return std::nullopt;
  return best->id;
}

}  // namespace vf
