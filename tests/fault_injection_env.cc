#include "fault_injection_env.h"

#include <rocksdb/file_system.h>

#include <atomic>
#include <filesystem>

namespace vf::test {
namespace {

// Our own files (the outputs).
class TrackedFile final : public WritableFile {
 public:
  TrackedFile(FaultInjectionEnv& env, std::unique_ptr<WritableFile> target, uint64_t size)
      : env_(env), target_(std::move(target)), size_(size) {}
  Status append(std::string_view data) override {
    if (!env_.before_write(target_->path())) return {};
    if (auto s = target_->append(data); !s) return s;
    env_.wrote(target_->path(), size_ += data.size());
    return {};
  }
  // May run on another thread than append() (the log's committer): what it
  // covers is what was appended before it began.
  Status sync() override {
    uint64_t covered = size_.load();
    if (!env_.before_sync(target_->path())) return {};
    if (auto s = target_->sync(); !s) return s;
    env_.synced(target_->path(), covered);
    return {};
  }
  const std::string& path() const override { return target_->path(); }

 private:
  FaultInjectionEnv& env_;
  std::unique_ptr<WritableFile> target_;
  std::atomic<uint64_t> size_;
};

// A file opened after the crash: nothing reaches the disk.
class DeadFile final : public WritableFile {
 public:
  explicit DeadFile(std::string path) : path_(std::move(path)) {}
  Status append(std::string_view) override { return {}; }
  Status sync() override { return {}; }
  const std::string& path() const override { return path_; }

 private:
  std::string path_;
};

using rocksdb::IODebugContext;
using rocksdb::IOOptions;
using rocksdb::IOStatus;
using rocksdb::Slice;

// RocksDB's files.
class TrackedRocksFile final : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  TrackedRocksFile(FaultInjectionEnv& env, std::string path, std::unique_ptr<rocksdb::FSWritableFile> target)
      : FSWritableFileOwnerWrapper(std::move(target)), env_(env), path_(std::move(path)) {}

  IOStatus Append(const Slice& data, const IOOptions& o, IODebugContext* d) override {
    if (!env_.before_write(path_)) return IOStatus::OK();
    auto s = target()->Append(data, o, d);
    if (s.ok()) env_.wrote(path_, size_ += data.size());
    return s;
  }
  IOStatus Append(const Slice& data, const IOOptions& o, const rocksdb::DataVerificationInfo& v,
                  IODebugContext* d) override {
    if (!env_.before_write(path_)) return IOStatus::OK();
    auto s = target()->Append(data, o, v, d);
    if (s.ok()) env_.wrote(path_, size_ += data.size());
    return s;
  }
  IOStatus PositionedAppend(const Slice& data, uint64_t offset, const IOOptions& o, IODebugContext* d) override {
    if (!env_.before_write(path_)) return IOStatus::OK();
    auto s = target()->PositionedAppend(data, offset, o, d);
    if (s.ok()) env_.wrote(path_, size_ = std::max(size_, offset + data.size()));
    return s;
  }
  IOStatus PositionedAppend(const Slice& data, uint64_t offset, const IOOptions& o,
                            const rocksdb::DataVerificationInfo& v, IODebugContext* d) override {
    if (!env_.before_write(path_)) return IOStatus::OK();
    auto s = target()->PositionedAppend(data, offset, o, v, d);
    if (s.ok()) env_.wrote(path_, size_ = std::max(size_, offset + data.size()));
    return s;
  }
  IOStatus Truncate(uint64_t size, const IOOptions& o, IODebugContext* d) override {
    if (!env_.before_write(path_)) return IOStatus::OK();
    auto s = target()->Truncate(size, o, d);
    if (s.ok()) env_.wrote(path_, size_ = size);
    return s;
  }
  IOStatus Flush(const IOOptions& o, IODebugContext* d) override {
    if (env_.crashed()) return IOStatus::OK();
    return target()->Flush(o, d);
  }
  IOStatus Sync(const IOOptions& o, IODebugContext* d) override {
    if (!env_.before_sync(path_)) return IOStatus::OK();
    auto s = target()->Sync(o, d);
    if (s.ok()) env_.synced(path_, size_);
    return s;
  }
  IOStatus Fsync(const IOOptions& o, IODebugContext* d) override {
    if (!env_.before_sync(path_)) return IOStatus::OK();
    auto s = target()->Fsync(o, d);
    if (s.ok()) env_.synced(path_, size_);
    return s;
  }
  IOStatus RangeSync(uint64_t, uint64_t, const IOOptions&, IODebugContext*) override {
    return IOStatus::OK();  // not a durability point: leave it to Sync
  }
  IOStatus Close(const IOOptions& o, IODebugContext* d) override {
    if (env_.crashed()) return IOStatus::OK();
    return target()->Close(o, d);
  }
  uint64_t GetFileSize(const IOOptions&, IODebugContext*) override { return size_; }

 private:
  FaultInjectionEnv& env_;
  std::string path_;
  uint64_t size_ = 0;
};

// A RocksDB file opened after the crash.
class DeadRocksFile final : public rocksdb::FSWritableFile {
 public:
  IOStatus Append(const Slice& data, const IOOptions&, IODebugContext*) override {
    size_ += data.size();
    return IOStatus::OK();
  }
  IOStatus Close(const IOOptions&, IODebugContext*) override { return IOStatus::OK(); }
  IOStatus Flush(const IOOptions&, IODebugContext*) override { return IOStatus::OK(); }
  IOStatus Sync(const IOOptions&, IODebugContext*) override { return IOStatus::OK(); }
  uint64_t GetFileSize(const IOOptions&, IODebugContext*) override { return size_; }

 private:
  uint64_t size_ = 0;
};

class FaultInjectionFS final : public rocksdb::FileSystemWrapper {
 public:
  FaultInjectionFS(FaultInjectionEnv& env) : FileSystemWrapper(rocksdb::FileSystem::Default()), env_(env) {}
  const char* Name() const override { return "veriforge-fault-injection"; }

  IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                           std::unique_ptr<rocksdb::FSWritableFile>* r, IODebugContext* d) override {
    if (env_.crashed()) {
      r->reset(new DeadRocksFile());
      return IOStatus::OK();
    }
    std::unique_ptr<rocksdb::FSWritableFile> file;
    auto s = target()->NewWritableFile(f, o, &file, d);
    if (!s.ok()) return s;
    env_.created(f, 0);
    r->reset(new TrackedRocksFile(env_, f, std::move(file)));
    return s;
  }
  IOStatus ReopenWritableFile(const std::string& f, const rocksdb::FileOptions&,
                              std::unique_ptr<rocksdb::FSWritableFile>*, IODebugContext*) override {
    return IOStatus::NotSupported("fault injection: ReopenWritableFile " + f);
  }
  IOStatus ReuseWritableFile(const std::string& f, const std::string&, const rocksdb::FileOptions&,
                             std::unique_ptr<rocksdb::FSWritableFile>*, IODebugContext*) override {
    return IOStatus::NotSupported("fault injection: ReuseWritableFile " + f);
  }
  IOStatus RenameFile(const std::string& s, const std::string& t, const IOOptions& o, IODebugContext* d) override {
    if (env_.crashed()) return IOStatus::OK();
    auto st = target()->RenameFile(s, t, o, d);
    if (st.ok()) env_.renamed(s, t);
    return st;
  }
  IOStatus DeleteFile(const std::string& f, const IOOptions& o, IODebugContext* d) override {
    if (env_.crashed()) return IOStatus::OK();
    auto st = target()->DeleteFile(f, o, d);
    if (st.ok()) env_.removed(f);
    return st;
  }

 private:
  FaultInjectionEnv& env_;
};

}  // namespace

FaultInjectionEnv::FaultInjectionEnv() : rocks_fs_(std::make_shared<FaultInjectionFS>(*this)) {}
FaultInjectionEnv::~FaultInjectionEnv() = default;

Expected<std::unique_ptr<WritableFile>> FaultInjectionEnv::open_appendable(const std::string& path) {
  if (crashed()) return std::unique_ptr<WritableFile>(new DeadFile(path));
  auto size = Env::posix()->file_size(path);
  auto target = Env::posix()->open_appendable(path);
  if (!target) return target.failure();
  uint64_t existing = size ? *size : 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto& f = files_[path];
    // A file that was there before this Env knew it is durable as it is.
    if (!size || f.size == 0) f = FileState{existing, existing};
  }
  return std::unique_ptr<WritableFile>(new TrackedFile(*this, std::move(target.value()), existing));
}

Expected<uint64_t> FaultInjectionEnv::file_size(const std::string& path) { return Env::posix()->file_size(path); }

Status FaultInjectionEnv::truncate(const std::string& path, uint64_t size) {
  if (crashed()) return {};
  auto before = Env::posix()->file_size(path);
  if (auto s = Env::posix()->truncate(path, size); !s) return s;
  std::lock_guard<std::mutex> lock(mu_);
  if (before && *before > size) truncated_ += *before - size;
  if (auto it = files_.find(path); it != files_.end()) {
    it->second.size = std::min(it->second.size, size);
    it->second.synced = std::min(it->second.synced, size);
  }
  return {};
}

Expected<std::string> FaultInjectionEnv::read(const std::string& path, uint64_t offset, uint64_t n) {
  return Env::posix()->read(path, offset, n);
}

std::shared_ptr<rocksdb::FileSystem> FaultInjectionEnv::rocksdb_file_system() { return rocks_fs_; }

void FaultInjectionEnv::crash() { crashed_ = true; }

void FaultInjectionEnv::crash_at_sync(uint64_t k) {
  std::lock_guard<std::mutex> lock(mu_);
  crash_at_ = k ? sync_attempts_ + k : 0;
}

void FaultInjectionEnv::crash_at_sync_of(const std::string& suffix, uint64_t k) {
  std::lock_guard<std::mutex> lock(mu_);
  crash_suffix_ = suffix;
  crash_suffix_left_ = k;
}

void FaultInjectionEnv::hold_syncs(bool hold) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    hold_ = hold;
  }
  released_.notify_all();
}

uint64_t FaultInjectionEnv::waiting_syncs() const {
  std::lock_guard<std::mutex> lock(mu_);
  return waiting_;
}

uint64_t FaultInjectionEnv::truncated_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return truncated_;
}

uint64_t FaultInjectionEnv::syncs() const {
  std::lock_guard<std::mutex> lock(mu_);
  return syncs_;
}

bool FaultInjectionEnv::before_write(const std::string&) { return !crashed(); }

void FaultInjectionEnv::wrote(const std::string& path, uint64_t new_size) {
  std::lock_guard<std::mutex> lock(mu_);
  files_[path].size = new_size;
}

bool FaultInjectionEnv::before_sync(const std::string& path) {
  std::unique_lock<std::mutex> lock(mu_);
  if (hold_) {
    ++waiting_;
    released_.wait(lock, [this] { return !hold_; });
    --waiting_;
  }
  if (crashed_) return false;
  if (crash_at_ && sync_attempts_ + 1 >= crash_at_) {
    crashed_ = true;
    return false;
  }
  if (crash_suffix_left_ && path.size() >= crash_suffix_.size() &&
      path.compare(path.size() - crash_suffix_.size(), crash_suffix_.size(), crash_suffix_) == 0 &&
      --crash_suffix_left_ == 0) {
    crashed_ = true;
    return false;
  }
  ++sync_attempts_;
  return true;
}

void FaultInjectionEnv::synced(const std::string& path, uint64_t size) {
  std::lock_guard<std::mutex> lock(mu_);
  ++syncs_;
  auto& f = files_[path];
  f.synced = std::max(f.synced, std::min(size, f.size));
}

void FaultInjectionEnv::created(const std::string& path, uint64_t size) {
  std::lock_guard<std::mutex> lock(mu_);
  files_[path] = FileState{size, size};
}

void FaultInjectionEnv::renamed(const std::string& from, const std::string& to) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = files_.find(from);
  if (it == files_.end()) return;
  files_[to] = it->second;
  files_.erase(from);
}

void FaultInjectionEnv::removed(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  files_.erase(path);
}

Status FaultInjectionEnv::drop_unsynced() {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [path, f] : files_) {
    auto size = Env::posix()->file_size(path);
    if (!size) continue;  // removed before the crash
    if (*size > f.synced)
      if (auto s = Env::posix()->truncate(path, f.synced); !s) return s;
  }
  files_.clear();
  return {};
}

}  // namespace vf::test
