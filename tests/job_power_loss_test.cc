// A whole job through a simulated power loss: the machine dies at some sync
// of the checkpoint log or the output files while the job runs; the disk is
// left as a power loss leaves it; the same job is started again and must
// finish with exactly the records of an uninterrupted run, consistent log
// and outputs, and every record that was committed before the crash still
// in place, byte for byte.
#include <doctest/doctest.h>

#include <fstream>
#include <mutex>
#include <thread>
#include <map>
#include <random>
#include <sstream>

#include "fault_injection_env.h"
#include "dataflow/checkpoint.h"
#include "job/inspect.h"
#include "job/job.h"
#include "test_util.h"

using namespace vf;
using vf::test::FaultInjectionEnv;
using vf::test::TempDir;

namespace {

JobRequest request_for(const std::string& out, Env* env) {
  JobRequest r;
  r.config_path = vf::test::source_dir() + "/configs/local.toml";
  r.overrides = {"target_accepted=30", "pipeline.batch_size=2", "pipeline.writer_credits=4"};
  r.out_dir = out;
  r.env = env;
  return r;
}

JobResult run(const JobRequest& r) {
  std::vector<std::string> notes;
  auto job = Job::prepare(r, notes);
  REQUIRE_MESSAGE(job.ok(), job.error());
  auto opened = job.value()->open();
  if (!opened) return JobResult{false, false, opened.error(), {}, {}};
  if (job.value()->state().finished) {
    JobResult done;
    done.ok = true;
    return done;
  }
  return job.value()->run({});
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Records by item id, without measured timings.
std::map<uint64_t, nlohmann::json> records(const std::string& path) {
  std::map<uint64_t, nlohmann::json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    auto r = nlohmann::json::parse(line);
    for (auto& e : r["executions"]) e.erase("wall_ms");
    REQUIRE_MESSAGE(out.emplace(r["item_id"].get<uint64_t>(), r).second, "written twice: ", r["item_id"]);
  }
  return out;
}

}  // namespace

TEST_CASE("a job killed by a power loss at any sync resumes to the uninterrupted job's records") {
  TempDir ref_dir;
  auto reference = run(request_for(ref_dir.path() + "/ref", Env::posix()));
  REQUIRE_MESSAGE(reference.ok, reference.error);
  auto expected = records(ref_dir.path() + "/ref/accepted.jsonl");
  REQUIRE(expected.size() == 30);

  std::mt19937 rng(11);
  for (int trial = 0; trial < 5; ++trial) {
    TempDir dir;
    std::string out = dir.path() + "/job";
    FaultInjectionEnv env;
    uint64_t crash_at = 2 + rng() % 60;
    env.crash_at_sync(crash_at);
    run(request_for(out, &env));  // the run may finish or fail after the crash: the machine is gone by then
    env.crash();
    REQUIRE(env.drop_unsynced().ok());
    INFO("trial ", trial, ": power lost at sync ", crash_at);
    // What the log committed of accepted.jsonl before the restart must stay, byte for byte.
    uint64_t committed = 0;
    if (auto store = JobStore::open_read_only(out + "/db"); store.ok()) {
      auto r = recover(**store);
      REQUIRE_MESSAGE(r.ok(), r.error());
      if (r->writer) committed = r->writer->file_lengths["accepted.jsonl"];
    }
    std::string accepted_before = read_file(out + "/accepted.jsonl");
    REQUIRE(accepted_before.size() >= committed);

    auto resumed = run(request_for(out, Env::posix()));
    REQUIRE_MESSAGE(resumed.ok, resumed.error);
    CHECK(records(out + "/accepted.jsonl") == expected);
    auto report = check_job(out);
    REQUIRE(report.ok());
    CHECK_MESSAGE(report->consistent, report->to_json().dump());
    CHECK(read_file(out + "/accepted.jsonl").substr(0, committed) == accepted_before.substr(0, committed));
  }
}

TEST_CASE("lines a reader saw before the process died are kept when the job resumes, never cut and rewritten") {
  TempDir ref_dir;
  auto reference = run(request_for(ref_dir.path() + "/ref", Env::posix()));
  REQUIRE_MESSAGE(reference.ok, reference.error);
  auto expected = records(ref_dir.path() + "/ref/accepted.jsonl");
  for (uint64_t nth : {2, 4, 6}) {
    TempDir dir;
    std::string out = dir.path() + "/job";
    // The process dies as the writer's commit begins: its lines are in the
    // file (a reader may have read them), the log has not committed them.
    FaultInjectionEnv dying;
    dying.crash_at_sync_of("accepted.jsonl", nth);
    run(request_for(out, &dying));
    REQUIRE(dying.crashed());
    std::string seen = read_file(out + "/accepted.jsonl");
    std::string whole_lines = seen.substr(0, seen.rfind('\n') + 1);
    INFO("crash at accepted.jsonl sync ", nth, ": ", whole_lines.size(), " bytes of whole lines seen");
    // No power loss: what the process wrote stays, as the page cache keeps it.
    FaultInjectionEnv watching;
    auto resumed = run(request_for(out, &watching));
    REQUIRE_MESSAGE(resumed.ok, resumed.error);
    CHECK(watching.truncated_bytes() == seen.size() - whole_lines.size());  // at most a torn last line is cut
    CHECK(read_file(out + "/accepted.jsonl").substr(0, whole_lines.size()) == whole_lines);
    CHECK(records(out + "/accepted.jsonl") == expected);
    auto report = check_job(out);
    REQUIRE(report.ok());
    CHECK_MESSAGE(report->consistent, report->to_json().dump());
  }
}

TEST_CASE("no item moves on before the fsync that makes its stage's result durable has returned") {
  TempDir dir;
  std::string out = dir.path() + "/job";
  FaultInjectionEnv slow;
  JobRequest r = request_for(out, &slow);
  r.overrides.push_back("progress_interval_ms=50");
  std::vector<std::string> notes;
  auto job = Job::prepare(r, notes);
  REQUIRE(job.ok());
  REQUIRE(job.value()->open().ok());
  slow.hold_syncs(true);  // from here the disk does not finish a sync until released
  std::mutex mu;
  std::vector<std::map<std::string, wire::StageReport>> reports_while_held;
  bool held = true;
  RunControl control;
  control.on_progress = [&](const std::map<std::string, wire::StageReport>& s) {
    std::lock_guard<std::mutex> lock(mu);
    if (held) reports_while_held.push_back(s);
  };
  JobResult result;
  std::thread runner([&] { result = job.value()->run(control); });
  // Wait for the events: the committer is blocked in a sync, and the
  // generator has reported items it issued (and asked to be logged).
  auto issued = [&] {
    std::lock_guard<std::mutex> lock(mu);
    for (const auto& s : reports_while_held)
      if (auto g = s.find("generator"); g != s.end() && g->second.sent > 0) return true;
    return false;
  };
  for (int i = 0; i < 6000 && (slow.waiting_syncs() == 0 || !issued()); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const auto waiting_syncs = slow.waiting_syncs();
  const bool any_issued = issued();
  const bool blocked = waiting_syncs > 0 && any_issued;
  // INFO is evaluated lazily, at a failing CHECK below, with mu held: values only.
  INFO("waiting syncs ", waiting_syncs, ", issued ", any_issued);
  {
    std::lock_guard<std::mutex> lock(mu);
    held = false;
    for (const auto& s : reports_while_held) {
      // Items were issued and wait for their log batch; none may have left the generator.
      auto e = s.find("executor");
      if (e != s.end()) CHECK(e->second.received == 0);
      auto w = s.find("writer");
      if (w != s.end()) CHECK(w->second.received == 0);
    }
  }
  CHECK(read_file(out + "/accepted.jsonl").empty());
  slow.hold_syncs(false);
  runner.join();
  REQUIRE(blocked);
  REQUIRE_MESSAGE(result.ok, result.error);
  CHECK(records(out + "/accepted.jsonl").size() == 30);
}
