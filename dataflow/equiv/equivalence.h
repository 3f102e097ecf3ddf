// Answer equivalence: are a gold answer and a predicted answer the same
// mathematical object? The verifier's core judgement, used for the
// rationale's output against the seed's final_answer and for a solver's
// chain-of-thought answer against the code's.
//
//   Verdict v = judge("\\frac{1+\\sqrt5}{2}", "1/2 + sqrt(5)/2", Policy{});
//   v.outcome == Outcome::kEquivalent; v.reason says why; v.gold_form and
//   v.pred_form are the normalized forms both sides were compared in.
//
// Precision follows the gold as written (Policy): an integer or fraction gold
// is exact up to floating-point noise in the prediction; a decimal gold
// accepts values that round to it; a symbolic gold needs close agreement.
// Pure functions; no I/O; thread-safe (policies are values).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "dataflow/expected.h"

namespace vf::equiv {

enum class Outcome { kEquivalent, kNotEquivalent, kUnparseable, kNoAnswer };
const char* to_string(Outcome o);

enum class IntegerGold {
  kExact,               // "51" means exactly 51 (mathematics)
  kSignificantFigures,  // "51" means 51 to two significant figures (physics, chemistry)
};

// How a prediction is read out of a chain-of-thought response.
enum class ExtractMode {
  kAuto,    // extract when the text holds a marker (\boxed, "final answer is", "Answer:"), else take it whole
  kAlways,  // always extract; without a marker, apply the fallback
  kNever,   // the prediction is the answer itself (a program's output)
};
enum class Fallback {
  kNone,      // no marker: the verdict is "no answer", never a guess
  kLastLine,  // the last non-empty line
  kWhole,     // the whole response
};

struct Policy {
  double float_noise_rel = 1e-9;   // exact gold vs a float-printed prediction (299.999999999999 == 300)
  double symbolic_rel = 1e-6;      // symbolic gold (pi, sqrt) vs a decimal prediction
  double exact_rel = 1e-12;        // two exact forms compared numerically (radicals, pi)
  IntegerGold integer_gold = IntegerGold::kExact;
  bool percent_as_fraction = true;  // 25% == 0.25
  bool require_units = false;       // a gold with a unit needs a prediction with a compatible unit
  ExtractMode extract = ExtractMode::kAuto;
  Fallback fallback = Fallback::kNone;
};

// Sets one policy field from text ("symbolic_rel", "1e-4"); errors name the key.
Status set_policy_field(Policy& policy, const std::string& key, const std::string& value);
// "integer_gold=significant-figures, symbolic_rel=1e-3"
Status apply_policy_settings(Policy& policy, const std::string& settings);
std::vector<std::string> policy_keys();

struct Verdict {
  Outcome outcome = Outcome::kUnparseable;
  std::string reason;
  std::string gold_form;
  std::string pred_form;
  std::string extracted;          // the answer read out of the prediction, when extraction applied
  std::string extraction_method;  // "boxed", "final-answer", "answer-label", "last-line", "whole", "" (none)
  bool equivalent() const { return outcome == Outcome::kEquivalent; }
};

Verdict judge(std::string_view gold, std::string_view pred, const Policy& policy = {});

// Policies by domain: a default plus overrides whose domain matches the
// item's metadata domain case-insensitively.
class PolicySet {
 public:
  PolicySet() = default;
  explicit PolicySet(Policy fallback) : default_(fallback) {}
  // "Physics: integer_gold=significant-figures, symbolic_rel=1e-3"
  Status add_domain_rule(const std::string& rule);
  const Policy& for_domain(std::string_view domain) const;
  Policy& default_policy() { return default_; }

 private:
  Policy default_;
  std::vector<std::pair<std::string, Policy>> domains_;
};

// ---------------------------------------------------------------- extraction

struct Extraction {
  bool found = false;
  std::string answer;
  std::string method;  // as Verdict::extraction_method
};

// The final answer of a chain-of-thought response: the last \boxed{...}, else
// the last "final answer is ..." / "Answer: ...", else the fallback.
Extraction extract_final_answer(std::string_view response, Fallback fallback);

}  // namespace vf::equiv
