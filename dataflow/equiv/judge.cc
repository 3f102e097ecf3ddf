#include <algorithm>
#include <cmath>
#include <cctype>
#include <cstdio>
#include <optional>
#include <functional>
#include <limits>
#include <random>

#include "dataflow/equiv/judge.h"
#include "dataflow/equiv/extract.h"
#include "dataflow/equiv/parse.h"

namespace vf::equiv {

const char* to_string(Outcome o) {
  switch (o) {
    case Outcome::kEquivalent: return "equivalent";
    case Outcome::kNotEquivalent: return "not-equivalent";
    case Outcome::kUnparseable: return "unparseable";
    case Outcome::kNoAnswer: return "no-answer";
  }
  return "?";
}

namespace {

constexpr int kRandomPoints = 6;
constexpr int kMinValidPoints = 3;
constexpr size_t kMaxMatchedItems = 64;

std::string fmt(long double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17Lg", x);
  return buf;
}

// Tolerances and precisions read better short: 1e-06, 0.05.
std::string tol(long double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3Lg", x);
  return buf;
}

// Random evaluation points, identical for every comparison: verdicts are
// reproducible.
const std::vector<std::vector<long double>>& random_points() {
  static const std::vector<std::vector<long double>> points = [] {
    std::mt19937_64 rng(0x5eedULL);
    std::uniform_real_distribution<long double> dist(0.2L, 2.2L);
    std::vector<std::vector<long double>> p(kRandomPoints, std::vector<long double>(16));
    for (auto& row : p)
      for (auto& v : row) v = dist(rng);
    return p;
  }();
  return points;
}

struct Elem {
  const Value* v;
  uint32_t bits;          // which branch of each ± this element stands for
  bool branch = false;    // bits chosen: do not expand the ± again
};

bool is_sequence(Kind k) { return k == Kind::kTuple || k == Kind::kList || k == Kind::kSet || k == Kind::kBareList; }
bool is_setlike(Kind k) {
  return k == Kind::kInterval || k == Kind::kUnion || k == Kind::kIntersection || k == Kind::kRelation ||
         k == Kind::kEmptySet || k == Kind::kReals;
}

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::kScalar: return "value";
    case Kind::kTuple: return "tuple";
    case Kind::kList: return "list";
    case Kind::kSet: return "set";
    case Kind::kBareList: return "list of values";
    case Kind::kInterval: return "interval";
    case Kind::kUnion: return "union";
    case Kind::kIntersection: return "conjunction";
    case Kind::kRelation: return "inequality";
    case Kind::kEquation: return "equation";
    case Kind::kMatrix: return "matrix";
    case Kind::kDict: return "dict";
    case Kind::kBoolean: return "boolean";
    case Kind::kText: return "text";
    case Kind::kFlag: return "flag";
    case Kind::kEmptySet: return "empty set";
    case Kind::kReals: return "all reals";
  }
  return "?";
}

bool contains_plus_minus(const Answer& a, uint32_t expr) {
  if (a.plus_minus_count == 0) return false;
  std::vector<uint32_t> stack{expr};
  while (!stack.empty()) {
    const Node& n = a.node(stack.back());
    stack.pop_back();
    if (n.op == Op::kPlusMinus) return true;
    for (uint32_t k = 0; k < n.count; ++k) stack.push_back(a.child(n, k));
  }
  return false;
}

// One endpoint-to-endpoint piece of a real set.
struct Piece {
  long double lo, hi;
  bool lo_closed, hi_closed;
  int32_t lo_expr, hi_expr;  // -1: infinite or synthesized
  uint32_t bits;
};

class Judge {
 public:
  Judge(const Answer& g, const Answer& p, const Policy& policy) : g_(g), p_(p), policy_(policy) {
    if (p_.percent && !g_.percent) pred_factor_ = mpq_class(1, 100);
    if (g_.unit.physical() && p_.unit.physical()) {
      // The prediction's value in the gold's unit.
      unit_factor_ = p_.unit.scale / g_.unit.scale;
      unit_pi_ = p_.unit.pi_power - g_.unit.pi_power;
    } else if (g_.unit.is_pure_scale()) {  // "1.2 million" against 1200000
      unit_factor_ = 1 / g_.unit.scale;
      unit_pi_ = -g_.unit.pi_power;
    } else if (p_.unit.is_pure_scale()) {
      unit_factor_ = p_.unit.scale;
      unit_pi_ = p_.unit.pi_power;
    }
    // A quantity with a physical unit is a measurement: its integers are
    // significant figures ("51 atm" is 51 to two figures), as in a science domain.
    bool science = policy_.integer_gold == IntegerGold::kSignificantFigures;
    bool measured_unit = g_.unit.physical() && !g_.unit.is_angle_only() && !g_.unit.is_pure_scale();
    measurement_ = measured_unit || science;
    sig_figs_ = science || (policy_.sig_figs_with_units && measured_unit);
  }

  bool top(std::string& reason) {
    // Units first: a value with the wrong dimension is wrong whatever its number.
    if (g_.unit.physical() && p_.unit.physical() && !same_dimension(g_.unit, p_.unit)) {
      reason = "units differ: '" + g_.unit.written + "' (" + dimension_text(g_.unit.dim) + ") vs '" +
               p_.unit.written + "' (" + dimension_text(p_.unit.dim) + ")";
      return false;
    }
    if (policy_.require_units && g_.unit.physical() && !p_.unit.physical()) {
      reason = "the prediction has no unit; the gold is in '" + g_.unit.written + "'";
      return false;
    }
    bool ok = values(Elem{&g_.root, 0}, Elem{&p_.root, 0}, 0);
    if (!ok && g_.percent && !p_.percent && policy_.percent_as_fraction) {
      // "25%" against "0.25".
      std::string first = why_;
      pred_factor_ = 100;
      why_.clear();
      ok = values(Elem{&g_.root, 0}, Elem{&p_.root, 0}, 0);
      if (ok) how_ = "equal as a fraction of the percentage; " + how_;
      else why_ = first;
    }
    reason = ok ? (how_.empty() ? "equivalent" : how_) : (why_.empty() ? "not equivalent" : why_);
    if (ok && g_.unit.physical() && !p_.unit.physical()) reason += "; the prediction has no unit";
    return ok;
  }

 private:
  const Answer& g_;
  const Answer& p_;
  const Policy& policy_;
  mpq_class pred_factor_ = 1;
  mpq_class unit_factor_ = 1;
  int unit_pi_ = 0;  // the unit conversion's power of pi (degrees against radians)
  bool sig_figs_ = false;
  bool measurement_ = false;  // a physical unit on the gold, or a science domain
  bool measurement() const { return measurement_; }
  std::string why_;
  std::string how_;

  bool mismatch(std::string why) {
    if (why_.empty()) why_ = std::move(why);
    return false;
  }

  Value scalar_value(int32_t expr) const {
    Value v;
    v.kind = Kind::kScalar;
    v.expr = expr;
    return v;
  }

  // A name on the left of an equation: x, y, AB, f_1.
  static bool is_name(const Answer& a, int32_t expr) {
    if (expr < 0) return false;
    const Node& n = a.node(static_cast<uint32_t>(expr));
    if (n.op == Op::kSymbol) return true;
    if (n.op == Op::kMul) {
      for (uint32_t k = 0; k < n.count; ++k)
        if (a.node(a.child(n, k)).op != Op::kSymbol) return false;
      return true;
    }
    return false;
  }

  // Elements of a sequence, with each ± expanded into its branches.
  std::vector<Elem> elements(const Answer& a, const Elem& e) const {
    std::vector<Elem> out;
    auto expand = [&](const Value* v, uint32_t bits) {
      if (v->kind == Kind::kScalar && contains_plus_minus(a, static_cast<uint32_t>(v->expr))) {
        for (uint32_t b = 0; b < (1u << a.plus_minus_count); ++b) out.push_back(Elem{v, b, true});
      } else {
        out.push_back(Elem{v, bits});
      }
    };
    if (is_sequence(e.v->kind)) {
      for (const auto& item : e.v->items) expand(&item, e.bits);
    } else {
      expand(e.v, e.bits);
    }
    // Branches of ± that coincide (0 ± 0) count once.
    return out;
  }

  bool is_pm_scalar(const Answer& a, const Elem& e) const {
    return !e.branch && e.v->kind == Kind::kScalar && contains_plus_minus(a, static_cast<uint32_t>(e.v->expr));
  }

  bool values(Elem g, Elem p, int depth) {
    if (depth > 32) return mismatch("nested too deeply");
    const Value& gv = *g.v;
    const Value& pv = *p.v;
    // [x], {x}, (x,) against x.
    if (is_sequence(gv.kind) && gv.items.size() == 1 && !(is_sequence(pv.kind) && pv.items.size() == 1) &&
        !is_pm_scalar(g_, Elem{&gv.items[0], g.bits}))
      return values(Elem{&gv.items[0], g.bits}, p, depth + 1);
    if (is_sequence(pv.kind) && pv.items.size() == 1 && !(is_sequence(gv.kind) && gv.items.size() == 1))
      return values(g, Elem{&pv.items[0], p.bits}, depth + 1);
    // Equations.
    if (gv.kind == Kind::kEquation && pv.kind == Kind::kEquation) return equations(gv, pv);
    if (gv.kind == Kind::kEquation && pv.kind != Kind::kEquation) {
      if (!is_name(g_, gv.lhs)) return mismatch("the gold is an equation, the prediction is not");
      Value rhs = scalar_value(gv.rhs);
      return values(Elem{&rhs, g.bits}, p, depth + 1);
    }
    if (pv.kind == Kind::kEquation && gv.kind != Kind::kEquation) {
      if (!is_name(p_, pv.lhs)) return mismatch("the prediction is an equation, the gold is not");
      Value rhs = scalar_value(pv.rhs);
      return values(g, Elem{&rhs, p.bits}, depth + 1);
    }
    // Text-like answers.
    if (gv.kind == Kind::kFlag || pv.kind == Kind::kFlag) {
      if (gv.kind == Kind::kFlag && pv.kind == Kind::kFlag && gv.text == pv.text) return how("identical flags");
      return mismatch("flags must match exactly: '" + g_.source + "' vs '" + p_.source + "'");
    }
    if (gv.kind == Kind::kBoolean || pv.kind == Kind::kBoolean) {
      // "Yes" / "No" as truth values.
      auto truth = [](const Answer& a, const Value& v, bool& out) {
        if (v.kind == Kind::kBoolean) return out = v.boolean, true;
        std::string t = v.kind == Kind::kText ? v.text : &v == &a.root ? normalize_text(a.source) : std::string();
        if (t == "yes" || t == "true" || t == "correct") return out = true, true;
        if (t == "no" || t == "false" || t == "incorrect") return out = false, true;
        return false;
      };
      bool gb = false, pb = false;
      if (truth(g_, gv, gb) && truth(p_, pv, pb) && gb == pb) return how("same truth value");
      return mismatch("truth values differ");
    }
    if (gv.kind == Kind::kText || pv.kind == Kind::kText) {
      std::string a = gv.kind == Kind::kText ? gv.text : normalize_text(g_.source);
      std::string b = pv.kind == Kind::kText ? pv.text : normalize_text(p_.source);
      if (a == b) return how("same text ignoring case and spaces");
      return mismatch("text differs: '" + a + "' vs '" + b + "'");
    }
    // "-12 U -30": a union of single values is the set of those values.
    Value g_points, p_points;
    if (union_of_values(gv, g_points)) return values(Elem{&g_points, g.bits}, p, depth + 1);
    if (union_of_values(pv, p_points)) return values(g, Elem{&p_points, p.bits}, depth + 1);
    // Sets of reals: intervals, unions, inequalities, and pairs read as intervals.
    if (is_setlike(gv.kind) || is_setlike(pv.kind)) return real_sets(g, p);
    if (gv.kind == Kind::kMatrix || pv.kind == Kind::kMatrix) return matrices(g, p, depth);
    if (gv.kind == Kind::kDict || pv.kind == Kind::kDict) return dicts(g, p, depth);
    bool g_pm = is_pm_scalar(g_, g), p_pm = is_pm_scalar(p_, p);
    if (is_sequence(gv.kind) || is_sequence(pv.kind) || g_pm || p_pm) return sequences(g, p, depth);
    if (gv.kind == Kind::kScalar && pv.kind == Kind::kScalar)
      return scalars(static_cast<uint32_t>(gv.expr), g.bits, static_cast<uint32_t>(pv.expr), p.bits);
    return mismatch(std::string("the gold is a ") + kind_name(gv.kind) + ", the prediction a " + kind_name(pv.kind));
  }

  static bool union_of_values(const Value& v, Value& out) {
    if (v.kind != Kind::kUnion) return false;
    for (const auto& item : v.items)
      if (item.kind != Kind::kScalar) return false;
    out.kind = Kind::kSet;
    out.items = v.items;
    return true;
  }

  bool how(std::string text) {
    how_ = std::move(text);
    return true;
  }

  bool sequences(Elem g, Elem p, int depth) {
    const Value& gv = *g.v;
    const Value& pv = *p.v;
    bool g_pm = is_pm_scalar(g_, g), p_pm = is_pm_scalar(p_, p);
    // A plain value against a sequence or a ± counts as a one-element list.
    if (!is_sequence(gv.kind) && !g_pm && gv.kind != Kind::kScalar)
      return mismatch(std::string("the gold is a ") + kind_name(gv.kind) + ", the prediction a " + kind_name(pv.kind));
    if (!is_sequence(pv.kind) && !p_pm && pv.kind != Kind::kScalar)
      return mismatch(std::string("the gold is a ") + kind_name(gv.kind) + ", the prediction a " + kind_name(pv.kind));
    // "[0, 1]" (a closed interval as written) against "(0, 1)": the ends matter.
    if (((gv.kind == Kind::kList && pv.kind == Kind::kTuple) || (gv.kind == Kind::kTuple && pv.kind == Kind::kList)) &&
        gv.items.size() == 2 && pv.items.size() == 2)
      return real_sets(g, p);
    // An ordered pair is not a set. (A set of solutions printed by a program
    // as a tuple is still that set: the gold decides whether order matters.)
    if (gv.kind == Kind::kTuple && pv.kind == Kind::kSet)
      return mismatch("the gold is an ordered tuple, the prediction a set");
    std::vector<Elem> ge = elements(g_, g), pe = elements(p_, p);
    bool unordered = g_pm || p_pm || gv.kind == Kind::kSet || gv.kind == Kind::kBareList ||
                     (gv.kind != Kind::kTuple && (pv.kind == Kind::kSet || pv.kind == Kind::kBareList));
    if (ge.size() != pe.size())
      return mismatch(std::to_string(ge.size()) + " gold elements, " + std::to_string(pe.size()) + " predicted");
    if (!unordered) {
      for (size_t k = 0; k < ge.size(); ++k) {
        if (!values(ge[k], pe[k], depth + 1)) {
          std::string inner = why_;
          why_.clear();
          return mismatch("element " + std::to_string(k + 1) + " differs: " + inner);
        }
      }
      return how("equal element by element (" + std::to_string(ge.size()) + ")");
    }
    if (ge.size() > kMaxMatchedItems) {
      // Large solution sets: compare in numeric order.
      auto key = [](const Answer& a, const Elem& e) -> long double {
        if (e.v->kind != Kind::kScalar) return 0;
        EvalContext ctx;
        ctx.plus_minus_bits = e.bits;
        return numeric_value(a, static_cast<uint32_t>(e.v->expr), ctx).real();
      };
      std::stable_sort(ge.begin(), ge.end(), [&](const Elem& x, const Elem& y) { return key(g_, x) < key(g_, y); });
      std::stable_sort(pe.begin(), pe.end(), [&](const Elem& x, const Elem& y) { return key(p_, x) < key(p_, y); });
      for (size_t k = 0; k < ge.size(); ++k)
        if (!values(ge[k], pe[k], depth + 1)) return mismatch("sets differ after sorting, at element " + std::to_string(k + 1));
      return how("equal as sets (" + std::to_string(ge.size()) + " elements)");
    }
    // Bipartite matching (Kuhn): every gold element needs its own equal prediction.
    size_t n = ge.size();
    std::vector<int8_t> eq(n * n, -1);
    auto equal = [&](size_t i, size_t j) {
      int8_t& e = eq[i * n + j];
      if (e < 0) {
        std::string saved = why_;
        e = values(ge[i], pe[j], depth + 1) ? 1 : 0;
        why_ = saved;
      }
      return e == 1;
    };
    std::vector<int> match_of_pred(n, -1);
    std::vector<char> seen;
    std::function<bool(size_t)> augment = [&](size_t i) -> bool {
      for (size_t j = 0; j < n; ++j) {
        if (seen[j] || !equal(i, j)) continue;
        seen[j] = 1;
        if (match_of_pred[j] < 0 || augment(static_cast<size_t>(match_of_pred[j]))) {
          match_of_pred[j] = static_cast<int>(i);
          return true;
        }
      }
      return false;
    };
    for (size_t i = 0; i < n; ++i) {
      seen.assign(n, 0);
      if (!augment(i)) {
        const Value* missing = ge[i].v;
        return mismatch("no predicted element equals gold element " + to_string(g_, *missing));
      }
    }
    return how("equal as sets (" + std::to_string(n) + " elements, order ignored)");
  }

  bool matrices(Elem g, Elem p, int depth) {
    const Value& gv = *g.v;
    const Value& pv = *p.v;
    auto shape = [](const Value& v, uint32_t& r, uint32_t& c, std::vector<const Value*>& entries) {
      entries.clear();
      if (v.kind == Kind::kMatrix) {
        r = v.rows;
        c = v.cols;
        for (auto& e : v.items) entries.push_back(&e);
        return true;
      }
      if (v.kind != Kind::kTuple && v.kind != Kind::kList) return false;
      bool nested = !v.items.empty() && std::all_of(v.items.begin(), v.items.end(), [&](const Value& row) {
        return (row.kind == Kind::kList || row.kind == Kind::kTuple) && row.items.size() == v.items[0].items.size();
      });
      if (nested) {
        r = static_cast<uint32_t>(v.items.size());
        c = static_cast<uint32_t>(v.items[0].items.size());
        for (auto& row : v.items)
          for (auto& e : row.items) entries.push_back(&e);
        return true;
      }
      r = static_cast<uint32_t>(v.items.size());  // a vector: its shape is not written
      c = 0;
      for (auto& e : v.items) entries.push_back(&e);
      return true;
    };
    uint32_t gr, gc, pr, pc;
    std::vector<const Value*> ge, pe;
    if (!shape(gv, gr, gc, ge) || !shape(pv, pr, pc, pe))
      return mismatch(std::string("the gold is a ") + kind_name(gv.kind) + ", the prediction a " + kind_name(pv.kind));
    bool vector_vs_matrix = (gc == 0 && (pr == 1 || pc == 1)) || (pc == 0 && (gr == 1 || gc == 1));
    if (!vector_vs_matrix && (gr != pr || gc != pc))
      return mismatch("matrix shapes differ: " + std::to_string(gr) + "x" + std::to_string(gc) + " vs " +
                      std::to_string(pr) + "x" + std::to_string(pc));
    if (ge.size() != pe.size()) return mismatch("matrix sizes differ");
    for (size_t k = 0; k < ge.size(); ++k)
      if (!values(Elem{ge[k], g.bits}, Elem{pe[k], p.bits}, depth + 1))
        return mismatch("matrix entry " + std::to_string(k + 1) + " differs");
    return how("equal matrices");
  }

  // Named values: a dict with name keys ({a: 2}, {'a': 2}) or a list of
  // equations with a name on the left (a = 2, b = 3). False when not one.
  bool named_values(const Answer& a, const Value& v, std::vector<std::pair<std::string, const Value*>>& out) const {
    out.clear();
    if (v.kind == Kind::kDict) {
      for (size_t i = 0; i + 1 < v.items.size(); i += 2) {
        const Value& key = v.items[i];
        if (key.kind == Kind::kText) out.emplace_back(key.text, &v.items[i + 1]);
        else if (key.kind == Kind::kScalar && is_name(a, key.expr)) out.emplace_back(to_string(a, key), &v.items[i + 1]);
        else return false;
      }
      return true;
    }
    if (!is_sequence(v.kind)) return false;
    for (const auto& item : v.items) {
      if (item.kind != Kind::kEquation || !is_name(a, item.lhs)) return false;
      Value lhs = scalar_value(item.lhs);
      out.emplace_back(to_string(a, lhs), &item);
    }
    return !out.empty();
  }

  bool dicts(Elem g, Elem p, int depth) {
    const Value& gv = *g.v;
    const Value& pv = *p.v;
    std::vector<std::pair<std::string, const Value*>> gn, pn;
    if (named_values(g_, gv, gn) && named_values(p_, pv, pn)) {
      if (gn.size() != pn.size()) return mismatch("different numbers of named values");
      for (const auto& [name, gval] : gn) {
        auto it = std::find_if(pn.begin(), pn.end(), [&](const auto& e) { return normalize_text(e.first) == normalize_text(name); });
        if (it == pn.end()) return mismatch("no predicted value for " + name);
        auto rhs_of = [&](const Value* v, Value& tmp) -> const Value* {
          if (v->kind != Kind::kEquation) return v;
          tmp = scalar_value(v->rhs);
          return &tmp;
        };
        Value gt, pt;
        if (!values(Elem{rhs_of(gval, gt), g.bits}, Elem{rhs_of(it->second, pt), p.bits}, depth + 1))
          return mismatch("the value of " + name + " differs");
      }
      return how("the same named values (" + std::to_string(gn.size()) + ")");
    }
    if (gv.kind != Kind::kDict || pv.kind != Kind::kDict) return mismatch("only one side is a dict");
    if (gv.items.size() != pv.items.size()) return mismatch("dicts have different sizes");
    for (size_t i = 0; i + 1 < gv.items.size(); i += 2) {
      bool found = false;
      for (size_t j = 0; j + 1 < pv.items.size() && !found; j += 2) {
        std::string saved = why_;
        if (values(Elem{&gv.items[i], g.bits}, Elem{&pv.items[j], p.bits}, depth + 1)) {
          found = true;
          if (!values(Elem{&gv.items[i + 1], g.bits}, Elem{&pv.items[j + 1], p.bits}, depth + 1))
            return mismatch("value of key " + to_string(g_, gv.items[i]) + " differs");
        }
        why_ = saved;
      }
      if (!found) return mismatch("key " + to_string(g_, gv.items[i]) + " missing");
    }
    return how("equal dicts");
  }

  // ---------------------------------------------------------------- equations

  bool equations(const Value& gv, const Value& pv) {
    // "x = \pm 5": the points it names.
    if (contains_plus_minus(g_, static_cast<uint32_t>(gv.rhs)) || contains_plus_minus(p_, static_cast<uint32_t>(pv.rhs)) ||
        contains_plus_minus(g_, static_cast<uint32_t>(gv.lhs)) || contains_plus_minus(p_, static_cast<uint32_t>(pv.lhs)))
      return real_sets(Elem{&gv, 0}, Elem{&pv, 0});
    auto both = [&](int32_t gl, int32_t gr, int32_t pl, int32_t pr) {
      std::string saved = why_;
      bool ok = scalars(static_cast<uint32_t>(gl), 0, static_cast<uint32_t>(pl), 0) &&
                scalars(static_cast<uint32_t>(gr), 0, static_cast<uint32_t>(pr), 0);
      if (!ok) why_ = saved;
      return ok;
    };
    if (both(gv.lhs, gv.rhs, pv.lhs, pv.rhs) || both(gv.lhs, gv.rhs, pv.rhs, pv.lhs)) return how("same equation");
    // Same solution set: lhs - rhs proportional at random points.
    std::vector<std::string> names;
    symbol_names(g_, static_cast<uint32_t>(gv.lhs), names);
    symbol_names(g_, static_cast<uint32_t>(gv.rhs), names);
    symbol_names(p_, static_cast<uint32_t>(pv.lhs), names);
    symbol_names(p_, static_cast<uint32_t>(pv.rhs), names);
    int valid = 0;
    Complex ratio;
    for (int k = 0; k < kRandomPoints; ++k) {
      auto gvals = assign(g_, names, k), pvals = assign(p_, names, k);
      EvalContext gc{&gvals, 0}, pc{&pvals, 0};
      Complex gd = numeric_value(g_, static_cast<uint32_t>(gv.lhs), gc) - numeric_value(g_, static_cast<uint32_t>(gv.rhs), gc);
      Complex pd = numeric_value(p_, static_cast<uint32_t>(pv.lhs), pc) - numeric_value(p_, static_cast<uint32_t>(pv.rhs), pc);
      if (!finite(gd) || !finite(pd) || std::abs(pd) < 1e-300L || std::abs(gd) < 1e-300L) continue;
      Complex r = gd / pd;
      if (valid == 0) ratio = r;
      else if (std::abs(r - ratio) > 1e-9L * std::abs(ratio)) return mismatch("the equations differ");
      ++valid;
    }
    if (valid >= kMinValidPoints) return how("equations with the same solutions (proportional)");
    return mismatch("the equations differ");
  }

  // ---------------------------------------------------------------- scalars

  static bool finite(Complex z) { return std::isfinite(z.real()) && std::isfinite(z.imag()); }

  static void symbol_names(const Answer& a, uint32_t expr, std::vector<std::string>& names) {
    std::vector<uint32_t> ids;
    collect_symbols(a, expr, ids);
    for (uint32_t id : ids)
      if (std::find(names.begin(), names.end(), a.symbols[id]) == names.end()) names.push_back(a.symbols[id]);
  }

  static std::vector<Complex> assign(const Answer& a, const std::vector<std::string>& names, int point) {
    std::vector<Complex> vals(a.symbols.size(), Complex(0, 0));
    const auto& row = random_points()[static_cast<size_t>(point)];
    for (size_t s = 0; s < a.symbols.size(); ++s) {
      auto it = std::find(names.begin(), names.end(), a.symbols[s]);
      size_t idx = static_cast<size_t>(it - names.begin());
      long double v = row[idx % row.size()] + static_cast<long double>(idx / row.size()) * 0.37L;
      // Every other point is negative for each symbol: identities that hold
      // only for positive values (sqrt(y^2) = y, ln(x^2) = 2 ln x) fail there.
      if ((static_cast<size_t>(point) + idx) % 2 == 1) v = -v;
      vals[s] = Complex(v, 0);
    }
    return vals;
  }

  // Half a unit in the last written place of the gold, when the gold is a
  // decimal ("19.3": 0.05), scientific ("1.3e+02": 5), or under the
  // significant-figures policy an integer ("51": 0.5).
  std::optional<long double> half_unit(uint32_t expr, uint32_t bits) const {
    const Node& n = g_.node(expr);
    if (n.op == Op::kNumber) {
      const Number& num = g_.numbers[n.data];
      if (num.written_decimal) return 0.5L * std::pow(10.0L, static_cast<long double>(num.exponent10 - num.decimals));
      if (sig_figs_ && num.value.get_den() == 1) {
        mpz_class magnitude = abs(num.value.get_num());
        size_t digits = magnitude.get_str().size();
        int insignificant = static_cast<int>(digits) - num.significant;
        if (insignificant < 0) insignificant = 0;
        return 0.5L * std::pow(10.0L, static_cast<long double>(insignificant));
      }
      return std::nullopt;
    }
    if (n.op == Op::kMul) {
      std::optional<long double> half;
      long double factor = 1;
      for (uint32_t k = 0; k < n.count; ++k) {
        uint32_t c = g_.child(n, k);
        if (auto h = half_unit(c, bits)) {
          if (half) return std::nullopt;
          half = h;
          continue;
        }
        auto q = exact_value(g_, c, bits);
        if (!q) return std::nullopt;
        factor *= to_long_double(*q);
      }
      if (!half) return std::nullopt;
      return *half * std::fabs(factor);
    }
    return std::nullopt;
  }

  bool scalars(uint32_t ge, uint32_t gbits, uint32_t pe, uint32_t pbits) {
    std::vector<std::string> names;
    symbol_names(g_, ge, names);
    symbol_names(p_, pe, names);
    if (!names.empty()) return symbolic(ge, gbits, pe, pbits, names);
    return constants(ge, gbits, pe, pbits);
  }

  mpq_class total_factor() const { return pred_factor_ * unit_factor_; }
  long double total_factor_ld() const {
    long double f = to_long_double(total_factor());
    for (int k = 0; k < std::abs(unit_pi_); ++k) f = unit_pi_ > 0 ? f * kPiLd : f / kPiLd;
    return f;
  }
  static constexpr long double kPiLd = 3.141592653589793238462643383279502884L;

  // A gold printed at full double precision ("7.318204659981237"): a float's
  // print, not a claim of 16 exact digits.
  bool float_print(const Answer& a, uint32_t expr) const {
    const Node& n = a.node(expr);
    if (n.op != Op::kNumber) return false;
    const Number& num = a.numbers[n.data];
    return num.written_decimal && num.significant >= 15;
  }

  // Half a unit in the last written place of a decimal prediction with at
  // least three significant figures.
  std::optional<long double> pred_half_unit(uint32_t expr) const {
    const Node& n = p_.node(expr);
    if (n.op != Op::kNumber) return std::nullopt;
    const Number& num = p_.numbers[n.data];
    if (!num.written_decimal || num.significant < 3) return std::nullopt;  // "7.3" claims too little
    return 0.5L * std::pow(10.0L, static_cast<long double>(num.exponent10 - num.decimals));
  }

  // An integer with more digits than a double holds exactly.
  static bool long_integer(const mpq_class& q) {
    return q.get_den() == 1 && mpz_sizeinbase(q.get_num_mpz_t(), 10) > 15;
  }

  // metadata.answer_tolerance: |gold - prediction| <= tolerance, as Loong applies it.
  bool absolute(uint32_t ge, uint32_t gbits, uint32_t pe, uint32_t pbits) {
    EvalContext gctx{nullptr, gbits}, pctx{nullptr, pbits};
    Complex gv = numeric_value(g_, ge, gctx);
    Complex pv = numeric_value(p_, pe, pctx) * total_factor_ld();
    if (!finite(gv) || !finite(pv)) return mismatch("not a finite number: " + fmt(gv.real()) + " vs " + fmt(pv.real()));
    long double diff = std::abs(gv - pv);
    if (diff <= policy_.absolute_tolerance * (1 + 1e-12L)) return how("within the seed's answer_tolerance " + tol(policy_.absolute_tolerance));
    return mismatch("differs by " + tol(diff) + ", beyond the seed's answer_tolerance " + tol(policy_.absolute_tolerance) +
                    ": " + fmt(gv.real()) + " vs " + fmt(pv.real()));
  }

  bool constants(uint32_t ge, uint32_t gbits, uint32_t pe, uint32_t pbits) {
    if (policy_.absolute_tolerance >= 0) return absolute(ge, gbits, pe, pbits);
    mpq_class factor = total_factor();
    long double factor_ld = total_factor_ld();
    bool p_float = has_decimal_literal(p_, pe);
    auto gq = exact_value(g_, ge, gbits);
    auto pq = exact_value(p_, pe, pbits);
    if (pq) *pq *= factor;
    if (unit_pi_ != 0) pq.reset();  // degrees against radians: the factor is not rational
    EvalContext gctx{nullptr, gbits}, pctx{nullptr, pbits};
    auto describe = [&]() {
      return (gq ? gq->get_str() : fmt(numeric_value(g_, ge, gctx).real())) + " vs " +
             (pq ? (p_float ? fmt(to_long_double(*pq)) : pq->get_str()) : fmt(numeric_value(p_, pe, pctx).real() * factor_ld));
    };
    if (float_print(g_, ge)) {
      // A float's print against a value: equal up to float noise, or to the
      // precision the prediction is written in.
      Complex gv = numeric_value(g_, ge, gctx);
      Complex pv = pq ? Complex(to_long_double(*pq), 0) : numeric_value(p_, pe, pctx) * factor_ld;
      if (!finite(pv)) return mismatch("the prediction is not a finite number");
      long double scale = std::max(std::abs(gv), std::abs(pv));
      if (std::abs(gv - pv) <= policy_.float_noise_rel * scale) return how("equal up to floating-point noise in the gold's print");
      if (auto half = pred_half_unit(pe); half && std::abs(gv - pv) <= *half * std::fabs(factor_ld) * (1 + 1e-9L))
        return how("the gold's float print rounds to the prediction (+/-" + tol(*half * std::fabs(factor_ld)) + ")");
      return mismatch("different values (the gold is a float print): " + describe());
    }
    if (auto half = half_unit(ge, gbits)) {
      Complex gv = numeric_value(g_, ge, gctx);
      Complex pv = pq ? Complex(to_long_double(*pq), 0) : numeric_value(p_, pe, pctx) * factor_ld;
      if (!finite(pv)) return mismatch("the prediction is not a finite number");
      long double allowed = *half * (1 + 1e-9L) + 1e-15L * std::abs(gv);
      if (std::abs(gv - pv) <= allowed) return how("rounds to the gold's written precision (+/-" + tol(*half) + ")");
      if (measurement() && std::abs(gv - pv) <= policy_.measurement_rel * std::abs(gv))
        return how("within " + tol(policy_.measurement_rel) + " relative of a measured gold");
      return mismatch("differs beyond the gold's written precision (+/-" + tol(*half) + "): " + describe());
    }
    if ((unit_factor_ != 1 || unit_pi_ != 0) && p_float) {
      // Converted between units: the prediction's written precision decides.
      if (auto ph = pred_half_unit(pe)) {
        Complex gv = numeric_value(g_, ge, gctx);
        Complex pv = numeric_value(p_, pe, pctx) * factor_ld;
        if (finite(pv) && std::abs(gv - pv) <= *ph * std::fabs(factor_ld) * (1 + 1e-9L))
          return how("equal to the prediction's written precision after converting '" + p_.unit.written + "' to '" +
                     g_.unit.written + "'");
      }
    }
    if (gq && pq) {
      if (*gq == *pq) return how("equal as exact rationals");
      if (!p_float) return mismatch("different exact values: " + describe());
      if (long_integer(*gq))
        return mismatch("an integer gold with more digits than a float holds is compared exactly: " + describe());
      long double g = to_long_double(*gq), p = to_long_double(*pq);
      if (std::fabs(g - p) <= policy_.float_noise_rel * std::max(std::fabs(g), std::fabs(p)))
        return how("equal up to floating-point noise in the prediction");
      return mismatch("different values (exact gold): " + describe());
    }
    Complex gv = numeric_value(g_, ge, gctx);
    Complex pv = pq ? Complex(to_long_double(*pq), 0) : numeric_value(p_, pe, pctx) * factor_ld;
    if (!finite(gv) || !finite(pv)) {
      bool g_inf = std::isinf(gv.real()) && !std::isnan(gv.imag()), p_inf = std::isinf(pv.real()) && !std::isnan(pv.imag());
      if (g_inf && p_inf && std::signbit(gv.real()) == std::signbit(pv.real())) return how("same infinity");
      return mismatch("not the same value: " + describe());
    }
    bool g_float = has_decimal_literal(g_, ge);
    if (!p_float && !g_float && unit_pi_ == 0) {
      // Two exact values: decided at 320 bits where GMP's floats reach, never by a tolerance.
      auto gp = precise_value(g_, ge, gbits), pp = precise_value(p_, pe, pbits);
      if (gp && pp) {
        mpf_class pv_exact = *pp * mpf_class(factor, 320);
        mpf_class diff = abs(*gp - pv_exact);
        mpf_class scale = std::max(abs(*gp), abs(pv_exact));
        static const mpf_class kRelative("1e-80", 320);
        if (diff <= scale * kRelative) return how("equal as exact values (to 96 digits)");
        return mismatch("different exact values: " + describe());
      }
    }
    double tolerance = gq ? (p_float ? policy_.float_noise_rel : policy_.exact_rel)
                          : (p_float || g_float ? policy_.symbolic_rel : policy_.exact_rel);
    long double scale = std::max(std::abs(gv), std::abs(pv));
    // Rounding in evaluation leaves a residue where the value is zero (sin(pi)).
    long double allowed = tolerance * scale;
    if (std::abs(gv) == 0 || std::abs(pv) == 0) allowed = std::max(allowed, 1e-17L);
    if (std::abs(gv - pv) <= allowed) {
      return how(tolerance == policy_.exact_rel ? "equal (numerically to " + tol(tolerance) + " relative)"
                                                : "equal within " + tol(tolerance) + " relative");
    }
    return mismatch("different values: " + describe() + " (tolerance " + tol(tolerance) + " relative)");
  }

  bool symbolic(uint32_t ge, uint32_t gbits, uint32_t pe, uint32_t pbits, const std::vector<std::string>& names) {
    long double factor = total_factor_ld();
    bool floats = has_decimal_literal(p_, pe) || has_decimal_literal(g_, ge);
    double tolerance = floats ? policy_.symbolic_rel : 1e-9;
    int valid = 0;
    for (int k = 0; k < kRandomPoints; ++k) {
      auto gvals = assign(g_, names, k), pvals = assign(p_, names, k);
      EvalContext gc{&gvals, gbits}, pc{&pvals, pbits};
      Complex gv = numeric_value(g_, ge, gc);
      Complex pv = numeric_value(p_, pe, pc) * factor;
      if (!finite(gv) || !finite(pv)) continue;
      ++valid;
      long double scale = std::max(std::abs(gv), std::abs(pv));
      if (std::abs(gv - pv) > tolerance * scale + 1e-12L)
        return mismatch("different expressions: " + to_string(g_, ge) + " vs " + to_string(p_, pe) +
                        " (differ at a random point)");
    }
    if (valid < kMinValidPoints) return mismatch("cannot evaluate the expressions to compare them");
    return how("equal at " + std::to_string(valid) + " random points");
  }

  // ---------------------------------------------------------------- real sets

  bool endpoint(const Answer& a, int32_t expr, uint32_t bits, long double& out) const {
    if (expr < 0) return false;
    Complex v = numeric_value(a, static_cast<uint32_t>(expr), EvalContext{nullptr, bits});
    if (std::isnan(v.real()) || std::fabs(v.imag()) > 1e-12L) return false;
    out = v.real();
    return true;
  }

  static std::vector<Piece> intersect(const std::vector<Piece>& x, const std::vector<Piece>& y) {
    std::vector<Piece> out;
    for (const auto& a : x)
      for (const auto& b : y) {
        Piece p;
        if (a.lo > b.lo || (a.lo == b.lo && !a.lo_closed)) p.lo = a.lo, p.lo_closed = a.lo_closed, p.lo_expr = a.lo_expr;
        else p.lo = b.lo, p.lo_closed = b.lo_closed, p.lo_expr = b.lo_expr;
        if (a.hi < b.hi || (a.hi == b.hi && !a.hi_closed)) p.hi = a.hi, p.hi_closed = a.hi_closed, p.hi_expr = a.hi_expr;
        else p.hi = b.hi, p.hi_closed = b.hi_closed, p.hi_expr = b.hi_expr;
        p.bits = a.bits;
        if (p.lo < p.hi || (p.lo == p.hi && p.lo_closed && p.hi_closed)) out.push_back(p);
      }
    return out;
  }

  static void normalize(std::vector<Piece>& s) {
    std::sort(s.begin(), s.end(), [](const Piece& a, const Piece& b) {
      return a.lo < b.lo || (a.lo == b.lo && a.lo_closed && !b.lo_closed);
    });
    std::vector<Piece> out;
    for (const auto& p : s) {
      if (!out.empty()) {
        Piece& last = out.back();
        bool touches = p.lo < last.hi || (p.lo == last.hi && (p.lo_closed || last.hi_closed));
        if (touches) {
          if (p.hi > last.hi || (p.hi == last.hi && p.hi_closed)) {
            last.hi = p.hi;
            last.hi_closed = p.hi_closed;
            last.hi_expr = p.hi_expr;
          }
          continue;
        }
      }
      out.push_back(p);
    }
    s = std::move(out);
  }

  // The real set a value describes, in the single variable `var` (learned from the first relation).
  bool to_set(const Answer& a, const Value& v, uint32_t bits, std::string& var, std::vector<Piece>& out) {
    constexpr long double inf = std::numeric_limits<long double>::infinity();
    auto piece = [&](int32_t lo_e, int32_t hi_e, bool lo_open, bool hi_open) {
      Piece p;
      p.lo_expr = lo_e;
      p.hi_expr = hi_e;
      p.bits = bits;
      if (!endpoint(a, lo_e, bits, p.lo) || !endpoint(a, hi_e, bits, p.hi)) return false;
      p.lo_closed = !lo_open && std::isfinite(p.lo);
      p.hi_closed = !hi_open && std::isfinite(p.hi);
      if (p.lo < p.hi || (p.lo == p.hi && p.lo_closed && p.hi_closed)) out.push_back(p);
      return true;
    };
    switch (v.kind) {
      case Kind::kInterval: return piece(v.lhs, v.rhs, v.lo_open, v.hi_open);
      case Kind::kTuple:
      case Kind::kList:
        if (v.items.size() == 2 && v.items[0].kind == Kind::kScalar && v.items[1].kind == Kind::kScalar)
          return piece(v.items[0].expr, v.items[1].expr, v.kind == Kind::kTuple, v.kind == Kind::kTuple);
        return false;
      case Kind::kSet:
      case Kind::kBareList:
        for (const auto& item : v.items) {
          if (item.kind == Kind::kScalar) {
            if (!piece(item.expr, item.expr, false, false)) return false;
          } else if (!to_set(a, item, bits, var, out)) {
            return false;
          }
        }
        return true;
      case Kind::kScalar:
        if (contains_plus_minus(a, static_cast<uint32_t>(v.expr))) return points_of_pm(a, v.expr, out);
        return piece(v.expr, v.expr, false, false);
      case Kind::kEmptySet: return true;
      case Kind::kReals: out.push_back(Piece{-inf, inf, false, false, -1, -1, bits}); return true;
      case Kind::kUnion:
        for (const auto& item : v.items)
          if (!to_set(a, item, bits, var, out)) return false;
        normalize(out);
        return true;
      case Kind::kIntersection: {
        std::vector<Piece> acc{Piece{-inf, inf, false, false, -1, -1, bits}};
        for (const auto& item : v.items) {
          std::vector<Piece> s;
          if (!to_set(a, item, bits, var, s)) return false;
          normalize(s);
          acc = intersect(acc, s);
        }
        out.insert(out.end(), acc.begin(), acc.end());
        return true;
      }
      case Kind::kEquation:
      case Kind::kRelation: {
        // x < c or c < x, with x the set's variable.
        auto is_var = [&](int32_t e) {
          const Node& n = a.node(static_cast<uint32_t>(e));
          if (n.op != Op::kSymbol) return false;
          const std::string& name = a.symbols[n.data];
          if (var.empty()) var = name;
          return name == var;
        };
        bool var_left = is_var(v.lhs);
        bool var_right = !var_left && is_var(v.rhs);
        if (!var_left && !var_right) return false;
        int32_t c = var_left ? v.rhs : v.lhs;
        long double cv;
        if (!endpoint(a, c, bits, cv)) return false;
        if (v.kind == Kind::kEquation) {
          if (contains_plus_minus(a, static_cast<uint32_t>(c))) return points_of_pm(a, c, out);
          return piece(c, c, false, false);
        }
        Rel r = v.rel;
        if (!var_left) {  // c < x  ==  x > c
          r = r == Rel::kLt ? Rel::kGt : r == Rel::kLe ? Rel::kGe : r == Rel::kGt ? Rel::kLt : r == Rel::kGe ? Rel::kLe : r;
        }
        switch (r) {
          case Rel::kLt: out.push_back(Piece{-inf, cv, false, false, -1, c, bits}); return true;
          case Rel::kLe: out.push_back(Piece{-inf, cv, false, true, -1, c, bits}); return true;
          case Rel::kGt: out.push_back(Piece{cv, inf, false, false, c, -1, bits}); return true;
          case Rel::kGe: out.push_back(Piece{cv, inf, true, false, c, -1, bits}); return true;
          case Rel::kNe:
            out.push_back(Piece{-inf, cv, false, false, -1, c, bits});
            out.push_back(Piece{cv, inf, false, false, c, -1, bits});
            return true;
        }
        return false;
      }
      default: return false;
    }
  }

  bool same_endpoint(long double gv, int32_t ge, uint32_t gbits, long double pv, int32_t pe, uint32_t pbits) {
    if (std::isinf(gv) || std::isinf(pv)) return gv == pv;
    if (ge >= 0 && pe >= 0) return scalars(static_cast<uint32_t>(ge), gbits, static_cast<uint32_t>(pe), pbits);
    return std::fabs(gv - pv) <= policy_.exact_rel * std::max(std::fabs(gv), std::fabs(pv));
  }

  // "x = a \pm b" as the points it names, one per branch.
  bool points_of_pm(const Answer& a, int32_t expr, std::vector<Piece>& out) const {
    for (uint32_t b = 0; b < (1u << a.plus_minus_count); ++b) {
      long double x;
      if (!endpoint(a, expr, b, x)) return false;
      out.push_back(Piece{x, x, true, true, expr, expr, b});
    }
    return true;
  }

  // ---------------------------------------------------------------- membership

  // Whether x belongs to the set a value describes in the variable `var`
  // ("-y \le 2", "|t| \ge 3", "t^2 > 4"); false in `ok` when it cannot say.
  bool member(const Answer& a, const Value& v, const std::string& var, long double x, bool& ok) const {
    if (!ok) return false;
    std::vector<Complex> vals(a.symbols.size(), Complex(0, 0));
    for (size_t k = 0; k < a.symbols.size(); ++k) {
      if (a.symbols[k] != var) {
        ok = false;
        return false;
      }
      vals[k] = Complex(x, 0);
    }
    auto value = [&](int32_t e, long double& out) {
      Complex z = numeric_value(a, static_cast<uint32_t>(e), EvalContext{&vals, 0});
      if (std::isnan(z.real()) || std::fabs(z.imag()) > 1e-12L * (1 + std::fabs(z.real()))) return false;
      out = z.real();
      return true;
    };
    auto close = [](long double l, long double r) {
      if (std::isinf(l) || std::isinf(r)) return l == r;
      return std::fabs(l - r) <= 1e-12L * (1 + std::max(std::fabs(l), std::fabs(r)));
    };
    switch (v.kind) {
      case Kind::kRelation:
      case Kind::kEquation: {
        long double l, r;
        if (!value(v.lhs, l) || !value(v.rhs, r)) return false;  // outside the domain: not a member
        if (v.kind == Kind::kEquation) return close(l, r);
        switch (v.rel) {
          case Rel::kLt: return l < r && !close(l, r);
          case Rel::kLe: return l < r || close(l, r);
          case Rel::kGt: return l > r && !close(l, r);
          case Rel::kGe: return l > r || close(l, r);
          case Rel::kNe: return !close(l, r);
        }
        return false;
      }
      case Kind::kUnion:
      case Kind::kSet:
      case Kind::kBareList: {
        bool any = false;
        for (const auto& item : v.items) any = member(a, item, var, x, ok) || any;
        return any;
      }
      case Kind::kIntersection: {
        bool all = true;
        for (const auto& item : v.items) all = member(a, item, var, x, ok) && all;
        return all;
      }
      case Kind::kInterval: {
        long double lo, hi;
        if (!value(v.lhs, lo) || !value(v.rhs, hi)) {
          ok = false;
          return false;
        }
        bool above = v.lo_open ? x > lo && !close(x, lo) : x > lo || close(x, lo);
        bool below = v.hi_open ? x < hi && !close(x, hi) : x < hi || close(x, hi);
        return above && below;
      }
      case Kind::kScalar: {
        long double c;
        if (!value(v.expr, c)) {
          ok = false;
          return false;
        }
        return close(x, c);
      }
      case Kind::kEmptySet: return false;
      case Kind::kReals: return true;
      default: ok = false; return false;
    }
  }

  static void relation_variable(const Answer& a, const Value& v, std::string& var) {
    if (!var.empty()) return;
    if (v.kind == Kind::kRelation || v.kind == Kind::kEquation) {
      std::vector<uint32_t> ids;
      collect_symbols(a, static_cast<uint32_t>(v.lhs), ids);
      collect_symbols(a, static_cast<uint32_t>(v.rhs), ids);
      if (!ids.empty()) var = a.symbols[ids.front()];
    }
    for (const auto& item : v.items) relation_variable(a, item, var);
  }

  // Two sets of reals in one variable that cannot both be read as intervals:
  // the same members at every boundary either side has (and just beside it)
  // and on a grid over [-100, 100].
  bool same_members(Elem g, Elem p) {
    std::string gvar, pvar;
    relation_variable(g_, *g.v, gvar);
    relation_variable(p_, *p.v, pvar);
    if (gvar.empty()) gvar = pvar;
    if (pvar.empty()) pvar = gvar;
    if (gvar.empty() || gvar != pvar) return mismatch("the inequalities are not in the same single variable");
    std::vector<long double> xs;
    for (int k = -400; k <= 400; ++k) xs.push_back(static_cast<long double>(k) * 0.25L + 0.0137L);
    for (long double big : {1e3L, 1e6L, -1e3L, -1e6L}) xs.push_back(big);
    // Boundaries: where either side's membership changes on the grid, refined by
    // bisection and snapped to a nearby simple fraction, then tested exactly.
    auto boundaries = [&](const Answer& a, const Value& v) {
      std::vector<long double> out;
      bool ok = true;
      bool prev = member(a, v, gvar, xs[0], ok);
      for (int k = 1; k <= 800 && ok; ++k) {
        bool cur = member(a, v, gvar, xs[k], ok);
        if (cur == prev) continue;
        long double lo = xs[k - 1], hi = xs[k];
        for (int it = 0; it < 80 && ok; ++it) {
          long double mid = (lo + hi) / 2;
          if (member(a, v, gvar, mid, ok) == prev) lo = mid;
          else hi = mid;
        }
        long double b = (lo + hi) / 2;
        for (long double den : {1.0L, 2.0L, 3.0L, 4.0L, 5.0L, 6.0L, 8.0L, 10.0L}) {
          long double r = std::round(b * den) / den;
          if (std::fabs(r - b) < 1e-9L) {
            b = r;
            break;
          }
        }
        out.push_back(b);
        prev = cur;
      }
      return out;
    };
    std::vector<long double> edges = boundaries(g_, *g.v), more = boundaries(p_, *p.v);
    edges.insert(edges.end(), more.begin(), more.end());
    for (long double b : edges)
      for (long double d : {0.0L, 1e-6L, -1e-6L}) xs.push_back(b + d * (1 + std::fabs(b)));
    for (long double x : xs) {
      bool gok = true, pok = true;
      bool gm = member(g_, *g.v, gvar, x, gok), pm = member(p_, *p.v, pvar, x, pok);
      if (!gok || !pok) return mismatch("cannot read the inequalities as sets of reals");
      if (gm != pm) return mismatch("the sets differ at " + gvar + " = " + fmt(x) + ": " + (gm ? "in the gold's, not the prediction's" : "in the prediction's, not the gold's"));
    }
    return how("same set of reals (the same members at every boundary and on a grid)");
  }

  bool real_sets(Elem g, Elem p) {
    std::string gvar, pvar;
    std::vector<Piece> gs, ps;
    if (!to_set(g_, *g.v, g.bits, gvar, gs) || !to_set(p_, *p.v, p.bits, pvar, ps)) return same_members(g, p);
    normalize(gs);
    normalize(ps);
    if (gs.size() != ps.size())
      return mismatch("sets of reals differ: " + std::to_string(gs.size()) + " pieces vs " + std::to_string(ps.size()));
    for (size_t k = 0; k < gs.size(); ++k) {
      const Piece& a = gs[k];
      const Piece& b = ps[k];
      std::string saved = why_;
      if (!same_endpoint(a.lo, a.lo_expr, a.bits, b.lo, b.lo_expr, b.bits) ||
          !same_endpoint(a.hi, a.hi_expr, a.bits, b.hi, b.hi_expr, b.bits)) {
        why_ = saved;
        return mismatch("interval endpoints differ: " + fmt(a.lo) + ".." + fmt(a.hi) + " vs " + fmt(b.lo) + ".." + fmt(b.hi));
      }
      if (a.lo_closed != b.lo_closed || a.hi_closed != b.hi_closed)
        return mismatch("open and closed ends differ");
    }
    return how("same set of reals (" + std::to_string(gs.size()) + " piece" + (gs.size() == 1 ? "" : "s") + ")");
  }
};

bool looks_like_prose(const std::string& s) {
  int words = 0;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && !std::isalpha(static_cast<unsigned char>(s[i]))) ++i;
    size_t b = i;
    while (i < s.size() && std::isalpha(static_cast<unsigned char>(s[i]))) ++i;
    if (i - b >= 2) ++words;
  }
  return words >= 5;
}

}  // namespace

// "B", "(B)", "\text{(B)}", "Option b", "B)" -> 'B'.
std::optional<char> choice_letter(std::string_view text) {
  std::string s;
  for (char c : text) s += c;
  for (std::string_view w : {"\\textbf", "\\text", "\\mathrm", "\\mathbf", "\\boxed"}) {
    for (size_t at = 0; (at = s.find(w, at)) != std::string::npos;) s.erase(at, w.size());
  }
  std::string t;
  for (char c : s)
    if (!std::isspace(static_cast<unsigned char>(c)) && c != '{' && c != '}' && c != '(' && c != ')' && c != '$' &&
        c != '*' && c != '.' && c != ':')
      t += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (std::string_view prefix : {"option", "choice", "answer"})
    if (t.size() > prefix.size() && t.compare(0, prefix.size(), prefix) == 0) t = t.substr(prefix.size());
  if (t.size() == 1 && t[0] >= 'a' && t[0] <= 'j') return static_cast<char>(std::toupper(t[0]));
  return std::nullopt;
}

// A gold that is a choice letter: written in capitals (a lowercase "b" is more
// likely a variable).
bool is_choice_gold(std::string_view gold) {
  auto letter = choice_letter(gold);
  return letter && gold.find(*letter) != std::string_view::npos;
}

Verdict judge(std::string_view gold, std::string_view pred, const Policy& policy) {
  Verdict v;
  std::string pred_text(pred);
  if (policy.extract != ExtractMode::kNever) {
    Extraction ex = extract_final_answer(pred, policy.extract == ExtractMode::kAlways ? policy.fallback : Fallback::kNone);
    if (ex.found) {
      pred_text = ex.answer;
      v.extracted = ex.answer;
      v.extraction_method = ex.method;
    } else if (policy.extract == ExtractMode::kAlways) {
      v.outcome = Outcome::kNoAnswer;
      v.reason = "no final answer found (no \\boxed{}, 'final answer is' or 'Answer:') and the fallback is none";
      return v;
    }
  }
  // Multiple choice: the gold is a letter A-J, dressed or not.
  if (is_choice_gold(gold)) {
    auto gl = choice_letter(gold);
    auto pl = choice_letter(pred_text);
    if (pl) {
      v.gold_form = std::string("choice ") + *gl;
      v.pred_form = std::string("choice ") + *pl;
      v.outcome = *gl == *pl ? Outcome::kEquivalent : Outcome::kNotEquivalent;
      v.reason = *gl == *pl ? "same choice letter" : "different choice letters";
      return v;
    }
  }
  ParseResult g = parse_answer(gold);
  if (!g.ok) {
    v.outcome = Outcome::kUnparseable;
    v.reason = "gold: " + g.error;
    return v;
  }
  ParseResult p = parse_answer(pred_text);
  if (!p.ok) {
    v.outcome = Outcome::kUnparseable;
    v.reason = "prediction: " + p.error;
    v.gold_form = to_string(g.answer, g.answer.root);
    return v;
  }
  v.gold_form = to_string(g.answer, g.answer.root);
  v.pred_form = to_string(p.answer, p.answer.root);
  if (!g.answer.unit.empty()) v.gold_form += " [" + g.answer.unit.written + "]";
  if (!p.answer.unit.empty()) v.pred_form += " [" + p.answer.unit.written + "]";
  if (g.answer.percent) v.gold_form += " %";
  if (p.answer.percent) v.pred_form += " %";
  if (policy.extract == ExtractMode::kAuto && v.extraction_method.empty() && p.fell_back_to_text &&
      g.answer.root.kind != Kind::kText && looks_like_prose(p.answer.source)) {
    v.outcome = Outcome::kNoAnswer;
    v.reason = "the prediction reads as prose without a final-answer marker; not guessing a value from it";
    return v;
  }
  Judge j(g.answer, p.answer, policy);
  std::string reason;
  v.outcome = j.top(reason) ? Outcome::kEquivalent : Outcome::kNotEquivalent;
  v.reason = std::move(reason);
  return v;
}

// ---------------------------------------------------------------- policy

}  // namespace vf::equiv
