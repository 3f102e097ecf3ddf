#include "dataflow/checks.h"

#include "dataflow/equiv/extract.h"
#include "dataflow/seeds.h"

namespace vf {

using RunStatus = ExecStatus;

std::string reason_for_run_status(uint8_t status) {
  switch (static_cast<RunStatus>(status)) {
    case RunStatus::kOk: return "";
    case RunStatus::kError: return "execution-error";
    case RunStatus::kTimeout: return "timeout";
    case RunStatus::kMissingDependency: return "missing-dependency";
    case RunStatus::kOutputTooLarge: return "output-too-large";
    case RunStatus::kKilledByLimit: return "killed-by-limit";
    case RunStatus::kSandboxFailure: return "sandbox-failure";
  }
  return "execution-error";
}

std::string normalize_answer(const std::string& s) { return collapse_whitespace(s); }

equiv::Verdict judge_output(const std::string& gold, const std::string& output, const equiv::Policy& domain_policy) {
  equiv::Policy p = domain_policy;
  p.extract = equiv::ExtractMode::kNever;
  // A program that boxes its answer among other printed text
  // ("Forecast value: \boxed{501.84}") answers what it boxed.
  if (output.find("\\boxed") != std::string::npos && gold.find("\\boxed") == std::string::npos) {
    auto ex = equiv::extract_final_answer(output, equiv::Fallback::kNone);
    if (ex.found && ex.method.rfind("boxed", 0) == 0) return equiv::judge(gold, ex.answer, p);
  }
  return equiv::judge(gold, output, p);
}

namespace {

bool printable_text(const std::string& s) {
  for (unsigned char c : s)
    if (c < 0x20 && c != '\n' && c != '\t' && c != '\r') return false;
  return true;
}

// An item without executions, or with a failed run, as a verdict.
bool failed_run(const Item& item, ItemVerdict& v) {
  if (item.executions.empty()) {
    v.reason = "not-executed";
    v.detail = "item reached the verifier without an execution";
    return true;
  }
  for (size_t i = 0; i < item.executions.size(); ++i) {
    const auto& e = item.executions[i];
    if (e.ok()) continue;
    v.reason = reason_for_run_status(e.status);
    v.detail = "run " + std::to_string(i + 1) + ": " + std::string(to_string(e.exec_status()));
    if (!e.detail.empty()) v.detail += " (" + e.detail + ")";
    if (!e.error_tail.empty()) v.detail += ": " + e.error_tail;
    return true;
  }
  return false;
}

}  // namespace

ItemVerdict ExecutionCheck::check(const Item& item) const {
  ItemVerdict v;
  if (!execution_criteria(item, options_, v)) return v;
  v.accepted = true;
  return v;
}

bool execution_criteria(const Item& item, const CheckOptions& options, ItemVerdict& v) {
  if (failed_run(item, v)) return false;
  const std::string& first = item.executions.front().output;
  if (normalize_answer(first).empty()) {
    v.reason = "empty-output";
    v.detail = "the rationale printed nothing";
    return false;
  }
  for (size_t i = 1; i < item.executions.size(); ++i) {
    if (item.executions[i].output != first) {
      v.reason = "nondeterministic";
      v.detail = "run 1 printed '" + first.substr(0, 200) + "', run " + std::to_string(i + 1) + " printed '" +
                 item.executions[i].output.substr(0, 200) + "'";
      return false;
    }
  }
  if (first.size() > options.max_answer_chars) {
    v.reason = "answer-too-long";
    v.detail = std::to_string(first.size()) + " characters, limit " + std::to_string(options.max_answer_chars);
    return false;
  }
  if (!printable_text(first)) {
    v.reason = "malformed-answer";
    v.detail = "the answer holds control characters";
    return false;
  }
  if (normalize_answer(item.question).empty()) {
    v.reason = "malformed-question";
    v.detail = "the question is empty";
    return false;
  }
  if (!item.reference_answer.empty()) {
    // A variant whose answer is the seed's (in any notation) did not really
    // change the problem. That is a question of equal values, not of a
    // measurement's precision: a science domain's significant figures would
    // call 243/92 "3" and throw the variant away.
    equiv::Policy same_value = options.policies.for_domain(item.provenance.domain);
    same_value.integer_gold = equiv::IntegerGold::kExact;
    same_value.sig_figs_with_units = false;
    same_value.measurement_rel = 0;
    auto same = judge_output(item.reference_answer, first, same_value);
    if (same.equivalent()) {
      v.reason = "same-as-seed-answer";
      v.detail = "the variant's answer '" + first.substr(0, 200) + "' equals the seed's answer '" +
                 item.reference_answer.substr(0, 200) + "' (" + same.reason + ")";
      return false;
    }
  }
  v.answer = first;
  return true;
}

ItemVerdict SeedMatchCheck::check(const Item& item) const {
  ItemVerdict v;
  if (failed_run(item, v)) return v;
  v.answer = item.executions.front().output;
  equiv::Policy policy = options_.policies.for_domain(item.provenance.domain);
  if (item.answer_tolerance >= 0) policy.absolute_tolerance = item.answer_tolerance;
  auto e = judge_output(item.reference_answer, v.answer, policy);
  v.note = std::string(equiv::to_string(e.outcome)) + ": " + e.reason;
  if (!e.gold_form.empty()) v.note += " | gold " + e.gold_form.substr(0, 300) + " | output " + e.pred_form.substr(0, 300);
  if (!e.equivalent()) {
    v.reason = e.outcome == equiv::Outcome::kUnparseable ? "unparseable-answer" : "mismatch";
    v.detail = "printed '" + v.answer.substr(0, 200) + "', final_answer is '" + item.reference_answer.substr(0, 200) +
               "': " + e.reason;
    return v;
  }
  v.accepted = true;
  return v;
}

void verify_item(const Check& check, Item& item) {
  if (item.item_state() != ItemState::kExecuted) return;
  ItemVerdict v = check.check(item);
  item.verdict_note = std::move(v.note);
  for (size_t i = 0; i < v.agrees.size() && i < item.solver_samples.size(); ++i) item.solver_samples[i].agrees = v.agrees[i];
  if (v.pass_rate >= 0) {
    item.pass_rate = v.pass_rate;
    item.difficulty = v.difficulty;
  }
  if (v.accepted) {
    item.answer = std::move(v.answer);
    advance(item, ItemEvent::kAccept);
  } else {
    if (!v.answer.empty()) item.answer = std::move(v.answer);
    reject(item, std::move(v.reason), std::move(v.detail));
  }
}

std::unique_ptr<Check> make_check(const std::string& kind, CheckOptions options) {
  if (kind == "execution") return std::make_unique<ExecutionCheck>(std::move(options));
  if (kind == "seed-match") return std::make_unique<SeedMatchCheck>(std::move(options));
  return nullptr;
}

}  // namespace vf
