// GroupCommitLog: the job's log with group commit. One committer thread
// takes every commit that arrived while it was making the previous round
// durable, and makes the new round durable with one fsync per output file
// named in it and one WAL sync, then calls each commit's `done` in arrival
// order. So however many stages and items commit at once, a round costs the
// same few fsyncs, and no stage's thread ever waits on the disk.
//
// Durability is the store's sync policy's: kBatch syncs each round before
// its `done`s (a machine crash loses only commits not yet acknowledged);
// kInterval hands each round to the OS and leaves the WAL fsync to the
// store's interval syncer; kNone never syncs (the output files are not
// synced either). A round's output files are synced before its log batches
// are written, so a committed length never exceeds what is on disk.
//
// The latency it adds is bounded: a commit waits for at most the round in
// progress and its own (two syncs). A failed write fails its round and every
// later commit with the store's error.
//
// Thread-safety: commit() may be called from any thread; `done` runs on the
// committer thread. mu_ guards queue_ and stopping_. Destruction finishes
// the rounds already queued, then joins the thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "storage/env.h"
#include "storage/job_log.h"
#include "storage/job_store.h"

namespace vf {

class GroupCommitLog final : public JobLog {
 public:
  explicit GroupCommitLog(std::shared_ptr<JobStore> store);
  ~GroupCommitLog() override;
  GroupCommitLog(const GroupCommitLog&) = delete;
  GroupCommitLog& operator=(const GroupCommitLog&) = delete;

  void commit(LogBatch batch, Done done) override { commit(std::move(batch), {}, std::move(done)); }
  void commit(LogBatch batch, std::vector<std::shared_ptr<WritableFile>> sync_first, Done done) override;
  JobStore& store() override { return *store_; }

  struct Stats {
    uint64_t rounds = 0;
    uint64_t commits = 0;
    uint64_t largest_round = 0;  // commits in one round
  };
  Stats stats() const;

 private:
  struct Pending {
    LogBatch batch;
    std::vector<std::shared_ptr<WritableFile>> files;
    Done done;
  };
  void run();

  std::shared_ptr<JobStore> store_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;
  bool stopping_ = false;
  Stats stats_;  // guarded by mu_
  std::thread committer_;
};

}  // namespace vf
