// JobStore: the job's RocksDB database in its output folder.
//
// Holds job metadata ("m/<name>"), the final state of every decided item
// ("s/<id>"), and accepted items parked by the commit gate ("p/<id>") while
// lower ids are still undecided. Values are msgpack (storage/codec.h).
// Writes go through write batches: one call, one atomic batch. With
// `sync = true` every batch is fsynced; otherwise the WAL protects against a
// process crash but not a machine crash. (The checkpoint-log issue extends
// this to every stage result.)
//
// Errors are returned as values and name the operation and the path.
// Thread-safety: RocksDB is thread-safe, but a JobStore has one owner
// (the writer actor); RocksDB's lock keeps a second process out.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <msgpack.hpp>

#include "dataflow/expected.h"

namespace rocksdb {
class DB;
}

namespace vf {

struct StoredState {
  uint8_t state = 0;
  std::string reason;
  MSGPACK_DEFINE(state, reason)
};

struct JobStoreOptions {
  bool sync = false;
  bool create_if_missing = true;
};

class JobStore {
 public:
  static Expected<std::unique_ptr<JobStore>> open(const std::string& path, JobStoreOptions options = {});
  ~JobStore();
  JobStore(const JobStore&) = delete;
  JobStore& operator=(const JobStore&) = delete;

  Status put_meta(const std::string& name, const std::string& value);
  Expected<std::optional<std::string>> get_meta(const std::string& name) const;

  struct StateUpdate {
    uint64_t id;
    StoredState state;
  };
  // Records item states, parks and unparks in one atomic batch.
  Status commit(const std::vector<StateUpdate>& states,
                const std::vector<std::pair<uint64_t, std::string>>& park,
                const std::vector<uint64_t>& unpark);

  Expected<std::optional<StoredState>> state(uint64_t id) const;
  Expected<std::optional<std::string>> parked(uint64_t id) const;
  // Number of keys with the state prefix (every decided item).
  Expected<uint64_t> count_states() const;

  const std::string& path() const { return path_; }

 private:
  JobStore(std::string path, rocksdb::DB* db, JobStoreOptions options);
  std::string path_;
  std::unique_ptr<rocksdb::DB> db_;
  JobStoreOptions options_;
};

}  // namespace vf
