// Answer equivalence: are a gold answer and a predicted answer the same
// mathematical object? The verifier's core judgement, used for the
// rationale's output against the seed's final_answer and for a solver's
// chain-of-thought answer against the code's.
//
//   Verdict v = judge("\\frac{1+\\sqrt5}{2}", "1/2 + sqrt(5)/2", Policy{});
//   v.outcome == Outcome::kEquivalent; v.reason says why; v.gold_form and
//   v.pred_form are the normalized forms both sides were compared in.
//
// Precision follows the gold as written (equiv/policy.h): an integer or
// fraction gold is exact up to floating-point noise in the prediction; a
// decimal gold accepts values that round to it; a symbolic gold needs close
// agreement. Implemented by judge.cc over parse.h and expr.h.
// Pure functions; no I/O; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "dataflow/equiv/policy.h"

namespace vf::equiv {

enum class Outcome { kEquivalent, kNotEquivalent, kUnparseable, kNoAnswer };
const char* to_string(Outcome o);

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

}  // namespace vf::equiv
