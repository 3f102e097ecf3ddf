// JobStore: the job's checkpoint log, a RocksDB database in its output folder.
//
// Key spaces (ids are fixed-width hex, so byte order is id order):
//   m/<name>              job metadata (config, hashes, generator progress,
//                         writer progress, committed output lengths)
//   i/<id>                the last logged form of an item still in flight
//   r/<id>/<stage>/<n>    a finished part of a stage's work on an item (one
//                         code run, one model call), until the stage is done
//   s/<id>                the final state of a decided item
//   p/<id>                an accepted item parked by the commit gate
//   q/<hash>              a question hash the generator has issued (dedup)
//   g/<id>                a question admitted to the similarity pool
//   a/<id>                an accepted item told back to the generator
// Values are msgpack envelopes (storage/codec.h) or plain text for metadata.
//
// Every write is one LogBatch, applied atomically. The sync policy decides
// when a batch is durable: kBatch fsyncs each batch before write() returns
// (concurrent writers share one fsync: RocksDB's group commit); kInterval
// fsyncs the WAL from a background thread every `sync_interval_ms` (a process
// crash loses nothing, a machine crash at most that interval); kNone leaves
// it to the OS. Errors are returned as values naming the operation and path.
//
// Thread-safety: a JobStore may be shared by the stages of one job; each
// stage writes only the keys of items it currently holds. RocksDB's lock file
// keeps a second writing process out; open_read_only() may look at a job
// another process is running.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <msgpack.hpp>

#include "base/status.h"
#include "storage/env.h"

namespace rocksdb {
class DB;
class Env;
class WriteBatch;
}  // namespace rocksdb

namespace vf {

struct StoredState {
  uint8_t state = 0;
  std::string reason;
  MSGPACK_DEFINE(state, reason)
};

enum class SyncPolicy { kBatch, kInterval, kNone };

// "batch", "interval", "none"; nullopt for anything else.
std::optional<SyncPolicy> parse_sync_policy(std::string_view name);

struct JobStoreOptions {
  SyncPolicy sync = SyncPolicy::kBatch;
  uint32_t sync_interval_ms = 50;
  bool create_if_missing = true;
  Env* env = nullptr;  // the files go through this Env's file system (null: the real one); must outlive the store
};

// One atomic group of log writes. Not thread-safe; build it, hand it to write().
class LogBatch {
 public:
  LogBatch();
  ~LogBatch();
  LogBatch(LogBatch&&) noexcept;
  LogBatch& operator=(LogBatch&&) noexcept;

  void put_meta(std::string_view name, std::string_view value);
  void put_item(uint64_t id, std::string_view bytes);
  void erase_item(uint64_t id);
  void put_partial(uint64_t id, char stage, uint32_t index, std::string_view bytes);
  // Erases entries 0 .. count-1 (point deletes: range tombstones would slow reads).
  void erase_partials(uint64_t id, char stage, uint32_t count);
  void erase_partial(uint64_t id, char stage, uint32_t index);
  void put_state(uint64_t id, const StoredState& state);
  void park(uint64_t id, std::string_view bytes);
  void unpark(uint64_t id);
  void put_seen(uint64_t question_hash);
  void put_pool_question(uint64_t id, std::string_view question);
  void put_feedback(uint64_t id, std::string_view bytes);

  size_t operations() const { return operations_; }
  bool empty() const { return operations_ == 0; }

 private:
  friend class JobStore;
  std::unique_ptr<rocksdb::WriteBatch> batch_;
  size_t operations_ = 0;
};

class JobStore {
 public:
  static Expected<std::unique_ptr<JobStore>> open(const std::string& path, JobStoreOptions options = {});
  // A consistent view for inspection (status, check), also while another
  // process runs the job. write() fails on it.
  static Expected<std::unique_ptr<JobStore>> open_read_only(const std::string& path);
  ~JobStore();
  JobStore(const JobStore&) = delete;
  JobStore& operator=(const JobStore&) = delete;

  Status write(LogBatch& batch);
  // Writes the batches in order and makes them durable together, with one
  // WAL sync under kBatch (group commit; each batch is still atomic).
  Status write_group(const std::vector<LogBatch*>& batches);
  SyncPolicy sync_policy() const { return options_.sync; }
  Status put_meta(const std::string& name, const std::string& value);
  Expected<std::optional<std::string>> get_meta(const std::string& name) const;

  Expected<std::optional<std::string>> item(uint64_t id) const;
  Expected<std::optional<StoredState>> state(uint64_t id) const;
  Expected<std::optional<std::string>> parked(uint64_t id) const;
  Expected<bool> seen(uint64_t question_hash) const;

  using Visitor = std::function<Status(uint64_t id, std::string_view value)>;
  // In id order, from `from_id` on.
  Status for_each_item(uint64_t from_id, const Visitor& visit) const;
  Status for_each_state(const std::function<Status(uint64_t id, const StoredState&)>& visit) const;
  Status for_each_parked(const Visitor& visit) const;
  Status for_each_pool_question(const Visitor& visit) const;
  Status for_each_feedback(const Visitor& visit) const;
  // The finished parts of a stage's work on an item, by index.
  Status for_each_partial(uint64_t id, char stage,
                          const std::function<Status(uint32_t index, std::string_view value)>& visit) const;

  // Bytes the database occupies on disk (tables, WAL, manifest).
  uint64_t disk_bytes() const;
  const std::string& path() const { return path_; }

 private:
  JobStore(std::string path, rocksdb::DB* db, JobStoreOptions options, bool read_only,
           std::unique_ptr<rocksdb::Env> rocks_env);
  Status scan(std::string_view prefix, std::string_view from,
              const std::function<Status(std::string_view key, std::string_view value)>& visit) const;
  void sync_loop();

  std::string path_;
  std::unique_ptr<rocksdb::Env> rocks_env_;  // the Env's file system wrapped for RocksDB (null: default); outlives db_
  std::unique_ptr<rocksdb::DB> db_;
  JobStoreOptions options_;
  bool read_only_;
  // kInterval: the background WAL syncer. mu_ guards stopping_; cv_ wakes
  // the syncer early when the store closes.
  std::thread syncer_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  // A write failed: RocksDB refuses further writes (and asserts on a WAL sync), so none are tried.
  std::atomic<bool> broken_{false};
};

}  // namespace vf
