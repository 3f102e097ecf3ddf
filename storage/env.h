// Env: the seam between veriforge's storage and the operating system, as
// LevelDB's Env is: the output files go through it, and so does the
// checkpoint log (RocksDB is handed the Env's FileSystem), so a test can put
// an Env in between that remembers what was written but not yet synced and
// drops it at a simulated power loss (tests/fault_injection_env.h).
//
// Durability, as the callers rely on it: append() hands bytes to the OS (they
// survive a crash of the process, not of the machine); sync() makes what was
// appended durable; a file created by open_appendable() is durable, name
// included, once the call returns (the folder is synced).
//
// Env::posix() is the real one, a process-wide singleton that is never
// destroyed. Envs and files are thread-safe for distinct files; one file is
// used by one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"

namespace rocksdb {
class FileSystem;
}  // namespace rocksdb

namespace vf {

class WritableFile {
 public:
  virtual ~WritableFile() = default;
  virtual Status append(std::string_view data) = 0;
  virtual Status sync() = 0;
  virtual const std::string& path() const = 0;
};

class Env {
 public:
  virtual ~Env() = default;
  static Env* posix();

  // Opens `path` for appending, creating it (and syncing its folder) when missing.
  virtual Expected<std::unique_ptr<WritableFile>> open_appendable(const std::string& path) = 0;
  // kNotFound when the file does not exist.
  virtual Expected<uint64_t> file_size(const std::string& path) = 0;
  virtual Status truncate(const std::string& path, uint64_t size) = 0;
  // Up to `n` bytes from `offset` (fewer at the end of the file).
  virtual Expected<std::string> read(const std::string& path, uint64_t offset, uint64_t n) = 0;
  // The file system RocksDB should use (null: RocksDB's default).
  virtual std::shared_ptr<rocksdb::FileSystem> rocksdb_file_system() { return nullptr; }
};

}  // namespace vf
