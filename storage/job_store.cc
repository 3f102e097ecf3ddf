#include "storage/job_store.h"

#include <cstdio>

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include "storage/codec.h"

namespace vf {
namespace {

std::string id_key(char prefix, uint64_t id) {
  // Fixed-width big-endian hex keeps RocksDB's byte order equal to id order.
  char buf[20];
  std::snprintf(buf, sizeof buf, "%c/%016llx", prefix, static_cast<unsigned long long>(id));
  return buf;
}

Error failure(const std::string& what, const std::string& path, const rocksdb::Status& s) {
  return Error{"job store " + path + ": " + what + ": " + s.ToString()};
}

}  // namespace

JobStore::JobStore(std::string path, rocksdb::DB* db, JobStoreOptions options)
    : path_(std::move(path)), db_(db), options_(options) {}

JobStore::~JobStore() = default;

Expected<std::unique_ptr<JobStore>> JobStore::open(const std::string& path, JobStoreOptions options) {
  rocksdb::Options o;
  o.create_if_missing = options.create_if_missing;
  o.paranoid_checks = true;
  o.max_open_files = 256;
  o.keep_log_file_num = 3;
  rocksdb::DB* db = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(o, path, &db);
  if (!s.ok()) return failure("open", path, s);
  return std::unique_ptr<JobStore>(new JobStore(path, db, options));
}

Status JobStore::put_meta(const std::string& name, const std::string& value) {
  rocksdb::WriteOptions w;
  w.sync = options_.sync;
  auto s = db_->Put(w, "m/" + name, value);
  if (!s.ok()) return failure("write metadata '" + name + "'", path_, s);
  return {};
}

Expected<std::optional<std::string>> JobStore::get_meta(const std::string& name) const {
  std::string v;
  auto s = db_->Get(rocksdb::ReadOptions(), "m/" + name, &v);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return failure("read metadata '" + name + "'", path_, s);
  return std::optional<std::string>(std::move(v));
}

Status JobStore::commit(const std::vector<StateUpdate>& states,
                        const std::vector<std::pair<uint64_t, std::string>>& park,
                        const std::vector<uint64_t>& unpark) {
  rocksdb::WriteBatch batch;
  for (const auto& u : states) batch.Put(id_key('s', u.id), encode(u.state));
  for (const auto& [id, bytes] : park) batch.Put(id_key('p', id), bytes);
  for (uint64_t id : unpark) batch.Delete(id_key('p', id));
  rocksdb::WriteOptions w;
  w.sync = options_.sync;
  auto s = db_->Write(w, &batch);
  if (!s.ok()) return failure("commit batch", path_, s);
  return {};
}

Expected<std::optional<StoredState>> JobStore::state(uint64_t id) const {
  std::string v;
  auto s = db_->Get(rocksdb::ReadOptions(), id_key('s', id), &v);
  if (s.IsNotFound()) return std::optional<StoredState>();
  if (!s.ok()) return failure("read state", path_, s);
  auto decoded = decode<StoredState>(v, "item state");
  if (!decoded) return Error{decoded.error()};
  return std::optional<StoredState>(std::move(decoded.value()));
}

Expected<std::optional<std::string>> JobStore::parked(uint64_t id) const {
  std::string v;
  auto s = db_->Get(rocksdb::ReadOptions(), id_key('p', id), &v);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return failure("read parked item", path_, s);
  return std::optional<std::string>(std::move(v));
}

Expected<uint64_t> JobStore::count_states() const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  uint64_t n = 0;
  for (it->Seek("s/"); it->Valid() && it->key().starts_with("s/"); it->Next()) ++n;
  if (!it->status().ok()) return failure("scan states", path_, it->status());
  return n;
}

}  // namespace vf
