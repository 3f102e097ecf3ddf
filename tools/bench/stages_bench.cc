// stages_bench: the ceiling of the pipeline's own path (stages, checkpoint
// log, commit gate, writer and its output files) with no model and no
// sandbox: items arrive already executed and solved, so the execute and
// solve stages pass them through, the verify stage judges agreement, and the
// writer exports every one. Items/s with the log off (the baseline, same
// run) and with each sync policy, and their ratio to the baseline.
//
//   stages_bench [--items N] [--rounds R] [--samples K] [--threads T]   (T: actor threads, 0: one per core)
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "job/assembly.h"
#include "tools/bench/bench_items.h"
#include "storage/group_commit.h"

using namespace vf;

namespace {


double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

struct Result {
  double rate = 0;
  double cpu_ms_per_item = 0;
  GroupCommitLog::Stats log;
};

uint32_t g_threads = 0;

Result run_once(uint64_t n, uint32_t samples, bool log_on, const std::string& sync) {
  char tmpl[] = "/tmp/stages-bench-XXXXXX";
  std::string out = mkdtemp(tmpl);
  JobConfig cfg;
  cfg.job.target_accepted = n;
  cfg.job.max_generated = n;
  cfg.job.progress_interval_ms = 1000;
  cfg.solver.enabled = true;
  cfg.solver.samples = samples;
  cfg.pipeline.batch_size = 32;
  cfg.pipeline.executor_credits = 512;
  cfg.pipeline.llm_credits = 512;
  cfg.pipeline.verifier_credits = 512;
  cfg.pipeline.writer_credits = 512;
  cfg.checkpoint.log = log_on;
  cfg.checkpoint.sync = sync;
  cfg.writer.curriculum = false;
  PipelinePlan plan = make_plan(cfg, JobKind::kGenerate);
  auto work = make_work_spec(cfg, {}, JobKind::kGenerate);
  if (!work) {
    std::fprintf(stderr, "stages_bench: %s\n", work.error().c_str());
    std::exit(2);
  }
  JobStoreOptions so;
  so.sync = log_on ? *parse_sync_policy(sync) : SyncPolicy::kNone;
  auto store = JobStore::open(out + "/db", so);
  if (!store) {
    std::fprintf(stderr, "stages_bench: %s\n", store.error().c_str());
    std::exit(2);
  }
  auto log = std::make_shared<GroupCommitLog>(std::shared_ptr<JobStore>(std::move(store.value())));
  CoordinatorParts parts;
  if (log_on) parts.stage_log = log;
  parts.writer_log = log;
  parts.source = std::make_shared<bench::ExecutedItems>(n, samples, true);
  parts.dataset.out_dir = out;
  parts.dataset.target = n;
  parts.dataset.sync = log_on && sync != "none";
  double cpu0 = cpu_seconds();
  auto t0 = std::chrono::steady_clock::now();
  RunControl control;
  control.scheduler_threads = g_threads;
  auto outcome = run_pipeline(plan, work.value(), std::move(parts), LocalWork{}, control);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  Result r;
  r.cpu_ms_per_item = 1000.0 * (cpu_seconds() - cpu0) / static_cast<double>(n);
  r.log = log->stats();
  log.reset();
  if (!outcome.ok || outcome.summary.value("accepted", 0ull) != n) {
    std::fprintf(stderr, "stages_bench: the job failed or lost items: %s (%llu accepted of %llu)\n",
                 outcome.error.c_str(), (unsigned long long)outcome.summary.value("accepted", 0ull),
                 (unsigned long long)n);
    std::exit(2);
  }
  std::string rm = "rm -rf " + out;
  if (std::system(rm.c_str()) != 0) std::fprintf(stderr, "stages_bench: could not remove %s\n", out.c_str());
  r.rate = static_cast<double>(n) / secs;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t items = 50000;
  int rounds = 3;
  uint32_t samples = 4;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--items" && i + 1 < argc) items = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--rounds" && i + 1 < argc) rounds = std::atoi(argv[++i]);
    else if (a == "--samples" && i + 1 < argc) samples = static_cast<uint32_t>(std::atoi(argv[++i]));
    else if (a == "--threads" && i + 1 < argc) g_threads = static_cast<uint32_t>(std::atoi(argv[++i]));
    else {
      std::fprintf(stderr, "usage: stages_bench [--items N] [--rounds R] [--samples K] [--threads T]\n");
      return 1;
    }
  }
  spdlog::set_level(spdlog::level::warn);
  std::printf("stages alone (no model, no sandbox): %llu items already executed and solved (%u samples), batch 32, "
              "credits 512; median of %d rounds, settings alternating\n",
              (unsigned long long)items, samples, rounds);
  struct Setting {
    const char* name;
    bool log;
    const char* sync;
    std::vector<Result> results;
  };
  std::vector<Setting> settings = {{"log off", false, "none", {}},
                                   {"sync none", true, "none", {}},
                                   {"sync interval", true, "interval", {}},
                                   {"sync batch", true, "batch", {}}};
  run_once(items / 10, samples, true, "batch");  // warm-up
  for (int r = 0; r < rounds; ++r)
    for (auto& s : settings) s.results.push_back(run_once(items, samples, s.log, s.sync));
  auto median = [](std::vector<Result> v) {
    std::sort(v.begin(), v.end(), [](const Result& a, const Result& b) { return a.rate < b.rate; });
    return v[v.size() / 2];
  };
  double base = median(settings[0].results).rate;
  std::printf("%-14s %10s %9s %12s %12s %14s\n", "setting", "items/s", "of off", "cpu ms/item", "log rounds",
              "commits/round");
  for (auto& s : settings) {
    auto m = median(s.results);
    std::printf("%-14s %10.0f %9.3f %12.4f %12llu %14.1f\n", s.name, m.rate, m.rate / base, m.cpu_ms_per_item,
                (unsigned long long)m.log.rounds,
                m.log.rounds ? static_cast<double>(m.log.commits) / static_cast<double>(m.log.rounds) : 0.0);
  }
  return 0;
}
