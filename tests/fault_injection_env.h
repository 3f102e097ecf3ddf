// FaultInjectionEnv: an Env (storage/env.h) that remembers, for every file
// written through it, the output files and RocksDB's own files alike, how
// much of it is durable (synced), and can simulate a power loss, as LevelDB's
// FaultInjectionTestEnv does:
//
//   env.crash_at_sync(k);   // the k-th sync from now does not happen: the machine dies there
//   ... the job runs on; from the crash on nothing it writes, syncs, creates,
//       renames or deletes reaches the disk, though every call reports success
//   ... the job is stopped and its store closed
//   env.drop_unsynced();    // the disk as a power loss leaves it: every file cut to its
//                           // last synced length, files created after the crash gone
//
// What counts as durable: bytes up to the last sync()/Sync()/Fsync() of a
// file (RangeSync and Flush do not count). Directory entries are taken as
// durable once created: RocksDB syncs its folder itself and the posix Env
// syncs the output folder when it creates a file.
// Thread-safe (RocksDB's background threads write through it); mu_ guards
// everything below it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "storage/env.h"

namespace vf::test {

class FaultInjectionEnv final : public Env {
 public:
  FaultInjectionEnv();
  ~FaultInjectionEnv() override;

  // --- Env ---
  Expected<std::unique_ptr<WritableFile>> open_appendable(const std::string& path) override;
  Expected<uint64_t> file_size(const std::string& path) override;
  Status truncate(const std::string& path, uint64_t size) override;
  Expected<std::string> read(const std::string& path, uint64_t offset, uint64_t n) override;
  std::shared_ptr<rocksdb::FileSystem> rocksdb_file_system() override;

  // --- faults ---
  void crash();                     // the power goes now
  void crash_at_sync(uint64_t k);   // the k-th sync from now (k >= 1) is where it goes; 0: disarm
  // The power goes at the k-th sync of a file whose path ends with `suffix`.
  void crash_at_sync_of(const std::string& suffix, uint64_t k);
  bool crashed() const { return crashed_.load(); }
  uint64_t syncs() const;           // syncs completed so far (what they covered is durable)
  uint64_t truncated_bytes() const; // bytes cut from files through this Env (before the crash)
  // A slow disk: while held, every sync waits (counted in waiting_syncs()).
  void hold_syncs(bool hold);
  uint64_t waiting_syncs() const;
  // After crash() and after every writer closed its files: cuts each file to
  // its durable length and removes the files created after the crash.
  Status drop_unsynced();

  // --- used by the file wrappers ---
  // Returns false when the write must not reach the disk (crashed).
  bool before_write(const std::string& path);
  void wrote(const std::string& path, uint64_t new_size);
  // False when the sync must not happen (crashed now or before).
  bool before_sync(const std::string& path);
  void synced(const std::string& path, uint64_t size);
  void created(const std::string& path, uint64_t size);
  void renamed(const std::string& from, const std::string& to);
  void removed(const std::string& path);

 private:
  struct FileState {
    uint64_t size = 0;    // what reached the OS
    uint64_t synced = 0;  // what is durable
  };
  mutable std::mutex mu_;
  std::map<std::string, FileState> files_;
  uint64_t syncs_ = 0;          // completed
  uint64_t sync_attempts_ = 0;  // begun before the crash
  uint64_t crash_at_ = 0;       // the attempt at which the power goes (0: none)
  std::string crash_suffix_;    // crash_at_sync_of: the file, and its syncs to go
  uint64_t crash_suffix_left_ = 0;
  uint64_t truncated_ = 0;
  bool hold_ = false;
  uint64_t waiting_ = 0;
  std::condition_variable released_;
  std::atomic<bool> crashed_{false};
  std::shared_ptr<rocksdb::FileSystem> rocks_fs_;
};

}  // namespace vf::test
