// Text -> Answer: one recursive-descent parser for plain numbers, LaTeX,
// sympy's printed output and Python literals, which overlap heavily
// (`\frac{1}{2}`, `1/2`, `Rational(1, 2)` all become the same rational).
// Before parsing, other notations are rewritten into these: mixed numbers
// (`3\frac{1}{4}` = 3 + 1/4), the seeds' `3.3 10^21`, degree marks, base
// subscripts (their digits kept), Unicode fractions and letters, `\langle`,
// `Point2D(`, Python's `4j`; and a unit after a constant value ("12.5*pi**2
// N/m", "370 pm", "12 pencils") is split off into Answer::unit (units.h).
//
// Never throws and never recurses without bound (nesting is capped at
// kMaxDepth); inputs longer than kMaxAnswerChars are refused. Text that is not
// mathematics (words, sentences) becomes a Kind::kText value rather than an
// error, so "Sunday" still compares with "\text{sunday}". Only when nothing
// usable remains (empty input, refused input) is the result unparseable.
// Pure function; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "dataflow/equiv/expr.h"

namespace vf::equiv {

constexpr size_t kMaxAnswerChars = 4096;
constexpr int kMaxDepth = 96;
constexpr uint32_t kMaxPlusMinus = 4;

struct ParseResult {
  bool ok = false;
  std::string error;  // why it is unparseable, when !ok
  Answer answer;
  bool fell_back_to_text = false;
  std::string math_error;  // the math parser's complaint when it fell back to text
};

struct ParseOptions {
  bool detect_units = true;  // "51 atm", "1.3e+02 K", "67 J/K"
};

ParseResult parse_answer(std::string_view text, const ParseOptions& options = {});

// Index of the '}' closing the '{' at `open` (escaped braces skipped), or npos.
size_t matching_brace(std::string_view text, size_t open);

// Text answers compare case- and space-insensitively: lower case, no spaces,
// no surrounding LaTeX/markdown decoration or final period.
std::string normalize_text(std::string_view text);

}  // namespace vf::equiv
