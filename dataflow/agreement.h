// Verification by agreement: an item is accepted when the answer its code
// printed is equivalent to the solvers' majority answer (or to one sample,
// with "any"), after the execution criteria every item meets. The verdict
// carries the pass rate over the k samples and a difficulty bucket;
// zero-advantage items (no sample agrees) and, optionally, items every
// sample solves are rejected for RL.
// Pure; thread-safe (the check is immutable).
#pragma once

#include <memory>
#include <string>

#include "dataflow/checks.h"

namespace vf {

struct AgreementOptions {
  CheckOptions check;
  bool majority = true;           // false: one agreeing sample suffices
  bool drop_all_solved = false;
  bool drop_none_solved = true;
};

// The execution criteria of ExecutionCheck, then: the code's answer must be
// equivalent to the solvers' majority answer (or to one sample); the verdict
// carries the pass rate and difficulty bucket.
std::unique_ptr<Check> make_agreement_check(AgreementOptions options);

// "easy" (every sample right), "medium" (at least half), "hard" (some), "unsolved" (none).
std::string difficulty_bucket(double pass_rate);

}  // namespace vf
