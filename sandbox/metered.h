// MeteredExecutor: wraps any Executor to count what its runs ended as (by
// status, and the modules found missing), time them, and cap how many run at
// once below the inner executor's workers, a cap an operator may change while
// the job runs (the console's "executor concurrency").
//
// Thread-safety: every method may be called from any thread; `mu_` guards
// the counters, the cap and the waiting queue. Callbacks run on the inner
// executor's threads, never under `mu_`.
// Ownership: owns the inner executor; destroy it only after every callback
// ran (the pool's own rule). Runs still waiting for the cap at destruction
// get kSandboxFailure, as the inner pool does on shutdown.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "base/histogram.h"
#include "sandbox/run.h"

namespace vf::sandbox {

struct ExecutorStats {
  std::map<std::string, uint64_t> by_status;  // "ok", "timeout", "killed-by-limit", ...
  std::map<std::string, uint64_t> missing;    // module -> runs that lacked it
  Histogram run_seconds;                      // wall time per finished run
  unsigned workers = 0;                       // the inner executor's
  unsigned concurrency = 0;                   // the cap now (<= workers)
  uint64_t running = 0, waiting = 0;
};

class MeteredExecutor : public Executor {
 public:
  explicit MeteredExecutor(std::unique_ptr<Executor> inner);
  ~MeteredExecutor() override;

  void submit(RunRequest request, Callback done) override;
  unsigned workers() const override { return inner_->workers(); }

  ExecutorStats stats() const;
  // A new cap in [1, workers()]; false (nothing changes) outside it.
  bool set_concurrency(unsigned n);

 private:
  void start(RunRequest request, Callback done);  // called without mu_
  void finished(const RunResult& r);
  // Under mu_: takes the runs waiting that the cap now lets start (counted as running).
  std::vector<std::pair<RunRequest, Callback>> admit_waiting();

  std::unique_ptr<Executor> inner_;
  mutable std::mutex mu_;
  ExecutorStats stats_;
  std::deque<std::pair<RunRequest, Callback>> waiting_;
};

}  // namespace vf::sandbox
