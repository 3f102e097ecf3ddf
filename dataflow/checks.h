// Verifier checks: the pluggable judgement the verify stage applies to each
// executed item. A check reads the item and returns an ItemVerdict with a
// stable reason code for every rejection; verify_item() applies it.
//
// ExecutionCheck (the offline `run` job: accept an answer that came from
// successful, deterministic executions, is well-formed and is not equivalent
// to the seed's own answer), SeedMatchCheck (`verify-seeds`: the rationale's
// output must be equivalent to the seed's final_answer), and the agreement
// check of LLM jobs (dataflow/agreement.h). All judge answers with
// dataflow/equiv under the policy of the item's domain.
// Thread-safety: checks are immutable after construction; check() is const.
#pragma once

#include <memory>
#include <string>

#include "dataflow/equiv/judge.h"
#include "dataflow/item.h"

namespace vf {

struct ItemVerdict {
  bool accepted = false;
  std::string answer;   // the answer the item will carry
  std::string reason;   // stable code, empty when accepted
  std::string detail;   // human-readable
  std::string note;     // how an answer comparison was judged (accepted or not)
  // Verification by agreement (solver samples):
  std::vector<bool> agrees;  // per solver sample
  double pass_rate = -1;
  std::string difficulty;
};

class Check {
 public:
  virtual ~Check() = default;
  virtual std::string name() const = 0;
  virtual ItemVerdict check(const Item& item) const = 0;
};

struct CheckOptions {
  size_t max_answer_chars = 2000;
  equiv::PolicySet policies;  // answer equivalence, per domain
};

class ExecutionCheck final : public Check {
 public:
  explicit ExecutionCheck(CheckOptions options) : options_(std::move(options)) {}
  std::string name() const override { return "execution"; }
  ItemVerdict check(const Item& item) const override;

 private:
  CheckOptions options_;
};

class SeedMatchCheck final : public Check {
 public:
  explicit SeedMatchCheck(CheckOptions options) : options_(std::move(options)) {}
  std::string name() const override { return "seed-match"; }
  ItemVerdict check(const Item& item) const override;

 private:
  CheckOptions options_;
};

// Rejection reason for a failed run ("execution-error", "timeout", ...).
std::string reason_for_run_status(uint8_t status);

// Whitespace-collapsed, trimmed text (emptiness checks, string baselines).
std::string normalize_answer(const std::string& s);

// A program's printed output judged against a written answer: no extraction.
equiv::Verdict judge_output(const std::string& gold, const std::string& output, const equiv::Policy& domain_policy);

// "execution" or "seed-match"; null for another name (agreement: make_agreement_check).
std::unique_ptr<Check> make_check(const std::string& kind, CheckOptions options);

// Judges an executed item and applies the verdict: accepted with its answer,
// or rejected with the reason; pass rate, difficulty and per-sample agreement
// are recorded either way. Items in any other state are left untouched
// (rejected upstream: their reason stays).
void verify_item(const Check& check, Item& item);

// The execution criteria every accepted item meets (successful, deterministic,
// non-empty, well-formed, not the seed's own answer); false with the verdict
// filled when one fails.
bool execution_criteria(const Item& item, const CheckOptions& options, ItemVerdict& v);

}  // namespace vf
