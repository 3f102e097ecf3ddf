#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "dataflow/item.h"
#include "storage/codec.h"
#include "storage/job_store.h"
#include "test_util.h"

using namespace vf;
using vf::test::TempDir;

TEST_CASE("job store keeps metadata, states and parked items across reopen") {
  TempDir dir;
  std::string path = dir.path() + "/db";
  Item parked;
  parked.id = 7;
  parked.question = "parked?";
  {
    auto store = JobStore::open(path);
    REQUIRE_MESSAGE(store.ok(), store.error());
    CHECK((*store)->put_meta("config", "x = 1").ok());
    CHECK((*store)->commit({{1, {static_cast<uint8_t>(ItemState::kWritten), ""}},
                            {2, {static_cast<uint8_t>(ItemState::kRejectWritten), "timeout"}}},
                           {{7, encode(parked)}}, {})
              .ok());
  }
  auto store = JobStore::open(path);
  REQUIRE(store.ok());
  auto meta = (*store)->get_meta("config");
  REQUIRE(meta.ok());
  CHECK(meta.value().value() == "x = 1");
  auto s2 = (*store)->state(2);
  REQUIRE(s2.ok());
  CHECK(s2.value()->reason == "timeout");
  CHECK_FALSE((*store)->state(3).value().has_value());
  CHECK((*store)->count_states().value() == 2);
  auto p = (*store)->parked(7);
  REQUIRE(p.value().has_value());
  CHECK(decode<Item>(*p.value(), "item")->question == "parked?");
  CHECK((*store)->commit({}, {}, {7}).ok());
  CHECK_FALSE((*store)->parked(7).value().has_value());
}

TEST_CASE("a second open of the same job store is refused while the first is open") {
  TempDir dir;
  auto a = JobStore::open(dir.path() + "/db");
  REQUIRE(a.ok());
  auto b = JobStore::open(dir.path() + "/db");
  REQUIRE_FALSE(b.ok());
  CHECK(b.error().find(dir.path()) != std::string::npos);
}

TEST_CASE("an unwritable or corrupted store gives an error naming the path, not a crash") {
  TempDir dir;
  // A file where the database folder should be.
  std::ofstream(dir.path() + "/db") << "not a database";
  auto s = JobStore::open(dir.path() + "/db");
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().find(dir.path() + "/db") != std::string::npos);

  // A store whose CURRENT file points nowhere.
  std::string path = dir.path() + "/db2";
  { REQUIRE(JobStore::open(path).ok()); }
  std::ofstream(path + "/CURRENT", std::ios::trunc) << "MANIFEST-999999\n";
  auto broken = JobStore::open(path, {false, false});
  REQUIRE_FALSE(broken.ok());
  CHECK(broken.error().find(path) != std::string::npos);
}
