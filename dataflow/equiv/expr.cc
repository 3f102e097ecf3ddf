#include "dataflow/equiv/expr.h"

#include <cmath>
#include <limits>

namespace vf::equiv {

const char* fn_name(Fn f) {
  switch (f) {
    case Fn::kNone: return "?";
    case Fn::kSin: return "sin";
    case Fn::kCos: return "cos";
    case Fn::kTan: return "tan";
    case Fn::kCot: return "cot";
    case Fn::kSec: return "sec";
    case Fn::kCsc: return "csc";
    case Fn::kAsin: return "asin";
    case Fn::kAcos: return "acos";
    case Fn::kAtan: return "atan";
    case Fn::kSinh: return "sinh";
    case Fn::kCosh: return "cosh";
    case Fn::kTanh: return "tanh";
    case Fn::kExp: return "exp";
    case Fn::kLog: return "log";
    case Fn::kAbs: return "Abs";
    case Fn::kFactorial: return "factorial";
    case Fn::kBinomial: return "binomial";
    case Fn::kFloor: return "floor";
    case Fn::kCeil: return "ceiling";
    case Fn::kRe: return "re";
    case Fn::kIm: return "im";
  }
  return "?";
}

uint32_t Answer::add_number(Number n) {
  numbers.push_back(std::move(n));
  return add_leaf(Op::kNumber, static_cast<uint32_t>(numbers.size() - 1));
}

uint32_t Answer::add_symbol(const std::string& name) {
  uint32_t idx = 0;
  for (; idx < symbols.size(); ++idx)
    if (symbols[idx] == name) break;
  if (idx == symbols.size()) symbols.push_back(name);
  return add_leaf(Op::kSymbol, idx);
}

uint32_t Answer::add_leaf(Op op, uint32_t data) {
  Node n;
  n.op = op;
  n.data = data;
  nodes.push_back(n);
  return static_cast<uint32_t>(nodes.size() - 1);
}

uint32_t Answer::add_node(Op op, const std::vector<uint32_t>& children, Fn fn, uint32_t data) {
  Node n;
  n.op = op;
  n.fn = fn;
  n.data = data;
  n.first = static_cast<uint32_t>(kids.size());
  n.count = static_cast<uint32_t>(children.size());
  kids.insert(kids.end(), children.begin(), children.end());
  nodes.push_back(n);
  return static_cast<uint32_t>(nodes.size() - 1);
}

long double to_long_double(const mpq_class& q) {
  long num_exp = 0, den_exp = 0;
  double num_m = mpz_get_d_2exp(&num_exp, q.get_num_mpz_t());
  double den_m = mpz_get_d_2exp(&den_exp, q.get_den_mpz_t());
  if (num_m == 0) return 0.0L;
  // Refine beyond double precision when both sides fit in 64 bits.
  if (mpz_sizeinbase(q.get_num_mpz_t(), 2) < 64 && mpz_sizeinbase(q.get_den_mpz_t(), 2) < 64) {
    long double n = static_cast<long double>(mpz_get_si(q.get_num_mpz_t()));
    long double d = static_cast<long double>(mpz_get_si(q.get_den_mpz_t()));
    return n / d;
  }
  return std::ldexp(static_cast<long double>(num_m) / den_m, static_cast<int>(num_exp - den_exp));
}

namespace {

bool too_big(const mpq_class& q) {
  return mpz_sizeinbase(q.get_num_mpz_t(), 2) > kMaxExactBits || mpz_sizeinbase(q.get_den_mpz_t(), 2) > kMaxExactBits;
}

// Exact q^(p/r) when q is a perfect r-th power.
std::optional<mpq_class> exact_root(const mpq_class& q, unsigned long r) {
  if (r == 1) return q;
  if (sgn(q) < 0) {
    if (r % 2 == 0) return std::nullopt;
    auto pos = exact_root(mpq_class(-q), r);
    if (!pos) return std::nullopt;
    return mpq_class(-*pos);
  }
  mpz_class n, d;
  if (!mpz_root(n.get_mpz_t(), q.get_num_mpz_t(), r)) return std::nullopt;
  if (!mpz_root(d.get_mpz_t(), q.get_den_mpz_t(), r)) return std::nullopt;
  return mpq_class(n, d);
}

std::optional<mpq_class> exact_pow(const mpq_class& base, const mpq_class& exp) {
  if (exp.get_den() > 64) return std::nullopt;
  if (mpz_cmpabs_ui(exp.get_num_mpz_t(), kMaxExactExponent) > 0) return std::nullopt;
  long p = mpz_get_si(exp.get_num_mpz_t());
  unsigned long r = mpz_get_ui(exp.get_den_mpz_t());
  auto root = exact_root(base, r);
  if (!root) return std::nullopt;
  if (sgn(*root) == 0) {
    if (p < 0) return std::nullopt;
    if (p == 0) return mpq_class(1);
    return mpq_class(0);
  }
  size_t bits = std::max(mpz_sizeinbase(root->get_num_mpz_t(), 2), mpz_sizeinbase(root->get_den_mpz_t(), 2));
  if (bits * static_cast<size_t>(std::labs(p)) > kMaxExactBits) return std::nullopt;
  mpz_class n, d;
  mpz_pow_ui(n.get_mpz_t(), root->get_num_mpz_t(), static_cast<unsigned long>(std::labs(p)));
  mpz_pow_ui(d.get_mpz_t(), root->get_den_mpz_t(), static_cast<unsigned long>(std::labs(p)));
  mpq_class out = p >= 0 ? mpq_class(n, d) : mpq_class(d, n);
  out.canonicalize();
  return out;
}

std::optional<mpq_class> small_int(const std::optional<mpq_class>& q, long limit) {
  if (!q || q->get_den() != 1 || sgn(*q) < 0 || mpz_cmp_si(q->get_num_mpz_t(), limit) > 0) return std::nullopt;
  return q;
}

std::optional<mpq_class> exact_rec(const Answer& a, uint32_t id, uint32_t bits, int depth) {
  if (depth > 512) return std::nullopt;
  const Node& n = a.node(id);
  switch (n.op) {
    case Op::kNumber: return a.numbers[n.data].value;
    case Op::kAdd: {
      mpq_class sum = 0;
      for (uint32_t k = 0; k < n.count; ++k) {
        auto v = exact_rec(a, a.child(n, k), bits, depth + 1);
        if (!v) return std::nullopt;
        sum += *v;
        if (too_big(sum)) return std::nullopt;
      }
      return sum;
    }
    case Op::kMul: {
      mpq_class prod = 1;
      for (uint32_t k = 0; k < n.count; ++k) {
        auto v = exact_rec(a, a.child(n, k), bits, depth + 1);
        if (!v) return std::nullopt;
        prod *= *v;
        if (too_big(prod)) return std::nullopt;
      }
      return prod;
    }
    case Op::kPow: {
      auto b = exact_rec(a, a.child(n, 0), bits, depth + 1);
      if (!b) return std::nullopt;
      auto e = exact_rec(a, a.child(n, 1), bits, depth + 1);
      if (!e) return std::nullopt;
      return exact_pow(*b, *e);
    }
    case Op::kPlusMinus: {
      auto x = exact_rec(a, a.child(n, 0), bits, depth + 1);
      auto y = exact_rec(a, a.child(n, 1), bits, depth + 1);
      if (!x || !y) return std::nullopt;
      return (bits >> n.data) & 1u ? mpq_class(*x - *y) : mpq_class(*x + *y);
    }
    case Op::kFunc: {
      if (n.fn == Fn::kAbs && n.count == 1) {
        auto x = exact_rec(a, a.child(n, 0), bits, depth + 1);
        if (!x) return std::nullopt;
        return abs(*x);
      }
      if (n.fn == Fn::kFactorial && n.count == 1) {
        auto x = small_int(exact_rec(a, a.child(n, 0), bits, depth + 1), 1000);
        if (!x) return std::nullopt;
        mpz_class f;
        mpz_fac_ui(f.get_mpz_t(), mpz_get_ui(x->get_num_mpz_t()));
        return mpq_class(f);
      }
      if (n.fn == Fn::kBinomial && n.count == 2) {
        auto x = small_int(exact_rec(a, a.child(n, 0), bits, depth + 1), 100000);
        auto y = small_int(exact_rec(a, a.child(n, 1), bits, depth + 1), 100000);
        if (!x || !y) return std::nullopt;
        mpz_class c;
        mpz_bin_uiui(c.get_mpz_t(), mpz_get_ui(x->get_num_mpz_t()), mpz_get_ui(y->get_num_mpz_t()));
        if (mpz_sizeinbase(c.get_mpz_t(), 2) > kMaxExactBits) return std::nullopt;
        return mpq_class(c);
      }
      if ((n.fn == Fn::kFloor || n.fn == Fn::kCeil) && n.count == 1) {
        auto x = exact_rec(a, a.child(n, 0), bits, depth + 1);
        if (!x) return std::nullopt;
        mpz_class r;
        if (n.fn == Fn::kFloor) mpz_fdiv_q(r.get_mpz_t(), x->get_num_mpz_t(), x->get_den_mpz_t());
        else mpz_cdiv_q(r.get_mpz_t(), x->get_num_mpz_t(), x->get_den_mpz_t());
        return mpq_class(r);
      }
      return std::nullopt;
    }
    default: return std::nullopt;
  }
}

Complex cfactorial(Complex x) {
  if (std::abs(x.imag()) > 0 || x.real() < 0) return Complex(std::tgamma(x.real() + 1));
  return Complex(std::tgamma(x.real() + 1));
}

Complex numeric_rec(const Answer& a, uint32_t id, const EvalContext& ctx, int depth) {
  constexpr long double nan = std::numeric_limits<long double>::quiet_NaN();
  if (depth > 512) return Complex(nan, 0);
  const Node& n = a.node(id);
  switch (n.op) {
    case Op::kNumber: return Complex(to_long_double(a.numbers[n.data].value), 0);
    case Op::kSymbol:
      if (ctx.symbol_values && n.data < ctx.symbol_values->size()) return (*ctx.symbol_values)[n.data];
      return Complex(nan, 0);
    case Op::kPi: return Complex(3.14159265358979323846264338327950288L, 0);
    case Op::kE: return Complex(2.71828182845904523536028747135266250L, 0);
    case Op::kI: return Complex(0, 1);
    case Op::kInfinity: return Complex(std::numeric_limits<long double>::infinity(), 0);
    case Op::kUndefined: return Complex(nan, 0);
    case Op::kAdd: {
      Complex s = 0;
      for (uint32_t k = 0; k < n.count; ++k) s += numeric_rec(a, a.child(n, k), ctx, depth + 1);
      return s;
    }
    case Op::kMul: {
      Complex p = 1;
      for (uint32_t k = 0; k < n.count; ++k) {
        Complex v = numeric_rec(a, a.child(n, k), ctx, depth + 1);
        // Keep -oo real: (-1) * (inf + 0i) must not turn into NaN imaginary parts.
        if (std::isinf(v.real()) || std::isinf(p.real())) {
          long double re = p.real() * v.real();
          p = Complex(re, 0);
        } else {
          p *= v;
        }
      }
      return p;
    }
    case Op::kPow: {
      Complex b = numeric_rec(a, a.child(n, 0), ctx, depth + 1);
      Complex e = numeric_rec(a, a.child(n, 1), ctx, depth + 1);
      if (e.imag() == 0 && e.real() == std::round(e.real()) && std::abs(e.real()) <= 64 && b.imag() == 0)
        return Complex(std::pow(b.real(), e.real()), 0);
      // Real odd roots of negative reals, as written answers mean them (sqrt[3]{-8} = -2).
      if (b.imag() == 0 && b.real() < 0 && e.imag() == 0) {
        auto exact_e = exact_rec(a, a.child(n, 1), ctx.plus_minus_bits, depth + 1);
        if (exact_e && mpz_odd_p(exact_e->get_den_mpz_t())) {
          long double mag = std::pow(-b.real(), e.real());
          return Complex(mpz_odd_p(exact_e->get_num_mpz_t()) ? -mag : mag, 0);
        }
      }
      if (b == Complex(0, 0)) return e.real() > 0 ? Complex(0, 0) : Complex(nan, 0);
      return std::pow(b, e);
    }
    case Op::kPlusMinus: {
      Complex x = numeric_rec(a, a.child(n, 0), ctx, depth + 1);
      Complex y = numeric_rec(a, a.child(n, 1), ctx, depth + 1);
      return (ctx.plus_minus_bits >> n.data) & 1u ? x - y : x + y;
    }
    case Op::kFunc: {
      if (n.count == 0) return Complex(nan, 0);
      Complex x = numeric_rec(a, a.child(n, 0), ctx, depth + 1);
      switch (n.fn) {
        case Fn::kSin: return std::sin(x);
        case Fn::kCos: return std::cos(x);
        case Fn::kTan: return std::tan(x);
        case Fn::kCot: return Complex(1) / std::tan(x);
        case Fn::kSec: return Complex(1) / std::cos(x);
        case Fn::kCsc: return Complex(1) / std::sin(x);
        case Fn::kAsin: return std::asin(x);
        case Fn::kAcos: return std::acos(x);
        case Fn::kAtan: return std::atan(x);
        case Fn::kSinh: return std::sinh(x);
        case Fn::kCosh: return std::cosh(x);
        case Fn::kTanh: return std::tanh(x);
        case Fn::kExp: return std::exp(x);
        case Fn::kLog:
          if (n.count == 2) return std::log(x) / std::log(numeric_rec(a, a.child(n, 1), ctx, depth + 1));
          return std::log(x);
        case Fn::kAbs: return Complex(std::abs(x), 0);
        case Fn::kFactorial: return cfactorial(x);
        case Fn::kBinomial: {
          if (n.count != 2) return Complex(nan, 0);
          Complex k = numeric_rec(a, a.child(n, 1), ctx, depth + 1);
          return cfactorial(x) / (cfactorial(k) * cfactorial(x - k));
        }
        case Fn::kFloor: return Complex(std::floor(x.real()), 0);
        case Fn::kCeil: return Complex(std::ceil(x.real()), 0);
        case Fn::kRe: return Complex(x.real(), 0);
        case Fn::kIm: return Complex(x.imag(), 0);
        case Fn::kNone: break;
      }
      return Complex(nan, 0);
    }
  }
  return Complex(nan, 0);
}

void print_rec(const Answer& a, uint32_t id, std::string& out, int depth) {
  if (depth > 64) {
    out += "...";
    return;
  }
  const Node& n = a.node(id);
  auto child = [&](uint32_t k, bool paren) {
    uint32_t c = a.child(n, k);
    Op op = a.node(c).op;
    bool wrap = paren && (op == Op::kAdd || op == Op::kMul || op == Op::kPow || op == Op::kPlusMinus ||
                          (op == Op::kNumber && sgn(a.numbers[a.node(c).data].value) < 0));
    if (wrap) out += '(';
    print_rec(a, c, out, depth + 1);
    if (wrap) out += ')';
  };
  switch (n.op) {
    case Op::kNumber: {
      const Number& num = a.numbers[n.data];
      out += num.written_decimal && !num.literal.empty() ? num.literal : num.value.get_str();
      return;
    }
    case Op::kSymbol: out += a.symbols[n.data]; return;
    case Op::kPi: out += "pi"; return;
    case Op::kE: out += "E"; return;
    case Op::kI: out += "I"; return;
    case Op::kInfinity: out += "oo"; return;
    case Op::kUndefined: out += "nan"; return;
    case Op::kAdd:
      for (uint32_t k = 0; k < n.count; ++k) {
        if (k) out += " + ";
        child(k, false);
      }
      return;
    case Op::kMul: {
      // Numerator factors, then "/" and the denominators (x**(-1) factors).
      std::vector<uint32_t> num, den;
      bool negative = false;
      for (uint32_t k = 0; k < n.count; ++k) {
        uint32_t c = a.child(n, k);
        const Node& cn = a.node(c);
        if (cn.op == Op::kNumber && a.numbers[cn.data].value == -1 && n.count > 1) {
          negative = !negative;
          continue;
        }
        if (cn.op == Op::kPow) {
          const Node& e = a.node(a.child(cn, 1));
          if (e.op == Op::kNumber && a.numbers[e.data].value == -1) {
            den.push_back(a.child(cn, 0));
            continue;
          }
        }
        num.push_back(c);
      }
      auto factor = [&](uint32_t c) {
        Op op = a.node(c).op;
        bool wrap = op == Op::kAdd || op == Op::kPlusMinus || op == Op::kMul;
        if (wrap) out += '(';
        print_rec(a, c, out, depth + 1);
        if (wrap) out += ')';
      };
      if (negative) out += "-";
      if (num.empty()) out += "1";
      for (size_t k = 0; k < num.size(); ++k) {
        if (k) out += "*";
        factor(num[k]);
      }
      for (uint32_t d : den) {
        out += "/";
        factor(d);
      }
      return;
    }
    case Op::kPow: {
      const Node& e = a.node(a.child(n, 1));
      if (e.op == Op::kMul && e.count == 2 && a.node(a.kids[e.first]).op == Op::kNumber &&
          a.numbers[a.node(a.kids[e.first]).data].value == 1 && a.node(a.kids[e.first + 1]).op == Op::kPow) {
        const Node& d = a.node(a.kids[e.first + 1]);
        const Node& base = a.node(a.child(d, 0));
        const Node& ex = a.node(a.child(d, 1));
        if (base.op == Op::kNumber && a.numbers[base.data].value == 2 && ex.op == Op::kNumber &&
            a.numbers[ex.data].value == -1) {
          out += "sqrt(";
          print_rec(a, a.child(n, 0), out, depth + 1);
          out += ")";
          return;
        }
      }
      child(0, true);
      out += "**";
      child(1, true);
      return;
    }
    case Op::kPlusMinus:
      child(0, true);
      out += " ± ";
      child(1, true);
      return;
    case Op::kFunc:
      out += fn_name(n.fn);
      out += '(';
      for (uint32_t k = 0; k < n.count; ++k) {
        if (k) out += ", ";
        child(k, false);
      }
      out += ')';
      return;
  }
}

const char* rel_text(Rel r) {
  switch (r) {
    case Rel::kLt: return " < ";
    case Rel::kLe: return " <= ";
    case Rel::kGt: return " > ";
    case Rel::kGe: return " >= ";
    case Rel::kNe: return " != ";
  }
  return " ? ";
}

void print_items(const Answer& a, const std::vector<Value>& items, std::string& out) {
  for (size_t k = 0; k < items.size(); ++k) {
    if (k) out += ", ";
    out += to_string(a, items[k]);
  }
}

}  // namespace


namespace {

// ---------------------------------------------------------------- precise (GMP floats)

constexpr mp_bitcnt_t kPreciseBits = 320;

std::optional<mpf_class> precise_rec(const Answer& a, uint32_t id, uint32_t bits, int depth) {
  if (depth > 256) return std::nullopt;
  const Node& n = a.node(id);
  auto child = [&](uint32_t k) { return precise_rec(a, a.child(n, k), bits, depth + 1); };
  switch (n.op) {
    case Op::kNumber: {
      const mpq_class& q = a.numbers[n.data].value;
      if (mpz_sizeinbase(q.get_num_mpz_t(), 2) > 4096 || mpz_sizeinbase(q.get_den_mpz_t(), 2) > 4096) return std::nullopt;
      return mpf_class(q, kPreciseBits);
    }
    case Op::kPi: {
      static const mpf_class pi(
          "3.14159265358979323846264338327950288419716939937510582097494459230781640628620899862803482534211706798",
          kPreciseBits, 10);
      return pi;
    }
    case Op::kE: {
      static const mpf_class e(
          "2.71828182845904523536028747135266249775724709369995957496696762772407663035354759457138217852516642743",
          kPreciseBits, 10);
      return e;
    }
    case Op::kAdd:
    case Op::kMul: {
      mpf_class acc(n.op == Op::kAdd ? 0 : 1, kPreciseBits);
      for (uint32_t k = 0; k < n.count; ++k) {
        auto v = child(k);
        if (!v) return std::nullopt;
        if (n.op == Op::kAdd) acc += *v;
        else acc *= *v;
      }
      return acc;
    }
    case Op::kPlusMinus: {
      auto x = child(0), y = child(1);
      if (!x || !y) return std::nullopt;
      return (bits >> n.data) & 1u ? mpf_class(*x - *y, kPreciseBits) : mpf_class(*x + *y, kPreciseBits);
    }
    case Op::kPow: {
      auto e = exact_rec(a, a.child(n, 1), bits, depth + 1);
      if (!e) return std::nullopt;
      auto b = child(0);
      if (!b) return std::nullopt;
      // Integer powers, and square roots of them: b^(k/2).
      mpz_class num = e->get_num(), den = e->get_den();
      if ((den != 1 && den != 2) || abs(num) > 4096) return std::nullopt;
      mpf_class base = *b;
      if (den == 2) {
        if (sgn(base) < 0) return std::nullopt;
        base = sqrt(base);
      }
      mpf_class out(1, kPreciseBits);
      mpf_pow_ui(out.get_mpf_t(), base.get_mpf_t(), mpz_get_ui(mpz_class(abs(num)).get_mpz_t()));
      if (sgn(num) < 0) {
        if (sgn(out) == 0) return std::nullopt;
        out = mpf_class(1, kPreciseBits) / out;
      }
      return out;
    }
    case Op::kFunc: {
      if (n.fn == Fn::kAbs && n.count == 1) {
        auto x = child(0);
        if (!x) return std::nullopt;
        return mpf_class(abs(*x), kPreciseBits);
      }
      if (auto q = exact_rec(a, id, bits, depth)) return mpf_class(*q, kPreciseBits);  // factorials, binomials
      return std::nullopt;
    }
    default: return std::nullopt;
  }
}

}  // namespace

std::optional<mpf_class> precise_value(const Answer& a, uint32_t expr, uint32_t bits) {
  return precise_rec(a, expr, bits, 0);
}

std::optional<mpq_class> exact_value(const Answer& a, uint32_t expr, uint32_t bits) {
  return exact_rec(a, expr, bits, 0);
}

Complex numeric_value(const Answer& a, uint32_t expr, const EvalContext& ctx) { return numeric_rec(a, expr, ctx, 0); }

bool has_decimal_literal(const Answer& a, uint32_t expr) {
  std::vector<uint32_t> stack{expr};
  while (!stack.empty()) {
    uint32_t id = stack.back();
    stack.pop_back();
    const Node& n = a.node(id);
    if (n.op == Op::kNumber && a.numbers[n.data].written_decimal) return true;
    for (uint32_t k = 0; k < n.count; ++k) stack.push_back(a.child(n, k));
  }
  return false;
}

void collect_symbols(const Answer& a, uint32_t expr, std::vector<uint32_t>& out) {
  std::vector<uint32_t> stack{expr};
  while (!stack.empty()) {
    uint32_t id = stack.back();
    stack.pop_back();
    const Node& n = a.node(id);
    if (n.op == Op::kSymbol) {
      bool seen = false;
      for (uint32_t s : out) seen |= s == n.data;
      if (!seen) out.push_back(n.data);
    }
    for (uint32_t k = 0; k < n.count; ++k) stack.push_back(a.child(n, k));
  }
}

std::string to_string(const Answer& a, uint32_t expr) {
  std::string out;
  print_rec(a, expr, out, 0);
  return out;
}

std::string to_string(const Answer& a, const Value& v) {
  std::string out;
  auto expr = [&](int32_t e) { return e >= 0 ? to_string(a, static_cast<uint32_t>(e)) : std::string("?"); };
  switch (v.kind) {
    case Kind::kScalar: return expr(v.expr);
    case Kind::kTuple: out = "("; print_items(a, v.items, out); return out + ")";
    case Kind::kList: out = "["; print_items(a, v.items, out); return out + "]";
    case Kind::kSet: out = "{"; print_items(a, v.items, out); return out + "}";
    case Kind::kBareList: print_items(a, v.items, out); return out;
    case Kind::kInterval:
      return std::string(v.lo_open ? "(" : "[") + expr(v.lhs) + ", " + expr(v.rhs) + (v.hi_open ? ")" : "]");
    case Kind::kUnion:
    case Kind::kIntersection:
      for (size_t k = 0; k < v.items.size(); ++k) {
        if (k) out += v.kind == Kind::kUnion ? " U " : " & ";
        out += to_string(a, v.items[k]);
      }
      return out;
    case Kind::kRelation: return expr(v.lhs) + rel_text(v.rel) + expr(v.rhs);
    case Kind::kEquation: return expr(v.lhs) + " = " + expr(v.rhs);
    case Kind::kMatrix: {
      out = "Matrix([";
      for (uint32_t r = 0; r < v.rows; ++r) {
        out += r ? ", [" : "[";
        for (uint32_t c = 0; c < v.cols; ++c) {
          if (c) out += ", ";
          size_t idx = static_cast<size_t>(r) * v.cols + c;
          if (idx < v.items.size()) out += to_string(a, v.items[idx]);
        }
        out += "]";
      }
      return out + "])";
    }
    case Kind::kDict:
      out = "{";
      for (size_t k = 0; k + 1 < v.items.size(); k += 2) {
        if (k) out += ", ";
        out += to_string(a, v.items[k]) + ": " + to_string(a, v.items[k + 1]);
      }
      return out + "}";
    case Kind::kBoolean: return v.boolean ? "True" : "False";
    case Kind::kText: return "text:\"" + v.text + "\"";
    case Kind::kFlag: return "flag:\"" + v.text + "\"";
    case Kind::kEmptySet: return "EmptySet";
    case Kind::kReals: return "Reals";
  }
  return out;
}

}  // namespace vf::equiv
