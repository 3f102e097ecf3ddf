#include "dataflow/equiv/policy.h"

#include <cmath>

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace vf::equiv {

Status set_policy_field(Policy& policy, const std::string& key, const std::string& value) {
  auto number = [&](double& out) -> Status {
    char* end = nullptr;
    double d = std::strtod(value.c_str(), &end);
    if (value.empty() || *end != '\0' || !(d >= 0) || d >= 1)
      return Error{"equivalence policy: " + key + " must be a number in [0, 1), got '" + value + "'"};
    out = d;
    return {};
  };
  auto boolean = [&](bool& out) -> Status {
    if (value == "true") out = true;
    else if (value == "false") out = false;
    else return Error{"equivalence policy: " + key + " must be true or false, got '" + value + "'"};
    return {};
  };
  if (key == "float_noise_rel") return number(policy.float_noise_rel);
  if (key == "symbolic_rel") return number(policy.symbolic_rel);
  if (key == "exact_rel") return number(policy.exact_rel);
  if (key == "measurement_rel") return number(policy.measurement_rel);
  if (key == "percent_as_fraction") return boolean(policy.percent_as_fraction);
  if (key == "require_units") return boolean(policy.require_units);
  if (key == "sig_figs_with_units") return boolean(policy.sig_figs_with_units);
  if (key == "absolute_tolerance") {
    char* end = nullptr;
    double d = std::strtod(value.c_str(), &end);
    if (value.empty() || *end != '\0' || !(d >= 0) || !std::isfinite(d))
      return Error{"equivalence policy: absolute_tolerance must be a non-negative number, got '" + value + "'"};
    policy.absolute_tolerance = d;
    return {};
  }
  if (key == "integer_gold") {
    if (value == "exact") policy.integer_gold = IntegerGold::kExact;
    else if (value == "significant-figures") policy.integer_gold = IntegerGold::kSignificantFigures;
    else return Error{"equivalence policy: integer_gold must be exact or significant-figures, got '" + value + "'"};
    return {};
  }
  if (key == "extract") {
    if (value == "auto") policy.extract = ExtractMode::kAuto;
    else if (value == "always") policy.extract = ExtractMode::kAlways;
    else if (value == "never") policy.extract = ExtractMode::kNever;
    else return Error{"equivalence policy: extract must be auto, always or never, got '" + value + "'"};
    return {};
  }
  if (key == "fallback") {
    if (value == "none") policy.fallback = Fallback::kNone;
    else if (value == "last-line") policy.fallback = Fallback::kLastLine;
    else if (value == "whole") policy.fallback = Fallback::kWhole;
    else return Error{"equivalence policy: fallback must be none, last-line or whole, got '" + value + "'"};
    return {};
  }
  std::string known;
  for (auto& k : policy_keys()) known += (known.empty() ? "" : ", ") + k;
  return Error{"equivalence policy: unknown key '" + key + "' (known: " + known + ")"};
}

std::vector<std::string> policy_keys() {
  return {"float_noise_rel", "symbolic_rel", "exact_rel", "integer_gold", "percent_as_fraction", "require_units",
          "sig_figs_with_units", "measurement_rel", "absolute_tolerance", "extract", "fallback"};
}

Status apply_policy_settings(Policy& policy, const std::string& settings) {
  size_t at = 0;
  while (at <= settings.size()) {
    size_t comma = settings.find(',', at);
    std::string part = settings.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    at = comma == std::string::npos ? settings.size() + 1 : comma + 1;
    auto trim_ws = [](std::string s) {
      size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
      return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
    };
    part = trim_ws(part);
    if (part.empty()) continue;
    size_t eq = part.find('=');
    if (eq == std::string::npos) return Error{"equivalence policy: expected key=value, got '" + part + "'"};
    Status s = set_policy_field(policy, trim_ws(part.substr(0, eq)), trim_ws(part.substr(eq + 1)));
    if (!s) return s;
  }
  return {};
}

namespace {
std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}
}  // namespace

Status PolicySet::add_domain_rule(const std::string& rule) {
  size_t colon = rule.find(':');
  if (colon == std::string::npos || colon == 0)
    return Error{"equivalence domain rule '" + rule + "': expected 'Domain: key=value, ...'"};
  std::string domain = rule.substr(0, colon);
  while (!domain.empty() && domain.back() == ' ') domain.pop_back();
  Policy p = default_;
  // A science domain's rule starts from the science default (significant figures).
  if (is_science_domain(domain)) p.integer_gold = IntegerGold::kSignificantFigures;
  Status s = apply_policy_settings(p, rule.substr(colon + 1));
  if (!s) return Error{"equivalence domain rule for '" + domain + "': " + s.error()};
  domains_.emplace_back(lower(domain), p);
  return {};
}

bool is_science_domain(std::string_view domain) {
  std::string d = lower(domain);
  for (std::string_view word : {"physic", "chemi", "engineer", "astronom", "biolog", "material", "mechanic", "thermo",
                                "electr", "optic"})
    if (d.find(word) != std::string::npos) return true;
  return false;
}

Policy PolicySet::for_domain(std::string_view domain) const {
  std::string d = lower(domain);
  for (const auto& [name, policy] : domains_)
    if (name == d) return policy;
  if (is_science_domain(d)) {
    Policy science = default_;
    science.integer_gold = IntegerGold::kSignificantFigures;
    return science;
  }
  return default_;
}

}  // namespace vf::equiv
