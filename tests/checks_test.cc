#include <doctest/doctest.h>

#include "dataflow/checks.h"
#include "sandbox/run.h"

using namespace vf;
using sandbox::RunStatus;

namespace {
Item executed(std::vector<std::pair<RunStatus, std::string>> runs, std::string seed_answer = "1") {
  Item item;
  item.question = "q?";
  item.reference_answer = std::move(seed_answer);
  for (auto& [status, out] : runs) {
    Execution e;
    e.status = static_cast<uint8_t>(status);
    e.output = out;
    if (status == RunStatus::kMissingDependency) e.detail = "constraint";
    item.executions.push_back(e);
  }
  advance(item, ItemEvent::kExecutionsAttached);
  return item;
}
CheckOptions limit(size_t max_answer_chars) {
  CheckOptions o;
  o.max_answer_chars = max_answer_chars;
  return o;
}
}  // namespace

TEST_CASE("execution check accepts a deterministic, new answer") {
  ExecutionCheck check(limit(100));
  auto v = check.check(executed({{RunStatus::kOk, "42"}, {RunStatus::kOk, "42"}}));
  CHECK(v.accepted);
  CHECK(v.answer == "42");
}

TEST_CASE("execution check rejects with a reason for every failure") {
  ExecutionCheck check(limit(5));
  CHECK(check.check(executed({{RunStatus::kOk, "42"}, {RunStatus::kOk, "43"}})).reason == "nondeterministic");
  CHECK(check.check(executed({{RunStatus::kOk, "  "}})).reason == "empty-output");
  CHECK(check.check(executed({{RunStatus::kOk, "1"}}, "1")).reason == "same-as-seed-answer");
  // The same answer in another notation is still the seed's answer.
  CHECK(check.check(executed({{RunStatus::kOk, "1/2"}}, "\\frac{1}{2}")).reason == "same-as-seed-answer");
  CHECK(check.check(executed({{RunStatus::kOk, "0.5"}}, "\\frac{1}{2}")).reason == "same-as-seed-answer");
  // In a science domain too, only an equal value is the seed's: 243/92 is not "3" to one figure.
  Item physics = executed({{RunStatus::kOk, "243/92"}}, "3");
  physics.provenance.domain = "Physics";
  ExecutionCheck roomy(limit(100));
  CHECK(roomy.check(physics).accepted);
  Item quantity = executed({{RunStatus::kOk, "51.3 atm"}}, "51 atm");
  CHECK(roomy.check(quantity).accepted);
  CHECK(check.check(executed({{RunStatus::kOk, "123456"}})).reason == "answer-too-long");
  CHECK(check.check(executed({{RunStatus::kTimeout, ""}})).reason == "timeout");
  CHECK(check.check(executed({{RunStatus::kError, ""}})).reason == "execution-error");
  auto missing = check.check(executed({{RunStatus::kMissingDependency, ""}}));
  CHECK(missing.reason == "missing-dependency");
  CHECK(missing.detail.find("constraint") != std::string::npos);
  CHECK(check.check(Item{}).reason == "not-executed");
}

TEST_CASE("seed-match check judges the printed answer against final_answer by equivalence") {
  SeedMatchCheck check({});
  CHECK(check.check(executed({{RunStatus::kOk, "42\n"}}, " 42")).accepted);
  CHECK(check.check(executed({{RunStatus::kOk, "1/2 + sqrt(5)/2"}}, "\\frac{1 + \\sqrt{5}}{2}")).accepted);
  auto ok = check.check(executed({{RunStatus::kOk, "Interval.open(-4, 4)"}}, "(-4,4)"));
  CHECK(ok.accepted);
  CHECK(ok.note.find("equivalent") == 0);
  auto v = check.check(executed({{RunStatus::kOk, "41"}}, "42"));
  CHECK_FALSE(v.accepted);
  CHECK(v.reason == "mismatch");
  CHECK(v.answer == "41");
  CHECK(v.detail.find("different exact values") != std::string::npos);
}

TEST_CASE("seed-match check applies the policy of the item's domain") {
  CheckOptions options;
  REQUIRE(options.policies.add_domain_rule("Physics: integer_gold=significant-figures"));
  SeedMatchCheck check(options);
  auto physics = executed({{RunStatus::kOk, "51.3 atm"}}, "51 atm");
  physics.provenance.domain = "physics";
  ExecutionCheck roomy(limit(100));
  CHECK(roomy.check(physics).accepted);
  auto math = executed({{RunStatus::kOk, "51.3"}}, "51");
  math.provenance.domain = "Advanced Math";
  CHECK_FALSE(check.check(math).accepted);
}
