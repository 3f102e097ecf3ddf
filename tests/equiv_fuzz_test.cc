// Property tests for the answer parsers and the judge, over random strings,
// random LaTeX built from the grammar, and mutations of real answers:
//  - nothing crashes (run under ASan/UBSan in tools/sanitize.sh),
//  - nothing hangs (ctest gives this binary a timeout),
//  - no single call allocates more than kAllocationBound bytes at once
//    (every operator new and every GMP allocation is counted here),
//  - the same random expression written in LaTeX and in sympy's syntax is
//    judged equivalent.
// VF_FUZZ_ITERATIONS=P runs P percent of the default number of inputs.
#include <doctest/doctest.h>

#include <gmp.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "dataflow/equiv/judge.h"
#include "dataflow/equiv/parse.h"
#include "tests/test_util.h"

namespace {

// ---------------------------------------------------------------- allocation accounting

size_t g_current = 0;  // bytes live (single-threaded test)
size_t g_peak = 0;
constexpr size_t kHeader = 16;

void* counted_alloc(size_t n) {
  auto* p = static_cast<unsigned char*>(std::malloc(n + kHeader));
  if (!p) return nullptr;
  std::memcpy(p, &n, sizeof n);
  g_current += n;
  if (g_current > g_peak) g_peak = g_current;
  return p + kHeader;
}
void counted_free(void* q) {
  if (!q) return;
  auto* p = static_cast<unsigned char*>(q) - kHeader;
  size_t n;
  std::memcpy(&n, p, sizeof n);
  g_current -= n;
  std::free(p);
}
void* gmp_alloc(size_t n) { return counted_alloc(n); }
void* gmp_realloc(void* q, size_t, size_t n) {
  void* fresh = counted_alloc(n);
  if (q) {
    size_t old;
    std::memcpy(&old, static_cast<unsigned char*>(q) - kHeader, sizeof old);
    std::memcpy(fresh, q, old < n ? old : n);
    counted_free(q);
  }
  return fresh;
}
void gmp_free(void* q, size_t) { counted_free(q); }

constexpr size_t kAllocationBound = 64u << 20;

}  // namespace

void* operator new(size_t n) {
  void* p = counted_alloc(n);
  if (!p) throw std::bad_alloc();
  return p;
}
void* operator new[](size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { counted_free(p); }
void operator delete[](void* p) noexcept { counted_free(p); }
void operator delete(void* p, size_t) noexcept { counted_free(p); }
void operator delete[](void* p, size_t) noexcept { counted_free(p); }

namespace {

size_t iterations(size_t base) {
  const char* env = std::getenv("VF_FUZZ_ITERATIONS");
  if (!env) return base;
  double scale = std::atof(env) / 100.0;  // percent of the default counts
  return static_cast<size_t>(static_cast<double>(base) * (scale > 0 ? scale : 1));
}

struct Bounded {
  Bounded() { mp_set_memory_functions(gmp_alloc, gmp_realloc, gmp_free); }
  // Peak bytes allocated above the live baseline while `f` runs.
  template <class F>
  size_t peak_of(F&& f) {
    size_t base = g_current;
    g_peak = g_current;
    f();
    return g_peak - base;
  }
};

const char* const kFragments[] = {
    "\\frac", "\\dfrac", "\\sqrt", "\\sqrt[3]", "\\left(", "\\right)", "\\left[", "\\right]", "\\pm", "\\mp",
    "\\boxed{", "\\text{", "\\begin{pmatrix}", "\\end{pmatrix}", "\\\\", "&", "\\cup", "\\cap", "\\infty", "\\pi",
    "\\sin", "\\cos^2", "\\log_", "\\ln", "\\binom", "\\{", "\\}", "^\\circ", "\\%", "\\$", ",\\!", "\\cdot", "\\times",
    "\\le", "\\ge", "\\neq", "\\in", "\\emptyset", "\\mathbb{R}", "\\lfloor", "\\rfloor", "\\operatorname{sin}",
    "Interval(", "Interval.open(", "Union(", "FiniteSet(", "Matrix([[", "]])", "Rational(", "sqrt(", "Eq(", "oo",
    "zoo", "I", "E", "pi", "**", "e", "i", "x", "y", "1e9", "1e-9", "9999999999", "0.", ".5", "!", "_", "^", "{",
    "}", "(", ")", "[", "]", ",", ";", "=", "<", ">", "|", "+", "-", "*", "/", " ", "'", "\"", ":", "Answer:",
    "final answer is", "kJ", " m/s^2", " atm", "PCTF{", "\xc3\x97", "\xcf\x80", "\xe2\x88\x9e", "\xff", "\x01"};

std::string random_fragments(std::mt19937_64& rng) {
  std::string s;
  size_t n = rng() % 24;
  for (size_t k = 0; k < n; ++k) {
    if (rng() % 4 == 0) s += static_cast<char>(rng() % 256);
    else if (rng() % 3 == 0) s += std::to_string(rng() % 1000);
    else s += kFragments[rng() % (sizeof kFragments / sizeof kFragments[0])];
  }
  return s;
}

std::string mutate(std::string s, std::mt19937_64& rng) {
  size_t edits = 1 + rng() % 4;
  for (size_t e = 0; e < edits; ++e) {
    size_t at = s.empty() ? 0 : rng() % (s.size() + 1);
    switch (rng() % 3) {
      case 0: s.insert(at, kFragments[rng() % (sizeof kFragments / sizeof kFragments[0])]); break;
      case 1:
        if (!s.empty() && at < s.size()) s.erase(at, 1 + rng() % 3);
        break;
      default:
        if (!s.empty() && at < s.size()) s[at] = static_cast<char>(rng() % 128);
    }
  }
  return s;
}

// One random expression written twice: LaTeX and sympy's printed syntax.
// Denominators and radicands are squares plus one: defined for real x, y.
struct Written {
  std::string latex, sympy;
};

Written expression(std::mt19937_64& rng, int depth) {
  auto leaf = [&]() -> Written {
    switch (rng() % 4) {
      case 0: {
        std::string n = std::to_string(1 + rng() % 12);
        return {n, n};
      }
      case 1: return {"x", "x"};
      case 2: return {"y", "y"};
      default: return {"\\pi", "pi"};
    }
  };
  if (depth <= 0) return leaf();
  Written a = expression(rng, depth - 1), b = expression(rng, depth - 1);
  switch (rng() % 7) {
    case 0: return {"(" + a.latex + ")+(" + b.latex + ")", "(" + a.sympy + ") + (" + b.sympy + ")"};
    case 1: return {"(" + a.latex + ")-(" + b.latex + ")", "(" + a.sympy + ") - (" + b.sympy + ")"};
    case 2: return {"(" + a.latex + ")\\cdot(" + b.latex + ")", "(" + a.sympy + ")*(" + b.sympy + ")"};
    case 3:
      return {"\\frac{" + a.latex + "}{(" + b.latex + ")^2+1}", "(" + a.sympy + ")/((" + b.sympy + ")**2 + 1)"};
    case 4: return {"\\sqrt{(" + a.latex + ")^{2}+1}", "sqrt((" + a.sympy + ")**2 + 1)"};
    case 5: {
      std::string k = std::to_string(rng() % 3);
      return {"\\left(" + a.latex + "\\right)^{" + k + "}", "(" + a.sympy + ")**" + k};
    }
    default: return {"\\sin\\left(" + a.latex + "\\right)", "sin(" + a.sympy + ")"};
  }
}

}  // namespace

TEST_CASE("random strings and fragments: no crash, bounded allocation") {
  Bounded bounded;
  std::mt19937_64 rng(20261127);
  size_t n = iterations(200000);
  size_t worst = 0;
  for (size_t k = 0; k < n; ++k) {
    std::string a = random_fragments(rng), b = random_fragments(rng);
    size_t peak = bounded.peak_of([&] {
      (void)vf::equiv::parse_answer(a);
      (void)vf::equiv::judge(a, b);
      (void)vf::equiv::judge(b, a);
    });
    if (peak > worst) worst = peak;
    if (peak > kAllocationBound) FAIL_CHECK("allocated " << peak << " bytes for: " << a << " || " << b);
  }
  MESSAGE("largest allocation peak for one pair: " << worst << " bytes over " << n << " pairs");
  CHECK(worst <= kAllocationBound);
}

TEST_CASE("mutated real answers: no crash, bounded allocation") {
  Bounded bounded;
  std::mt19937_64 rng(7);
  std::vector<std::string> answers;
  std::ifstream in(vf::test::shared_dir() + "/equivalence/cases.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    auto c = nlohmann::json::parse(line);
    answers.push_back(c["gold"].get<std::string>());
    answers.push_back(c["pred"].get<std::string>());
  }
  REQUIRE(answers.size() >= 100);
  size_t n = iterations(100000);
  size_t worst = 0;
  for (size_t k = 0; k < n; ++k) {
    const std::string& base = answers[rng() % answers.size()];
    std::string m = mutate(base, rng);
    size_t peak = bounded.peak_of([&] { (void)vf::equiv::judge(base, m); });
    worst = std::max(worst, peak);
    if (peak > kAllocationBound) FAIL_CHECK("allocated " << peak << " bytes for: " << base << " || " << m);
  }
  CHECK(worst <= kAllocationBound);
}

TEST_CASE("a random expression in LaTeX and in sympy syntax is the same answer") {
  std::mt19937_64 rng(42);
  size_t n = iterations(5000);
  for (size_t k = 0; k < n; ++k) {
    Written w = expression(rng, 1 + static_cast<int>(rng() % 4));
    auto v = vf::equiv::judge(w.latex, w.sympy);
    INFO(w.latex, " || ", w.sympy, " -> ", vf::equiv::to_string(v.outcome), ": ", v.reason);
    CHECK(v.equivalent());
  }
}

TEST_CASE("nesting far beyond the parser's depth limit is refused, not a stack overflow") {
  for (const char* open : {"(", "\\sqrt{", "\\frac{1}{", "{", "[", "-", "2^"}) {
    std::string s;
    for (int k = 0; k < 3000; ++k) s += open;
    s += "1";
    auto v = vf::equiv::judge(s, "1");
    CHECK_FALSE(v.equivalent());
  }
}

// ---------------------------------------------------------------- no false accepts

namespace {

std::string frac(const mpq_class& q, int style) {
  std::string n = q.get_num().get_str(), d = q.get_den().get_str();
  if (q.get_den() == 1) return n;
  switch (style % 3) {
    case 0: return "\\frac{" + n + "}{" + d + "}";
    case 1: return n + "/" + d;
    default: return "Rational(" + n + ", " + d + ")";
  }
}

mpz_class random_big(std::mt19937_64& rng, int digits) {
  std::string s(1, static_cast<char>('1' + rng() % 9));
  for (int i = 1; i < digits; ++i) s += static_cast<char>('0' + rng() % 10);
  return mpz_class(s, 10);
}

}  // namespace

// Pairs built to differ, in the ways a judge is tempted to accept them: the
// judge must never call one equivalent.
TEST_CASE("pairs known to differ are never accepted") {
  std::mt19937_64 rng(1601);
  std::vector<std::pair<std::string, std::string>> pairs;
  size_t n = iterations(400);
  auto small = [&](int lo, int hi) { return lo + static_cast<int>(rng() % static_cast<uint64_t>(hi - lo + 1)); };
  for (size_t k = 0; k < n; ++k) {
    // Neighbouring exact values: p/q against p/q + 1/(q 10^j), however small the gap.
    mpq_class q(small(-999999, 999999), small(1, 999999));
    q.canonicalize();
    mpz_class gap;
    mpz_ui_pow_ui(gap.get_mpz_t(), 10, static_cast<unsigned long>(small(1, 30)));
    mpq_class near = q + mpq_class(1) / (mpq_class(q.get_den()) * mpq_class(gap));
    near.canonicalize();
    pairs.emplace_back(frac(q, small(0, 2)), frac(near, small(0, 2)));
    // Factorial neighbours.
    int m = small(8, 80);
    pairs.emplace_back("\\frac{1}{" + std::to_string(m) + "!}", "\\frac{1}{" + std::to_string(m + 1) + "!}");
    pairs.emplace_back(std::to_string(m) + "!", std::to_string(m) + "! + 1");
    // Integers longer than a double holds: the neighbour, and the float's print.
    mpz_class big = random_big(rng, small(16, 30));
    pairs.emplace_back(big.get_str(), mpz_class(big + (rng() % 2 ? 1 : -1)).get_str());
    char printed[64];
    std::snprintf(printed, sizeof printed, "%.17g", big.get_d());
    if (mpf_class(printed, 256) != mpf_class(big, 256)) pairs.emplace_back(big.get_str(), printed);
    // A radical against its decimal truncation written as an exact fraction.
    int r = small(2, 99);
    if (static_cast<int>(std::sqrt(r)) * static_cast<int>(std::sqrt(r)) != r) {
      mpz_class scale;
      mpz_ui_pow_ui(scale.get_mpz_t(), 10, 16);
      mpz_class root = sqrt(mpz_class(r) * scale * scale);
      pairs.emplace_back("\\sqrt{" + std::to_string(r) + "}", "\\frac{" + root.get_str() + "}{" + scale.get_str() + "}");
    }
    // Order and ends: a pair is not a set; an open end is not a closed one.
    int a = small(-50, 50), b = a + small(1, 50);
    std::string as = std::to_string(a), bs = std::to_string(b);
    pairs.emplace_back("(" + as + ", " + bs + ")", "\\{" + as + ", " + bs + "\\}");
    pairs.emplace_back("(" + as + ", " + bs + ")", "(" + bs + ", " + as + ")");
    pairs.emplace_back("(" + as + ", " + bs + ")", "[" + as + ", " + bs + "]");
    pairs.emplace_back("[" + as + ", " + bs + ")", "[" + as + ", " + bs + "]");
    pairs.emplace_back("(" + as + ", " + bs + "]", "(" + as + ", " + bs + ")");
    pairs.emplace_back("x > " + as, "x \\ge " + as);
    pairs.emplace_back("x \\le " + as, "x < " + as);
    // Signs and branches: identities that hold only for some values.
    if (a != 0) pairs.emplace_back(as, std::to_string(-a));
    const char* var = (rng() % 2) ? "x" : "y";
    std::string v(var);
    pairs.emplace_back("\\sqrt{" + v + "^2}", v);
    pairs.emplace_back("|" + v + "|", v);
    pairs.emplace_back("\\ln(" + v + "^2)", "2\\ln(" + v + ")");
    pairs.emplace_back("(" + v + "^2)^{1/2}", v);
    pairs.emplace_back("\\arcsin(\\sin(" + v + "))", v);
    pairs.emplace_back("\\sqrt{" + v + "^2 + " + std::to_string(small(1, 9)) + "}", v + " + " + std::to_string(small(1, 9)));
    // Mixed numbers are sums, not products; a unit's dimension is not optional.
    int w = small(1, 9), num = small(1, 7), den = num + small(1, 5);
    pairs.emplace_back(std::to_string(w) + "\\frac{" + std::to_string(num) + "}{" + std::to_string(den) + "}",
                       frac(mpq_class(w * num, den), 1));
    pairs.emplace_back(std::to_string(w) + " " + std::to_string(num) + "/" + std::to_string(den), std::to_string(w));
    pairs.emplace_back(std::to_string(w) + " N", std::to_string(w) + " J");
    pairs.emplace_back(std::to_string(w) + " km", std::to_string(w) + " m");
  }
  size_t accepted = 0;
  for (const auto& [gold, pred] : pairs) {
    auto v = vf::equiv::judge(gold, pred);
    if (!v.equivalent()) continue;
    ++accepted;
    FAIL_CHECK("accepted a pair known to differ: " << gold << " vs " << pred << " (" << v.reason << ")");
  }
  MESSAGE(pairs.size() << " pairs known to differ, " << accepted << " accepted");
  CHECK(accepted == 0);
}
