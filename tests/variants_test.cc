#include <doctest/doctest.h>

#include <set>

#include "dataflow/seeds.h"
#include "dataflow/variants.h"
#include "test_util.h"

using namespace vf;

namespace {
std::vector<std::string> texts(const std::vector<NumericToken>& v) {
  std::vector<std::string> out;
  for (auto& t : v) out.push_back(t.text);
  return out;
}
Seed seed(std::string q, std::string code, std::string answer = "0") {
  Seed s;
  s.question = std::move(q);
  s.rationale = std::move(code);
  s.final_answer = std::move(answer);
  s.domain = "Test";
  return s;
}
}  // namespace

TEST_CASE("question numbers skip subscripts, ordinals, thousands groups and codes") {
  auto v = question_numbers("Let $x_1 = 12$ on the 3rd day; 12,500 people paid 4.75 each for code 007 and $\\frac12$.");
  CHECK(texts(v) == std::vector<std::string>{"12", "4.75"});
}

TEST_CASE("code numbers skip strings, comments, identifiers and exotic literals") {
  auto v = code_numbers("x2 = 15  # 99 bottles\ns = 'ab 77' + f\"{n*3}\" + r'''5\n6'''\ny = 2.5e3 + 0x1F + 1_000 + 4.5 + 3j\nprint(x2 * 15)\n");
  CHECK(texts(v) == std::vector<std::string>{"15", "4.5", "15"});
}

TEST_CASE("substitution changes the constant consistently in question and code") {
  std::vector<Seed> seeds = {seed("A train goes 85 km/h for 6 hours. How far?", "print(85 * 6)")};
  VariantGenerator gen(seeds, 1);
  REQUIRE(gen.eligible_seeds() == 1);
  for (int i = 0; i < 20; ++i) {
    auto c = gen.next();
    REQUIRE(c);
    REQUIRE(!c->substitutions.empty());
    for (auto& s : c->substitutions) {
      CHECK(c->question.find(s.to) != std::string::npos);
      CHECK(c->rationale.find(s.to) != std::string::npos);
      CHECK(s.from != s.to);
    }
    auto qn = texts(question_numbers(c->question));
    auto cn = texts(code_numbers(c->rationale));
    CHECK(qn == cn);  // same constants, same order, in both
  }
}

TEST_CASE("seeds whose code holds constants absent from the question are not eligible") {
  std::vector<Seed> seeds = {
      seed("Minimise x^2 - 2018x.", "print((2018 // 2) ** 2 - 2018 * 1009)"),  // 1009 is derived
      seed("What is 1 + 1?", "print(1 + 1)"),                                 // nothing to vary
  };
  VariantGenerator gen(seeds, 1);
  CHECK(gen.eligible_seeds() == 0);
  CHECK_FALSE(gen.next());
}

TEST_CASE("the candidate stream depends only on seeds and random seed, and never repeats a question") {
  auto set = load_seeds({vf::test::source_dir() + "/configs/seeds/examples.jsonl"});
  REQUIRE(set.problems.empty());
  VariantGenerator a(set.seeds, 99), b(set.seeds, 99), c(set.seeds, 100);
  std::set<std::string> questions;
  for (const auto& s : set.seeds) questions.insert(s.question);
  bool differs = false;
  for (int i = 0; i < 500; ++i) {
    auto x = a.next(), y = b.next(), z = c.next();
    REQUIRE(x);
    REQUIRE(y);
    CHECK(x->question == y->question);
    CHECK(x->rationale == y->rationale);
    CHECK(questions.insert(x->question).second);
    if (z && z->question != x->question) differs = true;
  }
  CHECK(differs);
}

TEST_CASE("a seed with a small constant space is exhausted, not looped forever") {
  std::vector<Seed> seeds = {seed("What is 3 + 4?", "print(3 + 4)", "7")};
  VariantGenerator gen(seeds, 5);
  std::set<std::string> seen;
  int n = 0;
  while (auto c = gen.next()) {
    CHECK(seen.insert(c->question).second);
    REQUIRE(++n < 1000);
  }
  CHECK(n > 5);
}
