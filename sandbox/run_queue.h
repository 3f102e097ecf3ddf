// RunQueue: the queue of snippets both executors share between submit() and
// their worker threads. take() blocks until a snippet or shutdown; shutdown()
// wakes every taker and fails what was still queued (kSandboxFailure), so
// every callback runs exactly once. Thread-safe.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <utility>

#include "sandbox/run.h"

namespace vf::sandbox {

class RunQueue {
 public:
  using Job = std::pair<RunRequest, Executor::Callback>;

  void push(RunRequest request, Executor::Callback done) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.emplace_back(std::move(request), std::move(done));
    }
    cv_.notify_one();
  }

  // False once shut down.
  bool take(Job& job) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return false;
    job = std::move(queue_.front());
    queue_.pop_front();
    return true;
  }

  // Wakes the takers; call join on their threads, then fail_abandoned().
  void shutdown() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
      abandoned_.swap(queue_);
    }
    cv_.notify_all();
  }

  void fail_abandoned() {
    for (auto& [req, done] : abandoned_) {
      RunResult r;
      r.detail = "executor pool shut down before the snippet ran";
      done(std::move(r));
    }
    abandoned_.clear();
  }

  size_t size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return queue_.size();
  }

 private:
  mutable std::mutex mu_;  // guards queue_, abandoned_ and stopping_
  std::condition_variable cv_;
  std::deque<Job> queue_;
  std::deque<Job> abandoned_;
  bool stopping_ = false;
};

}  // namespace vf::sandbox
