// llm_bench: throughput of the LLM part of the pipeline against llm-sim at a
// fixed latency L and concurrency C, as a fraction of the ideal C/L, with the
// CPU time per item and the peak memory of both processes. The same run also
// measures the bare model client at the same C (no actors) as a baseline.
//
//   llm_bench [--latency-ms 200] [--concurrency 64,256,1024] [--rounds 40] [--samples 1]
//             [--log on|off] [--sync batch|interval|none]
//
// --log and --sync are the job's checkpoint.log and checkpoint.sync (default:
// the job defaults, the log on and every batch fsynced).
//
// Items are the bundled example seeds, already executed (their final answer
// is the code's answer), so the pipeline is generator -> executor (passes
// them through) -> solve (LLM, C in flight) -> verifier (agreement) -> writer;
// each concurrency runs C x rounds items. "items/s" is over the whole run
// (ramp-up and drain included); "steady/s" over its middle half, from the
// writer's progress reports.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "dataflow/seeds.h"
#include "job/assembly.h"
#include "storage/group_commit.h"

using namespace vf;

namespace {

struct Sim {
  pid_t pid = -1;
  int port = 0;
};

Sim start_sim(const std::string& path, const std::string& seeds, int latency_ms) {
  int out[2];
  if (pipe(out) != 0) std::exit(2);
  Sim s;
  s.pid = fork();
  if (s.pid == 0) {
    dup2(out[1], 1);
    close(out[0]);
    std::string lat = std::to_string(latency_ms);
    execl(path.c_str(), path.c_str(), "--port", "0", "--seeds", seeds.c_str(), "--latency-ms", lat.c_str(),
          "--solver-accuracy", "1", "--seed", "1", static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out[1]);
  FILE* f = fdopen(out[0], "r");
  char line[256] = {0};
  if (!std::fgets(line, sizeof line, f) || std::sscanf(line, "llm-sim listening on %d", &s.port) != 1) {
    std::fprintf(stderr, "llm_bench: the simulator did not start\n");
    std::exit(2);
  }
  return s;
}

// CPU seconds and peak RSS (MiB) of a process, from /proc.
std::pair<double, double> proc_usage(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(stat)), {});
  double cpu = 0;
  size_t close = s.rfind(')');
  if (close != std::string::npos) {
    std::istringstream rest(s.substr(close + 2));
    std::string field;
    std::vector<std::string> f;
    while (rest >> field) f.push_back(field);
    if (f.size() > 13) cpu = (std::stod(f[11]) + std::stod(f[12])) / static_cast<double>(sysconf(_SC_CLK_TCK));
  }
  double hwm = 0;
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) hwm = std::stod(line.substr(6)) / 1024.0;
  return {cpu, hwm};
}

double self_cpu() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double self_peak_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

class ExecutedSeeds final : public ItemSource {
 public:
  ExecutedSeeds(const std::vector<Seed>& seeds, uint64_t n) : seeds_(seeds), n_(n) {}
  std::optional<Item> next() override {
    if (next_ >= n_) return std::nullopt;
    const Seed& s = seeds_[next_ % seeds_.size()];
    Item item;
    item.id = next_++;
    item.question = s.question;
    item.rationale = s.rationale;
    item.generator = "bench";
    item.provenance = provenance_of(s);
    Execution e;
    e.output = s.final_answer;
    item.executions = {e, e};
    item.state = static_cast<uint8_t>(ItemState::kExecuted);
    return item;
  }
  std::string end_reason() const override { return "done"; }

 private:
  const std::vector<Seed>& seeds_;
  uint64_t n_;
  uint64_t next_ = 0;
};

model::ClientOptions client_options(int port, int c) {
  model::ClientOptions o;
  model::EndpointConfig e;
  e.name = "sim";
  e.base_url = "http://127.0.0.1:" + std::to_string(port) + "/v1";
  e.model = "sim";
  e.max_in_flight = c;
  e.initial_in_flight = c;
  e.timeout_s = 60;
  o.endpoints = {e};
  return o;
}

// Baseline: the bare client, C calls in flight, N calls.
double client_only(int port, int c, uint64_t n, const std::vector<Seed>& seeds, double& steady) {
  std::chrono::steady_clock::time_point q1, q3;
  auto client = model::ModelClient::create(client_options(port, c));
  std::mutex mu;
  std::condition_variable cv;
  uint64_t done = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (uint64_t i = 0; i < n; ++i) {
    model::ChatCall call;
    call.messages = {{"user", seeds[i % seeds.size()].question + "\n\nSolve step by step; answer in \\boxed{}."}};
    call.sampling.seed = static_cast<int64_t>(i);
    client.value()->chat(call, [&](model::ChatOutcome) {
      std::lock_guard<std::mutex> lock(mu);
      ++done;
      if (done == n / 4) q1 = std::chrono::steady_clock::now();
      if (done == 3 * n / 4) q3 = std::chrono::steady_clock::now();
      if (done == n) cv.notify_all();
    });
  }
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return done == n; });
  steady = static_cast<double>(n / 2) / std::chrono::duration<double>(q3 - q1).count();
  return static_cast<double>(n) / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  int latency_ms = 200;
  std::vector<int> concurrency = {64, 256, 1024};
  uint64_t rounds = 80;
  uint32_t samples = 1;
  bool stage_log = true;
  std::string sync = "batch";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--log" && i + 1 < argc) {
      stage_log = std::string(argv[++i]) != "off";
      continue;
    }
    if (a == "--sync" && i + 1 < argc) {
      sync = argv[++i];
      continue;
    }
    if (a == "--latency-ms" && i + 1 < argc) latency_ms = std::atoi(argv[++i]);
    else if (a == "--rounds" && i + 1 < argc) rounds = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--samples" && i + 1 < argc) samples = static_cast<uint32_t>(std::atoi(argv[++i]));
    else if (a == "--concurrency" && i + 1 < argc) {
      concurrency.clear();
      std::stringstream ss(argv[++i]);
      std::string part;
      while (std::getline(ss, part, ',')) concurrency.push_back(std::atoi(part.c_str()));
    } else {
      std::fprintf(stderr,
                   "usage: llm_bench [--latency-ms L] [--concurrency C1,C2] [--rounds R] [--samples K] [--log on|off] "
                   "[--sync batch|interval|none]\n");
      return 1;
    }
  }
  spdlog::set_level(spdlog::level::warn);
  std::string src = VF_SOURCE_DIR;
  auto seeds = load_seeds({src + "/configs/seeds"});
  double L = latency_ms / 1000.0;
  std::printf("latency L = %d ms, %u solver sample(s) per item, C x %llu items per run, checkpoint log %s (sync %s), "
              "2 cores shared with the simulator\n",
              latency_ms, samples, static_cast<unsigned long long>(rounds), stage_log ? "on" : "off", sync.c_str());
  std::printf("%6s %8s %10s %8s %12s %10s %10s %12s %12s %10s %10s %9s\n", "C", "items", "items/s", "of C/L",
              "steady/s", "of C/L", "client/s", "pipe/client", "cpu ms/item", "peak MiB", "sim ms/it", "sim MiB");
  for (int c : concurrency) {
    uint64_t n = static_cast<uint64_t>(c) * rounds;
    Sim sim = start_sim(LLM_SIM_PATH, src + "/configs/seeds", latency_ms);
    double steady = 0;
    double baseline = client_only(sim.port, c, n, seeds.seeds, steady);
    auto [sim_cpu0, _] = proc_usage(sim.pid);
    char dir[] = "/tmp/llm-bench-XXXXXX";
    std::string out = mkdtemp(dir);
    JobConfig cfg;
    cfg.job.progress_interval_ms = 50;
    cfg.job.target_accepted = n;
    cfg.job.max_generated = n;
    cfg.pipeline.batch_size = 32;
    cfg.pipeline.executor_credits = static_cast<uint32_t>(2 * c);
    cfg.pipeline.verifier_credits = static_cast<uint32_t>(2 * c);
    cfg.pipeline.writer_credits = static_cast<uint32_t>(2 * c);
    cfg.pipeline.llm_credits = static_cast<uint32_t>(2 * c);
    cfg.sandbox.mode = "fresh-interpreter";
    cfg.solver.enabled = true;
    cfg.solver.samples = samples;
    cfg.checkpoint.log = stage_log;
    cfg.checkpoint.sync = sync;
    PipelinePlan plan = make_plan(cfg, JobKind::kGenerate);
    auto work = make_work_spec(cfg, seeds.seeds, JobKind::kGenerate);
    if (!work) {
      std::fprintf(stderr, "llm_bench: %s\n", work.error().c_str());
      return 2;
    }
    JobStoreOptions so;
    so.sync = stage_log ? *parse_sync_policy(sync) : SyncPolicy::kNone;  // as a job without the log
    auto store = JobStore::open(out + "/db", so);
    if (!store) {
      std::fprintf(stderr, "llm_bench: %s\n", store.error().c_str());
      return 2;
    }
    std::shared_ptr<JobStore> shared_store = std::move(store.value());
    CoordinatorParts parts;
    auto log = std::make_shared<GroupCommitLog>(shared_store);
    if (stage_log) parts.stage_log = log;
    parts.writer_log = log;
    parts.source = std::make_shared<ExecutedSeeds>(seeds.seeds, n);
    parts.dataset.out_dir = out;
    parts.dataset.target = n;
    parts.dataset.sync = stage_log && sync != "none";
    shared_store.reset();
    log.reset();  // the actors hold it; the last one closes the store
    LocalWork local;
    auto client = model::ModelClient::create(client_options(sim.port, c));
    local.solver_client = std::shared_ptr<model::ModelClient>(std::move(client.value()));
    if (auto st = start_sandbox(local, cfg, work.value(), {out}); !st) {
      std::fprintf(stderr, "llm_bench: %s\n", st.error().c_str());
      return 2;
    }
    // Steady state: items written per second between a quarter and three
    // quarters of the run, from the writer's progress reports.
    std::vector<std::pair<double, uint64_t>> written;
    RunControl control;
    if (const char* t = std::getenv("VF_SCHEDULER_THREADS")) control.scheduler_threads = static_cast<uint32_t>(std::atoi(t));
    control.on_progress = [&](const std::map<std::string, wire::StageReport>& stages) {
      auto it = stages.find("writer");
      if (it == stages.end()) return;
      double t = std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
      written.emplace_back(t, it->second.received);
    };
    double cpu0 = self_cpu();
    auto t0 = std::chrono::steady_clock::now();
    PipelineOutcome o = run_pipeline(plan, work.value(), std::move(parts), std::move(local), control);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double cpu = self_cpu() - cpu0;
    auto [sim_cpu1, sim_mib] = proc_usage(sim.pid);
    kill(sim.pid, SIGKILL);
    waitpid(sim.pid, nullptr, 0);
    std::string rm = "rm -rf " + out;
    if (std::system(rm.c_str()) != 0) std::fprintf(stderr, "llm_bench: could not remove %s\n", out.c_str());
    if (!o.ok) {
      std::fprintf(stderr, "llm_bench: job failed at C=%d: %s\n", c, o.error.c_str());
      return 2;
    }
    double rate = static_cast<double>(n) / secs;
    double steady_pipe = 0;
    {
      auto at = [&](uint64_t count) {
        for (const auto& [t, w] : written)
          if (w >= count) return t;
        return written.empty() ? 0.0 : written.back().first;
      };
      double t1 = at(n / 4), t3 = at(3 * n / 4);
      if (t3 > t1) steady_pipe = static_cast<double>(3 * n / 4 - n / 4) / (t3 - t1);
    }
    std::printf("%6d %8llu %10.0f %8.3f %12.0f %10.3f %10.0f %12.3f %12.3f %10.1f %10.3f %9.1f\n", c,
                static_cast<unsigned long long>(n), rate, rate / (c / L), steady_pipe, steady_pipe / (c / L), baseline,
                rate / baseline,
                1000.0 * cpu / static_cast<double>(n), self_peak_mib(), 1000.0 * (sim_cpu1 - sim_cpu0) / static_cast<double>(n),
                sim_mib);
    std::fflush(stdout);
  }
  return 0;
}
