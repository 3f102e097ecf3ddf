// Physical units: the names answers write them in (symbols with SI prefixes,
// non-SI units, words, "square"/"cubic"), folded into a dimension over the SI
// base quantities and an exact scale to SI.
//
//   scale(km/h) = 1000/3600 (exact rational), dimension m s^-1
//   scale(deg)  = 1/180 * pi^1, dimension angle
//
// An angle is a soft dimension: "rad/s" and "1/s" compare, since physics
// writes angles as pure numbers; a degree still carries its pi/180.
// Temperatures on offset scales (degC, degF) are their own dimensions: their
// conversion is affine, never a factor, so they compare only with themselves.
// Words that are no unit ("12 pencils", "7 dollars") make a label: a count
// noun, ignored by the comparison.
// Pure functions over a static table; thread-safe.
#pragma once

#include <gmpxx.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace vf::equiv {

// m, kg, s, A, K, mol, cd, angle, degC, degF
constexpr size_t kDimensions = 10;
constexpr size_t kAngleDimension = 7;
using Dimension = std::array<int8_t, kDimensions>;

struct Unit {
  Dimension dim{};
  mpq_class scale = 1;   // to SI, times pi^pi_power
  int pi_power = 0;
  bool label = false;    // only count nouns: no physical unit
  bool unitless = false; // written "unitless" / "dimensionless"
  std::string written;
  bool empty() const { return written.empty(); }
  bool physical() const { return !empty() && !label; }
  bool is_angle_only() const;
  // A pure scale with no dimension ("million", sympy's "milli").
  bool is_pure_scale() const { return physical() && dim == Dimension{}; }
};

// One atom of a unit expression ("km", "seconds", "eV", "°C" as "degC"):
// multiplies `unit` by atom^power. False when the name is no unit.
bool multiply_unit_atom(std::string_view name, int power, Unit& unit);

// A word that qualifies the next unit: "square" (2), "cubic" (3); 0 otherwise.
int unit_power_word(std::string_view word);

// "percent", "pct", "percentage": the value is a percentage.
bool is_percent_word(std::string_view word);

// Same dimension, an angle counting as a pure number on either side.
bool same_dimension(const Unit& a, const Unit& b);

std::string dimension_text(const Dimension& d);

}  // namespace vf::equiv
