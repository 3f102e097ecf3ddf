// Durability against a machine crash: what the checkpoint log and the output
// files acknowledged as durable survives a simulated power loss at any
// moment (tests/fault_injection_env.h), where a SIGKILL test cannot tell,
// since the page cache outlives a killed process.
#include <doctest/doctest.h>

#include <random>
#include <string>

#include "fault_injection_env.h"
#include "storage/job_store.h"
#include "storage/output_file.h"
#include "test_util.h"

using namespace vf;
using vf::test::FaultInjectionEnv;
using vf::test::TempDir;

namespace {

std::string payload(uint64_t n) { return "item-" + std::to_string(n) + std::string(200 + n % 300, 'x'); }

// Writes batches until `batches`; returns how many were acknowledged before
// the power went (a write that returns after the crash was not).
uint64_t write_batches(JobStore& store, FaultInjectionEnv& env, uint64_t batches) {
  uint64_t acknowledged = 0;
  for (uint64_t n = 1; n <= batches; ++n) {
    LogBatch b;
    b.put_item(n, payload(n));
    b.put_partial(n, 'x', 0, payload(n + 1000));
    b.put_meta("last", std::to_string(n));
    bool before = !env.crashed();
    auto s = store.write(b);
    if (before && !env.crashed() && s.ok()) acknowledged = n;
  }
  return acknowledged;
}

// After the power loss: every acknowledged batch is there, whole; a batch
// that is there is there whole (item, part and the meta written with it).
void check_store(const std::string& path, uint64_t acknowledged, uint64_t batches) {
  auto store = JobStore::open(path);
  REQUIRE_MESSAGE(store.ok(), store.error());
  uint64_t last = 0;
  if (auto m = (*store)->get_meta("last"); m.ok() && m.value()) last = std::stoull(*m.value());
  CHECK(last >= acknowledged);
  for (uint64_t n = 1; n <= batches; ++n) {
    auto item = (*store)->item(n);
    REQUIRE(item.ok());
    bool parts = false;
    REQUIRE((*store)->for_each_partial(n, 'x', [&](uint32_t, std::string_view v) -> Status {
      parts = v == payload(n + 1000);
      return {};
    }).ok());
    if (n <= acknowledged) {
      INFO("batch ", n, " of ", acknowledged, " acknowledged");
      REQUIRE(item.value());
      CHECK(*item.value() == payload(n));
      CHECK(parts);
    }
    // All or nothing, in order: a batch past the last one present is absent.
    CHECK(item.value().has_value() == (n <= last));
    CHECK(parts == (n <= last));
  }
}

}  // namespace

TEST_CASE("a batch the log acknowledged survives a power loss at any sync") {
  std::mt19937 rng(20261130);
  for (int trial = 0; trial < 25; ++trial) {
    TempDir dir;
    FaultInjectionEnv env;
    const uint64_t batches = 60;
    uint64_t crash_at = 1 + rng() % 70;  // some trials crash during open, some after the last batch
    uint64_t acknowledged = 0;
    {
      JobStoreOptions o;
      o.env = &env;
      env.crash_at_sync(crash_at);
      auto store = JobStore::open(dir.path() + "/db", o);
      if (!store.ok() || env.crashed()) {
        // The power went while the store was being created: nothing was acknowledged.
        CAPTURE(store.error());
      } else {
        acknowledged = write_batches(**store, env, batches);
      }
      env.crash();  // whatever did not crash yet does now; closing writes nothing
    }
    REQUIRE(env.drop_unsynced().ok());
    INFO("trial ", trial, " crash at sync ", crash_at, ", acknowledged ", acknowledged);
    if (acknowledged == 0 && !std::filesystem::exists(dir.path() + "/db/CURRENT")) continue;
    check_store(dir.path() + "/db", acknowledged, batches);
  }
}

TEST_CASE("batches written with sync = batch survive a power loss between writes") {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 10; ++trial) {
    TempDir dir;
    FaultInjectionEnv env;
    const uint64_t batches = 1 + rng() % 40;
    uint64_t acknowledged = 0;
    {
      JobStoreOptions o;
      o.env = &env;
      auto store = JobStore::open(dir.path() + "/db", o);
      REQUIRE(store.ok());
      acknowledged = write_batches(**store, env, batches);
      env.crash();  // the power goes right after the last write returned
    }
    REQUIRE(acknowledged == batches);
    REQUIRE(env.drop_unsynced().ok());
    check_store(dir.path() + "/db", acknowledged, batches);
  }
}

TEST_CASE("output lines flushed with sync survive a power loss; lines never synced may not") {
  TempDir dir;
  std::mt19937 rng(3);
  for (int trial = 0; trial < 20; ++trial) {
    FaultInjectionEnv env;
    std::string path = dir.path() + "/out-" + std::to_string(trial) + ".jsonl";
    std::string durable;  // what was flushed with sync before the crash
    {
      OutputFile f(&env);
      REQUIRE(f.open(path, 0).ok());
      std::string pending;
      int lines = 1 + static_cast<int>(rng() % 50);
      for (int i = 0; i < lines; ++i) {
        std::string line = "{\"id\": " + std::to_string(i) + ", \"pad\": \"" + std::string(rng() % 400, 'p') + "\"}";
        REQUIRE(f.append_line(line).ok());
        pending += line + "\n";
        if (rng() % 3 == 0) {
          bool sync = rng() % 2 == 0;
          REQUIRE(f.flush(sync).ok());
          if (sync) durable += pending, pending.clear();
        }
      }
      env.crash();
    }
    REQUIRE(env.drop_unsynced().ok());
    auto size = Env::posix()->file_size(path);
    REQUIRE(size.ok());
    auto text = Env::posix()->read(path, 0, *size);
    REQUIRE(text.ok());
    CHECK(text->size() >= durable.size());
    CHECK(text->substr(0, durable.size()) == durable);
  }
}
