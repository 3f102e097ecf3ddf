// Checkpoint-log benchmark, part 2: resuming from a large log.
//
//   checkpoint_bench [--items 1000000] [--small 1000] [--dir build/bench-data/ckpt] [--seeds FILE]
//
// Builds two job logs the way a job writes them (the variant generator's real
// items and question hashes; per item the generator's batch, two logged code
// runs and the executor's record, the verifier's record, and the writer's
// commit with its gate and tallies; the last items left in flight at various
// stages), one with --small items and one with --items. Then, in a fresh child
// process each time (three times per log; the first replays the WAL the
// builder left unflushed, as after a kill), resumes: opens the log, binds the
// generator to it (progress, question hashes), recovers the writer's progress
// and the in-flight items; that is all a resumed job does before its stages
// start, beyond what a new job does too. Prints the resume times, the log's
// size on disk per item, and the child's peak RSS, as ratios of the large log
// against the small one measured in the same run.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "dataflow/checkpoint.h"
#include "dataflow/sources.h"
#include "storage/codec.h"

using namespace vf;
namespace fs = std::filesystem;

namespace {

// The bundled 26 seeds give about 600,000 distinct variants; Loong's
// advanced_math (1,608 seeds, beside the project) gives far more.
std::string g_seeds = std::string(VF_SOURCE_DIR) + "/../shared/seeds/loong/advanced_math.json";

std::vector<Seed> bench_seeds() {
  auto set = load_seeds({g_seeds});
  return set.seeds;
}

constexpr uint64_t kRandomSeed = 424242;
constexpr uint64_t kInFlight = 200;  // left undecided at the end, spread over the stages

// Writes the log, then leaves like a killed process (no close, no flush).
int synth(const std::string& dir, uint64_t n) {
  fs::remove_all(dir);
  auto opened = JobStore::open(dir, {SyncPolicy::kNone, 50, true});
  if (!opened) {
    std::fprintf(stderr, "%s\n", opened.error().c_str());
    return 1;
  }
  JobStore& store = *opened.value();
  auto seeds = bench_seeds();
  VariantSource source(seeds, kRandomSeed, {});
  if (auto s = source.bind(store); !s) {
    std::fprintf(stderr, "bind: %s\n", s.error().c_str());
    return 1;
  }
  CommitGate gate(n);
  WriterCheckpoint writer;
  uint64_t issued = 0;
  const uint64_t batch = 64;
  while (issued < n) {
    std::vector<Item> items;
    for (uint64_t k = 0; k < batch && issued + items.size() < n; ++k) {
      auto item = source.next();
      if (!item) {
        std::fprintf(stderr, "the variant generator ran out after %llu items\n", (unsigned long long)issued);
        return 1;
      }
      items.push_back(std::move(*item));
    }
    LogBatch gen;
    for (const auto& it : items) gen.put_item(it.id, encode(it));
    source.checkpoint(gen);
    gen.put_meta(meta::kGenerator, encode(GeneratorCheckpoint{issued + items.size(), false, ""}));
    if (auto s = store.write(gen); !s) return std::fprintf(stderr, "%s\n", s.error().c_str()), 1;
    issued += items.size();
    bool tail = issued + kInFlight > n;  // these stay in flight
    // Executor: two runs logged one by one, then the executed item.
    LogBatch runs, executed, verified, written;
    for (auto& it : items) {
      Execution e;
      e.output = "42";
      e.wall_ms = 12.5;
      runs.put_partial(it.id, kRunsStage, 0, encode(e));
      runs.put_partial(it.id, kRunsStage, 1, encode(e));
      if (tail && it.id % 3 == 0) continue;  // killed between its runs
      it.executions = {e, e};
      it.state = static_cast<uint8_t>(ItemState::kExecuted);
      executed.put_item(it.id, encode(it));
      executed.erase_partials(it.id, kRunsStage, 2);
      if (tail && it.id % 3 == 1) continue;  // executed, not yet verified
      it.answer = "42";
      it.state = static_cast<uint8_t>(ItemState::kAccepted);
      verified.put_item(it.id, encode(it));
      if (tail) continue;  // verified, not yet written
      auto out = gate.on_decided(it.id, true);
      for (uint64_t id : out.release) written.put_state(id, {static_cast<uint8_t>(ItemState::kWritten), ""});
      written.erase_item(it.id);
      writer.tally.accepted(it.provenance.domain);
    }
    for (auto* b : {&runs, &executed, &verified})
      if (auto s = store.write(*b); !s) return std::fprintf(stderr, "%s\n", s.error().c_str()), 1;
    writer.gate = gate.snapshot();
    writer.max_id_seen = issued;
    writer.file_lengths["accepted.jsonl"] = 0;
    written.put_meta(meta::kWriter, encode(writer));
    if (auto s = store.write(written); !s) return std::fprintf(stderr, "%s\n", s.error().c_str()), 1;
  }
  return 0;
}

// The resume path of `veriforge run` on a logged job: open, bind, recover.
int resume(const std::string& dir) {
  auto t0 = std::chrono::steady_clock::now();
  auto opened = JobStore::open(dir);
  if (!opened) return std::fprintf(stderr, "%s\n", opened.error().c_str()), 1;
  auto seeds = bench_seeds();
  VariantSource source(seeds, kRandomSeed, {});
  if (auto s = source.bind(*opened.value()); !s) return std::fprintf(stderr, "bind: %s\n", s.error().c_str()), 1;
  auto r = recover(*opened.value());
  if (!r) return std::fprintf(stderr, "recover: %s\n", r.error().c_str()), 1;
  auto next = source.next();  // the generator continues: the first new item
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%.6f %zu %llu %llu\n", s, r->in_flight.size(), (unsigned long long)r->generator.issued,
              (unsigned long long)(next ? next->id : 0));
  return next && next->id == r->generator.issued ? 0 : 3;
}

struct Measured {
  double seconds = 0;
  long rss_kb = 0;
  size_t in_flight = 0;
};

Measured resume_in_child(const char* self, const std::string& dir) {
  int fds[2];
  if (pipe(fds) != 0) return {};
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    execl(self, self, "--seeds", g_seeds.c_str(), "--resume", dir.c_str(), nullptr);
    _exit(127);
  }
  close(fds[1]);
  char buf[256] = {};
  ssize_t got = read(fds[0], buf, sizeof buf - 1);
  close(fds[0]);
  int status = 0;
  rusage ru{};
  wait4(pid, &status, 0, &ru);
  Measured m;
  if (got > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    std::sscanf(buf, "%lf %zu", &m.seconds, &m.in_flight);
    m.rss_kb = ru.ru_maxrss;
  } else {
    std::fprintf(stderr, "resume child failed (status %d): %s\n", status, buf);
  }
  return m;
}

uint64_t dir_bytes(const std::string& dir) {
  uint64_t total = 0;
  for (auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file()) total += e.file_size();
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t items = 1000000, small = 1000;
  std::string dir = "build/bench-data/ckpt";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--resume" && i + 1 < argc) return resume(argv[i + 1]);
    if (a == "--items" && i + 1 < argc) items = std::stoull(argv[++i]);
    else if (a == "--small" && i + 1 < argc) small = std::stoull(argv[++i]);
    else if (a == "--dir" && i + 1 < argc) dir = argv[++i];
    else if (a == "--seeds" && i + 1 < argc) g_seeds = argv[++i];
    else {
      std::fprintf(stderr, "usage: checkpoint_bench [--items N] [--small N] [--dir DIR] [--seeds FILE]\n");
      return 1;
    }
  }
  struct Row {
    uint64_t n;
    double build_s;
    uint64_t bytes;
    std::vector<Measured> runs;
  };
  std::vector<Row> rows;
  for (uint64_t n : {small, items}) {
    std::string d = dir + "-" + std::to_string(n);
    auto t0 = std::chrono::steady_clock::now();
    pid_t builder = fork();
    if (builder == 0) {
      std::fflush(stdout);
      _exit(synth(d, n));  // no destructors: the store is left as a kill leaves it
    }
    int status = 0;
    waitpid(builder, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return 2;
    Row row{n, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 0, {}};
    for (int k = 0; k < 3; ++k) row.runs.push_back(resume_in_child(argv[0], d));
    row.bytes = dir_bytes(d);  // after the resumes: what a job's log holds at rest
    rows.push_back(row);
  }
  std::printf("checkpoint log: resume (open + generator progress + writer progress + in-flight items)\n");
  std::printf("  %10s %9s %12s %14s %12s %10s %s\n", "items", "build s", "log MiB", "bytes/item", "resume s", "in flight",
              "peak RSS MiB (3 runs)");
  for (const auto& r : rows) {
    std::printf("  %10llu %9.1f %12.1f %14.1f ", (unsigned long long)r.n, r.build_s, r.bytes / 1048576.0,
                double(r.bytes) / double(r.n));
    std::printf("%5.3f/%5.3f/%5.3f %6zu   ", r.runs[0].seconds, r.runs[1].seconds, r.runs[2].seconds,
                r.runs[0].in_flight);
    for (const auto& m : r.runs) std::printf("%.1f ", m.rss_kb / 1024.0);
    std::printf("\n");
  }
  // The worst of the three: the first resume replays the WAL the "killed"
  // builder left, as the first resume after a real kill does.
  auto best = [](const Row& r) {
    double s = 0;
    long rss = 0;
    for (const auto& m : r.runs) {
      s = std::max(s, m.seconds);
      rss = std::max(rss, m.rss_kb);
    }
    return std::pair{s, rss};
  };
  auto [s_small, rss_small] = best(rows[0]);
  auto [s_big, rss_big] = best(rows[1]);
  std::printf("resume time, %llu vs %llu items: %.3f s vs %.3f s (ratio %.2f; target: under 5 s)\n",
              (unsigned long long)rows[1].n, (unsigned long long)rows[0].n, s_big, s_small, s_big / s_small);
  std::printf("peak RSS resuming %llu vs %llu items: %.1f MiB vs %.1f MiB (ratio %.2f; target: under 2)\n",
              (unsigned long long)rows[1].n, (unsigned long long)rows[0].n, rss_big / 1024.0, rss_small / 1024.0,
              double(rss_big) / double(rss_small));
  std::printf("log size on disk: %.0f bytes per item at %llu items\n", double(rows[1].bytes) / double(rows[1].n),
              (unsigned long long)rows[1].n);
  return 0;
}
