// What an operator may change while a job runs, and what the console shows
// of a config and of a job's outputs (job/console_link.h, job/console_views.h).
#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "job/console_link.h"
#include "job/console_views.h"

using namespace vf;
using nlohmann::json;

namespace {
SettingTargets targets() {
  SettingTargets t;
  t.target = 100;
  t.endpoints = {{"vllm-a", 64}};
  t.executor_workers = 4;
  return t;
}
}  // namespace

TEST_CASE("the target can only be raised, and not once it is covered") {
  auto t = targets();
  CHECK(check_setting("target_accepted", 150, t).value() == 150);
  auto lower = check_setting("target_accepted", 100, t);
  REQUIRE_FALSE(lower.ok());
  CHECK(lower.error().find("raised") != std::string::npos);
  CHECK_FALSE(check_setting("target_accepted", 150.5, t).ok());
  CHECK_FALSE(check_setting("target_accepted", "150", t).ok());
  t.covered = true;
  auto late = check_setting("target_accepted", 150, t);
  REQUIRE_FALSE(late.ok());
  CHECK(late.code() == ErrorCode::kConflict);
}

TEST_CASE("endpoint limits name the endpoint and take only sensible values") {
  auto t = targets();
  CHECK(check_setting("endpoints.vllm-a.max_in_flight", 8, t).value() == 8);
  CHECK_FALSE(check_setting("endpoints.vllm-a.max_in_flight", 0, t).ok());
  CHECK(check_setting("endpoints.vllm-a.requests_per_minute", 0, t).value() == 0.0);
  CHECK(check_setting("endpoints.vllm-a.tokens_per_minute", 25000.5, t).value() == 25000.5);
  CHECK_FALSE(check_setting("endpoints.vllm-a.tokens_per_minute", -1, t).ok());
  auto unknown = check_setting("endpoints.vllm-b.max_in_flight", 8, t);
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().find("vllm-b") != std::string::npos);
  CHECK(unknown.error().find("vllm-a") != std::string::npos);  // says which exist
  CHECK_FALSE(check_setting("endpoints.vllm-a.base_url", 1, t).ok());
}

TEST_CASE("the executor's concurrency stays within its workers, and other keys are refused by name") {
  auto t = targets();
  CHECK(check_setting("executor.concurrency", 4, t).value() == 4);
  CHECK_FALSE(check_setting("executor.concurrency", 5, t).ok());
  CHECK_FALSE(check_setting("executor.concurrency", 0, t).ok());
  t.executor_workers = 0;
  CHECK_FALSE(check_setting("executor.concurrency", 1, t).ok());
  auto other = check_setting("generator.kind", "few-shot", t);
  REQUIRE_FALSE(other.ok());
  CHECK(other.error().find("generator.kind") != std::string::npos);
}

TEST_CASE("the effective config never shows a key, token, secret or password") {
  json c = redacted_config(
      "name = \"job\"\n"
      "model.api_key = \"sk-live-123\"\n"
      "cluster.token = \"t0ps3cret\"\n"
      "cluster.tls_passphrase = \"pw\"\n"
      "endpoints.api_key_env = \"OPENAI_API_KEY\"\n"
      "endpoints.base_url = \"https://user:hunter2@api.example.com/v1\"\n"
      "sandbox.secret_dir = \"/srv\"\n");
  CHECK(c["name"] == "\"job\"");
  CHECK(c["model.api_key"] == "(hidden)");
  CHECK(c["cluster.token"] == "(hidden)");
  CHECK(c["sandbox.secret_dir"] == "(hidden)");
  CHECK(c["endpoints.api_key_env"] == "\"OPENAI_API_KEY\"");  // the name of a variable, not a secret
  CHECK(c["endpoints.base_url"].get<std::string>().find("hunter2") == std::string::npos);
  CHECK(c.dump().find("sk-live") == std::string::npos);
  CHECK(c.dump().find("t0ps3cret") == std::string::npos);
}

TEST_CASE("rejections are counted by reason with a few examples, and a half-written line waits") {
  auto dir = std::filesystem::temp_directory_path() / ("vf-views-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  {
    std::ofstream f(dir / "rejected.jsonl");
    for (int i = 0; i < 5; ++i)
      f << json{{"id", "r" + std::to_string(i)}, {"reason", i < 4 ? "disagreement" : "timeout"}, {"question", "q"}}.dump()
        << "\n";
    f << "{\"id\": \"half";  // being written
  }
  OutputViews views(dir.string());
  json r = views.rejections();
  CHECK(r["total"] == 5);
  CHECK(r["reasons"][0]["reason"] == "disagreement");
  CHECK(r["reasons"][0]["count"] == 4);
  CHECK(r["reasons"][0]["examples"].size() == OutputViews::kExamplesPerReason);
  CHECK(r["reasons"][1]["reason"] == "timeout");
  {
    std::ofstream f(dir / "rejected.jsonl", std::ios::app);
    f << "\", \"reason\": \"timeout\"}\n";
  }
  CHECK(views.rejections()["total"] == 6);  // the finished line is read once, whole
  {
    std::ofstream f(dir / "accepted.jsonl");
    for (int i = 0; i < 7; ++i)
      f << json{{"id", "a" + std::to_string(i)}, {"messages", json::array({"chat"})}, {"answer", i}}.dump() << "\n";
  }
  json page = views.accepted(5, 10);
  CHECK(page["total"] == 7);
  REQUIRE(page["items"].size() == 2);
  CHECK(page["items"][0]["id"] == "a5");
  CHECK_FALSE(page["items"][0].contains("messages"));
  std::filesystem::remove_all(dir);
}
