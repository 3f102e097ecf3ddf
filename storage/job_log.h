// JobLog: where a job's stages record their results before the items move
// on. A stage builds a LogBatch and commit()s it, naming the output files
// whose appended bytes the batch's commit must find on disk (the writer's);
// `done` is called once the files and the batch are durable under the
// store's sync policy, or have failed (then the job must stop: what was
// committed before stays, and the same command resumes). `done` may run on
// another thread and may run before commit() returns; callers must only post
// from it (an actor sends itself a message). Commits complete in the order
// they were made.
//
// GroupCommitLog (storage/group_commit.h) is the one jobs use: commits share
// fsyncs. SyncJobLog writes each commit on the calling thread (tests).
// Reads (recovery, a stage's logged parts) go to the JobStore directly: what
// a commit wrote may be visible there before its `done`.
// Thread-safety: commit() may be called from any thread.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "base/status.h"
#include "storage/env.h"
#include "storage/job_store.h"

namespace vf {

class JobLog {
 public:
  using Done = std::function<void(Status)>;
  virtual ~JobLog() = default;
  virtual void commit(LogBatch batch, Done done) = 0;
  virtual void commit(LogBatch batch, std::vector<std::shared_ptr<WritableFile>> sync_first, Done done) = 0;
  virtual JobStore& store() = 0;
};

class SyncJobLog final : public JobLog {
 public:
  explicit SyncJobLog(std::shared_ptr<JobStore> store) : store_(std::move(store)) {}
  void commit(LogBatch batch, Done done) override { done(store_->write(batch)); }
  void commit(LogBatch batch, std::vector<std::shared_ptr<WritableFile>> sync_first, Done done) override {
    if (store_->sync_policy() != SyncPolicy::kNone)
      for (auto& f : sync_first)
        if (auto s = f->sync(); !s) return done(s);
    done(store_->write(batch));
  }
  JobStore& store() override { return *store_; }

 private:
  std::shared_ptr<JobStore> store_;
};

}  // namespace vf
