// The value model every answer is parsed into, whatever its notation (LaTeX,
// sympy's printed output, Python literals, plain numbers).
//
// An Answer owns an arena of expression nodes (numbers, symbols, constants,
// sums, products, powers, functions) and a tree of Values above it (scalars,
// tuples, sets, intervals, relations, equations, matrices, text). Nodes refer
// to each other by index, so an Answer is one allocation-friendly object that
// can be moved freely. Exact arithmetic uses GMP rationals; everything else is
// evaluated numerically in complex long double.
//
// Resource bounds: exact results are capped at kMaxExactBits per rational and
// exponents at kMaxExactExponent, beyond which evaluation falls back to
// floating point; so no input can make evaluation allocate without bound.
// Thread-safety: an Answer is a value; const methods may be called from many
// threads at once.
#pragma once

#include <gmpxx.h>

#include <complex>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dataflow/equiv/units.h"

namespace vf::equiv {

using Complex = std::complex<long double>;

constexpr size_t kMaxExactBits = 16384;
constexpr long kMaxExactExponent = 4096;

enum class Op : uint8_t {
  kNumber,     // data: index into numbers
  kSymbol,     // data: index into symbols
  kPi,
  kE,
  kI,
  kInfinity,   // +oo; -oo is Mul(-1, oo)
  kUndefined,  // zoo, nan
  kAdd,        // children
  kMul,        // children
  kPow,        // children: base, exponent
  kFunc,       // fn, children: arguments
  kPlusMinus,  // children: a, b  ->  a + b or a - b (data: which ± it is)
};

enum class Fn : uint8_t {
  kNone, kSin, kCos, kTan, kCot, kSec, kCsc, kAsin, kAcos, kAtan, kSinh, kCosh, kTanh,
  kExp, kLog /* natural, or log(x, base) */, kAbs, kFactorial, kBinomial, kFloor, kCeil, kRe, kIm,
};

const char* fn_name(Fn f);

struct Number {
  mpq_class value;
  bool written_decimal = false;  // had a decimal point or exponent: "2.0", "1e3"
  int decimals = 0;              // digits after the point in the mantissa
  int exponent10 = 0;            // scientific exponent ("1.3e+02" -> 2)
  int significant = 0;           // significant digits as written
  bool trailing_zero_integer = false;  // "1300": significance of the zeros is unknown
  std::string literal;           // as written, for decimals (normalized forms print it back)
};

struct Node {
  Op op = Op::kNumber;
  Fn fn = Fn::kNone;
  uint32_t first = 0;  // first child in Answer::kids
  uint32_t count = 0;  // number of children
  uint32_t data = 0;   // number / symbol / ± index
};

enum class Kind : uint8_t {
  kScalar,     // expr
  kTuple,      // items, written (a, b): ordered; a 2-tuple may also mean an open interval
  kList,       // items, written [a, b]: ordered; a 2-list may also mean a closed interval
  kSet,        // items: unordered
  kBareList,   // items: "1, 2, 3" at the top level: unordered solutions
  kInterval,   // lo, hi expressions, lo_open, hi_open
  kUnion,      // items: intervals / sets / relations
  kIntersection,  // items
  kRelation,   // lhs rel rhs (rel: <, <=, >, >=, !=)
  kEquation,   // lhs = rhs
  kMatrix,     // items row-major, rows x cols
  kDict,       // items: key, value, key, value...
  kBoolean,    // boolean
  kText,       // text (normalized later)
  kFlag,       // text compared exactly: CTF{...}
  kEmptySet,
  kReals,
};

enum class Rel : uint8_t { kLt, kLe, kGt, kGe, kNe };

struct Value {
  Kind kind = Kind::kScalar;
  int32_t expr = -1;           // kScalar
  int32_t lhs = -1, rhs = -1;  // kEquation, kRelation, kInterval (lo, hi)
  bool lo_open = false, hi_open = false;
  Rel rel = Rel::kLt;
  bool boolean = false;
  uint32_t rows = 0, cols = 0;
  std::vector<Value> items;
  std::string text;
};

struct Answer {
  std::vector<Node> nodes;
  std::vector<uint32_t> kids;
  std::vector<Number> numbers;
  std::vector<std::string> symbols;
  Value root;
  bool percent = false;   // written with %
  bool degrees = false;   // written with ^\circ
  bool currency = false;  // written with $
  Unit unit;
  uint32_t plus_minus_count = 0;
  std::string source;     // the text after extraction and cleanup

  uint32_t add_number(Number n);
  uint32_t add_symbol(const std::string& name);
  uint32_t add_leaf(Op op, uint32_t data = 0);
  uint32_t add_node(Op op, const std::vector<uint32_t>& children, Fn fn = Fn::kNone, uint32_t data = 0);
  const Node& node(uint32_t i) const { return nodes[i]; }
  uint32_t child(const Node& n, uint32_t k) const { return kids[n.first + k]; }
};

// Assignment of values to symbols (indexed by symbol name via the caller's
// mapping) and of signs to the ± nodes.
struct EvalContext {
  const std::vector<Complex>* symbol_values = nullptr;  // by Answer symbol index
  uint32_t plus_minus_bits = 0;                          // bit k set: the k-th ± is minus
};

// Exact rational value, when the expression is one (numbers, + - * /,
// integer powers, perfect roots, factorials and binomials of small integers).
std::optional<mpq_class> exact_value(const Answer& a, uint32_t expr, uint32_t plus_minus_bits = 0);

// Value to 320 bits (about 96 digits) when the expression is algebraic
// enough for GMP's floats: rationals, pi, e, + and *, integer powers and
// square roots of non-negative values, |x|, factorials. Two different exact
// values that long double cannot tell apart (sqrt(76) and a 17-digit
// fraction) differ here.
std::optional<mpf_class> precise_value(const Answer& a, uint32_t expr, uint32_t plus_minus_bits = 0);

// Numeric value; NaN when undefined. Infinity propagates as IEEE infinity.
Complex numeric_value(const Answer& a, uint32_t expr, const EvalContext& ctx);

// True when a float literal ("2.0", "1e-3") occurs in the expression.
bool has_decimal_literal(const Answer& a, uint32_t expr);

// Symbol indices used by the expression.
void collect_symbols(const Answer& a, uint32_t expr, std::vector<uint32_t>& out);

// Long double from a rational without overflowing through double.
long double to_long_double(const mpq_class& q);

// sympy-like text of an expression / value: the "normalized form" in verdicts.
std::string to_string(const Answer& a, uint32_t expr);
std::string to_string(const Answer& a, const Value& v);

}  // namespace vf::equiv
