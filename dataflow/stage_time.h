// StageTime: how a stage spent its time, as Flink shows it: busy (holding
// items it works on), backpressured (holding finished items the stage after
// it has no credit for) or idle (holding nothing). Pure: the caller passes
// the clock and says what the stage is doing after every change.
//
//   StageTime t(now);
//   t.observe(StageActivity::kBusy, now);     // after each handler that may change it
//   auto share = t.take(now);                 // fractions since the last take()
//
// Invariant: share.busy + share.idle + share.backpressured == 1 whenever
// take() covers a positive span (0, 0, 0 for an empty span).
// Not thread-safe: one stage's actor owns it.
#pragma once

#include <chrono>

namespace vf {

enum class StageActivity { kIdle, kBusy, kBackpressured };

struct StageShare {
  double busy = 0, idle = 0, backpressured = 0;
};

class StageTime {
 public:
  using Clock = std::chrono::steady_clock;
  explicit StageTime(Clock::time_point now) : since_(now), window_start_(now) {}

  // The stage is doing `now_doing` from `now` on; the time since the last
  // observation counts to what it did before.
  void observe(StageActivity now_doing, Clock::time_point now) {
    account(now);
    doing_ = now_doing;
  }

  // Shares of the time since the previous take() (or construction).
  StageShare take(Clock::time_point now) {
    account(now);
    double total = seconds(now - window_start_);
    StageShare s;
    if (total > 0) {
      s.busy = busy_ / total;
      s.backpressured = back_ / total;
      s.idle = 1.0 - s.busy - s.backpressured;
      if (s.idle < 0) s.idle = 0;
    }
    busy_ = back_ = 0;
    window_start_ = now;
    return s;
  }

 private:
  static double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }
  void account(Clock::time_point now) {
    if (now <= since_) return;
    double d = seconds(now - since_);
    if (doing_ == StageActivity::kBusy) busy_ += d;
    if (doing_ == StageActivity::kBackpressured) back_ += d;
    since_ = now;
  }

  StageActivity doing_ = StageActivity::kIdle;
  Clock::time_point since_;
  Clock::time_point window_start_;
  double busy_ = 0, back_ = 0;
};

}  // namespace vf
