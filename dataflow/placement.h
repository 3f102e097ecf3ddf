// Placement: which of a stage's workers gets the next lease.
//
// Every worker declares a capacity (the credit it grants); credit alone bounds
// what it holds. Within that bound the dispatcher places by the throughput it
// observes: the next lease goes to the worker with free credit that is
// expected to finish it first,
//
//   expected_s(w) = (held(w) + 1) / rate(w)          (least expected delay)
//
// where rate(w) is w's observed service rate in items per *busy* second
// (seconds in which it held at least one lease), so a worker idle for lack of
// work does not look slow. The rate is an exponentially weighted mean over
// windows of at least kWindow busy time; while a window is open with no
// item finished for longer than the mean says it should take, the rate used
// is capped by what the window shows, so a stalled (frozen, cut off) worker
// stops attracting work before the heartbeat timeout declares it lost.
// A worker not yet measured is credited with the best measured rate (or
// ranked by free credit when nothing is measured yet), so a worker joining
// mid-job gets work at once.
//
// Pure, no clock of its own (times are passed in); not thread-safe (it lives
// inside one dispatcher actor).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>

namespace vf {

class ThroughputMeter {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::milliseconds kWindow{1000};
  static constexpr double kWeight = 0.3;  // of the newest window

  // `held` is the number of leases the worker holds *before* the event.
  void leased(uint64_t held_before, Clock::time_point now) { advance(held_before, now); }
  void finished(uint64_t held_before, uint64_t n, Clock::time_point now);

  // Items per busy second; nullopt until one window has closed.
  std::optional<double> rate(uint64_t held, Clock::time_point now) const;

 private:
  void advance(uint64_t held_before, Clock::time_point now);

  std::optional<double> mean_;
  Clock::time_point last_{};
  bool started_ = false;
  Clock::duration busy_{};  // in the open window
  uint64_t done_ = 0;       // in the open window
};

struct PlacementCandidate {
  uint64_t id = 0;
  uint32_t credit = 0;  // free credit; 0 = not a candidate
  uint64_t held = 0;
  std::optional<double> rate;  // observed items per busy second
};

// The candidate expected to finish one more item first; nullopt if none has
// credit. Ties go to the one with more free credit, then the lower id.
std::optional<uint64_t> place_next(std::span<const PlacementCandidate> candidates);

}  // namespace vf
