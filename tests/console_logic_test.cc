// The console's pure parts: how a stage's time is shared out, histogram
// quantiles, and the metered executor's counts and cap (with a fake executor
// whose runs the test finishes by hand).
#include <doctest/doctest.h>

#include <chrono>
#include <deque>
#include <mutex>

#include "base/histogram.h"
#include "dataflow/stage_time.h"
#include "sandbox/metered.h"

using namespace vf;
using namespace std::chrono_literals;

TEST_CASE("a stage's busy, idle and backpressured shares add up to the time observed") {
  auto t0 = StageTime::Clock::time_point{} + 100s;
  StageTime t(t0);
  t.observe(StageActivity::kBusy, t0);                 // busy 0..3 s
  t.observe(StageActivity::kBackpressured, t0 + 3s);   // held back 3..4 s
  t.observe(StageActivity::kIdle, t0 + 4s);            // idle 4..10 s
  auto s = t.take(t0 + 10s);
  CHECK(s.busy == doctest::Approx(0.3));
  CHECK(s.backpressured == doctest::Approx(0.1));
  CHECK(s.idle == doctest::Approx(0.6));
  CHECK(s.busy + s.idle + s.backpressured == doctest::Approx(1.0));
  // The next window starts where this one ended, in the state it was left in.
  t.observe(StageActivity::kBusy, t0 + 12s);
  auto next = t.take(t0 + 14s);
  CHECK(next.idle == doctest::Approx(0.5));
  CHECK(next.busy == doctest::Approx(0.5));
  auto empty = t.take(t0 + 14s);
  CHECK(empty.busy + empty.idle + empty.backpressured == 0);
}

TEST_CASE("histogram quantiles fall in the bucket that holds them, as Prometheus estimates them") {
  Histogram h;
  for (int i = 0; i < 90; ++i) h.observe(0.2);   // bucket (0.1, 0.25]
  for (int i = 0; i < 10; ++i) h.observe(3.0);   // bucket (2.5, 5]
  CHECK(h.count() == 100);
  CHECK(h.sum() == doctest::Approx(48.0));
  double p50 = h.quantile(0.5), p95 = h.quantile(0.95);
  CHECK(p50 > 0.1);
  CHECK(p50 <= 0.25);
  CHECK(p95 > 2.5);
  CHECK(p95 <= 5.0);
  CHECK(Histogram().quantile(0.5) == 0);
  Histogram big;
  big.observe(1e6);  // above every bound: the last bound
  CHECK(big.quantile(0.99) == Histogram::seconds_bounds().back());
}

namespace {
// Runs nothing by itself: the test finishes the oldest run with a status.
class HandExecutor : public sandbox::Executor {
 public:
  void submit(sandbox::RunRequest, Callback done) override {
    std::lock_guard<std::mutex> lock(mu);
    started.push_back(std::move(done));
  }
  unsigned workers() const override { return 3; }
  size_t running() {
    std::lock_guard<std::mutex> lock(mu);
    return started.size();
  }
  void finish(sandbox::RunStatus status, std::string detail = "") {
    Callback done;
    {
      std::lock_guard<std::mutex> lock(mu);
      done = std::move(started.front());
      started.pop_front();
    }
    sandbox::RunResult r;
    r.status = status;
    r.detail = std::move(detail);
    r.wall_ms = 40;
    done(std::move(r));
  }
  std::mutex mu;
  std::deque<Callback> started;
};
}  // namespace

TEST_CASE("the metered executor counts runs by status and never runs more than its cap") {
  auto inner = std::make_unique<HandExecutor>();
  HandExecutor* hand = inner.get();
  sandbox::MeteredExecutor ex(std::move(inner));
  CHECK(ex.stats().concurrency == 3);
  CHECK_FALSE(ex.set_concurrency(0));
  CHECK_FALSE(ex.set_concurrency(4));
  REQUIRE(ex.set_concurrency(1));
  int callbacks = 0;
  for (int i = 0; i < 3; ++i) ex.submit({}, [&](sandbox::RunResult) { ++callbacks; });
  CHECK(hand->running() == 1);
  CHECK(ex.stats().waiting == 2);
  hand->finish(sandbox::RunStatus::kOk);
  CHECK(hand->running() == 1);  // the next one started as the first ended
  REQUIRE(ex.set_concurrency(3));  // raising the cap starts what waits
  CHECK(hand->running() == 2);
  hand->finish(sandbox::RunStatus::kTimeout);
  hand->finish(sandbox::RunStatus::kMissingDependency, "gurobipy");
  CHECK(callbacks == 3);
  auto st = ex.stats();
  CHECK(st.by_status["ok"] == 1);
  CHECK(st.by_status["timeout"] == 1);
  CHECK(st.by_status["missing-dependency"] == 1);
  CHECK(st.missing["gurobipy"] == 1);
  CHECK(st.run_seconds.count() == 3);
  CHECK(st.running == 0);
  CHECK(st.waiting == 0);
}

TEST_CASE("runs still waiting for the cap when the executor goes away are answered, not lost") {
  auto inner = std::make_unique<HandExecutor>();
  int failures = 0;
  {
    sandbox::MeteredExecutor ex(std::move(inner));
    REQUIRE(ex.set_concurrency(1));
    ex.submit({}, [&](sandbox::RunResult r) { failures += r.status == sandbox::RunStatus::kSandboxFailure; });
    ex.submit({}, [&](sandbox::RunResult r) { failures += r.status == sandbox::RunStatus::kSandboxFailure; });
  }
  CHECK(failures == 1);  // the waiting one; the hand executor drops its started one unanswered
}
