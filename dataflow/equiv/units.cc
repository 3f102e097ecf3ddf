#include "dataflow/equiv/units.h"

#include <algorithm>
#include <cctype>
#include <unordered_map>
#include <vector>

namespace vf::equiv {

namespace {

struct Atom {
  std::string_view name;
  Dimension dim;          // m, kg, s, A, K, mol, cd, angle, degC, degF
  std::string_view scale; // to SI: an exact decimal or "p/q"
  int pi_power;
  bool prefixable;        // takes SI prefixes: km, mA, GHz
};

// Definitions are exact where SI defines them (eV, Da 2018 CODATA values
// as written; atm, bar, hour, Julian year, AU, lb, ft, mi by definition).
const Atom kAtoms[] = {
    {"m", {1, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "1", 0, true},
    {"g", {0, 1, 0, 0, 0, 0, 0, 0, 0, 0}, "1/1000", 0, true},
    {"s", {0, 0, 1, 0, 0, 0, 0, 0, 0, 0}, "1", 0, true},
    {"A", {0, 0, 0, 1, 0, 0, 0, 0, 0, 0}, "1", 0, true},
    {"K", {0, 0, 0, 0, 1, 0, 0, 0, 0, 0}, "1", 0, true},
    {"mol", {0, 0, 0, 0, 0, 1, 0, 0, 0, 0}, "1", 0, true},
    {"cd", {0, 0, 0, 0, 0, 0, 1, 0, 0, 0}, "1", 0, true},
    {"rad", {0, 0, 0, 0, 0, 0, 0, 1, 0, 0}, "1", 0, true},
    {"deg", {0, 0, 0, 0, 0, 0, 0, 1, 0, 0}, "1/180", 1, false},
    {"degC", {0, 0, 0, 0, 0, 0, 0, 0, 1, 0}, "1", 0, false},
    {"degF", {0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, "1", 0, false},
    {"sr", {0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "1", 0, false},
    {"Hz", {0, 0, -1, 0, 0, 0, 0, 0, 0, 0}, "1", 0, true},
    {"N", {1, 1, -2, 0, 0, 0, 0, 0, 0, 0}, "1", 0, true},
    {"Pa", {-1, 1, -2, 0, 0, 0, 0, 0, 0, 0}, "1", 0, true},
    {"J", {2, 1, -2, 0, 0, 0, 0, 0, 0, 0}, "1", 0, true},
    {"W", {2, 1, -3, 0, 0, 0, 0, 0, 0, 0}, "1", 0, true},
    {"Wh", {2, 1, -2, 0, 0, 0, 0, 0, 0, 0}, "3600", 0, true},
    {"C", {0, 0, 1, 1, 0, 0, 0, 0, 0, 0}, "1", 0, true},
    {"V", {2, 1, -3, -1, 0, 0, 0, 0, 0, 0}, "1", 0, true},
    {"F", {-2, -1, 4, 2, 0, 0, 0, 0, 0, 0}, "1", 0, true},
    {"ohm", {2, 1, -3, -2, 0, 0, 0, 0, 0, 0}, "1", 0, true},
    {"Ohm", {2, 1, -3, -2, 0, 0, 0, 0, 0, 0}, "1", 0, true},
    {"S", {-2, -1, 3, 2, 0, 0, 0, 0, 0, 0}, "1", 0, true},
    {"Wb", {2, 1, -2, -1, 0, 0, 0, 0, 0, 0}, "1", 0, true},
    {"T", {0, 1, -2, -1, 0, 0, 0, 0, 0, 0}, "1", 0, true},
    {"H", {2, 1, -2, -2, 0, 0, 0, 0, 0, 0}, "1", 0, true},
    {"L", {3, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "1/1000", 0, true},
    {"cc", {3, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "1/1000000", 0, false},
    {"eV", {2, 1, -2, 0, 0, 0, 0, 0, 0, 0}, "1.602176634e-19", 0, true},
    {"erg", {2, 1, -2, 0, 0, 0, 0, 0, 0, 0}, "1e-7", 0, false},
    {"dyn", {1, 1, -2, 0, 0, 0, 0, 0, 0, 0}, "1e-5", 0, false},
    {"cal", {2, 1, -2, 0, 0, 0, 0, 0, 0, 0}, "4.184", 0, true},
    {"Cal", {2, 1, -2, 0, 0, 0, 0, 0, 0, 0}, "4184", 0, false},
    {"hartree", {2, 1, -2, 0, 0, 0, 0, 0, 0, 0}, "4.3597447222071e-18", 0, false},
    {"Ha", {2, 1, -2, 0, 0, 0, 0, 0, 0, 0}, "4.3597447222071e-18", 0, false},
    {"Eh", {2, 1, -2, 0, 0, 0, 0, 0, 0, 0}, "4.3597447222071e-18", 0, false},
    {"Ry", {2, 1, -2, 0, 0, 0, 0, 0, 0, 0}, "2.1798723611035e-18", 0, false},
    {"atm", {-1, 1, -2, 0, 0, 0, 0, 0, 0, 0}, "101325", 0, false},
    {"bar", {-1, 1, -2, 0, 0, 0, 0, 0, 0, 0}, "100000", 0, true},
    {"Torr", {-1, 1, -2, 0, 0, 0, 0, 0, 0, 0}, "101325/760", 0, true},
    {"torr", {-1, 1, -2, 0, 0, 0, 0, 0, 0, 0}, "101325/760", 0, false},
    {"mmHg", {-1, 1, -2, 0, 0, 0, 0, 0, 0, 0}, "133.322387415", 0, false},
    {"psi", {-1, 1, -2, 0, 0, 0, 0, 0, 0, 0}, "6894.757293168361", 0, false},
    {"min", {0, 0, 1, 0, 0, 0, 0, 0, 0, 0}, "60", 0, false},
    {"h", {0, 0, 1, 0, 0, 0, 0, 0, 0, 0}, "3600", 0, false},
    {"hr", {0, 0, 1, 0, 0, 0, 0, 0, 0, 0}, "3600", 0, false},
    {"hrs", {0, 0, 1, 0, 0, 0, 0, 0, 0, 0}, "3600", 0, false},
    {"day", {0, 0, 1, 0, 0, 0, 0, 0, 0, 0}, "86400", 0, false},
    {"tonne", {0, 1, 0, 0, 0, 0, 0, 0, 0, 0}, "1000", 0, false},
    {"debye", {1, 0, 1, 1, 0, 0, 0, 0, 0, 0}, "3.33564095198152e-30", 0, false},
    {"yr", {0, 0, 1, 0, 0, 0, 0, 0, 0, 0}, "31557600", 0, false},
    {"Da", {0, 1, 0, 0, 0, 0, 0, 0, 0, 0}, "1.66053906660e-27", 0, true},
    {"amu", {0, 1, 0, 0, 0, 0, 0, 0, 0, 0}, "1.66053906660e-27", 0, false},
    {"M", {-3, 0, 0, 0, 0, 1, 0, 0, 0, 0}, "1000", 0, true},
    {"lb", {0, 1, 0, 0, 0, 0, 0, 0, 0, 0}, "0.45359237", 0, false},
    {"lbs", {0, 1, 0, 0, 0, 0, 0, 0, 0, 0}, "0.45359237", 0, false},
    {"oz", {0, 1, 0, 0, 0, 0, 0, 0, 0, 0}, "0.028349523125", 0, false},
    {"ft", {1, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "0.3048", 0, false},
    {"in", {1, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "0.0254", 0, false},
    {"yd", {1, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "0.9144", 0, false},
    {"mi", {1, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "1609.344", 0, false},
    {"nmi", {1, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "1852", 0, false},
    {"mph", {1, 0, -1, 0, 0, 0, 0, 0, 0, 0}, "0.44704", 0, false},
    {"kph", {1, 0, -1, 0, 0, 0, 0, 0, 0, 0}, "1000/3600", 0, false},
    {"kn", {1, 0, -1, 0, 0, 0, 0, 0, 0, 0}, "1852/3600", 0, false},
    {"AU", {1, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "149597870700", 0, false},
    {"au", {1, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "149597870700", 0, false},
    {"ly", {1, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "9460730472580800", 0, false},
    {"pc", {1, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "30856775814913673", 0, true},
    {"angstrom", {1, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "1e-10", 0, false},
    {"Angstrom", {1, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "1e-10", 0, false},
    {"AA", {1, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "1e-10", 0, false},
    {"bohr", {1, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "5.29177210903e-11", 0, false},
    {"gal", {3, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "0.003785411784", 0, false},
    {"lm", {0, 0, 0, 0, 0, 0, 1, 0, 0, 0}, "1", 0, true},
    {"lx", {-2, 0, 0, 0, 0, 0, 1, 0, 0, 0}, "1", 0, true},
    {"Bq", {0, 0, -1, 0, 0, 0, 0, 0, 0, 0}, "1", 0, true},
    {"Ci", {0, 0, -1, 0, 0, 0, 0, 0, 0, 0}, "3.7e10", 0, true},
    {"Gy", {2, 0, -2, 0, 0, 0, 0, 0, 0, 0}, "1", 0, true},
    {"Sv", {2, 0, -2, 0, 0, 0, 0, 0, 0, 0}, "1", 0, true},
    {"rpm", {0, 0, -1, 0, 0, 0, 0, 1, 0, 0}, "2/60", 1, false},
    {"dB", {0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "1", 0, false},
    // sympy's prefixes printed on their own ("ampere*milli")
    {"kilo", {0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "1e3", 0, false},
    {"mega", {0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "1e6", 0, false},
    {"giga", {0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "1e9", 0, false},
    {"milli", {0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "1e-3", 0, false},
    {"micro", {0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "1e-6", 0, false},
    {"nano", {0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "1e-9", 0, false},
    {"pico", {0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "1e-12", 0, false},
    {"centi", {0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "1e-2", 0, false},
    // amounts in words: "1.2 million"
    {"thousand", {0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "1e3", 0, false},
    {"million", {0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "1e6", 0, false},
    {"billion", {0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "1e9", 0, false},
    {"trillion", {0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "1e12", 0, false},
    {"dozen", {0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "12", 0, false},
};

// Words and the atom (or product) they stand for.
struct Word {
  std::string_view word;
  std::string_view atom;
  int prefix10;  // "kilometer": the prefix folded in
};
const Word kWords[] = {
    {"meter", "m", 0},       {"metre", "m", 0},       {"kilometer", "m", 3},  {"kilometre", "m", 3},
    {"centimeter", "m", -2}, {"centimetre", "m", -2}, {"millimeter", "m", -3}, {"millimetre", "m", -3},
    {"micrometer", "m", -6}, {"micron", "m", -6},     {"nanometer", "m", -9}, {"nanometre", "m", -9},
    {"picometer", "m", -12}, {"gram", "g", 0},        {"gramme", "g", 0},     {"kilogram", "g", 3},
    {"milligram", "g", -3},  {"microgram", "g", -6},  {"tonne", "tonne", 0},      {"ton", "tonne", 0},
    {"second", "s", 0},      {"sec", "s", 0},         {"millisecond", "s", -3}, {"microsecond", "s", -6},
    {"nanosecond", "s", -9}, {"minute", "min", 0},    {"hour", "h", 0},       {"day", "day", 0},
    {"year", "yr", 0},       {"week", "day", 0},        {"ampere", "A", 0},     {"amp", "A", 0},
    {"milliampere", "A", -3}, {"kelvin", "K", 0},     {"mole", "mol", 0},     {"millimole", "mol", -3},
    {"candela", "cd", 0},    {"radian", "rad", 0},    {"degree", "deg", 0},   {"hertz", "Hz", 0},
    {"kilohertz", "Hz", 3},  {"megahertz", "Hz", 6},  {"gigahertz", "Hz", 9}, {"newton", "N", 0},
    {"kilonewton", "N", 3},  {"pascal", "Pa", 0},     {"kilopascal", "Pa", 3}, {"joule", "J", 0},
    {"kilojoule", "J", 3},   {"megajoule", "J", 6},   {"watt", "W", 0},       {"kilowatt", "W", 3},
    {"megawatt", "W", 6},    {"coulomb", "C", 0},     {"microcoulomb", "C", -6}, {"volt", "V", 0},
    {"kilovolt", "V", 3},    {"millivolt", "V", -3},  {"farad", "F", 0},      {"microfarad", "F", -6},
    {"ohm", "ohm", 0},       {"kilohm", "ohm", 3},    {"siemens", "S", 0},    {"weber", "Wb", 0},
    {"tesla", "T", 0},       {"henry", "H", 0},       {"liter", "L", 0},      {"litre", "L", 0},
    {"milliliter", "L", -3}, {"millilitre", "L", -3}, {"electronvolt", "eV", 0}, {"calorie", "cal", 0},
    {"kilocalorie", "cal", 3}, {"atmosphere", "atm", 0}, {"foot", "ft", 0},   {"feet", "ft", 0},
    {"inch", "in", 0},       {"inches", "in", 0},     {"yard", "yd", 0},      {"mile", "mi", 0},
    {"pound", "lb", 0},      {"ounce", "oz", 0},      {"gallon", "gal", 0},   {"knot", "kn", 0},
    {"lightyear", "ly", 0},  {"parsec", "pc", 0},     {"becquerel", "Bq", 0}, {"gray", "Gy", 0},
    {"sievert", "Sv", 0},    {"decibel", "dB", 0},    {"lumen", "lm", 0},     {"lux", "lx", 0},
    {"debye", "debye", 0},   {"astronomical_unit", "AU", 0}, {"dalton", "Da", 0}, {"atomic_mass_unit", "amu", 0},
    {"kilometer_per_hour", "kph", 0}, {"electron_volt", "eV", 0}, {"kiloelectronvolt", "eV", 3},
    {"megaelectronvolt", "eV", 6}, {"gigaelectronvolt", "eV", 9}, {"millibar", "bar", -3},
    {"kilopascal", "Pa", 3},  {"megapascal", "Pa", 6},  {"gigapascal", "Pa", 9}, {"hectopascal", "Pa", 2},
    {"millisecond", "s", -3}, {"nanometer", "m", -9},   {"femtometer", "m", -15}, {"micrometre", "m", -6},
    {"kilogram", "g", 3},     {"angstroms", "angstrom", 0}, {"light_year", "ly", 0},
};

struct Prefix {
  std::string_view p;
  int exp10;
};
const Prefix kPrefixes[] = {{"da", 1},  {"Y", 24},  {"Z", 21},  {"E", 18},  {"P", 15},  {"T", 12}, {"G", 9},
                            {"M", 6},   {"k", 3},   {"h", 2},   {"d", -1},  {"c", -2},  {"m", -3}, {"u", -6},
                            {"n", -9},  {"p", -12}, {"f", -15}, {"a", -18}, {"z", -21}, {"y", -24}};

mpq_class decimal_rational(std::string_view text) {
  if (auto slash = text.find('/'); slash != std::string_view::npos) {
    mpq_class q(mpz_class(std::string(text.substr(0, slash)), 10), mpz_class(std::string(text.substr(slash + 1)), 10));
    q.canonicalize();
    return q;
  }
  std::string mantissa(text);
  long exp10 = 0;
  if (auto e = mantissa.find('e'); e != std::string::npos) {
    exp10 = std::stol(mantissa.substr(e + 1));
    mantissa.resize(e);
  }
  if (auto dot = mantissa.find('.'); dot != std::string::npos) {
    exp10 -= static_cast<long>(mantissa.size() - dot - 1);
    mantissa.erase(dot, 1);
  }
  mpq_class q{mpz_class(mantissa, 10)};
  mpz_class p;
  mpz_ui_pow_ui(p.get_mpz_t(), 10, static_cast<unsigned long>(exp10 < 0 ? -exp10 : exp10));
  if (exp10 < 0) q /= p;
  else q *= p;
  q.canonicalize();
  return q;
}

// Hash lookups: unit detection tries every word after a number, so a
// miss ("2 x") must be cheap.
struct Table {
  std::vector<std::pair<const Atom*, mpq_class>> atoms;
  std::unordered_map<std::string_view, size_t> by_name;     // atom symbol -> index
  std::unordered_map<std::string, const Word*> words;       // lower-case word -> entry
  const std::pair<const Atom*, mpq_class>* find(std::string_view name) const {
    auto it = by_name.find(name);
    return it == by_name.end() ? nullptr : &atoms[it->second];
  }
};

const Table& table() {
  static const Table t = [] {
    Table out;
    for (const auto& a : kAtoms) {
      out.by_name.emplace(a.name, out.atoms.size());
      out.atoms.emplace_back(&a, decimal_rational(a.scale));
    }
    for (const auto& w : kWords) out.words.emplace(std::string(w.word), &w);
    return out;
  }();
  return t;
}

mpq_class pow10(int e) {
  mpz_class p;
  mpz_ui_pow_ui(p.get_mpz_t(), 10, static_cast<unsigned long>(e < 0 ? -e : e));
  return e < 0 ? mpq_class(1, 1) / mpq_class(p) : mpq_class(p);
}

void multiply(Unit& unit, const Atom& atom, const mpq_class& scale, int prefix10, int power) {
  for (size_t d = 0; d < kDimensions; ++d) unit.dim[d] = static_cast<int8_t>(unit.dim[d] + atom.dim[d] * power);
  mpq_class s = scale * pow10(prefix10);
  for (int k = 0; k < std::abs(power); ++k) {
    if (power > 0) unit.scale *= s;
    else unit.scale /= s;
  }
  unit.pi_power += atom.pi_power * power;
}

bool lower_equals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != b[i]) return false;
  return true;
}

const Word* find_word(std::string_view name) {
  auto lookup = [](std::string_view w) -> const Word* {
    std::string key(w);
    for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const auto& words = table().words;
    auto it = words.find(key);
    return it == words.end() ? nullptr : it->second;
  };
  if (name.size() < 3) return nullptr;
  if (auto* w = lookup(name)) return w;
  if (name.back() == 's' || name.back() == 'S') {  // plurals: meters, inches
    if (auto* w = lookup(name.substr(0, name.size() - 1))) return w;
    if (name.size() > 3 && name[name.size() - 2] == 'e')
      if (auto* w = lookup(name.substr(0, name.size() - 2))) return w;
  }
  return nullptr;
}

}  // namespace

bool Unit::is_angle_only() const {
  for (size_t d = 0; d < kDimensions; ++d)
    if (d != kAngleDimension && dim[d] != 0) return false;
  return dim[kAngleDimension] != 0;
}

bool multiply_unit_atom(std::string_view name, int power, Unit& unit) {
  const Table& t = table();
  if (auto* a = t.find(name)) {
    multiply(unit, *a->first, a->second, 0, power);
    return true;
  }
  if (auto* w = find_word(name)) {
    auto* a = t.find(w->atom);
    if (!a) return false;
    int extra = lower_equals(name.substr(0, std::min<size_t>(name.size(), 4)), "week") ? 1 : 0;
    multiply(unit, *a->first, a->second, w->prefix10, power);
    if (extra) {  // a week is seven days
      for (int k = 0; k < std::abs(power); ++k) {
        if (power > 0) unit.scale *= 7;
        else unit.scale /= 7;
      }
    }
    return true;
  }
  for (const auto& pre : kPrefixes) {
    if (name.size() <= pre.p.size() || name.substr(0, pre.p.size()) != pre.p) continue;
    if (auto* a = t.find(name.substr(pre.p.size())); a && a->first->prefixable) {
      multiply(unit, *a->first, a->second, pre.exp10, power);
      return true;
    }
  }
  return false;
}

int unit_power_word(std::string_view word) {
  if (lower_equals(word, "square") || lower_equals(word, "sq")) return 2;
  if (lower_equals(word, "cubic") || lower_equals(word, "cu")) return 3;
  return 0;
}

bool is_percent_word(std::string_view word) {
  return lower_equals(word, "percent") || lower_equals(word, "pct") || lower_equals(word, "percentage") ||
         lower_equals(word, "percents");
}

bool same_dimension(const Unit& a, const Unit& b) {
  for (size_t d = 0; d < kDimensions; ++d) {
    if (d == kAngleDimension && (a.dim[d] == 0 || b.dim[d] == 0)) continue;
    if (a.dim[d] != b.dim[d]) return false;
  }
  return true;
}

std::string dimension_text(const Dimension& d) {
  static constexpr std::array<std::string_view, kDimensions> kNames = {"m",  "kg", "s",     "A",    "K",
                                                                       "mol", "cd", "angle", "degC", "degF"};
  std::string out;
  for (size_t i = 0; i < kDimensions; ++i) {
    if (d[i] == 0) continue;
    if (!out.empty()) out += ' ';
    out += kNames[i];
    if (d[i] != 1) out += "^" + std::to_string(d[i]);
  }
  return out.empty() ? "1" : out;
}

}  // namespace vf::equiv
