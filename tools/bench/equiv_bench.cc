// equiv_bench: comparisons per second of the answer-equivalence judge, on one
// core, against a baseline measured in the same run: Loong's own comparison
// (whitespace-normalized string equality). Also prints how many pairs each
// accepts, so speed is never read without accuracy.
//
//   equiv_bench --cases ../shared/equivalence/cases.jsonl
//               --pairs build/bench-data/advanced_math.results.jsonl [--seconds 2] [--shuffled 3]
//
// Rates are warm (a first, untimed pass counts the acceptances) and over at least
// --seconds. --shuffled K also judges each gold against the outputs of the K
// seeds after it (answers to other questions): the judge should accept only
// the pairs whose values coincide, and every other acceptance is listed.
//
// --pairs reads `veriforge verify-seeds --out` records (final_answer, output,
// status); tools/bench/equiv_bench.sh produces them and runs this.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dataflow/checks.h"
#include "dataflow/equiv/judge.h"

namespace {

struct Pair {
  std::string gold, pred;
  int expected = -1;  // -1 unknown
};

std::vector<Pair> load(const std::string& path, bool verify_seeds_records) {
  std::vector<Pair> out;
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "equiv_bench: cannot read %s\n", path.c_str());
    std::exit(1);
  }
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded()) continue;
    Pair p;
    if (verify_seeds_records) {
      if (j.value("status", "") != "ok") continue;
      p.gold = j.value("final_answer", "");
      p.pred = j.value("output", "");
    } else {
      p.gold = j.value("gold", "");
      p.pred = j.value("pred", "");
      if (j.contains("expected")) p.expected = j["expected"].get<bool>() ? 1 : 0;
    }
    out.push_back(std::move(p));
  }
  return out;
}

template <class F>
double per_second(const std::vector<Pair>& pairs, double seconds, F&& judge, size_t& accepted) {
  using clock = std::chrono::steady_clock;
  accepted = 0;
  for (const auto& p : pairs) accepted += judge(p);  // the warm-up pass, as the Python baseline's
  size_t done = 0;
  auto start = clock::now();
  double elapsed = 0;
  do {
    for (const auto& p : pairs) {
      judge(p);
      ++done;
    }
    elapsed = std::chrono::duration<double>(clock::now() - start).count();
  } while (elapsed < seconds);
  return static_cast<double>(done) / elapsed;
}

void run(const char* name, const std::vector<Pair>& pairs, double seconds) {
  if (pairs.empty()) return;
  size_t acc_equiv = 0, acc_string = 0;
  vf::equiv::Policy program_output;
  program_output.extract = vf::equiv::ExtractMode::kAuto;
  double equiv_rate = per_second(pairs, seconds, [&](const Pair& p) {
    return vf::equiv::judge(p.gold, p.pred, program_output).equivalent();
  }, acc_equiv);
  double string_rate = per_second(pairs, seconds, [](const Pair& p) {
    return vf::normalize_answer(p.gold) == vf::normalize_answer(p.pred);
  }, acc_string);
  size_t agree_equiv = 0, agree_string = 0, known = 0;
  for (const auto& p : pairs) {
    if (p.expected < 0) continue;
    ++known;
    agree_equiv += vf::equiv::judge(p.gold, p.pred, program_output).equivalent() == (p.expected == 1);
    agree_string += (vf::normalize_answer(p.gold) == vf::normalize_answer(p.pred)) == (p.expected == 1);
  }
  std::printf("%-22s pairs %5zu | equiv %9.0f cmp/s, accepts %5zu (%.1f%%) | string baseline %10.0f cmp/s, accepts %5zu "
              "(%.1f%%) | speed ratio equiv/string %.3f\n",
              name, pairs.size(), equiv_rate, acc_equiv, 100.0 * acc_equiv / pairs.size(), string_rate, acc_string,
              100.0 * acc_string / pairs.size(), equiv_rate / string_rate);
  if (known)
    std::printf("%-22s agreement with expected: equiv %zu/%zu, string baseline %zu/%zu\n", name, agree_equiv, known,
                agree_string, known);
}

// Gold of seed i against the output of seed i + k (k = 1..K): a false-accept probe.
void shuffled(const std::vector<Pair>& pairs, int k_max) {
  vf::equiv::Policy program_output;
  program_output.extract = vf::equiv::ExtractMode::kNever;
  size_t judged = 0, accepted = 0, same_text = 0;
  std::vector<std::string> others;
  for (int k = 1; k <= k_max; ++k)
    for (size_t i = 0; i < pairs.size(); ++i) {
      const auto& gold = pairs[i].gold;
      const auto& pred = pairs[(i + static_cast<size_t>(k)) % pairs.size()].pred;
      ++judged;
      if (!vf::equiv::judge(gold, pred, program_output).equivalent()) continue;
      ++accepted;
      if (vf::normalize_answer(gold) == vf::normalize_answer(pred)) ++same_text;
      else if (others.size() < 20) others.push_back("'" + gold.substr(0, 60) + "' vs '" + pred.substr(0, 60) + "'");
    }
  std::printf("shuffled pairs         pairs %5zu | judge accepts %zu: %zu with the same text, %zu others\n", judged,
              accepted, same_text, accepted - same_text);
  for (const auto& o : others) std::printf("  accepted: %s\n", o.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  std::string cases, pairs;
  double seconds = 2.0;
  int shuffle = 0;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--cases") && i + 1 < argc) cases = argv[++i];
    else if (!std::strcmp(argv[i], "--pairs") && i + 1 < argc) pairs = argv[++i];
    else if (!std::strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = std::atof(argv[++i]);
    else if (!std::strcmp(argv[i], "--shuffled") && i + 1 < argc) shuffle = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr,
                   "usage: equiv_bench [--cases FILE.jsonl] [--pairs VERIFY_SEEDS_RESULTS.jsonl] [--seconds S] "
                   "[--shuffled K]\n");
      return 1;
    }
  }
  if (cases.empty() && pairs.empty()) {
    std::fprintf(stderr, "equiv_bench: give --cases and/or --pairs\n");
    return 1;
  }
  std::printf("one thread; each rate measured over >= %.1f s\n", seconds);
  if (!cases.empty()) run("shared cases", load(cases, false), seconds);
  if (!pairs.empty()) run("verify-seeds pairs", load(pairs, true), seconds);
  if (!pairs.empty() && shuffle > 0) shuffled(load(pairs, true), shuffle);
  return 0;
}
