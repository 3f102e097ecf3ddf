#include "storage/job_store.h"

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/cache.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>

#include "storage/codec.h"

namespace vf {
namespace {

std::string id_key(char prefix, uint64_t id) {
  char buf[20];
  std::snprintf(buf, sizeof buf, "%c/%016llx", prefix, static_cast<unsigned long long>(id));
  return buf;
}

std::string partial_prefix(uint64_t id, char stage) { return id_key('r', id) + "/" + stage + "/"; }

std::string partial_key(uint64_t id, char stage, uint32_t index) {
  char buf[12];
  std::snprintf(buf, sizeof buf, "%08x", index);
  return partial_prefix(id, stage) + buf;
}

uint64_t key_id(std::string_view key) {
  // "<prefix>/<16 hex>..."
  if (key.size() < 18) return 0;
  return std::strtoull(std::string(key.substr(2, 16)).c_str(), nullptr, 16);
}

Error failure(const std::string& what, const std::string& path, const rocksdb::Status& s) {
  std::string hint;
  if (s.IsCorruption())
    hint = " (the checkpoint log is damaged: `veriforge check` reports what the outputs still hold)";
  else if (s.IsIOError() && s.ToString().find("No space") != std::string::npos)
    hint = " (the disk is full: free space and run the same command again to resume)";
  return Error{"job store " + path + ": " + what + ": " + s.ToString() + hint,
               s.IsCorruption() ? ErrorCode::kCorruption : ErrorCode::kIoError};
}

// RocksDB's own messages go to veriforge's log, not to a LOG file in the
// database folder: on a full disk Debian's RocksDB (built with assertions)
// aborts when it writes to a LOG file whose earlier append failed.
class RocksToSpdlog final : public rocksdb::Logger {
 public:
  RocksToSpdlog() : rocksdb::Logger(rocksdb::InfoLogLevel::INFO_LEVEL) {}
  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override { Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap); }
  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    auto to = level >= rocksdb::InfoLogLevel::ERROR_LEVEL  ? spdlog::level::err
              : level >= rocksdb::InfoLogLevel::WARN_LEVEL ? spdlog::level::warn
                                                           : spdlog::level::debug;
    char buf[1024];
    std::vsnprintf(buf, sizeof buf, format, ap);
    // Opening a new database, RocksDB looks for its folders before creating
    // them and reports their absence at error level: expected, not an error.
    if (to == spdlog::level::err && std::strstr(buf, "NotFound") && std::strstr(buf, "Error when reading"))
      to = spdlog::level::debug;
    if (!spdlog::should_log(to)) return;
    spdlog::log(to, "event=rocksdb message=\"{}\"", buf);
  }
};

constexpr size_t kBlockCacheBytes = 16 << 20;

rocksdb::Options db_options(bool create_if_missing, rocksdb::Env* env) {
  rocksdb::Options o;
  if (env) o.env = env;
  o.info_log = std::make_shared<RocksToSpdlog>();
  o.create_if_missing = create_if_missing;
  o.paranoid_checks = true;
  o.max_open_files = 256;
  o.keep_log_file_num = 3;
  // Small memtables bound what a resume replays from the WAL after a kill
  // (and so its memory), whatever the job's size; the in-flight window of
  // item records still dies in the memtable before a flush.
  o.write_buffer_size = 8 << 20;
  o.max_write_buffer_number = 2;
  // A torn WAL tail after a kill is cut at the last whole batch.
  o.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  rocksdb::BlockBasedTableOptions t;
  // q/ lookups are mostly misses: a Bloom filter answers them without a read.
  t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  // Index and filter blocks live in one bounded cache instead of on the heap
  // beside every open table, so the process's memory does not grow with the
  // number of tables, i.e. with the job's size (L0's stay pinned: hot).
  t.block_cache = rocksdb::NewLRUCache(kBlockCacheBytes);
  t.cache_index_and_filter_blocks = true;
  t.cache_index_and_filter_blocks_with_high_priority = true;
  t.pin_l0_filter_and_index_blocks_in_cache = true;
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  return o;
}

}  // namespace

std::optional<SyncPolicy> parse_sync_policy(std::string_view name) {
  if (name == "batch") return SyncPolicy::kBatch;
  if (name == "interval") return SyncPolicy::kInterval;
  if (name == "none") return SyncPolicy::kNone;
  return std::nullopt;
}

// --- LogBatch -------------------------------------------------------------

LogBatch::LogBatch() : batch_(std::make_unique<rocksdb::WriteBatch>()) {}
LogBatch::~LogBatch() = default;
LogBatch::LogBatch(LogBatch&&) noexcept = default;
LogBatch& LogBatch::operator=(LogBatch&&) noexcept = default;

void LogBatch::put_meta(std::string_view name, std::string_view value) {
  batch_->Put("m/" + std::string(name), rocksdb::Slice(value.data(), value.size()));
  ++operations_;
}
void LogBatch::put_item(uint64_t id, std::string_view bytes) {
  batch_->Put(id_key('i', id), rocksdb::Slice(bytes.data(), bytes.size()));
  ++operations_;
}
void LogBatch::erase_item(uint64_t id) {
  batch_->Delete(id_key('i', id));
  ++operations_;
}
void LogBatch::put_partial(uint64_t id, char stage, uint32_t index, std::string_view bytes) {
  batch_->Put(partial_key(id, stage, index), rocksdb::Slice(bytes.data(), bytes.size()));
  ++operations_;
}
void LogBatch::erase_partials(uint64_t id, char stage, uint32_t count) {
  for (uint32_t i = 0; i < count; ++i) batch_->Delete(partial_key(id, stage, i));
  operations_ += count;
}
void LogBatch::erase_partial(uint64_t id, char stage, uint32_t index) {
  batch_->Delete(partial_key(id, stage, index));
  ++operations_;
}
void LogBatch::put_state(uint64_t id, const StoredState& state) {
  batch_->Put(id_key('s', id), encode(state));
  ++operations_;
}
void LogBatch::park(uint64_t id, std::string_view bytes) {
  batch_->Put(id_key('p', id), rocksdb::Slice(bytes.data(), bytes.size()));
  ++operations_;
}
void LogBatch::unpark(uint64_t id) {
  batch_->Delete(id_key('p', id));
  ++operations_;
}
void LogBatch::put_seen(uint64_t question_hash) {
  batch_->Put(id_key('q', question_hash), "");
  ++operations_;
}
void LogBatch::put_pool_question(uint64_t id, std::string_view question) {
  batch_->Put(id_key('g', id), rocksdb::Slice(question.data(), question.size()));
  ++operations_;
}
void LogBatch::put_feedback(uint64_t id, std::string_view bytes) {
  batch_->Put(id_key('a', id), rocksdb::Slice(bytes.data(), bytes.size()));
  ++operations_;
}

// --- JobStore -------------------------------------------------------------

JobStore::JobStore(std::string path, rocksdb::DB* db, JobStoreOptions options, bool read_only,
                   std::unique_ptr<rocksdb::Env> rocks_env)
    : path_(std::move(path)), rocks_env_(std::move(rocks_env)), db_(db), options_(options), read_only_(read_only) {
  if (!read_only_ && options_.sync == SyncPolicy::kInterval) syncer_ = std::thread([this] { sync_loop(); });
}

JobStore::~JobStore() {
  if (syncer_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    syncer_.join();
  }
  if (db_ && !read_only_ && !broken_) {
    if (auto s = db_->SyncWAL(); !s.ok()) spdlog::warn("event=store-close-sync-failed path={} error=\"{}\"", path_, s.ToString());
    db_->Close();
  }
}

void JobStore::sync_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, std::chrono::milliseconds(options_.sync_interval_ms));
    if (stopping_) break;
    if (broken_) continue;
    lock.unlock();
    if (auto s = db_->SyncWAL(); !s.ok()) {
      broken_ = true;
      spdlog::error("event=store-sync-failed path={} error=\"{}\"", path_, s.ToString());
    }
    lock.lock();
  }
}

Expected<std::unique_ptr<JobStore>> JobStore::open(const std::string& path, JobStoreOptions options) {
  // RocksDB reports a missing folder at error level before it creates it.
  std::error_code ec;
  if (options.create_if_missing) std::filesystem::create_directories(path, ec);
  std::unique_ptr<rocksdb::Env> rocks_env;
  if (options.env)
    if (auto fs = options.env->rocksdb_file_system()) rocks_env = rocksdb::NewCompositeEnv(fs);
  rocksdb::DB* db = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_options(options.create_if_missing, rocks_env.get()), path, &db);
  if (!s.ok()) return failure("open", path, s);
  return std::unique_ptr<JobStore>(new JobStore(path, db, options, false, std::move(rocks_env)));
}

Expected<std::unique_ptr<JobStore>> JobStore::open_read_only(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path + "/CURRENT", ec)) return not_found("job store " + path + ": no job database here");
  rocksdb::DB* db = nullptr;
  rocksdb::Status s = rocksdb::DB::OpenForReadOnly(db_options(false, nullptr), path, &db);
  if (!s.ok()) return failure("open (read-only)", path, s);
  return std::unique_ptr<JobStore>(new JobStore(path, db, {}, true, nullptr));
}

Status JobStore::write(LogBatch& batch) {
  if (batch.empty()) return {};
  if (broken_) return Error{"job store " + path_ + ": an earlier write failed; the job must stop and resume"};
  rocksdb::WriteOptions w;
  w.sync = options_.sync == SyncPolicy::kBatch;
  auto s = db_->Write(w, batch.batch_.get());
  if (!s.ok()) {
    broken_ = true;
    return failure("write batch", path_, s);
  }
  batch.batch_->Clear();
  batch.operations_ = 0;
  return {};
}

Status JobStore::write_group(const std::vector<LogBatch*>& batches) {
  if (broken_) return Error{"job store " + path_ + ": an earlier write failed; the job must stop and resume",
                            ErrorCode::kIoError};
  rocksdb::WriteOptions w;
  w.sync = false;
  bool wrote = false;
  for (LogBatch* batch : batches) {
    if (batch->empty()) continue;
    auto s = db_->Write(w, batch->batch_.get());
    if (!s.ok()) {
      broken_ = true;
      return failure("write batch", path_, s);
    }
    batch->batch_->Clear();
    batch->operations_ = 0;
    wrote = true;
  }
  if (wrote && options_.sync == SyncPolicy::kBatch) {
    auto s = db_->SyncWAL();
    if (!s.ok()) {
      broken_ = true;
      return failure("sync the log", path_, s);
    }
  }
  return {};
}

Status JobStore::put_meta(const std::string& name, const std::string& value) {
  LogBatch b;
  b.put_meta(name, value);
  return write(b);
}

namespace {
Expected<std::optional<std::string>> get(rocksdb::DB* db, const std::string& key, const std::string& what,
                                         const std::string& path) {
  std::string v;
  auto s = db->Get(rocksdb::ReadOptions(), key, &v);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return failure(what, path, s);
  return std::optional<std::string>(std::move(v));
}
}  // namespace

Expected<std::optional<std::string>> JobStore::get_meta(const std::string& name) const {
  return get(db_.get(), "m/" + name, "read metadata '" + name + "'", path_);
}

Expected<std::optional<std::string>> JobStore::item(uint64_t id) const {
  return get(db_.get(), id_key('i', id), "read item", path_);
}

Expected<std::optional<StoredState>> JobStore::state(uint64_t id) const {
  auto v = get(db_.get(), id_key('s', id), "read state", path_);
  if (!v) return Error{v.error()};
  if (!v.value()) return std::optional<StoredState>();
  auto decoded = decode<StoredState>(*v.value(), "item state");
  if (!decoded) return Error{decoded.error()};
  return std::optional<StoredState>(std::move(decoded.value()));
}

Expected<std::optional<std::string>> JobStore::parked(uint64_t id) const {
  return get(db_.get(), id_key('p', id), "read parked item", path_);
}

Expected<bool> JobStore::seen(uint64_t question_hash) const {
  auto v = get(db_.get(), id_key('q', question_hash), "read question hash", path_);
  if (!v) return Error{v.error()};
  return v.value().has_value();
}

Status JobStore::scan(std::string_view prefix, std::string_view from,
                      const std::function<Status(std::string_view, std::string_view)>& visit) const {
  rocksdb::ReadOptions ro;
  std::string upper(prefix);
  upper.back() = static_cast<char>(upper.back() + 1);  // "x/" -> "x0": just past the prefix
  rocksdb::Slice upper_slice(upper);
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
  for (it->Seek(rocksdb::Slice(from.data(), from.size())); it->Valid(); it->Next()) {
    auto k = it->key(), v = it->value();
    if (auto s = visit(std::string_view(k.data(), k.size()), std::string_view(v.data(), v.size())); !s) return s;
  }
  if (!it->status().ok()) return failure("scan " + std::string(prefix), path_, it->status());
  return {};
}

Status JobStore::for_each_item(uint64_t from_id, const Visitor& visit) const {
  return scan("i/", id_key('i', from_id), [&](std::string_view k, std::string_view v) { return visit(key_id(k), v); });
}

Status JobStore::for_each_state(const std::function<Status(uint64_t, const StoredState&)>& visit) const {
  return scan("s/", "s/", [&](std::string_view k, std::string_view v) -> Status {
    auto st = decode<StoredState>(v, "item state");
    if (!st) return Error{"job store " + path_ + ": state of item " + std::to_string(key_id(k)) + ": " + st.error()};
    return visit(key_id(k), st.value());
  });
}

Status JobStore::for_each_parked(const Visitor& visit) const {
  return scan("p/", "p/", [&](std::string_view k, std::string_view v) { return visit(key_id(k), v); });
}

Status JobStore::for_each_pool_question(const Visitor& visit) const {
  return scan("g/", "g/", [&](std::string_view k, std::string_view v) { return visit(key_id(k), v); });
}

Status JobStore::for_each_feedback(const Visitor& visit) const {
  return scan("a/", "a/", [&](std::string_view k, std::string_view v) { return visit(key_id(k), v); });
}

Status JobStore::for_each_partial(uint64_t id, char stage,
                                  const std::function<Status(uint32_t, std::string_view)>& visit) const {
  std::string prefix = partial_prefix(id, stage);
  return scan(prefix, prefix, [&](std::string_view k, std::string_view v) -> Status {
    uint32_t index = static_cast<uint32_t>(std::strtoul(std::string(k.substr(prefix.size())).c_str(), nullptr, 16));
    return visit(index, v);
  });
}

uint64_t JobStore::disk_bytes() const {
  uint64_t total = 0;
  std::error_code ec;
  for (auto& e : std::filesystem::directory_iterator(path_, ec))
    if (e.is_regular_file(ec)) total += e.file_size(ec);
  return total;
}

}  // namespace vf
