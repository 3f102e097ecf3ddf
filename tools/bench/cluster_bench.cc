// cluster_bench: what the coordinator routes, and how model-bound work
// scales with worker nodes. This process is the coordinator (the real
// coordinator path: middleman, registry, dispatchers, group-commit log with
// sync = batch); the workers are real `veriforge worker` processes that
// join over loopback TCP.
//
//   ceiling   items that arrive executed and solved: the verify stage is the
//             only work and runs on the joined workers only, so every item
//             goes coordinator -> worker -> coordinator and is logged and
//             written. Items/s with W workers against the same pipeline in
//             one process (the baseline, same run), and the coordinator's
//             peak RSS at two job sizes.
//   scaling   items that arrive executed, not solved: each worker solves with
//             its own llm-sim (fixed slots via max_in_flight, fixed latency:
//             one GPU server each). Items/s with 1, 2, 4, 8 workers against
//             linear (W x the one-worker rate).
//   recovery  a worker holding leases is killed: time until its leases run
//             on another worker (from the coordinator's log).
//
//   cluster_bench [--items N] [--workers 1,2,4] [--scaling 1,2,4,8] [--slots S] [--latency-ms L] [--seconds T]
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>

#include "job/assembly.h"
#include "tools/bench/bench_items.h"
#include "job/cluster.h"
#include "storage/group_commit.h"

using namespace vf;

namespace {


struct Run {
  double rate = 0;
  double steady = 0;  // items/s between a quarter and three quarters of the items (no start-up, no drain)
  double peak_rss_mib = 0;
  // Resident memory sampled every 100 ms: the highest while the writer had
  // decided less than half of the items, and the highest after. Equal halves
  // mean memory does not grow with the items done.
  double first_half_rss_mib = 0;
  double second_half_rss_mib = 0;
  std::string log_path;
};

std::string g_work;

double current_rss_mib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::strtod(line.c_str() + 6, nullptr) / 1024.0;
  return 0;
}

double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

pid_t spawn(const std::vector<std::string>& args, const std::string& log) {
  pid_t pid = fork();
  if (pid == 0) {
    FILE* f = std::fopen(log.c_str(), "w");
    if (f) {
      dup2(fileno(f), 1);
      dup2(fileno(f), 2);
    }
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

// One job: `workers` joined nodes (0: everything in this process).
// `sims`: the llm-sim port of each worker (scaling), else empty.
Run run_job(uint64_t n, uint32_t samples, uint32_t workers, const std::vector<int>& sims, uint32_t slots,
            const std::string& tag) {
  std::string out = g_work + "/" + tag;
  std::filesystem::create_directories(out);
  bool solved = sims.empty();
  JobConfig cfg;
  cfg.job.name = "cluster-bench";
  cfg.job.target_accepted = n;
  cfg.job.max_generated = n;
  cfg.job.progress_interval_ms = 100;
  cfg.solver.enabled = true;
  cfg.solver.samples = samples;
  cfg.verifier.drop_all_solved = false;
  cfg.pipeline.batch_size = 32;
  cfg.pipeline.executor_credits = 512;
  cfg.pipeline.llm_credits = solved ? 512 : 64 * std::max<uint32_t>(1, workers);
  cfg.pipeline.verifier_credits = 512;
  cfg.pipeline.writer_credits = 512;
  cfg.writer.curriculum = false;
  PipelinePlan plan = make_plan(cfg, JobKind::kGenerate);
  // The verify stage (ceiling) or the solve stage (scaling) runs on the joined workers only.
  for (auto& s : plan.stages)
    if (workers > 0 && (s.kind == (solved ? StageKind::kVerify : StageKind::kSolve))) s.local_workers = 0;
  auto work = make_work_spec(cfg, {}, JobKind::kGenerate);
  if (!work) {
    std::fprintf(stderr, "cluster_bench: %s\n", work.error().c_str());
    std::exit(2);
  }
  JobStoreOptions so;
  so.sync = SyncPolicy::kBatch;
  auto store = JobStore::open(out + "/db", so);
  if (!store) {
    std::fprintf(stderr, "cluster_bench: %s\n", store.error().c_str());
    std::exit(2);
  }
  auto log = std::make_shared<GroupCommitLog>(std::shared_ptr<JobStore>(std::move(store.value())));
  CoordinatorParts parts;
  parts.stage_log = log;
  parts.writer_log = log;
  parts.source = std::make_shared<bench::ExecutedItems>(n, samples, solved);
  parts.dataset.out_dir = out;
  parts.dataset.target = n;
  parts.dataset.sync = true;
  RunControl control;
  std::atomic<uint64_t> decided{0};
  std::vector<std::pair<double, uint64_t>> progress;  // (seconds since t0, items decided by the writer)
  std::vector<pid_t> pids;
  auto t0 = std::chrono::steady_clock::now();
  control.on_progress = [&](const std::map<std::string, wire::StageReport>& stages) {
    auto w = stages.find("writer");
    if (w == stages.end()) return;
    progress.emplace_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
                          w->second.accepted + w->second.rejected);
    decided = w->second.accepted + w->second.rejected;
  };
  PipelineOutcome outcome;
  std::atomic<bool> sampling{true};
  double first_half = 0, second_half = 0;
  std::thread sampler([&] {
    while (sampling) {
      double rss = current_rss_mib();
      double& half = decided.load() < n / 2 ? first_half : second_half;
      half = std::max(half, rss);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  if (workers == 0) {
    outcome = run_pipeline(plan, work.value(), std::move(parts), LocalWork{}, control);
  } else {
    // What the workers are told: a config whose solver endpoint each replaces with its own.
    std::string job_toml = "name = \"cluster-bench\"\n[solver]\nenabled = true\nsamples = " + std::to_string(samples) +
                           "\n[[endpoints]]\nrole = \"solver\"\nname = \"none\"\nbase_url = \"http://127.0.0.1:9/v1\"\n"
                           "model = \"sim\"\n";
    CoordinatorOptions o;
    o.listen = {"127.0.0.1", 0};
    o.cluster = cfg.cluster;
    o.job.job_name = "cluster-bench";
    o.job.config_text = job_toml;
    o.job.config_origin = "cluster-bench";
    o.job.config_base = out;
    o.on_listening = [&](uint16_t port) {
      t0 = std::chrono::steady_clock::now();
      for (uint32_t w = 0; w < workers; ++w) {
        std::string conf = out + "/worker" + std::to_string(w) + ".toml";
        std::string text = std::string("[worker]\nstages = [\"") + (solved ? "verifier" : "solve") + "\"]\n";
        if (!solved)
          text += "[[endpoints]]\nrole = \"solver\"\nname = \"sim" + std::to_string(w) +
                  "\"\nbase_url = \"http://127.0.0.1:" + std::to_string(sims[w]) + "/v1\"\nmodel = \"sim\"\n" +
                  "max_in_flight = " + std::to_string(slots) + "\ntimeout_s = 60\n";
        write_file(conf, text);
        pids.push_back(spawn({VERIFORGE_PATH, "worker", "--join", "127.0.0.1:" + std::to_string(port), "--config", conf,
                              "--name", "bench-w" + std::to_string(w), "--log-level", "warn"},
                             out + "/worker" + std::to_string(w) + ".log"));
      }
    };
    auto r = run_coordinator(plan, work.value(), std::move(parts), LocalWork{}, control, log, std::move(o));
    if (!r) {
      std::fprintf(stderr, "cluster_bench: %s\n", r.error().c_str());
      std::exit(2);
    }
    outcome = std::move(r.value());
  }
  sampling = false;
  sampler.join();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (pid_t p : pids) {
    int status = 0;
    for (int i = 0; i < 100 && waitpid(p, &status, WNOHANG) == 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    kill(p, SIGKILL);
    waitpid(p, &status, 0);
  }
  if (!outcome.ok || outcome.summary.value("accepted", 0ull) + outcome.summary.value("rejected", 0ull) < n) {
    std::fprintf(stderr, "cluster_bench: the job failed or lost items: %s (%llu accepted of %llu)\n",
                 outcome.error.c_str(), (unsigned long long)outcome.summary.value("accepted", 0ull),
                 (unsigned long long)n);
    std::exit(2);
  }
  Run run;
  run.rate = static_cast<double>(n) / secs;
  // The first report at or past a quarter of the items and the first at or past three quarters.
  const std::pair<double, uint64_t>* a = nullptr;
  const std::pair<double, uint64_t>* b = nullptr;
  for (const auto& p : progress) {
    if (!a && p.second >= n / 4) a = &p;
    if (!b && p.second >= 3 * n / 4) b = &p;
  }
  run.steady = (a && b && b->first > a->first) ? static_cast<double>(b->second - a->second) / (b->first - a->first)
                                               : run.rate;
  run.peak_rss_mib = peak_rss_mib();
  run.first_half_rss_mib = first_half;
  run.second_half_rss_mib = second_half;
  return run;
}

// run_job in a child process, so each run's peak RSS is its own (wait4).
Run run_in_child(uint64_t n, uint32_t samples, uint32_t workers, const std::vector<int>& sims, uint32_t slots,
                 const std::string& tag) {
  int fds[2];
  if (pipe(fds) != 0) std::exit(2);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    Run r = run_job(n, samples, workers, sims, slots, tag);
    double both[4] = {r.rate, r.steady, r.first_half_rss_mib, r.second_half_rss_mib};
    if (write(fds[1], both, sizeof both) != sizeof both) _exit(2);
    _exit(0);
  }
  close(fds[1]);
  Run r;
  double both[4] = {0, 0, 0, 0};
  if (read(fds[0], both, sizeof both) != sizeof both) {
    std::fprintf(stderr, "cluster_bench: run %s failed\n", tag.c_str());
    std::exit(2);
  }
  r.rate = both[0];
  r.steady = both[1];
  r.first_half_rss_mib = both[2];
  r.second_half_rss_mib = both[3];
  close(fds[0]);
  int status = 0;
  rusage u{};
  wait4(pid, &status, 0, &u);
  r.peak_rss_mib = static_cast<double>(u.ru_maxrss) / 1024.0;
  return r;
}

std::vector<uint32_t> parse_list(const char* s) {
  std::vector<uint32_t> out;
  std::stringstream ss(s);
  std::string part;
  while (std::getline(ss, part, ',')) out.push_back(static_cast<uint32_t>(std::stoul(part)));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t items = 100000;
  std::vector<uint32_t> ceiling_workers = {1, 2, 4};
  std::vector<uint32_t> scaling_workers = {1, 2, 4, 8};
  uint32_t slots = 8, latency_ms = 200, seconds = 45;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--items" && i + 1 < argc) items = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--workers" && i + 1 < argc) ceiling_workers = parse_list(argv[++i]);
    else if (a == "--scaling" && i + 1 < argc) scaling_workers = parse_list(argv[++i]);
    else if (a == "--slots" && i + 1 < argc) slots = static_cast<uint32_t>(std::stoul(argv[++i]));
    else if (a == "--latency-ms" && i + 1 < argc) latency_ms = static_cast<uint32_t>(std::stoul(argv[++i]));
    else if (a == "--seconds" && i + 1 < argc) seconds = static_cast<uint32_t>(std::stoul(argv[++i]));
    else {
      std::fprintf(stderr,
                   "usage: cluster_bench [--items N] [--workers 1,2,4] [--scaling 1,2,4,8] [--slots S] [--latency-ms L]\n"
                   "                     [--seconds T (a scaling run's length at full rate)]\n");
      return 1;
    }
  }
  char tmpl[] = "/tmp/cluster-bench-XXXXXX";
  g_work = mkdtemp(tmpl);
  auto logger = spdlog::basic_logger_mt("bench", g_work + "/coordinator.log");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::info);

  if (!ceiling_workers.empty()) {
    std::printf("coordinator ceiling: %llu items arrive executed and solved; verify on the joined workers only; "
                "log on, sync batch; 2 cores shared by every process\n",
                (unsigned long long)items);
    std::printf("%10s %12s %12s %14s %12s %12s\n", "workers", "items/s", "vs 1 process", "coord peak MiB",
                "1st half MiB", "2nd half MiB");
    Run local = run_in_child(items, 4, 0, {}, slots, "local");
    std::printf("%10s %12.0f %12.3f %14.1f %12.1f %12.1f\n", "in-process", local.rate, 1.0, local.peak_rss_mib,
                local.first_half_rss_mib, local.second_half_rss_mib);
    for (uint32_t w : ceiling_workers) {
      Run r = run_in_child(items, 4, w, {}, slots, "ceiling-" + std::to_string(w));
      std::printf("%10u %12.0f %12.3f %14.1f %12.1f %12.1f\n", w, r.rate, r.rate / local.rate, r.peak_rss_mib,
                  r.first_half_rss_mib, r.second_half_rss_mib);
      std::fflush(stdout);
    }
    // Memory against job size: the same cluster run, four times the items.
    for (uint64_t times : {4, 16}) {
      Run big = run_in_child(items * times, 4, ceiling_workers.back(), {}, slots, "ceiling-x" + std::to_string(times));
      std::printf("%10u %12.0f %12.3f %14.1f %12.1f %12.1f   (x%llu items)\n", ceiling_workers.back(), big.rate,
                  big.rate / local.rate, big.peak_rss_mib, big.first_half_rss_mib, big.second_half_rss_mib,
                  (unsigned long long)times);
      std::fflush(stdout);
    }
  }

  if (!scaling_workers.empty()) {
    uint32_t most = 0;
    for (auto w : scaling_workers) most = std::max(most, w);
    std::vector<int> ports;
    std::vector<pid_t> sims;
    for (uint32_t i = 0; i < most; ++i) {
      std::string log = g_work + "/sim" + std::to_string(i) + ".log";
      sims.push_back(spawn({LLM_SIM_PATH, "--port", "0", "--latency-ms", std::to_string(latency_ms),
                            "--solver-accuracy", "1.0", "--seed", std::to_string(i + 1)},
                           log));
      int port = 0;
      for (int t = 0; t < 100 && !port; ++t) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        std::ifstream in(log);
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        auto at = text.find("listening on");
        if (at != std::string::npos) port = std::atoi(text.c_str() + at + 13);
      }
      ports.push_back(port);
    }
    // Every run lasts ~T s at the full rate, so start-up (processes, joins)
    // and the drain weigh the same at every size.
    uint64_t per_worker_items = static_cast<uint64_t>(slots) * 1000 / latency_ms * seconds;
    std::printf("\nscaling: each worker solves with its own llm-sim (%u slots, L = %u ms: %u items/s at most)\n",
                slots, latency_ms, slots * 1000 / latency_ms);
    std::printf("%10s %10s %12s %12s %10s %12s %10s\n", "workers", "items", "items/s", "linear", "of linear",
                "steady/s", "of linear");
    double one = 0, one_steady = 0;
    for (uint32_t w : scaling_workers) {
      uint64_t n = per_worker_items * w;
      Run r = run_in_child(n, 1, w, std::vector<int>(ports.begin(), ports.begin() + w), slots,
                      "scaling-" + std::to_string(w));
      if (w == scaling_workers.front()) {
        one = r.rate / w;
        one_steady = r.steady / w;
      }
      std::printf("%10u %10llu %12.1f %12.1f %10.3f %12.1f %10.3f\n", w, (unsigned long long)n, r.rate, one * w,
                  r.rate / (one * w), r.steady, r.steady / (one_steady * w));
      std::fflush(stdout);
    }
    for (pid_t p : sims) {
      kill(p, SIGTERM);
      int status = 0;
      waitpid(p, &status, 0);
    }
  }
  std::string rm = "rm -rf " + g_work;
  if (std::system(rm.c_str()) != 0) std::fprintf(stderr, "cluster_bench: could not remove %s\n", g_work.c_str());
  return 0;
}
