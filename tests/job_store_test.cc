#include <doctest/doctest.h>

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "dataflow/item.h"
#include "storage/codec.h"
#include "storage/job_store.h"
#include "storage/output_file.h"
#include "fault_injection_env.h"
#include "test_util.h"

using namespace vf;
using vf::test::TempDir;

namespace {
std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
}  // namespace

TEST_CASE("job store keeps every key space across reopen") {
  TempDir dir;
  std::string path = dir.path() + "/db";
  Item parked;
  parked.id = 7;
  parked.question = "parked?";
  {
    auto store = JobStore::open(path);
    REQUIRE_MESSAGE(store.ok(), store.error());
    LogBatch b;
    b.put_meta("config", "x = 1");
    b.put_state(1, {static_cast<uint8_t>(ItemState::kWritten), ""});
    b.put_state(2, {static_cast<uint8_t>(ItemState::kRejectWritten), "timeout"});
    b.park(7, encode(parked));
    for (uint64_t id : {9, 10, 300}) b.put_item(id, "item-" + std::to_string(id));
    b.put_partial(10, 'x', 0, "run0");
    b.put_partial(10, 'x', 1, "run1");
    b.put_partial(10, 'v', 0, "call0");
    b.put_partial(11, 'x', 0, "other item");
    b.put_seen(0xfeedULL);
    b.put_pool_question(9, "How many?");
    b.put_feedback(1, "fb");
    CHECK(b.operations() == 14);
    REQUIRE((*store)->write(b).ok());
    CHECK(b.empty());
  }
  auto store = JobStore::open(path);
  REQUIRE(store.ok());
  auto& s = *store.value();
  CHECK(s.get_meta("config").value().value() == "x = 1");
  CHECK(s.state(2).value()->reason == "timeout");
  CHECK_FALSE(s.state(3).value().has_value());
  CHECK(decode<Item>(*s.parked(7).value(), "item")->question == "parked?");
  CHECK(s.seen(0xfeedULL).value());
  CHECK_FALSE(s.seen(0xbeefULL).value());

  std::vector<uint64_t> ids;
  REQUIRE(s.for_each_item(10, [&](uint64_t id, std::string_view v) -> Status {
             CHECK(v == "item-" + std::to_string(id));
             ids.push_back(id);
             return {};
           }).ok());
  CHECK(ids == std::vector<uint64_t>{10, 300});  // from id 10 on, in id order
  std::vector<std::string> runs;
  REQUIRE(s.for_each_partial(10, 'x', [&](uint32_t i, std::string_view v) -> Status {
             CHECK(v == "run" + std::to_string(i));
             runs.emplace_back(v);
             return {};
           }).ok());
  CHECK(runs.size() == 2);  // not the solve stage's entry, not item 11's

  LogBatch erase;
  erase.erase_partials(10, 'x', 2);
  erase.erase_item(10);
  erase.unpark(7);
  REQUIRE(s.write(erase).ok());
  size_t left = 0;
  REQUIRE(s.for_each_partial(10, 'x', [&](uint32_t, std::string_view) -> Status { return ++left, Status{}; }).ok());
  CHECK(left == 0);
  CHECK_FALSE(s.item(10).value().has_value());
  CHECK_FALSE(s.parked(7).value().has_value());
  size_t states = 0;
  REQUIRE(s.for_each_state([&](uint64_t, const StoredState&) -> Status { return ++states, Status{}; }).ok());
  CHECK(states == 2);
}

TEST_CASE("a second writer is refused while the job runs; a read-only view is not") {
  TempDir dir;
  auto a = JobStore::open(dir.path() + "/db");
  REQUIRE(a.ok());
  REQUIRE((*a)->put_meta("job_name", "j").ok());
  auto b = JobStore::open(dir.path() + "/db");
  REQUIRE_FALSE(b.ok());
  CHECK(b.error().find(dir.path()) != std::string::npos);
  auto view = JobStore::open_read_only(dir.path() + "/db");
  REQUIRE_MESSAGE(view.ok(), view.error());
  CHECK((*view)->get_meta("job_name").value().value() == "j");
  LogBatch w;
  w.put_meta("x", "y");
  CHECK_FALSE((*view)->write(w).ok());
  CHECK_FALSE(JobStore::open_read_only(dir.path() + "/nothing").ok());
}

TEST_CASE("an unwritable or corrupted store gives an error naming the path, not a crash") {
  TempDir dir;
  std::ofstream(dir.path() + "/db") << "not a database";  // a file where the folder should be
  auto s = JobStore::open(dir.path() + "/db");
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().find(dir.path() + "/db") != std::string::npos);

  std::string path = dir.path() + "/db2";  // CURRENT points nowhere
  { REQUIRE(JobStore::open(path).ok()); }
  std::ofstream(path + "/CURRENT", std::ios::trunc) << "MANIFEST-999999\n";
  auto broken = JobStore::open(path);
  REQUIRE_FALSE(broken.ok());
  CHECK(broken.error().find(path) != std::string::npos);
}

TEST_CASE("a table file with flipped bytes is reported as a damaged log") {
  TempDir dir;
  std::string path = dir.path() + "/db";
  {
    JobStoreOptions o;
    auto store = JobStore::open(path, o);
    REQUIRE(store.ok());
    for (int round = 0; round < 4; ++round) {
      LogBatch b;
      for (uint64_t id = 0; id < 2000; ++id) b.put_state(round * 2000 + id, {4, std::string(40, 'r')});
      REQUIRE((*store)->write(b).ok());
    }
  }
  // Reopening flushes the WAL into a table file; damage the middle of it.
  { REQUIRE(JobStore::open(path).ok()); }
  std::string table;
  for (auto& e : std::filesystem::directory_iterator(path))
    if (e.path().extension() == ".sst") table = e.path();
  REQUIRE_FALSE(table.empty());
  {
    std::fstream f(table, std::ios::in | std::ios::out | std::ios::binary);
    auto size = std::filesystem::file_size(table);
    f.seekp(static_cast<std::streamoff>(size / 3));
    std::string junk(64, '\xA5');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  auto store = JobStore::open(path);
  std::string error;
  if (!store.ok()) {
    error = store.error();
  } else {
    auto s = (*store)->for_each_state([](uint64_t, const StoredState&) { return Status{}; });
    REQUIRE_FALSE(s.ok());
    error = s.error();
  }
  CHECK(error.find(path) != std::string::npos);
  CHECK(error.find("damaged") != std::string::npos);
}

namespace {
// The child of the kill test: a fresh exec of this binary (RocksDB's threads
// do not survive a bare fork, and TSan forbids one) that logs batches of 8
// items plus m/last as fast as it can, until killed.
int log_writer_child(const char* path) {
  auto store = JobStore::open(path, {SyncPolicy::kNone, 50, true});
  if (!store.ok()) return 3;
  uint64_t next = 0;
  if (auto m = (*store)->get_meta("last"); m.ok() && m.value()) next = std::stoull(*m.value()) + 1;
  int ready_fd = std::atoi(std::getenv("VF_LOG_WRITER_READY_FD"));
  for (uint64_t written = 0;; ++next, ++written) {
    LogBatch b;
    for (uint64_t k = 0; k < 8; ++k) b.put_item(next * 8 + k, std::string(200, char('a' + next % 26)));
    b.put_meta("last", std::to_string(next));
    if (!(*store)->write(b).ok()) return 4;
    if (written == 0 && ::write(ready_fd, "r", 1) != 1) return 5;  // the parent may kill from now on
  }
}
const bool kIsLogWriterChild = [] {
  if (const char* path = std::getenv("VF_LOG_WRITER_CHILD")) _exit(log_writer_child(path));
  return false;
}();
}  // namespace

// Fault injection: a child process logs batches as fast as it can and is
// killed with SIGKILL at a random moment; every batch is then either wholly
// in the log or wholly absent, and none after a missing one.
TEST_CASE("kill -9 during log writes leaves whole batches only") {
  TempDir dir;
  std::string path = dir.path() + "/db";
  std::mt19937 rng(12345);
  uint64_t last_seen = 0;
  for (int round = 0; round < 6; ++round) {
    int ready[2];
    REQUIRE(pipe(ready) == 0);
    pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      close(ready[0]);
      setenv("VF_LOG_WRITER_CHILD", path.c_str(), 1);
      setenv("VF_LOG_WRITER_READY_FD", std::to_string(ready[1]).c_str(), 1);
      execl("/proc/self/exe", "unit_tests", nullptr);
      _exit(127);
    }
    close(ready[1]);
    // Once the child has logged its first batch of this round, kill it at a random moment.
    pollfd pfd{ready[0], POLLIN, 0};
    REQUIRE(poll(&pfd, 1, 60000) == 1);
    char byte = 0;
    REQUIRE(read(ready[0], &byte, 1) == 1);
    close(ready[0]);
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 100000));
    ::kill(child, SIGKILL);
    int status = 0;
    waitpid(child, &status, 0);
    REQUIRE(WIFSIGNALED(status));

    auto store = JobStore::open(path);
    REQUIRE_MESSAGE(store.ok(), store.error());
    auto last = (*store)->get_meta("last");
    REQUIRE(last.ok());
    REQUIRE(last.value().has_value());
    uint64_t n = std::stoull(*last.value());
    CHECK(n >= last_seen);
    last_seen = n;
    uint64_t items = 0;
    REQUIRE((*store)->for_each_item(0, [&](uint64_t id, std::string_view v) -> Status {
                 CHECK(id / 8 <= n);
                 CHECK(v == std::string(200, char('a' + (id / 8) % 26)));
                 ++items;
                 return {};
               }).ok());
    CHECK(items == (n + 1) * 8);
  }
  CHECK(last_seen > 0);
}

TEST_CASE("interval sync: a write is visible at once and survives a power loss once the interval has passed") {
  TempDir dir;
  vf::test::FaultInjectionEnv env;
  {
    auto store = JobStore::open(dir.path() + "/db", {SyncPolicy::kInterval, 5, true, &env});
    REQUIRE(store.ok());
    LogBatch b;
    b.put_item(1, "one");
    REQUIRE((*store)->write(b).ok());
    uint64_t before = env.syncs();
    CHECK((*store)->item(1).value().value() == "one");
    // The background syncer runs every 5 ms: wait until it has synced since the write.
    for (int i = 0; i < 6000 && env.syncs() <= before; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    REQUIRE(env.syncs() > before);
    env.crash();
  }
  REQUIRE(env.drop_unsynced().ok());
  auto store = JobStore::open(dir.path() + "/db");
  REQUIRE(store.ok());
  CHECK((*store)->item(1).value().value() == "one");
  CHECK(parse_sync_policy("batch") == SyncPolicy::kBatch);
  CHECK_FALSE(parse_sync_policy("always").has_value());
}

TEST_CASE("output file: a torn last line past the committed length is cut, the rest stays byte-identical") {
  TempDir dir;
  std::string path = dir.file("accepted.jsonl", "{\"id\":1}\n{\"id\":2}\n{\"id\":3,\"torn");
  uint64_t committed = std::string("{\"id\":1}\n{\"id\":2}\n").size();
  OutputFile f;
  auto r = f.open(path, committed);
  REQUIRE_MESSAGE(r.ok(), r.error());
  CHECK(r->torn_line);
  CHECK(r->cut_bytes == std::string("{\"id\":3,\"torn").size());
  REQUIRE(f.append_line("{\"id\":3}").ok());
  REQUIRE(f.flush(true).ok());
  CHECK(f.length() == committed + 9);
  CHECK(slurp(path) == "{\"id\":1}\n{\"id\":2}\n{\"id\":3}\n");
}

TEST_CASE("output file: whole uncommitted lines are cut too; a file shorter than committed is an error") {
  TempDir dir;
  std::string path = dir.file("rl.jsonl", "a\nb\nc\n");
  OutputFile f;
  auto r = f.open(path, 2);
  REQUIRE(r.ok());
  CHECK_FALSE(r->torn_line);
  CHECK(r->cut_bytes == 4);
  CHECK(slurp(path) == "a\n");

  std::string short_path = dir.file("rejected.jsonl", "a\n");
  OutputFile g;
  auto lost = g.open(short_path, 10);
  REQUIRE_FALSE(lost.ok());
  CHECK(lost.error().find(short_path) != std::string::npos);
  CHECK(lost.error().find("lost") != std::string::npos);
  CHECK(slurp(short_path) == "a\n");  // left as it was
}
