// Reading the final answer out of a chain-of-thought response: the last
// \boxed{...} (several boxed side by side on its line: all of them), else the last "final answer is ..." / "Answer: ...", else the
// policy's fallback (none, last line, whole). Program outputs are never
// extracted from (ExtractMode::kNever).
// Pure; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "dataflow/equiv/policy.h"

namespace vf::equiv {

struct Extraction {
  bool found = false;
  std::string answer;
  std::string method;  // "boxed", "boxed-several" (boxes side by side, joined by ", "), "final-answer", "answer-label", "last-line", "whole"
};

Extraction extract_final_answer(std::string_view response, Fallback fallback);

}  // namespace vf::equiv
