// JobLog: where a job's stages record their results before the items move
// on. A stage builds a LogBatch and commit()s it; `done` is called once the
// batch is durable under the store's sync policy, or has failed (then the
// job must stop: what was committed before stays, and the same command
// resumes). `done` may run on another thread and may run before commit()
// returns; callers must only post from it (an actor sends itself a message).
//
// LocalJobLog writes each batch to the job's RocksDB on the calling thread.
// A job whose stages do not log (checkpoint.log = false) has no JobLog.
// Reads (recovery, a stage's logged parts) go to the JobStore directly.
// Thread-safety: commit() may be called from any thread.
#pragma once

#include <functional>
#include <memory>

#include "base/status.h"
#include "storage/job_store.h"

namespace vf {

class JobLog {
 public:
  using Done = std::function<void(Status)>;
  virtual ~JobLog() = default;
  virtual void commit(LogBatch batch, Done done) = 0;
  virtual JobStore& store() = 0;
};

class LocalJobLog final : public JobLog {
 public:
  explicit LocalJobLog(std::shared_ptr<JobStore> store) : store_(std::move(store)) {}
  void commit(LogBatch batch, Done done) override { done(store_->write(batch)); }
  JobStore& store() override { return *store_; }

 private:
  std::shared_ptr<JobStore> store_;
};

}  // namespace vf
