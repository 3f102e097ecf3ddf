// The agreement rule itself, on constructed sample sets: the code's answer is
// accepted only when its class of equivalent samples strictly outnumbers
// every class of disagreeing ones; ties, zero-advantage and too-easy items
// are decided as configured; pass rate and difficulty follow the samples.
#include <doctest/doctest.h>

#include "dataflow/agreement.h"

using namespace vf;

namespace {

// An item whose code printed `code_answer` twice and whose solvers answered `samples`
// ("" = a response with no final answer).
Item solved(const std::string& code_answer, const std::vector<std::string>& samples) {
  Item item;
  item.question = "What is it?";
  for (int i = 0; i < 2; ++i) {
    Execution e;
    e.output = code_answer;
    item.executions.push_back(e);
  }
  advance(item, ItemEvent::kExecutionsAttached);
  for (const auto& s : samples) {
    SolverSample sample;
    sample.response = "... " + s;
    sample.answer = s;
    item.solver_samples.push_back(sample);
  }
  return item;
}

ItemVerdict judge(const std::string& code, const std::vector<std::string>& samples, bool majority = true,
                  bool drop_all_solved = false, bool drop_none_solved = true) {
  AgreementOptions o;
  o.majority = majority;
  o.drop_all_solved = drop_all_solved;
  o.drop_none_solved = drop_none_solved;
  return make_agreement_check(o)->check(solved(code, samples));
}

}  // namespace

TEST_CASE("agreement: a strict majority of samples agreeing with the code accepts") {
  auto v = judge("42", {"42", "42", "7"});
  CHECK(v.accepted);
  CHECK(v.answer == "42");
  CHECK(v.pass_rate == doctest::Approx(2.0 / 3));
  CHECK(v.difficulty == "medium");
  CHECK(v.agrees == std::vector<bool>{true, true, false});
}

TEST_CASE("agreement: a tie between the code's answer and a rival answer is not a majority") {
  auto v = judge("42", {"42", "42", "7", "7"});
  CHECK_FALSE(v.accepted);
  CHECK(v.reason == "no-majority");
  CHECK(v.pass_rate == doctest::Approx(0.5));
  auto single = judge("42", {"42", "7"});
  CHECK_FALSE(single.accepted);
  CHECK(single.reason == "no-majority");
}

TEST_CASE("agreement: rivals are classes of equivalent answers, not strings") {
  // 7, 7.0 and 14/2 are one rival of three; the code's class has two.
  auto v = judge("42", {"42", "42.0", "7", "7.0", "\\frac{14}{2}"});
  CHECK_FALSE(v.accepted);
  CHECK(v.reason == "no-majority");
  // The code's class counts every notation of its value: 1/2, 0.5 and \frac12 are three.
  auto w = judge("1/2", {"0.5", "\\frac{1}{2}", "1/2", "3", "4"});
  CHECK(w.accepted);
  CHECK(w.pass_rate == doctest::Approx(0.6));
}

TEST_CASE("agreement: several different wrong answers do not outvote one right answer each") {
  auto v = judge("42", {"42", "42", "7", "8", "9"});
  CHECK(v.accepted);  // 2 against the largest rival class of 1
  auto w = judge("42", {"42", "7", "8", "9"});
  CHECK_FALSE(w.accepted);  // 1 against 1: a tie
  CHECK(w.reason == "no-majority");
}

TEST_CASE("agreement: samples without a final answer are neither agreeing nor rivals") {
  auto v = judge("42", {"42", "", "", ""});
  CHECK(v.accepted);
  CHECK(v.pass_rate == doctest::Approx(0.25));
  CHECK(v.difficulty == "hard");
}

TEST_CASE("agreement: with \"any\", one agreeing sample suffices, ties included") {
  CHECK(judge("42", {"42", "7", "7", "7"}, /*majority=*/false).accepted);
  CHECK_FALSE(judge("42", {"42", "7", "7", "7"}, /*majority=*/true).accepted);
}

TEST_CASE("agreement: zero advantage is rejected or kept as unsolved, as configured") {
  auto dropped = judge("42", {"7", "7", "8", ""});
  CHECK_FALSE(dropped.accepted);
  CHECK(dropped.reason == "solver-disagrees");
  CHECK(dropped.pass_rate == 0);
  auto kept = judge("42", {"7", "7", "8", ""}, true, false, /*drop_none_solved=*/false);
  CHECK(kept.accepted);
  CHECK(kept.difficulty == "unsolved");
}

TEST_CASE("agreement: items every sample solves are rejected as too easy, or kept as easy, as configured") {
  auto easy = judge("42", {"42", "42", "42"});
  CHECK(easy.accepted);
  CHECK(easy.difficulty == "easy");
  auto dropped = judge("42", {"42", "42", "42"}, true, /*drop_all_solved=*/true);
  CHECK_FALSE(dropped.accepted);
  CHECK(dropped.reason == "too-easy");
}

TEST_CASE("agreement: the execution criteria come first") {
  Item item = solved("42", {"42", "42"});
  item.executions[1].output = "43";
  AgreementOptions o;
  auto v = make_agreement_check(o)->check(item);
  CHECK_FALSE(v.accepted);
  CHECK(v.reason == "nondeterministic");
  auto unsolved = judge("42", {});
  CHECK_FALSE(unsolved.accepted);
  CHECK(unsolved.reason == "not-solved");
}
