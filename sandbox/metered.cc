#include "sandbox/metered.h"

#include <utility>
#include <vector>

namespace vf::sandbox {

MeteredExecutor::MeteredExecutor(std::unique_ptr<Executor> inner) : inner_(std::move(inner)) {
  stats_.workers = inner_->workers();
  stats_.concurrency = stats_.workers;
}

MeteredExecutor::~MeteredExecutor() {
  std::deque<std::pair<RunRequest, Callback>> left;
  {
    std::lock_guard<std::mutex> lock(mu_);
    left.swap(waiting_);
  }
  for (auto& [request, done] : left) {
    RunResult r;
    r.status = RunStatus::kSandboxFailure;
    r.detail = "executor shut down";
    done(std::move(r));
  }
  inner_.reset();  // joins the pool: callbacks of running snippets end here
}

void MeteredExecutor::submit(RunRequest request, Callback done) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stats_.running >= stats_.concurrency) {
      waiting_.emplace_back(std::move(request), std::move(done));
      stats_.waiting = waiting_.size();
      return;
    }
    ++stats_.running;
  }
  start(std::move(request), std::move(done));
}

void MeteredExecutor::start(RunRequest request, Callback done) {
  inner_->submit(std::move(request), [this, done = std::move(done)](RunResult r) {
    finished(r);
    done(std::move(r));
  });
}

void MeteredExecutor::finished(const RunResult& r) {
  std::vector<std::pair<RunRequest, Callback>> next;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.by_status[std::string(to_string(r.status))];
    if (r.status == RunStatus::kMissingDependency && !r.detail.empty()) ++stats_.missing[r.detail];
    stats_.run_seconds.observe(r.wall_ms / 1000.0);
    --stats_.running;
    next = admit_waiting();
  }
  for (auto& [request, done] : next) start(std::move(request), std::move(done));
}

std::vector<std::pair<RunRequest, Executor::Callback>> MeteredExecutor::admit_waiting() {
  std::vector<std::pair<RunRequest, Callback>> admitted;
  while (!waiting_.empty() && stats_.running < stats_.concurrency) {
    admitted.push_back(std::move(waiting_.front()));
    waiting_.pop_front();
    ++stats_.running;
  }
  stats_.waiting = waiting_.size();
  return admitted;
}

ExecutorStats MeteredExecutor::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

bool MeteredExecutor::set_concurrency(unsigned n) {
  std::vector<std::pair<RunRequest, Callback>> next;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (n < 1 || n > stats_.workers) return false;
    stats_.concurrency = n;
    next = admit_waiting();
  }
  for (auto& [request, done] : next) start(std::move(request), std::move(done));
  return true;
}

}  // namespace vf::sandbox
