// How strictly an answer is judged: the Policy (tolerances, how a gold's
// written precision is read, how a chain-of-thought prediction is read) and
// PolicySet (a default plus per-domain overrides from the job config).
// Values; set_policy_field/apply_policy_settings parse the config's text.
// Pure; thread-safe (policies are values).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace vf::equiv {

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
  double exact_rel = 1e-18;        // two exact forms compared numerically (radicals, pi): long double rounding only (about 10 ulps)
  IntegerGold integer_gold = IntegerGold::kExact;
  bool percent_as_fraction = true;  // 25% == 0.25
  bool require_units = false;       // a gold with a unit needs a prediction with a compatible unit
  bool sig_figs_with_units = true;  // a gold with a physical unit reads its integers as significant figures
  // A measurement (a gold with a physical unit, or any number in a science
  // domain) also accepts values this close relatively: results computed from
  // constants rounded differently (g = 9.8 or 9.81) differ beyond the last digit.
  double measurement_rel = 5e-3;
  // The seed's metadata.answer_tolerance: |gold - prediction| <= it, element
  // by element, replacing every other numeric rule. Negative: none.
  double absolute_tolerance = -1;
  ExtractMode extract = ExtractMode::kAuto;
  Fallback fallback = Fallback::kNone;
};

// Sets one policy field from text ("symbolic_rel", "1e-4"); errors name the key.
Status set_policy_field(Policy& policy, const std::string& key, const std::string& value);
// "integer_gold=significant-figures, symbolic_rel=1e-3"
Status apply_policy_settings(Policy& policy, const std::string& settings);
std::vector<std::string> policy_keys();

// Policies by domain: a default plus overrides whose domain matches the
// item's metadata domain case-insensitively. Without an override, a science
// domain (its name holds physics, chemistry, engineering, astronomy,
// biology, materials or mechanics) reads integer golds as significant figures.
bool is_science_domain(std::string_view domain);

class PolicySet {
 public:
  PolicySet() = default;
  explicit PolicySet(Policy fallback) : default_(fallback) {}
  // "Physics: integer_gold=significant-figures, symbolic_rel=1e-3"
  Status add_domain_rule(const std::string& rule);
  Policy for_domain(std::string_view domain) const;
  Policy& default_policy() { return default_; }

 private:
  Policy default_;
  std::vector<std::pair<std::string, Policy>> domains_;
};

}  // namespace vf::equiv
