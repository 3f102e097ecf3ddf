#include "storage/group_commit.h"

#include <set>

#include <spdlog/spdlog.h>

namespace vf {

GroupCommitLog::GroupCommitLog(std::shared_ptr<JobStore> store)
    : store_(std::move(store)), committer_([this] { run(); }) {}

GroupCommitLog::~GroupCommitLog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  committer_.join();
}

void GroupCommitLog::commit(LogBatch batch, std::vector<std::shared_ptr<WritableFile>> sync_first, Done done) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(Pending{std::move(batch), std::move(sync_first), std::move(done)});
  }
  cv_.notify_one();
}

GroupCommitLog::Stats GroupCommitLog::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void GroupCommitLog::run() {
  const bool sync_files = store_->sync_policy() != SyncPolicy::kNone;
  std::deque<Pending> round;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and nothing left to commit
      round.swap(queue_);
      ++stats_.rounds;
      stats_.commits += round.size();
      stats_.largest_round = std::max<uint64_t>(stats_.largest_round, round.size());
    }
    Status status;
    // The output files first: the log's committed lengths must be on disk.
    if (sync_files) {
      std::set<WritableFile*> synced;
      for (auto& p : round)
        for (auto& f : p.files)
          if (status.ok() && synced.insert(f.get()).second) status = f->sync();
    }
    if (status.ok()) {
      std::vector<LogBatch*> batches;
      batches.reserve(round.size());
      for (auto& p : round) batches.push_back(&p.batch);
      status = store_->write_group(batches);
    }
    if (!status.ok()) spdlog::error("component=log event=commit-failed commits={} error=\"{}\"", round.size(), status.error());
    for (auto& p : round) p.done(status);
    round.clear();
  }
}

}  // namespace vf
