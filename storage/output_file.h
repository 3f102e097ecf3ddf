// OutputFile: an append-only JSON Lines output whose committed length is
// recorded in the job's checkpoint log.
//
// open() repairs the file against the length the log committed: bytes past
// it (a batch being written when the process died, possibly a torn last
// line) are cut, so what was committed stays byte-identical and the records
// of the cut batch are written once more by the resumed job; a file shorter
// than its committed length has lost committed records, which is reported
// as an error (never papered over). append_line() buffers; flush() hands the
// bytes to the OS and, with `sync`, to the disk (only when something was
// appended since the last sync), or to_sync() hands the syncing to the
// log's committer; length() counts what was appended, flushed or not. Files go through an Env (storage/env.h), so tests can simulate a
// power loss. Errors name the file.
// Not thread-safe; one owner (the writer).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "base/status.h"
#include "storage/env.h"

namespace vf {

class OutputFile {
 public:
  explicit OutputFile(Env* env = Env::posix()) : env_(env) {}
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  struct Repair {
    uint64_t cut_bytes = 0;     // bytes past the committed length, removed
    bool torn_line = false;     // the cut ended inside a line
  };
  // Opens (creating) `path` for appending, after cutting it to `committed`
  // bytes. `committed` = 0 with a file that has content and no log entry is
  // the caller's decision (a fresh job refuses to start on it).
  Expected<Repair> open(const std::string& path, uint64_t committed);

  Status append_line(const std::string& line);
  Status flush(bool sync);
  // The file to sync before a commit that counts what was appended since the
  // last call (null when nothing was): with group commit the log's committer
  // syncs it, off the writer's thread. Call after flush(false).
  std::shared_ptr<WritableFile> to_sync();
  uint64_t length() const { return length_; }
  bool is_open() const { return file_ != nullptr; }
  const std::string& path() const { return path_; }

 private:
  Env* env_;
  std::string path_;
  std::shared_ptr<WritableFile> file_;  // shared with a commit that will sync it
  std::string buffer_;     // appended, not yet handed to the OS
  uint64_t length_ = 0;
  bool unsynced_ = false;  // appended since the last sync (an idle file costs no fsync)
};

}  // namespace vf
