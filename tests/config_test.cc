#include <doctest/doctest.h>

#include "dataflow/config.h"
#include "test_util.h"

using namespace vf;
using vf::test::TempDir;

TEST_CASE("the embedded default config loads, with seed paths relative to it") {
  auto c = load_config(vf::test::source_dir() + "/configs/local.toml", {});
  REQUIRE_MESSAGE(c.ok(), c.error());
  CHECK(c->job.target_accepted >= 200);
  REQUIRE(c->job.seeds.size() == 1);
  CHECK(c->job.seeds[0] == vf::test::source_dir() + "/configs/seeds/examples.jsonl");
}

TEST_CASE("--set overrides any key, with TOML values or bare words") {
  auto c = load_config("", {"target_accepted=500", "executor.timeout_s=2.5", "checkpoint.sync=interval",
                            "seeds=a.json,b.json", "name=nightly"});
  REQUIRE_MESSAGE(c.ok(), c.error());
  CHECK(c->job.target_accepted == 500);
  CHECK(c->executor.timeout_s == 2.5);
  CHECK(c->checkpoint.sync == "interval");
  CHECK(c->job.seeds == std::vector<std::string>{"a.json", "b.json"});
  CHECK(c->job.name == "nightly");
}

TEST_CASE("a bad checkpoint sync policy is refused, naming the key") {
  auto c = load_config("", {"checkpoint.sync=sometimes"});
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().find("checkpoint.sync") != std::string::npos);
}

TEST_CASE("config differences name each changed key, and ignore keys that do not change results") {
  auto a = load_config("", {"target_accepted=10"});
  auto b = load_config("", {"target_accepted=12", "executor.workers=7", "pipeline.batch_size=3"});
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  auto diffs = config_differences(describe(*a), describe(*b));
  REQUIRE(diffs.size() == 1);
  CHECK(diffs[0] == "target_accepted: '10' -> '12'");
  CHECK(config_differences(describe(*a), describe(*a)).empty());
}

TEST_CASE("an unknown key in a file names the file and suggests the right key") {
  TempDir dir;
  auto f = dir.file("job.toml", "target_accepted = 5\n[executor]\ntimout_s = 3\n");
  auto c = load_config(f, {});
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().find(f) != std::string::npos);
  CHECK(c.error().find("executor.timout_s") != std::string::npos);
  CHECK(c.error().find("did you mean 'executor.timeout_s'") != std::string::npos);
}

TEST_CASE("wrong types and bad values name the key and the line") {
  TempDir dir;
  auto f = dir.file("job.toml", "name = \"x\"\ntarget_accepted = \"many\"\n");
  auto c = load_config(f, {});
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().find(":2:") != std::string::npos);
  CHECK(c.error().find("target_accepted") != std::string::npos);
  CHECK(c.error().find("expected integer") != std::string::npos);

  auto zero = load_config("", {"target_accepted=0"});
  REQUIRE_FALSE(zero.ok());
  CHECK(zero.error().find("between 1 and") != std::string::npos);
  auto typo = load_config("", {"target=5"});
  REQUIRE_FALSE(typo.ok());
  CHECK(typo.error().find("unknown key 'target'") != std::string::npos);
  auto syntax = load_config(dir.file("broken.toml", "name = \"x\nseeds = [\n"), {});
  REQUIRE_FALSE(syntax.ok());
  CHECK(syntax.error().find("broken.toml:") != std::string::npos);
  CHECK_FALSE(load_config("", {"noequals"}).ok());
  CHECK_FALSE(load_config("", {"generator.kind=magic"}).ok());
}

TEST_CASE("every key is documented") {
  for (const auto& k : config_keys()) {
    CHECK(!k.description.empty());
    CHECK(!k.type.empty());
  }
  CHECK(config_keys().size() >= 20);
}
