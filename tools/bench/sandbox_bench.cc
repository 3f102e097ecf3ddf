// Sandbox benchmark: runs every seed's rationale of each file three ways in
// one run, on the same machine, and prints items/s and the ratios:
//   pool       veriforge's fork-server pool, containment on
//   baseline   a fresh /usr/bin/python3 per snippet (Loong's way)
//   harness    a minimal fork-after-import harness without containment
//              (tools/bench/fork_harness.py): the limit to reach
// It then compares pool and baseline item by item (executed ok? matches
// final_answer?) and lists every difference, with the limit that was hit.
//
// A way that finishes in under 5 s is repeated (up to 5 rounds, 10 s) and
// its median time is reported, so short files are not measured on noise.
//
// Exits 1 when the pool and the baseline disagree on any item (they run the
// same code: a difference is a bug in one of them, or a flaky seed named in
// the output).
//
//   sandbox_bench [--timeout S] [--workers N] [--limit K] [--skip-baseline] FILE...
//   sandbox_bench --trivial N      N snippets that only print a number: the pool's per-snippet cost
//                                  against the harness, with nothing to run
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <future>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "dataflow/checks.h"
#include "dataflow/seeds.h"
#include "dataflow/sources.h"
#include "sandbox/fork_server.h"
#include "sandbox/fresh_interpreter.h"

using namespace vf;
using namespace vf::sandbox;
using Clock = std::chrono::steady_clock;

namespace {

struct Outcome {
  std::string status;
  std::string output;
};

struct Way {
  std::string name;
  double seconds = 0;
  std::vector<Outcome> results;
};

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::vector<Outcome> run_all(Executor& ex, const std::vector<Seed>& seeds, const std::vector<std::vector<std::string>>& modules,
                             double timeout) {
  std::vector<Outcome> out(seeds.size());
  std::mutex mu;
  std::condition_variable cv;
  size_t done = 0;
  for (size_t i = 0; i < seeds.size(); ++i) {
    RunRequest r;
    r.code = seeds[i].rationale;
    r.limits.wall_timeout_s = timeout;
    r.required_modules = modules[i];
    ex.submit(r, [&, i](RunResult res) {
      std::lock_guard<std::mutex> lock(mu);
      out[i] = {std::string(to_string(res.status)) + (res.detail.empty() ? "" : ":" + res.detail), res.output};
      ++done;
      cv.notify_all();
    });
  }
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return done == seeds.size(); });
  return out;
}

std::vector<Outcome> run_harness(const std::vector<Seed>& seeds, const std::vector<std::string>& preimport,
                                 unsigned workers, double timeout) {
  nlohmann::json codes = nlohmann::json::array();
  for (const auto& s : seeds) codes.push_back(s.rationale);
  char in_path[] = "/tmp/veriforge-bench-in-XXXXXX";
  char out_path[] = "/tmp/veriforge-bench-out-XXXXXX";
  close(mkstemp(in_path));
  close(mkstemp(out_path));
  std::ofstream(in_path) << codes.dump();
  std::string modules;
  for (const auto& m : preimport) modules += (modules.empty() ? "" : ",") + m;
  std::string cmd = "env -i PATH=/usr/bin:/bin LANG=C.UTF-8 PYTHONHASHSEED=0 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 ";
  for (const char* keep : {"OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"})
    if (const char* v = getenv(keep)) cmd += std::string(keep) + "=" + v + " ";
  cmd += "/usr/bin/python3 " + std::string(VF_SOURCE_DIR) + "/tools/bench/fork_harness.py --modules '" + modules +
         "' --workers " + std::to_string(workers) + " --timeout " + std::to_string(timeout) + " < " + in_path + " > " +
         out_path;
  int rc = std::system(cmd.c_str());
  std::vector<Outcome> out(seeds.size());
  if (rc == 0) {
    auto results = nlohmann::json::parse(std::ifstream(out_path), nullptr, false);
    for (size_t i = 0; i < seeds.size() && i < results.size(); ++i)
      out[i] = {results[i].value("status", "error"), results[i].value("stdout", "")};
  } else {
    std::fprintf(stderr, "harness failed (exit %d)\n", rc);
  }
  unlink(in_path);
  unlink(out_path);
  return out;
}

// Runs `once` until the timing is stable enough; returns the median seconds.
template <class F>
double timed(F once, std::vector<Outcome>& results) {
  std::vector<double> times;
  double total = 0;
  do {
    auto t = Clock::now();
    results = once();
    times.push_back(since(t));
    total += times.back();
  } while (times.front() < 5.0 && times.size() < 5 && total < 10.0);
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

bool ok(const Outcome& o) { return o.status == "ok"; }
bool match(const Outcome& o, const Seed& s) { return ok(o) && normalize_answer(o.output) == normalize_answer(s.final_answer); }

}  // namespace

int main(int argc, char** argv) {
  double timeout = 120;
  unsigned workers = std::max(1u, std::thread::hardware_concurrency());
  size_t limit = 0;
  bool skip_baseline = false;
  size_t trivial = 0;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--timeout" && i + 1 < argc) timeout = std::stod(argv[++i]);
    else if (a == "--workers" && i + 1 < argc) workers = std::stoul(argv[++i]);
    else if (a == "--limit" && i + 1 < argc) limit = std::stoul(argv[++i]);
    else if (a == "--skip-baseline") skip_baseline = true;
    else if (a == "--trivial" && i + 1 < argc) trivial = std::stoul(argv[++i]);
    else files.push_back(a);
  }
  if (trivial) files = {"(trivial)"};
  if (files.empty()) {
    std::string shared = std::string(VF_SOURCE_DIR) + "/../shared/seeds/loong/";
    files = {shared + "advanced_math.json", shared + "graph_discrete_math.json"};
  }
  spdlog::set_level(spdlog::level::warn);
  std::printf("sandbox benchmark: %u workers, timeout %.0f s, %s\n", workers, timeout,
              skip_baseline ? "baseline skipped" : "three ways");
  int failures = 0;
  for (const auto& file : files) {
    SeedSet set;
    if (trivial) {
      for (size_t i = 0; i < trivial; ++i) {
        Seed s;
        s.question = "What is " + std::to_string(i) + "?";
        s.final_answer = std::to_string(i);
        s.rationale = "print(" + std::to_string(i) + ")";
        s.domain = "trivial";
        set.seeds.push_back(s);
      }
    } else {
      set = load_seeds({file});
    }
    if (!set.problems.empty()) {
      std::fprintf(stderr, "%s: %s\n", file.c_str(), set.problems[0].to_string().c_str());
      return 1;
    }
    auto& seeds = set.seeds;
    if (limit && seeds.size() > limit) seeds.resize(limit);
    auto dist = vf::default_distribution_modules();
    std::vector<std::vector<std::string>> modules;
    std::set<std::string> all;
    for (const auto& s : seeds) {
      modules.push_back(required_modules(s, dist));
      all.insert(modules.back().begin(), modules.back().end());
    }
    std::vector<std::string> preimport(all.begin(), all.end());

    std::vector<Way> ways;
    {
      // Pool start-up (servers importing the modules) counts, as the
      // harness's own imports do.
      Way w;
      w.name = "pool";
      w.seconds = timed(
          [&] {
            SandboxOptions o;
            o.workers = workers;
            o.preimport = preimport;
            o.aliases = default_import_aliases();
            auto pool = ForkServerPool::start(o);
            if (!pool) {
              std::fprintf(stderr, "pool: %s\n", pool.error().c_str());
              std::exit(1);
            }
            if (!(*pool)->modules().contained) std::printf("  warning: pool runs without containment (not root?)\n");
            return run_all(**pool, seeds, modules, timeout);
          },
          w.results);
      ways.push_back(std::move(w));
    }
    {
      Way w;
      w.name = "harness";
      w.seconds = timed([&] { return run_harness(seeds, preimport, workers, timeout); }, w.results);
      ways.push_back(std::move(w));
    }
    if (!skip_baseline) {
      Way w;
      w.name = "baseline";
      w.seconds = timed(
          [&] {
            FreshInterpreterExecutor fresh({"/usr/bin/python3", workers});
            return run_all(fresh, seeds, modules, timeout);
          },
          w.results);
      ways.push_back(std::move(w));
    }
    std::printf("\n%s: %zu items\n", file.c_str(), seeds.size());
    std::printf("  %-9s %9s %9s %7s %7s\n", "way", "seconds", "items/s", "ok", "match");
    for (const auto& w : ways) {
      size_t n_ok = 0, n_match = 0;
      for (size_t i = 0; i < seeds.size(); ++i) {
        n_ok += ok(w.results[i]);
        n_match += match(w.results[i], seeds[i]);
      }
      std::printf("  %-9s %9.1f %9.2f %7zu %7zu\n", w.name.c_str(), w.seconds, seeds.size() / w.seconds, n_ok, n_match);
    }
    double pool_rate = seeds.size() / ways[0].seconds, harness_rate = seeds.size() / ways[1].seconds;
    std::printf("  ratio pool/harness  = %.2f  (target >= 0.90)\n", pool_rate / harness_rate);
    if (!skip_baseline) {
      double base_rate = seeds.size() / ways[2].seconds;
      std::printf("  ratio pool/baseline = %.2f\n", pool_rate / base_rate);
      size_t differ = 0;
      for (size_t i = 0; i < seeds.size(); ++i) {
        const auto &p = ways[0].results[i], &b = ways[2].results[i];
        if (ok(p) == ok(b) && match(p, seeds[i]) == match(b, seeds[i])) continue;
        ++differ;
        std::printf("  differs: item %zu: pool %s%s, baseline %s%s\n", i, p.status.c_str(),
                    match(p, seeds[i]) ? " (match)" : "", b.status.c_str(), match(b, seeds[i]) ? " (match)" : "");
      }
      std::printf("  pool vs baseline: %zu of %zu items differ in ok/match\n", differ, seeds.size());
      if (differ) ++failures;
    }
  }
  if (failures) std::printf("pool and baseline disagree on %d file(s)\n", failures);
  return failures ? 1 : 0;
}
