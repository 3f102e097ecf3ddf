#include "dataflow/equiv/parse.h"

#include "dataflow/equiv/units.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>

namespace vf::equiv {

namespace {

// ---------------------------------------------------------------- cleanup

bool starts_with(std::string_view s, size_t at, std::string_view p) { return s.substr(at, p.size()) == p; }

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  if (from.empty()) return;
  size_t at = 0;
  while ((at = s.find(from, at)) != std::string::npos) {
    s.replace(at, from.size(), to);
    at += to.size();
  }
}

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

bool is_letter(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }
bool is_digit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }


// `\cmd{X}` -> ` X ` for commands that only decorate their argument.
void unwrap_commands(std::string& s) {
  static constexpr std::array<std::string_view, 17> kWrappers = {
      "\\text", "\\textbf", "\\textit", "\\textrm", "\\texttt", "\\textsf", "\\mathrm", "\\mathbf", "\\mathit",
      "\\mathsf", "\\mathtt", "\\boldsymbol", "\\mbox", "\\boxed", "\\fbox", "\\displaystyle", "\\hbox"};
  for (int guard = 0; guard < 256; ++guard) {
    bool changed = false;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] != '\\') continue;
      for (auto w : kWrappers) {
        if (!starts_with(s, i, w)) continue;
        size_t after = i + w.size();
        if (after < s.size() && is_letter(s[after])) continue;  // \textbfx is another command
        size_t open = after;
        while (open < s.size() && s[open] == ' ') ++open;
        if (open >= s.size() || s[open] != '{') {
          if (w == "\\displaystyle") {
            s.replace(i, w.size(), " ");
            changed = true;
          }
          continue;
        }
        size_t close = matching_brace(s, open);
        if (close == std::string::npos) continue;
        std::string inner = s.substr(open + 1, close - open - 1);
        s.replace(i, close + 1 - i, " " + inner + " ");
        changed = true;
        break;
      }
      if (changed) break;
    }
    if (!changed) return;
  }
}

// ---------------------------------------------------------------- notations

bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// Start of the unsigned decimal number that ends just before `end`, or npos.
size_t number_before(const std::string& s, size_t end) {
  size_t b = end;
  while (b > 0 && (is_digit(s[b - 1]) || s[b - 1] == '.')) --b;
  if (b == end || !is_digit(s[end - 1])) return std::string::npos;
  if (b > 0 && (is_letter(s[b - 1]) || s[b - 1] == '_' || s[b - 1] == '^')) return std::string::npos;
  return b;
}

// "110_{2}", "110_2", "1A_{16}": a numeral in another base is compared by
// its written digits (a conversion problem's answer "110_2" is not "6").
void rewrite_base_subscripts(std::string& s) {
  for (size_t at = 0; (at = s.find('_', at)) != std::string::npos; ++at) {
    size_t b = at;
    while (b > 0 && is_alnum(s[b - 1])) --b;
    if (b == at || !is_digit(s[b]) || (b > 0 && (s[b - 1] == '.' || s[b - 1] == '\\'))) continue;
    size_t p = at + 1;
    bool brace = p < s.size() && s[p] == '{';
    if (brace) ++p;
    size_t q = p;
    while (q < s.size() && is_digit(s[q])) ++q;
    if (q == p || q - p > 2 || (brace && (q >= s.size() || s[q] != '}'))) continue;
    if (!brace && q < s.size() && is_alnum(s[q])) continue;
    int base = std::atoi(s.substr(p, q - p).c_str());
    if (base < 2 || base > 36) continue;
    bool valid = true;
    for (size_t k = b; k < at && valid; ++k) {
      char c = s[k];
      int d = is_digit(c) ? c - '0' : std::toupper(static_cast<unsigned char>(c)) - 'A' + 10;
      if (d >= base) valid = false;
    }
    if (!valid) continue;
    s.erase(at, (brace ? q + 1 : q) - at);
    at = b;
  }
}

// Mixed numbers: "3\frac{1}{4}" and "3 1/4" are 3 + 1/4, never 3 * 1/4.
void rewrite_mixed_numbers(std::string& s) {
  auto proper = [](const std::string& n, const std::string& d) {
    if (n.empty() || d.empty() || n.size() > 9 || d.size() > 9) return false;
    long nv = std::atol(n.c_str()), dv = std::atol(d.c_str());
    return dv > 1 && nv > 0 && nv < dv;
  };
  auto whole_start = [&](size_t end) -> size_t {  // an integer ending at `end`, standing alone
    size_t b = end;
    while (b > 0 && is_digit(s[b - 1])) --b;
    if (b == end) return std::string::npos;
    if (b > 0 && (is_alnum(s[b - 1]) || s[b - 1] == '.' || s[b - 1] == '^' || s[b - 1] == '_' || s[b - 1] == '}' ||
                  s[b - 1] == ')' || s[b - 1] == '*' || s[b - 1] == '/'))
      return std::string::npos;
    return b;
  };
  // "3\frac{1}{4}", "7\tfrac{3}{8}", "2 \dfrac{1}{2}"
  for (std::string_view cmd : {"\\frac", "\\tfrac", "\\dfrac"}) {
    for (size_t at = 0; (at = s.find(cmd, at)) != std::string::npos;) {
      size_t end = at;
      while (end > 0 && s[end - 1] == ' ') --end;
      size_t b = end > 0 && is_digit(s[end - 1]) ? whole_start(end) : std::string::npos;
      size_t open1 = at + cmd.size();
      size_t close1 = open1 < s.size() && s[open1] == '{' ? matching_brace(s, open1) : std::string::npos;
      size_t close2 = close1 != std::string::npos && close1 + 1 < s.size() && s[close1 + 1] == '{'
                          ? matching_brace(s, close1 + 1) : std::string::npos;
      if (b == std::string::npos || close2 == std::string::npos) {
        at += cmd.size();
        continue;
      }
      std::string n = trim(s.substr(open1 + 1, close1 - open1 - 1));
      std::string d = trim(s.substr(close1 + 2, close2 - close1 - 2));
      bool digits = std::all_of(n.begin(), n.end(), is_digit) && std::all_of(d.begin(), d.end(), is_digit);
      if (!digits || !proper(n, d)) {
        at += cmd.size();
        continue;
      }
      std::string text = "(" + s.substr(b, end - b) + "+" + n + "/" + d + ")";
      s.replace(b, close2 + 1 - b, text);
      at = b + text.size();
    }
  }
  // "3 1/4": an integer, one space, a proper fraction of integers, then no more term.
  for (size_t at = 0; (at = s.find('/', at)) != std::string::npos; ++at) {
    size_t nb = at;
    while (nb > 0 && is_digit(s[nb - 1])) --nb;
    size_t de = at + 1;
    while (de < s.size() && is_digit(s[de])) ++de;
    if (nb == at || de == at + 1 || nb < 2 || s[nb - 1] != ' ') continue;
    if (de < s.size() && (is_alnum(s[de]) || s[de] == '.' || s[de] == '^' || s[de] == '/' || s[de] == '*' ||
                          s[de] == '(' || s[de] == '_'))
      continue;
    size_t we = nb - 1;
    while (we > 0 && s[we - 1] == ' ') --we;
    size_t wb = we > 0 ? whole_start(we) : std::string::npos;
    if (wb == std::string::npos || nb - 1 - we > 1) continue;
    std::string n = s.substr(nb, at - nb), d = s.substr(at + 1, de - at - 1);
    if (!proper(n, d)) continue;
    std::string text = "(" + s.substr(wb, we - wb) + "+" + n + "/" + d + ")";
    s.replace(wb, de - wb, text);
    at = wb + text.size();
  }
}

// Seeds' scientific forms: "3.3 10^21", "6.1 1e-9", "4.2 \times10^{-3}" (a
// space where the multiplication sign would be).
void rewrite_spaced_scientific(std::string& s) {
  for (size_t at = 0; (at = s.find(' ', at)) != std::string::npos;) {
    size_t e = at;
    while (e < s.size() && s[e] == ' ') ++e;
    size_t b = at > 0 ? number_before(s, at) : std::string::npos;
    bool power = s.compare(e, 3, "10^") == 0 ||
                 (s.compare(e, 2, "1e") == 0 && e + 2 < s.size() && (is_digit(s[e + 2]) || s[e + 2] == '-' || s[e + 2] == '+'));
    if (b == std::string::npos || !power || (b > 0 && s[b - 1] == '/')) {
      at = e;
      continue;
    }
    s.replace(at, e - at, "*");
    at += 1;
  }
}

// Degree marks: on a temperature ("25 ^\circ C") the unit degC; inside a
// trigonometric function ("\cos(60^\circ)") a factor pi/180; after a plain
// number that ends the answer the unit deg; elsewhere dropped.
void rewrite_degrees(std::string& s, bool& degrees) {
  static constexpr std::array<std::string_view, 7> kDegree = {"^{\\circ}", "^\\circ", "^{ \\circ }", "{\\circ}",
                                                              "\\degree", "\\circ", "^{o}"};
  if (s.find("circ") == std::string::npos && s.find("degree") == std::string::npos && s.find("^{o}") == std::string::npos)
    return;  // no degree mark: the common case, one scan
  bool trig = s.find("sin") != std::string::npos || s.find("cos") != std::string::npos ||
              s.find("tan") != std::string::npos || s.find("cot") != std::string::npos ||
              s.find("sec") != std::string::npos || s.find("csc") != std::string::npos;
  for (auto d : kDegree) {
    for (size_t at = 0; (at = s.find(d, at)) != std::string::npos;) {
      if (d == "^{o}" && (at == 0 || !is_digit(s[at - 1]))) {
        at += d.size();
        continue;
      }
      degrees = true;
      size_t after = at + d.size();
      size_t k = after;
      while (k < s.size() && (s[k] == ' ' || s[k] == '{' || s[k] == '}')) ++k;
      if (k < s.size() && (s[k] == 'C' || s[k] == 'F') && (k + 1 >= s.size() || !is_letter(s[k + 1]))) {
        size_t e = k + 1;
        while (e < s.size() && s[e] == '}') ++e;
        std::string unit = s[k] == 'C' ? " degC " : " degF ";
        s.replace(at, e - at, unit);
        at += unit.size();
        continue;
      }
      size_t nb = at > 0 ? number_before(s, at) : std::string::npos;
      if (trig && nb != std::string::npos) {
        std::string text = "(" + s.substr(nb, at - nb) + "*\\pi/180)";
        s.replace(nb, after - nb, text);
        at = nb + text.size();
        continue;
      }
      bool last = s.find_first_not_of(" {}", after) == std::string::npos;
      bool plain = s.substr(0, at).find_first_not_of("0123456789.+- ") == std::string::npos;
      std::string text = last && plain ? " deg" : " ";
      s.replace(at, d.size(), text);
      at += text.size();
    }
  }
}

// "\mathbb{R}\setminus\{0\}": the reals but one point, as two open rays.
void rewrite_reals_minus_point(std::string& s) {
  std::string t = s;
  t.erase(std::remove(t.begin(), t.end(), ' '), t.end());
  for (std::string_view reals : {"\\mathbb{R}", "\\mathbbR", "\\R", "\\mathbb R", "R"}) {
    std::string prefix = std::string(reals) + "\\setminus\\{";
    if (t.compare(0, prefix.size(), prefix) != 0 || t.size() < prefix.size() + 3 || t.compare(t.size() - 2, 2, "\\}") != 0)
      continue;
    std::string point = t.substr(prefix.size(), t.size() - prefix.size() - 2);
    if (point.empty() || point.find(',') != std::string::npos) return;
    s = "(-\\infty," + point + ")\\cup(" + point + ",\\infty)";
    return;
  }
}

void rewrite_notations(std::string& s) {
  // "approximately 3.2 m/s", "\approx 12", "x \approx 4.5": the value is the answer.
  for (std::string_view lead : {"approximately ", "approx. ", "approx ", "about ", "around ", "roughly ", "\\approx ",
                                "\\approx"}) {
    if (s.compare(0, lead.size(), lead) == 0) {
      s = trim(s.substr(lead.size()));
      break;
    }
  }
  replace_all(s, "\\approx", "=");
  replace_all(s, "\\simeq", "=");
  // "9{,}876{,}543": LaTeX's protected thousands separator.
  for (size_t at = 0; (at = s.find("{,}", at)) != std::string::npos;) {
    if (at > 0 && is_digit(s[at - 1]) && at + 3 < s.size() && is_digit(s[at + 3])) s.erase(at, 3);
    else at += 3;
  }
  replace_all(s, "\\langle", "(");
  replace_all(s, "\\rangle", ")");
  for (std::string_view point : {"Point2D(", "Point3D(", "Point("}) {
    for (size_t at = 0; (at = s.find(point, at)) != std::string::npos;) {
      if (at > 0 && is_alnum(s[at - 1])) {
        at += point.size();
        continue;
      }
      s.replace(at, point.size(), "(");
    }
  }
  // Python's complex literals: (3+4j), 1j.
  for (size_t at = 1; at < s.size(); ++at) {
    if (s[at] != 'j' || !is_digit(s[at - 1]) || (at + 1 < s.size() && is_alnum(s[at + 1]))) continue;
    size_t b = at;
    while (b > 0 && (is_digit(s[b - 1]) || s[b - 1] == '.')) --b;
    if (b > 0 && is_letter(s[b - 1])) continue;
    s[at] = 'i';
  }
  // sympy's "Interval.open(a, b).closure" is the closed interval.
  for (size_t at = 0; (at = s.find(").closure", at)) != std::string::npos;) {
    int depth = 0;
    size_t open = std::string::npos;
    for (size_t k = at + 1; k-- > 0;) {
      if (s[k] == ')') ++depth;
      if (s[k] == '(' && --depth == 0) {
        open = k;
        break;
      }
    }
    size_t name = open == std::string::npos ? std::string::npos : s.rfind("Interval", open);
    if (name == std::string::npos || s.find_first_not_of("Interval.openLR", name) != open) {
      at += 9;
      continue;
    }
    s.erase(at + 1, 8);
    s.replace(name, open - name, "Interval");
    at = name;
  }
  // sympy's unit names with underscores (one identifier each).
  replace_all(s, "astronomical_unit", "AU");
  replace_all(s, "atomic_mass_unit", "amu");
  replace_all(s, "electron_volt", "eV");
  replace_all(s, "light_year", "ly");
  // sympy's unevaluated prefixes: "88*ampere*Prefix(milli, m, -3, 10)".
  for (size_t at = 0; (at = s.find("Prefix(", at)) != std::string::npos;) {
    size_t close = s.find(')', at);
    size_t comma = s.find(',', at);
    if (close == std::string::npos || comma == std::string::npos || comma > close) break;
    s.replace(at, close + 1 - at, trim(s.substr(at + 7, comma - at - 7)));
  }
  rewrite_base_subscripts(s);
  rewrite_mixed_numbers(s);
  rewrite_spaced_scientific(s);
  rewrite_reals_minus_point(s);
}

struct Cleaned {
  std::string text;
  bool percent = false, degrees = false, currency = false;
};

Cleaned cleanup(std::string_view raw) {
  Cleaned c;
  std::string s(raw);
  // Unicode forms that answers use in place of LaTeX.
  static const std::pair<std::string_view, std::string_view> kUnicode[] = {
      {"\xe2\x88\x92", "-"},      {"\xc3\x97", "*"},          {"\xc2\xb7", "*"},         {"\xe2\x8b\x85", "*"},
      {"\xc3\xb7", "/"},          {"\xc2\xb1", "\\pm "},      {"\xe2\x88\x9e", "\\infty "}, {"\xcf\x80", "\\pi "},
      {"\xe2\x88\x9a", "\\sqrt "}, {"\xe2\x89\xa4", "\\le "},  {"\xe2\x89\xa5", "\\ge "},   {"\xe2\x89\xa0", "\\ne "},
      {"\xe2\x88\xaa", "\\cup "}, {"\xe2\x88\xa9", "\\cap "}, {"\xc2\xb0", "^\\circ "},    {"\xe2\x88\x85", "\\emptyset "},
      {"\xe2\x88\x88", "\\in "},  {"\xc2\xa0", " "},          {"\xc2\xb5", "u"},           {"\xce\xbc", "u"},
      {"\xce\xa9", "ohm"},        {"\xe2\x84\xa6", "ohm"},    {"\xe2\x80\x89", " "},       {"\xe2\x80\xaf", " "},
      // vulgar fractions (a space before, so "2\xc2\xbd" reads as a mixed number), super-scripts
      {"\xc2\xbd", " 1/2"}, {"\xc2\xbc", " 1/4"}, {"\xc2\xbe", " 3/4"}, {"\xe2\x85\x93", " 1/3"},
      {"\xe2\x85\x94", " 2/3"}, {"\xe2\x85\x95", " 1/5"}, {"\xe2\x85\x96", " 2/5"}, {"\xe2\x85\x97", " 3/5"},
      {"\xe2\x85\x98", " 4/5"}, {"\xe2\x85\x99", " 1/6"}, {"\xe2\x85\x9a", " 5/6"}, {"\xe2\x85\x9b", " 1/8"},
      {"\xe2\x85\x9c", " 3/8"}, {"\xe2\x85\x9d", " 5/8"}, {"\xe2\x85\x9e", " 7/8"},
      {"\xc2\xb2", "^2"}, {"\xc2\xb3", "^3"}, {"\xc2\xb9", "^1"}, {"\xe2\x81\xbb\xc2\xb9", "^-1"},
      // Greek letters as their LaTeX names (\xce\xbc stays the micro sign above)
      {"\xce\xb1", "\\alpha "}, {"\xce\xb2", "\\beta "}, {"\xce\xb3", "\\gamma "}, {"\xce\xb4", "\\delta "},
      {"\xce\xb5", "\\epsilon "}, {"\xce\xb8", "\\theta "}, {"\xce\xbb", "\\lambda "}, {"\xcf\x83", "\\sigma "},
      {"\xcf\x84", "\\tau "}, {"\xcf\x86", "\\phi "}, {"\xcf\x89", "\\omega "}, {"\xce\x94", "\\Delta "},
      {"\xce\xb7", "\\eta "}, {"\xcf\x81", "\\rho "}, {"\xcf\x87", "\\chi "}, {"\xcf\x88", "\\psi "},
      // currencies: the amount is what is compared
      {"\xe2\x82\xac", " "}, {"\xc2\xa3", " "}, {"\xc2\xa5", " "},
      {"\xe2\x89\x88", "\\approx "}, {"\xe2\x84\x83", "^\\circ C"}, {"\xe2\x84\xab", "angstrom"},
  };
  // Most answers are ASCII: the table is walked only for those that are not.
  if (std::any_of(s.begin(), s.end(), [](char ch) { return static_cast<unsigned char>(ch) >= 0x80; }))
    for (auto& [from, to] : kUnicode) replace_all(s, from, to);
  s = trim(s);
  // Math delimiters around the whole answer.
  for (int k = 0; k < 3; ++k) {
    if (s.size() >= 4 && starts_with(s, 0, "$$") && s.compare(s.size() - 2, 2, "$$") == 0) s = trim(s.substr(2, s.size() - 4));
    else if (s.size() >= 2 && s.front() == '$' && s.back() == '$' && s.find('$', 1) == s.size() - 1) s = trim(s.substr(1, s.size() - 2));
    else if (s.size() >= 4 && (starts_with(s, 0, "\\(") || starts_with(s, 0, "\\[")) &&
             (s.compare(s.size() - 2, 2, "\\)") == 0 || s.compare(s.size() - 2, 2, "\\]") == 0))
      s = trim(s.substr(2, s.size() - 4));
  }
  unwrap_commands(s);
  // ",\!" between digits is LaTeX's thousands separator.
  for (size_t at = 0; (at = s.find(",\\!", at)) != std::string::npos;) {
    if (at > 0 && is_digit(s[at - 1]) && at + 3 < s.size() && is_digit(s[at + 3])) s.erase(at, 3);
    else at += 3;
  }
  static constexpr std::array<std::string_view, 22> kSpacing = {
      "\\left", "\\right", "\\bigl", "\\bigr", "\\Bigl", "\\Bigr", "\\biggl", "\\biggr", "\\big", "\\Big",
      "\\!", "\\,", "\\;", "\\:", "\\qquad", "\\quad", "\\ ", "~", "\\limits", "\\nolimits", "\\middle", "&="};
  for (auto sp : kSpacing) {
    for (size_t at = 0; (at = s.find(sp, at)) != std::string::npos;) {
      size_t end = at + sp.size();
      // Keep \leftarrow, \rightarrow, \bigcup...: only strip whole command names.
      bool part_of_row_break = sp[0] == '\\' && !is_letter(sp.back()) && at > 0 && s[at - 1] == '\\';
      if (part_of_row_break || (sp[0] == '\\' && is_letter(sp.back()) && end < s.size() && is_letter(s[end]))) {
        at = end;
        continue;
      }
      s.replace(at, sp.size(), sp == "&=" ? "=" : " ");
      at += 1;
    }
  }
  rewrite_notations(s);
  rewrite_degrees(s, c.degrees);
  // Currency and percent.
  for (size_t at = 0; (at = s.find("\\$", at)) != std::string::npos;) {
    s.replace(at, 2, " ");
    c.currency = true;
  }
  if (s.find('$') != std::string::npos) {
    s.erase(std::remove(s.begin(), s.end(), '$'), s.end());
    c.currency = true;
  }
  s = trim(s);
  // A sentence's final period ("12.") is not part of the answer.
  while (!s.empty() && (s.back() == '.' || s.back() == ';')) s = trim(s.substr(0, s.size() - 1));
  if (s.size() >= 2 && starts_with(s, s.size() - 2, "\\%")) {
    s = trim(s.substr(0, s.size() - 2));
    c.percent = true;
  } else if (!s.empty() && s.back() == '%') {
    s = trim(s.substr(0, s.size() - 1));
    c.percent = true;
  }
  // A whole answer written with comma thousands separators: 1,296,540.
  {
    std::string_view v = s;
    size_t i = 0;
    if (i < v.size() && (v[i] == '-' || v[i] == '+')) ++i;
    size_t lead = 0;
    while (i < v.size() && is_digit(v[i])) ++i, ++lead;
    bool groups = lead >= 1 && lead <= 3;
    int ngroups = 0;
    while (groups && i < v.size() && v[i] == ',') {
      if (i + 4 > v.size() || !is_digit(v[i + 1]) || !is_digit(v[i + 2]) || !is_digit(v[i + 3]) ||
          (i + 4 < v.size() && is_digit(v[i + 4]))) {
        groups = false;
        break;
      }
      i += 4;
      ++ngroups;
    }
    if (groups && i < v.size() && v[i] == '.') {
      ++i;
      while (i < v.size() && is_digit(v[i])) ++i;
    }
    if (groups && ngroups > 0 && i == v.size()) s.erase(std::remove(s.begin(), s.end(), ','), s.end());
  }
  c.text = s;
  return c;
}

// ---------------------------------------------------------------- tokens

enum class T : uint8_t {
  kNum, kIdent, kCmd, kLParen, kRParen, kLBrack, kRBrack, kLBrace, kRBrace, kSetOpen, kSetClose, kComma, kSemi,
  kPlus, kMinus, kStar, kSlash, kCaret, kUnder, kEq, kLt, kLe, kGt, kGe, kNe, kBang, kAmp, kPipe, kColon,
  kRowSep, kApostrophe, kString, kEnd, kBad,
};

struct Tok {
  T t = T::kEnd;
  uint32_t begin = 0, end = 0;
  bool space_before = false;
};

std::vector<Tok> tokenize(const std::string& s) {
  std::vector<Tok> out;
  size_t i = 0;
  bool space = false;
  auto push = [&](T t, size_t b, size_t e) {
    out.push_back(Tok{t, static_cast<uint32_t>(b), static_cast<uint32_t>(e), space});
    space = false;
  };
  while (i < s.size()) {
    char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      space = true;
      ++i;
      continue;
    }
    size_t b = i;
    if (is_digit(c) || (c == '.' && i + 1 < s.size() && is_digit(s[i + 1]))) {
      while (i < s.size() && is_digit(s[i])) ++i;
      if (i < s.size() && s[i] == '.' && !(i + 1 < s.size() && s[i + 1] == '.')) {
        ++i;
        while (i < s.size() && is_digit(s[i])) ++i;
      }
      if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
        size_t j = i + 1;
        if (j < s.size() && (s[j] == '+' || s[j] == '-')) ++j;
        if (j < s.size() && is_digit(s[j])) {
          i = j;
          while (i < s.size() && is_digit(s[i])) ++i;
        }
      }
      push(T::kNum, b, i);
      continue;
    }
    if (is_letter(c)) {
      while (i < s.size() && (is_letter(s[i]) || is_digit(s[i]) ||
                              (s[i] == '.' && i + 1 < s.size() && is_letter(s[i + 1]) && i > b))) {
        ++i;
      }
      // x_1, x_{12}: a subscripted symbol name stays one identifier.
      push(T::kIdent, b, i);
      continue;
    }
    if (c == '\\') {
      if (i + 1 < s.size() && is_letter(s[i + 1])) {
        i += 1;
        while (i < s.size() && is_letter(s[i])) ++i;
        push(T::kCmd, b, i);
      } else if (i + 1 < s.size()) {
        char n = s[i + 1];
        i += 2;
        if (n == '{') push(T::kSetOpen, b, i);
        else if (n == '}') push(T::kSetClose, b, i);
        else if (n == '\\') push(T::kRowSep, b, i);
        else if (n == '|') push(T::kPipe, b, i);
        else push(T::kBad, b, i);
      } else {
        ++i;
        push(T::kBad, b, i);
      }
      continue;
    }
    if (c == '\'' || c == '"') {
      // A Python string literal ('a' in {'a': 1}); an unmatched quote is a prime.
      size_t close = s.find(c, i + 1);
      if (close != std::string::npos && close > i + 1) {
        push(T::kString, i + 1, close);
        i = close + 1;
        continue;
      }
    }
    auto two = [&](char x, char y) { return c == x && i + 1 < s.size() && s[i + 1] == y; };
    if (two('*', '*')) { i += 2; push(T::kCaret, b, i); continue; }
    if (two('<', '=')) { i += 2; push(T::kLe, b, i); continue; }
    if (two('>', '=')) { i += 2; push(T::kGe, b, i); continue; }
    if (two('!', '=')) { i += 2; push(T::kNe, b, i); continue; }
    if (two('=', '=')) { i += 2; push(T::kEq, b, i); continue; }
    if (two('&', '&')) { i += 2; push(T::kAmp, b, i); continue; }
    if (two('|', '|')) { i += 2; push(T::kPipe, b, i); continue; }
    ++i;
    switch (c) {
      case '(': push(T::kLParen, b, i); break;
      case ')': push(T::kRParen, b, i); break;
      case '[': push(T::kLBrack, b, i); break;
      case ']': push(T::kRBrack, b, i); break;
      case '{': push(T::kLBrace, b, i); break;
      case '}': push(T::kRBrace, b, i); break;
      case ',': push(T::kComma, b, i); break;
      case ';': push(T::kSemi, b, i); break;
      case '+': push(T::kPlus, b, i); break;
      case '-': push(T::kMinus, b, i); break;
      case '*': push(T::kStar, b, i); break;
      case '/': push(T::kSlash, b, i); break;
      case '^': push(T::kCaret, b, i); break;
      case '_': push(T::kUnder, b, i); break;
      case '=': push(T::kEq, b, i); break;
      case '<': push(T::kLt, b, i); break;
      case '>': push(T::kGt, b, i); break;
      case '!': push(T::kBang, b, i); break;
      case '&': push(T::kAmp, b, i); break;
      case '|': push(T::kPipe, b, i); break;
      case ':': push(T::kColon, b, i); break;
      case '\'': push(T::kApostrophe, b, i); break;
      case '"': push(T::kApostrophe, b, i); break;
      default: push(T::kBad, b, i); break;
    }
  }
  out.push_back(Tok{T::kEnd, static_cast<uint32_t>(s.size()), static_cast<uint32_t>(s.size()), space});
  return out;
}

// ---------------------------------------------------------------- units

struct FnName;
const FnName* find_function(std::string_view name);
bool is_greek(std::string_view n);

struct UnitParse {
  Unit unit;
  bool percent = false;
};

// "m2", "cm3": a unit name with its power glued on.
bool split_glued_power(std::string_view name, std::string_view& base, int& power) {
  size_t k = name.size();
  while (k > 0 && is_digit(name[k - 1])) --k;
  if (k == 0 || k == name.size() || name.size() - k > 1) return false;
  base = name.substr(0, k);
  power = name[k] - '0';
  return true;
}

// Parses tokens [from, end) as a unit expression. Everything after '/' or
// "per" is in the denominator ("J/mol K" = J/(mol K)), as physics answers
// usually mean. Words that are no unit make a label ("12 pencils").
bool parse_unit(const std::string& s, const std::vector<Tok>& toks, size_t from, UnitParse& out) {
  Unit unit;
  int sign = 1;
  int pending_power = 1;  // "square meters"
  size_t i = from;
  bool physical = false, labels = false, percent = false;
  std::string mu;  // "\mu m": the micro prefix written as a command
  auto name_of = [&](const Tok& t) { return std::string_view(s).substr(t.begin, t.end - t.begin); };
  // "1/K", "1/s": a reciprocal unit.
  if (toks[i].t == T::kNum && name_of(toks[i]) == "1" && toks[i + 1].t == T::kSlash) ++i;
  while (toks[i].t != T::kEnd) {
    const Tok& t = toks[i];
    if (t.t == T::kSlash) {
      sign = -1;
      ++i;
      continue;
    }
    if (t.t == T::kStar || t.t == T::kLParen || t.t == T::kRParen || t.t == T::kLBrace || t.t == T::kRBrace ||
        (t.t == T::kMinus && i > from && toks[i - 1].t == T::kIdent && toks[i + 1].t == T::kIdent &&
         !toks[i].space_before) ||
        (t.t == T::kCmd && (name_of(t) == "\\cdot" || name_of(t) == "\\times"))) {
      ++i;
      continue;
    }
    if (t.t == T::kNum && name_of(t).find_first_not_of("0123456789") == std::string_view::npos && t.end - t.begin <= 9 &&
        toks[i + 1].t != T::kCaret && i > from &&
        (toks[i - 1].t == T::kSlash || toks[i - 1].t == T::kStar || toks[i - 1].t == T::kLParen)) {
      // A number among the units (sympy: "newton/(2*coulomb)"): part of the value.
      long n = std::atol(std::string(name_of(t)).c_str());
      if (n == 0) return false;
      if (sign > 0) unit.scale *= n;
      else unit.scale /= n;
      ++i;
      continue;
    }
    if ((t.t == T::kIdent && name_of(t) == "pi") || (t.t == T::kCmd && name_of(t) == "\\pi")) {
      // sympy: "4200000.0*newton/(pi*coulomb)": pi is part of the value.
      int power = 1;
      if (toks[i + 1].t == T::kCaret && toks[i + 2].t == T::kNum && toks[i + 2].end - toks[i + 2].begin == 1) {
        power = s[toks[i + 2].begin] - '0';
        i += 2;
      }
      unit.pi_power += sign * power;
      ++i;
      continue;
    }
    if (t.t == T::kCmd && (name_of(t) == "\\mu" || name_of(t) == "\\micro")) {
      mu = "u";
      ++i;
      continue;
    }
    std::string name;
    if (t.t == T::kIdent && toks[i + 1].t == T::kCmd && !toks[i + 1].space_before &&
        (name_of(toks[i + 1]) == "\\Omega" || name_of(toks[i + 1]) == "\\ohm") && name_of(t).size() == 1) {
      name = std::string(name_of(t)) + "ohm";  // "k\Omega"
      ++i;
    } else if (t.t == T::kCmd && (name_of(t) == "\\Omega" || name_of(t) == "\\ohm")) name = "ohm";
    else if (t.t == T::kCmd && (name_of(t) == "\\AA" || name_of(t) == "\\angstrom")) name = "angstrom";
    else if (t.t == T::kCmd && name_of(t) == "\\%") { percent = true; ++i; continue; }
    else if (t.t == T::kIdent) name = std::string(name_of(t));
    else return false;
    ++i;
    if (mu.size()) {
      name = mu + name;
      mu.clear();
    }
    if (int p = unit_power_word(name); p > 0 && toks[i].t == T::kIdent) {
      pending_power = p;
      continue;
    }
    if (is_percent_word(name)) {
      percent = true;
      continue;
    }
    if (name == "per") {
      sign = -1;
      continue;
    }
    if (name == "unitless" || name == "dimensionless") {
      unit.unitless = true;
      continue;
    }
    int power = 1;
    if (toks[i].t == T::kCaret) {
      ++i;
      bool brace = toks[i].t == T::kLBrace;
      if (brace) ++i;
      int psign = 1;
      if (toks[i].t == T::kMinus) {
        psign = -1;
        ++i;
      }
      if (toks[i].t != T::kNum || toks[i].end - toks[i].begin > 2) return false;
      power = psign * std::atoi(s.substr(toks[i].begin, toks[i].end - toks[i].begin).c_str());
      ++i;
      if (brace) {
        if (toks[i].t != T::kRBrace) return false;
        ++i;
      }
    } else if (toks[i].t == T::kNum && !toks[i].space_before && toks[i - 1].t == T::kIdent) {
      return false;
    }
    std::string_view base = name;
    int glued = 1;
    Unit trial = unit;
    if (multiply_unit_atom(name, power * pending_power * sign, trial) ||
        (split_glued_power(name, base, glued) && multiply_unit_atom(base, glued * power * pending_power * sign, trial))) {
      unit = std::move(trial);
      physical = true;
    } else {
      // A count noun: a word of letters, no power ("2 pi r" is no count of r's;
      // after a unit, short words too: "2.5 J of work").
      if (power != 1 || pending_power != 1 || name.size() < (physical ? 2u : 3u) || is_greek(name) ||
          find_function(name))
        return false;
      for (char c : name)
        if (!is_letter(c)) return false;
      labels = true;
    }
    pending_power = 1;
  }
  if (!physical && !labels && !unit.unitless && !percent) return false;
  if (!physical && (unit.unitless || labels || percent)) unit.dim = {};
  unit.label = !physical && !unit.unitless;
  unit.written = trim(std::string_view(s).substr(toks[from].begin));
  out.unit = std::move(unit);
  out.percent = percent;
  return true;
}

// ---------------------------------------------------------------- names

struct FnName {
  std::string_view name;
  Fn fn;
};
constexpr std::array<FnName, 40> kFunctions = {{
    {"sin", Fn::kSin},   {"cos", Fn::kCos},     {"tan", Fn::kTan},       {"cot", Fn::kCot},
    {"sec", Fn::kSec},   {"csc", Fn::kCsc},     {"asin", Fn::kAsin},     {"acos", Fn::kAcos},
    {"atan", Fn::kAtan}, {"arcsin", Fn::kAsin}, {"arccos", Fn::kAcos},   {"arctan", Fn::kAtan},
    {"sinh", Fn::kSinh}, {"cosh", Fn::kCosh},   {"tanh", Fn::kTanh},     {"exp", Fn::kExp},
    {"log", Fn::kLog},   {"ln", Fn::kLog},      {"Abs", Fn::kAbs},       {"abs", Fn::kAbs},
    {"factorial", Fn::kFactorial}, {"binomial", Fn::kBinomial}, {"binom", Fn::kBinomial}, {"floor", Fn::kFloor},
    {"ceiling", Fn::kCeil}, {"ceil", Fn::kCeil}, {"re", Fn::kRe},    {"im", Fn::kIm},
    {"cosec", Fn::kCsc}, {"arcsec", Fn::kNone}, {"sqrt", Fn::kNone},  {"cbrt", Fn::kNone},
    {"root", Fn::kNone}, {"Rational", Fn::kNone}, {"Integer", Fn::kNone}, {"Float", Fn::kNone},
    {"sign", Fn::kNone}, {"Mod", Fn::kNone}, {"gcd", Fn::kNone}, {"lcm", Fn::kNone},
}};

const FnName* find_function(std::string_view name) {
  for (const auto& f : kFunctions)
    if (f.name == name) return &f;
  return nullptr;
}

constexpr std::array<std::string_view, 34> kGreek = {
    "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta", "vartheta", "iota", "kappa",
    "lambda", "mu", "nu", "xi", "rho", "sigma", "tau", "upsilon", "phi", "varphi", "chi", "psi", "omega", "Gamma",
    "Delta", "Theta", "Lambda", "Xi", "Sigma", "Phi", "Psi", "Omega"};

bool is_greek(std::string_view n) { return std::find(kGreek.begin(), kGreek.end(), n) != kGreek.end(); }

// ---------------------------------------------------------------- parser

struct ParseError {
  std::string message;
};

class Parser {
 public:
  Parser(const std::string& s, std::vector<Tok> toks, Answer& a) : s_(s), toks_(std::move(toks)), a_(a) {}

  bool parse(Value& root, std::string& error) {
    if (!parse_top(root)) {
      error = error_.empty() ? "cannot parse" : error_;
      return false;
    }
    if (saw_word_) {
      error = "contains the word '" + word_ + "'";
      return false;
    }
    return true;
  }

 private:
  const std::string& s_;
  std::vector<Tok> toks_;
  Answer& a_;
  size_t pos_ = 0;
  int depth_ = 0;
  int abs_depth_ = 0;
  bool in_matrix_ = false;
  bool saw_word_ = false;
  std::string word_;
  std::string error_;

  const Tok& peek(size_t ahead = 0) const { return toks_[std::min(pos_ + ahead, toks_.size() - 1)]; }
  std::string_view text(const Tok& t) const { return std::string_view(s_).substr(t.begin, t.end - t.begin); }
  bool at(T t) const { return peek().t == t; }
  bool at_cmd(std::string_view name) const { return peek().t == T::kCmd && text(peek()).substr(1) == name; }
  bool at_ident(std::string_view name) const { return peek().t == T::kIdent && text(peek()) == name; }
  void next() {
    if (pos_ + 1 < toks_.size()) ++pos_;
  }
  bool fail(std::string msg) {
    if (error_.empty()) {
      error_ = std::move(msg);
      error_ += " at offset " + std::to_string(peek().begin);
    }
    return false;
  }
  bool expect(T t, const char* what) {
    if (!at(t)) return fail(std::string("expected ") + what);
    next();
    return true;
  }

  struct DepthGuard {
    Parser& p;
    bool ok;
    explicit DepthGuard(Parser& parser) : p(parser), ok(++parser.depth_ <= kMaxDepth) {}
    ~DepthGuard() { --p.depth_; }
  };

  static Value scalar(uint32_t e) {
    Value v;
    v.kind = Kind::kScalar;
    v.expr = static_cast<int32_t>(e);
    return v;
  }
  uint32_t number(long n) {
    Number num;
    num.value = n;
    num.significant = 1;
    return a_.add_number(std::move(num));
  }
  uint32_t neg(uint32_t e) {
    const Node& n = a_.node(e);
    if (n.op == Op::kNumber) {
      Number copy = a_.numbers[n.data];
      copy.value = -copy.value;
      if (copy.written_decimal) copy.literal = "-" + copy.literal;
      return a_.add_number(std::move(copy));
    }
    return a_.add_node(Op::kMul, {number(-1), e});
  }
  uint32_t reciprocal(uint32_t e) { return a_.add_node(Op::kPow, {e, number(-1)}); }
  uint32_t divide(uint32_t x, uint32_t y) { return a_.add_node(Op::kMul, {x, reciprocal(y)}); }
  uint32_t power(uint32_t x, uint32_t y) { return a_.add_node(Op::kPow, {x, y}); }
  uint32_t func(Fn fn, std::vector<uint32_t> args) { return a_.add_node(Op::kFunc, args, fn); }

  bool need_scalar(const Value& v, const char* where) {
    if (v.kind == Kind::kScalar) return true;
    return fail(std::string("a ") + where + " must be a single expression");
  }

  // top := item ((',' | ';') item)*
  bool parse_top(Value& out) {
    std::vector<Value> items;
    if (at(T::kEnd)) return fail("empty answer");
    for (;;) {
      Value v;
      if (!parse_item(v)) return false;
      items.push_back(std::move(v));
      if (at(T::kComma) || at(T::kSemi)) {
        next();
        if (at(T::kEnd)) break;  // trailing comma
        if (at_ident("and") || at_ident("or")) next();  // "2, 3, and 4"
        continue;
      }
      break;
    }
    if (!at(T::kEnd)) return fail("unexpected '" + std::string(text(peek())) + "'");
    if (items.size() == 1) out = std::move(items.front());
    else {
      out.kind = Kind::kBareList;
      out.items = std::move(items);
    }
    return true;
  }

  bool at_or() const {
    return (at(T::kPipe) && abs_depth_ == 0) || at_cmd("cup") || at_cmd("lor") || at_cmd("vee") || at_ident("or") ||
           at_ident("U");
  }
  bool at_and() const {
    return (at(T::kAmp) && !in_matrix_) || at_cmd("cap") || at_cmd("land") || at_cmd("wedge") || at_ident("and");
  }

  // operand (op operand)* -> one `kind` value holding the operands.
  bool parse_joined(Value& out, Kind kind, bool (Parser::*at_op)() const, bool (Parser::*operand)(Value&)) {
    Value first;
    if (!(this->*operand)(first)) return false;
    if (!(this->*at_op)()) {
      out = std::move(first);
      return true;
    }
    out.kind = kind;
    out.items.push_back(std::move(first));
    while ((this->*at_op)()) {
      next();
      Value v;
      if (!(this->*operand)(v)) return false;
      out.items.push_back(std::move(v));
    }
    return true;
  }

  bool parse_item(Value& out) {
    DepthGuard g(*this);
    if (!g.ok) return fail("nested too deeply");
    return parse_joined(out, Kind::kUnion, &Parser::at_or, &Parser::parse_and);
  }

  bool parse_and(Value& out) { return parse_joined(out, Kind::kIntersection, &Parser::at_and, &Parser::parse_relation); }

  bool rel_op(Rel& r, bool& eq, bool& in) {
    eq = in = false;
    const Tok& t = peek();
    if (t.t == T::kEq || at_cmd("approx") || at_cmd("equiv")) return eq = true;
    if (t.t == T::kLt || at_cmd("lt")) return r = Rel::kLt, true;
    if (t.t == T::kLe || at_cmd("le") || at_cmd("leq") || at_cmd("leqslant")) return r = Rel::kLe, true;
    if (t.t == T::kGt || at_cmd("gt")) return r = Rel::kGt, true;
    if (t.t == T::kGe || at_cmd("ge") || at_cmd("geq") || at_cmd("geqslant")) return r = Rel::kGe, true;
    if (t.t == T::kNe || at_cmd("ne") || at_cmd("neq")) return r = Rel::kNe, true;
    if (at_cmd("in")) return in = true;
    return false;
  }

  bool parse_relation(Value& out) {
    Value lhs;
    if (!parse_sum(lhs)) return false;
    Rel r;
    bool eq, in;
    if (!rel_op(r, eq, in)) {
      out = std::move(lhs);
      return true;
    }
    std::vector<Value> relations;
    Value left = std::move(lhs);
    while (rel_op(r, eq, in)) {
      next();
      Value right;
      if (!parse_sum(right)) return false;
      if (in) {
        // "x \in [a, b]": the set is the answer.
        out = std::move(right);
        return true;
      }
      if (eq) {
        if (right.kind != Kind::kScalar || left.kind != Kind::kScalar) {
          // "S = {1, 2}": the value on the right is the answer.
          Value keep = right.kind != Kind::kScalar ? std::move(right) : std::move(left);
          out = std::move(keep);
          while (rel_op(r, eq, in)) {
            next();
            Value skip;
            if (!parse_sum(skip)) return false;
          }
          return true;
        }
        Value e;
        e.kind = Kind::kEquation;
        e.lhs = left.expr;
        e.rhs = right.expr;
        // "a = b = 3": keep the outermost sides.
        if (!relations.empty() && relations.back().kind == Kind::kEquation) relations.back().rhs = right.expr;
        else relations.push_back(e);
      } else {
        if (!need_scalar(left, "relation side") || !need_scalar(right, "relation side")) return false;
        Value rel;
        rel.kind = Kind::kRelation;
        rel.rel = r;
        rel.lhs = left.expr;
        rel.rhs = right.expr;
        relations.push_back(rel);
      }
      left = std::move(right);
    }
    if (relations.size() == 1) out = std::move(relations.front());
    else {
      out.kind = Kind::kIntersection;
      out.items = std::move(relations);
    }
    return true;
  }

  bool at_sum_op() const { return at(T::kPlus) || at(T::kMinus) || at_cmd("pm") || at_cmd("mp"); }

  uint32_t plus_minus(uint32_t x, uint32_t y, bool minus_first) {
    uint32_t idx = a_.plus_minus_count++;
    if (minus_first) y = neg(y);
    return a_.add_node(Op::kPlusMinus, {x, y}, Fn::kNone, idx);
  }

  bool parse_sum(Value& out) {
    DepthGuard g(*this);
    if (!g.ok) return fail("nested too deeply");
    Value first;
    if (!parse_term(first)) return false;
    if (!at_sum_op()) {
      out = std::move(first);
      return true;
    }
    if (!need_scalar(first, "term of a sum")) return false;
    std::vector<uint32_t> terms{static_cast<uint32_t>(first.expr)};
    while (at_sum_op()) {
      bool minus = at(T::kMinus);
      bool pm = at_cmd("pm"), mp = at_cmd("mp");
      next();
      Value t;
      if (!parse_term(t)) return false;
      if (!need_scalar(t, "term of a sum")) return false;
      uint32_t e = static_cast<uint32_t>(t.expr);
      if (pm || mp) {
        if (a_.plus_minus_count >= kMaxPlusMinus) return fail("too many \\pm");
        uint32_t acc = terms.size() == 1 ? terms.front() : a_.add_node(Op::kAdd, terms);
        terms.assign(1, plus_minus(acc, e, mp));
        continue;
      }
      terms.push_back(minus ? neg(e) : e);
    }
    out = scalar(terms.size() == 1 ? terms.front() : a_.add_node(Op::kAdd, terms));
    return true;
  }

  bool is_function_cmd(std::string_view name) const {
    return find_function(name) != nullptr || name == "arcsin" || name == "arccos" || name == "arctan";
  }

  // Can the current token start an operand that multiplies the previous one?
  bool starts_implicit_operand() const {
    const Tok& t = peek();
    switch (t.t) {
      case T::kNum: return false;  // "2 3" is not a product anyone writes
      case T::kIdent: {
        auto w = text(t);
        return !(w == "and" || w == "or" || w == "U");
      }
      case T::kLParen: return true;
      case T::kLBrace: return !in_matrix_;
      case T::kCmd: {
        auto name = text(t).substr(1);
        static constexpr std::array<std::string_view, 12> kNotOperand = {
            "cdot", "times", "div", "pm", "mp", "cup", "cap", "le", "ge", "ne", "in", "end"};
        for (auto n : kNotOperand)
          if (name == n) return false;
        if (name == "leq" || name == "geq" || name == "neq" || name == "lt" || name == "gt" || name == "approx" ||
            name == "land" || name == "lor" || name == "wedge" || name == "vee" || name == "equiv" ||
            name == "rfloor" || name == "rceil" || name == "rvert" || name == "leqslant" || name == "geqslant")
          return false;
        return true;
      }
      default: return false;
    }
  }

  bool parse_term(Value& out) {
    Value first;
    if (!parse_unary(first)) return false;
    std::vector<uint32_t> factors;
    bool started = false;
    for (;;) {
      bool explicit_mul = at(T::kStar) || at_cmd("cdot") || at_cmd("times");
      bool explicit_div = at(T::kSlash) || at_cmd("div");
      bool implicit = !explicit_mul && !explicit_div && starts_implicit_operand();
      if (!explicit_mul && !explicit_div && !implicit) break;
      if (!started) {
        if (!need_scalar(first, "factor of a product")) return false;
        factors.push_back(static_cast<uint32_t>(first.expr));
        started = true;
      }
      if (explicit_mul || explicit_div) next();
      Value f;
      if (!(implicit ? parse_power(f) : parse_unary(f))) return false;
      if (f.kind == Kind::kMatrix && !explicit_div && at(T::kEnd)) {
        // A scalar times a matrix: every entry scaled.
        uint32_t k = factors.size() == 1 ? factors[0] : a_.add_node(Op::kMul, factors);
        for (auto& entry : f.items) entry = scalar(a_.add_node(Op::kMul, {k, static_cast<uint32_t>(entry.expr)}));
        out = std::move(f);
        return true;
      }
      if (!need_scalar(f, "factor of a product")) return false;
      uint32_t e = static_cast<uint32_t>(f.expr);
      factors.push_back(explicit_div ? reciprocal(e) : e);
    }
    if (!started) {
      out = std::move(first);
      return true;
    }
    out = scalar(a_.add_node(Op::kMul, factors));
    return true;
  }

  bool parse_unary(Value& out) {
    DepthGuard g(*this);
    if (!g.ok) return fail("nested too deeply");
    if (at(T::kMinus)) {
      next();
      Value v;
      if (!parse_unary(v) || !need_scalar(v, "negated value")) return false;
      out = scalar(neg(static_cast<uint32_t>(v.expr)));
      return true;
    }
    if (at(T::kPlus)) {
      next();
      return parse_unary(out);
    }
    if (at_cmd("pm") || at_cmd("mp")) {
      if (a_.plus_minus_count >= kMaxPlusMinus) return fail("too many \\pm");
      next();
      Value v;
      if (!parse_unary(v) || !need_scalar(v, "value after \\pm")) return false;
      out = scalar(plus_minus(number(0), static_cast<uint32_t>(v.expr), false));
      return true;
    }
    return parse_power(out);
  }

  bool parse_power(Value& out) {
    DepthGuard g(*this);
    if (!g.ok) return fail("nested too deeply");
    Value base;
    if (!parse_postfix(base)) return false;
    if (!at(T::kCaret)) {
      out = std::move(base);
      return true;
    }
    if (!need_scalar(base, "base of a power")) return false;
    next();
    Value exp;
    if (!parse_exponent(exp) || !need_scalar(exp, "exponent")) return false;
    out = scalar(power(static_cast<uint32_t>(base.expr), static_cast<uint32_t>(exp.expr)));
    return true;
  }

  // After '^': a braced group, or a signed single operand (x^-1, x**(1/3), e^2).
  bool parse_exponent(Value& out) {
    if (at(T::kMinus)) {
      next();
      Value v;
      if (!parse_exponent(v) || !need_scalar(v, "exponent")) return false;
      out = scalar(neg(static_cast<uint32_t>(v.expr)));
      return true;
    }
    if (at(T::kPlus)) next();
    return parse_power(out);
  }

  bool parse_postfix(Value& out) {
    if (!parse_primary(out)) return false;
    for (;;) {
      if (at(T::kBang) && out.kind == Kind::kScalar) {
        next();
        out = scalar(func(Fn::kFactorial, {static_cast<uint32_t>(out.expr)}));
        continue;
      }
      if (at(T::kApostrophe)) return fail("primes are not supported");
      if (at(T::kUnder) && out.kind == Kind::kScalar) {
        next();
        // Subscript: a base ("1103_6": the digits are the answer) or part of a name (x_1).
        std::string sub;
        if (at(T::kLBrace)) {
          next();
          while (!at(T::kRBrace) && !at(T::kEnd)) {
            sub += text(peek());
            next();
          }
          if (!expect(T::kRBrace, "'}'")) return false;
        } else if (at(T::kNum) || at(T::kIdent)) {
          sub = text(peek());
          next();
        } else {
          return fail("bad subscript");
        }
        const Node& n = a_.node(static_cast<uint32_t>(out.expr));
        if (n.op == Op::kSymbol) {
          out = scalar(a_.add_symbol(a_.symbols[n.data] + "_" + sub));
        } else if (n.op != Op::kNumber) {
          return fail("subscript on an expression");
        }
        continue;
      }
      return true;
    }
  }

  // A LaTeX argument: {group} or a single token (\frac12 -> 1, 2).
  bool parse_arg(Value& out) {
    if (at(T::kLBrace)) {
      next();
      if (!parse_item(out)) return false;
      return expect(T::kRBrace, "'}'");
    }
    if (at(T::kNum)) {
      Tok& t = toks_[pos_];
      if (t.end - t.begin > 1 && is_digit(s_[t.begin])) {
        Number n;
        n.value = s_[t.begin] - '0';
        n.significant = 1;
        t.begin += 1;
        t.space_before = false;
        out = scalar(a_.add_number(std::move(n)));
        return true;
      }
    }
    if (at(T::kIdent)) {
      Tok& t = toks_[pos_];
      if (t.end - t.begin > 1) {
        std::string name(1, s_[t.begin]);
        t.begin += 1;
        out = scalar(name == "e" ? a_.add_leaf(Op::kE) : name == "i" ? a_.add_leaf(Op::kI) : a_.add_symbol(name));
        return true;
      }
    }
    return parse_power(out);
  }

  bool parse_number(Value& out) {
    std::string_view t = text(peek());
    Number n;
    size_t e = t.find_first_of("eE");
    std::string_view mant = t.substr(0, e);
    long exp10 = 0;
    if (e != std::string_view::npos) {
      std::string_view ev = t.substr(e + 1);
      if (ev.size() > 6) return fail("exponent too large");
      exp10 = std::atol(std::string(ev).c_str());
      if (std::labs(exp10) > kMaxExactExponent) return fail("exponent too large");
      n.written_decimal = true;
    }
    size_t dot = mant.find('.');
    std::string digits;
    if (dot != std::string_view::npos) {
      n.written_decimal = true;
      n.decimals = static_cast<int>(mant.size() - dot - 1);
      digits = std::string(mant.substr(0, dot)) + std::string(mant.substr(dot + 1));
    } else {
      digits = std::string(mant);
    }
    if (digits.empty()) digits = "0";
    size_t nz = digits.find_first_not_of('0');
    n.significant = nz == std::string::npos ? 1 : static_cast<int>(digits.size() - nz);
    if (dot == std::string_view::npos && e == std::string_view::npos && digits.size() > 1 && digits.back() == '0') {
      n.trailing_zero_integer = true;
      size_t last = digits.find_last_not_of('0');
      n.significant = last == std::string::npos ? 1 : static_cast<int>(last - (nz == std::string::npos ? 0 : nz) + 1);
    }
    n.exponent10 = static_cast<int>(exp10);
    if (n.written_decimal) n.literal = std::string(t);
    mpz_class m(digits, 10);
    mpz_class p10;
    long shift = exp10 - n.decimals;
    mpz_ui_pow_ui(p10.get_mpz_t(), 10, static_cast<unsigned long>(std::labs(shift)));
    n.value = shift >= 0 ? mpq_class(m * p10) : mpq_class(m, p10);
    n.value.canonicalize();
    next();
    out = scalar(a_.add_number(std::move(n)));
    return true;
  }

  // A single-letter symbol, or the constants e and i.
  uint32_t letter(char c) {
    if (c == 'e') return a_.add_leaf(Op::kE);
    if (c == 'i') return a_.add_leaf(Op::kI);
    return a_.add_symbol(std::string(1, c));
  }

  bool parse_call_args(std::vector<Value>& args) {
    if (!expect(T::kLParen, "'('")) return false;
    if (at(T::kRParen)) {
      next();
      return true;
    }
    for (;;) {
      Value v;
      if (!parse_item(v)) return false;
      // keyword arguments (evaluate=False): skip the name
      args.push_back(std::move(v));
      if (at(T::kComma)) {
        next();
        continue;
      }
      return expect(T::kRParen, "')'");
    }
  }

  bool scalar_args(const std::vector<Value>& args, size_t n_min, size_t n_max, std::string_view name) {
    if (args.size() < n_min || args.size() > n_max) return fail(std::string(name) + ": wrong number of arguments");
    for (auto& v : args)
      if (v.kind != Kind::kScalar) return fail(std::string(name) + ": argument is not a single expression");
    return true;
  }

  bool parse_identifier(Value& out) {
    std::string name(text(peek()));
    if (name == "pi") return next(), out = scalar(a_.add_leaf(Op::kPi)), true;
    if (name == "E") return next(), out = scalar(a_.add_leaf(Op::kE)), true;
    if (name == "I") return next(), out = scalar(a_.add_leaf(Op::kI)), true;
    if (name == "oo" || name == "inf" || name == "infty" || name == "infinity" || name == "Infinity")
      return next(), out = scalar(a_.add_leaf(Op::kInfinity)), true;
    if (name == "zoo" || name == "nan" || name == "NaN") return next(), out = scalar(a_.add_leaf(Op::kUndefined)), true;
    if (name == "True" || name == "False" || name == "true" || name == "false") {
      next();
      out.kind = Kind::kBoolean;
      out.boolean = name[0] == 'T' || name[0] == 't';
      return true;
    }
    if (name == "EmptySet" || name == "S.EmptySet") return next(), out.kind = Kind::kEmptySet, true;
    if (name == "Reals" || name == "S.Reals") return next(), out.kind = Kind::kReals, true;
    if (name == "S.Half") return next(), out = scalar(divide(number(1), number(2))), true;
    if (is_greek(name)) return next(), out = scalar(a_.add_symbol(name)), true;
    bool call = peek(1).t == T::kLParen;
    if (call) {
      if (name == "Interval" || name == "Interval.open" || name == "Interval.Lopen" || name == "Interval.Ropen") {
        next();
        std::vector<Value> args;
        if (!parse_call_args(args) || !scalar_args(args, 2, 4, name)) return false;
        out.kind = Kind::kInterval;
        out.lhs = args[0].expr;
        out.rhs = args[1].expr;
        out.lo_open = name == "Interval.open" || name == "Interval.Lopen";
        out.hi_open = name == "Interval.open" || name == "Interval.Ropen";
        if (args.size() >= 3 && args[2].kind == Kind::kBoolean) out.lo_open = args[2].boolean;
        return true;
      }
      if (name == "Union" || name == "Intersection" || name == "FiniteSet" || name == "Tuple" || name == "And" ||
          name == "Or" || name == "set" || name == "frozenset" || name == "list" || name == "tuple") {
        next();
        std::vector<Value> args;
        if (!parse_call_args(args)) return false;
        out.kind = name == "Union" || name == "Or" ? Kind::kUnion
                   : name == "Intersection" || name == "And" ? Kind::kIntersection
                   : name == "FiniteSet" || name == "set" || name == "frozenset" ? Kind::kSet
                   : name == "list" ? Kind::kList : Kind::kTuple;
        if ((name == "set" || name == "frozenset" || name == "list" || name == "tuple") && args.size() == 1 &&
            args[0].kind != Kind::kScalar) {
          out.items = std::move(args[0].items);
        } else {
          out.items = std::move(args);
        }
        return true;
      }
      if (name == "Eq" || name == "Ne" || name == "Lt" || name == "Le" || name == "Gt" || name == "Ge" ||
          name == "StrictLessThan" || name == "StrictGreaterThan" || name == "LessThan" || name == "GreaterThan") {
        next();
        std::vector<Value> args;
        if (!parse_call_args(args) || !scalar_args(args, 2, 2, name)) return false;
        out.lhs = args[0].expr;
        out.rhs = args[1].expr;
        if (name == "Eq") {
          out.kind = Kind::kEquation;
          return true;
        }
        out.kind = Kind::kRelation;
        out.rel = name == "Ne" ? Rel::kNe
                  : name == "Lt" || name == "StrictLessThan" ? Rel::kLt
                  : name == "Le" || name == "LessThan" ? Rel::kLe
                  : name == "Gt" || name == "StrictGreaterThan" ? Rel::kGt : Rel::kGe;
        return true;
      }
      if (name == "Matrix" || name == "ImmutableMatrix" || name == "MutableDenseMatrix" || name == "array" ||
          name == "np.array") {
        next();
        std::vector<Value> args;
        if (!parse_call_args(args) || args.size() != 1 || args[0].kind != Kind::kList)
          return fail("Matrix: expected a list of rows");
        return matrix_from_rows(args[0], out);
      }
      if (const FnName* f = find_function(name)) {
        next();
        std::vector<Value> args;
        if (!parse_call_args(args) || !scalar_args(args, 1, 2, name)) return false;
        std::vector<uint32_t> xs;
        for (auto& v : args) xs.push_back(static_cast<uint32_t>(v.expr));
        if (f->name == "sqrt") return out = scalar(power(xs[0], divide(number(1), number(2)))), xs.size() == 1 || fail("sqrt: one argument");
        if (f->name == "cbrt") return out = scalar(power(xs[0], divide(number(1), number(3)))), true;
        if (f->name == "root") {
          if (xs.size() != 2) return fail("root: two arguments");
          out = scalar(power(xs[0], reciprocal(xs[1])));
          return true;
        }
        if (f->name == "Rational") {
          out = scalar(xs.size() == 2 ? divide(xs[0], xs[1]) : xs[0]);
          return true;
        }
        if (f->name == "Integer" || f->name == "Float") return out = scalar(xs[0]), true;
        if (f->fn == Fn::kNone) return fail("unsupported function " + name);
        if (f->fn == Fn::kExp) return out = scalar(power(a_.add_leaf(Op::kE), xs[0])), true;
        if (xs.size() == 2 && f->fn != Fn::kLog && f->fn != Fn::kBinomial) return fail(name + ": one argument");
        out = scalar(func(f->fn, xs));
        return true;
      }
    }
    next();
    // Plain names: one letter is a symbol; two letters a product (xy, AB);
    // a longer unknown word makes the answer text.
    bool letters_only = std::all_of(name.begin(), name.end(), is_letter);
    if (name.size() == 1) return out = scalar(letter(name[0])), true;
    if (!letters_only) return out = scalar(a_.add_symbol(name)), true;
    bool vowel_free = name.find_first_of("aeiouyAEIOUY") == std::string::npos;
    if (name.size() == 2 || (name.size() == 3 && vowel_free)) {
      std::vector<uint32_t> fs;
      for (char c : name) fs.push_back(letter(c));
      if (at(T::kCaret)) {  // ab^2 is a*b^2: the power binds to the last letter
        next();
        Value exp;
        if (!parse_exponent(exp) || !need_scalar(exp, "exponent")) return false;
        fs.back() = power(fs.back(), static_cast<uint32_t>(exp.expr));
      }
      out = scalar(a_.add_node(Op::kMul, fs));
      return true;
    }
    saw_word_ = true;
    if (word_.empty()) word_ = name;
    out = scalar(a_.add_symbol(name));
    return true;
  }

  bool matrix_from_rows(const Value& rows, Value& out) {
    out.kind = Kind::kMatrix;
    out.rows = static_cast<uint32_t>(rows.items.size());
    out.cols = 0;
    for (size_t r = 0; r < rows.items.size(); ++r) {
      const Value& row = rows.items[r];
      std::vector<Value> entries;
      if (row.kind == Kind::kList || row.kind == Kind::kTuple) entries = row.items;
      else if (row.kind == Kind::kScalar) entries = {row};  // Matrix([1, 2]) is a column
      else return fail("Matrix: bad row");
      if (r == 0) out.cols = static_cast<uint32_t>(entries.size());
      else if (entries.size() != out.cols) return fail("Matrix: ragged rows");
      for (auto& e : entries) {
        if (e.kind != Kind::kScalar) return fail("Matrix: entry is not an expression");
        out.items.push_back(e);
      }
    }
    if (!rows.items.empty() && rows.items[0].kind == Kind::kScalar) {
      out.cols = 1;
    }
    return true;
  }

  bool parse_latex_matrix(Value& out) {
    // \begin{pmatrix} a & b \\ c & d \end{pmatrix}
    next();
    std::string env;
    if (!expect(T::kLBrace, "'{' after \\begin")) return false;
    while (!at(T::kRBrace) && !at(T::kEnd)) {
      env += text(peek());
      next();
    }
    if (!expect(T::kRBrace, "'}'")) return false;
    static constexpr std::array<std::string_view, 7> kEnvs = {"pmatrix", "bmatrix", "Bmatrix", "matrix",
                                                              "smallmatrix", "array", "cases"};
    if (std::find(kEnvs.begin(), kEnvs.end(), env) == kEnvs.end() || env == "cases")
      return fail("unsupported environment " + env);
    if (env == "array" && at(T::kLBrace)) {
      while (!at(T::kRBrace) && !at(T::kEnd)) next();
      next();
    }
    bool saved = in_matrix_;
    in_matrix_ = true;
    std::vector<std::vector<Value>> rows(1);
    for (;;) {
      if (at_cmd("end")) break;
      if (at(T::kEnd)) return fail("unterminated matrix");
      Value v;
      if (!parse_item(v) || !need_scalar(v, "matrix entry")) return false;
      rows.back().push_back(std::move(v));
      if (at(T::kAmp)) {
        next();
        continue;
      }
      if (at(T::kRowSep)) {
        next();
        if (at_cmd("end")) break;
        rows.emplace_back();
        continue;
      }
    }
    in_matrix_ = saved;
    next();  // \end
    if (at(T::kLBrace)) {
      while (!at(T::kRBrace) && !at(T::kEnd)) next();
      next();
    }
    if (!rows.empty() && rows.back().empty()) rows.pop_back();
    out.kind = Kind::kMatrix;
    out.rows = static_cast<uint32_t>(rows.size());
    out.cols = rows.empty() ? 0 : static_cast<uint32_t>(rows[0].size());
    for (auto& r : rows) {
      if (r.size() != out.cols) return fail("matrix rows differ in length");
      for (auto& v : r) out.items.push_back(std::move(v));
    }
    return true;
  }

  // \sin x, \sin^2 x, \sin(x), \log_2 8, \ln 2
  bool parse_latex_function(Fn fn, Value& out) {
    next();
    uint32_t base_node = 0;
    bool has_base = false;
    if (fn == Fn::kLog && at(T::kUnder)) {
      next();
      Value b;
      if (!parse_arg(b) || !need_scalar(b, "logarithm base")) return false;
      base_node = static_cast<uint32_t>(b.expr);
      has_base = true;
    }
    int32_t fn_power = -1;
    bool inverse = false;
    if (at(T::kCaret)) {
      next();
      Value p;
      if (!parse_arg(p) || !need_scalar(p, "function power")) return false;
      auto q = exact_value(a_, static_cast<uint32_t>(p.expr));
      if (q && *q == -1) inverse = true;
      else fn_power = p.expr;
    }
    if (inverse) {
      switch (fn) {
        case Fn::kSin: fn = Fn::kAsin; break;
        case Fn::kCos: fn = Fn::kAcos; break;
        case Fn::kTan: fn = Fn::kAtan; break;
        default: return fail("inverse of this function is not supported");
      }
    }
    Value arg;
    if (at(T::kLParen) || at(T::kLBrace)) {
      if (!parse_power(arg)) return false;
    } else {
      // Brace-less argument: a product of simple operands (\sin 2x), stopping at another function.
      if (!parse_power(arg)) return false;
      std::vector<uint32_t> fs;
      while (arg.kind == Kind::kScalar && (at(T::kIdent) || at(T::kNum) || (at(T::kCmd) && !is_function_cmd(text(peek()).substr(1)) &&
                                                                          starts_implicit_operand()))) {
        if (at(T::kIdent) && (at_ident("and") || at_ident("or"))) break;
        if (fs.empty()) fs.push_back(static_cast<uint32_t>(arg.expr));
        Value f;
        if (!parse_power(f) || !need_scalar(f, "function argument")) return false;
        fs.push_back(static_cast<uint32_t>(f.expr));
      }
      if (!fs.empty()) arg = scalar(a_.add_node(Op::kMul, fs));
    }
    if (!need_scalar(arg, "function argument")) return false;
    uint32_t x = static_cast<uint32_t>(arg.expr);
    uint32_t r;
    if (fn == Fn::kExp) r = power(a_.add_leaf(Op::kE), x);
    else if (has_base) r = func(Fn::kLog, {x, base_node});
    else r = func(fn, {x});
    if (fn_power >= 0) r = power(r, static_cast<uint32_t>(fn_power));
    out = scalar(r);
    return true;
  }

  bool parse_command(Value& out) {
    std::string name(text(peek()).substr(1));
    if (name == "frac" || name == "dfrac" || name == "tfrac" || name == "cfrac") {
      next();
      Value n, d;
      if (!parse_arg(n) || !need_scalar(n, "numerator")) return false;
      if (!parse_arg(d) || !need_scalar(d, "denominator")) return false;
      out = scalar(divide(static_cast<uint32_t>(n.expr), static_cast<uint32_t>(d.expr)));
      return true;
    }
    if (name == "sqrt") {
      next();
      uint32_t index = 0;
      bool has_index = false;
      if (at(T::kLBrack)) {
        next();
        Value iv;
        if (!parse_item(iv) || !need_scalar(iv, "root index")) return false;
        if (!expect(T::kRBrack, "']'")) return false;
        index = static_cast<uint32_t>(iv.expr);
        has_index = true;
      }
      Value x;
      if (!parse_arg(x) || !need_scalar(x, "radicand")) return false;
      uint32_t e = has_index ? reciprocal(index) : divide(number(1), number(2));
      out = scalar(power(static_cast<uint32_t>(x.expr), e));
      return true;
    }
    if (name == "binom" || name == "dbinom" || name == "tbinom") {
      next();
      Value n, k;
      if (!parse_arg(n) || !need_scalar(n, "binomial") || !parse_arg(k) || !need_scalar(k, "binomial")) return false;
      out = scalar(func(Fn::kBinomial, {static_cast<uint32_t>(n.expr), static_cast<uint32_t>(k.expr)}));
      return true;
    }
    if (name == "pi") return next(), out = scalar(a_.add_leaf(Op::kPi)), true;
    if (name == "infty" || name == "infin") return next(), out = scalar(a_.add_leaf(Op::kInfinity)), true;
    if (name == "emptyset" || name == "varnothing") return next(), out.kind = Kind::kEmptySet, true;
    if (name == "imath") return next(), out = scalar(a_.add_leaf(Op::kI)), true;
    if (name == "mathbb") {
      next();
      Value dummy;
      if (at(T::kLBrace) && peek(1).t == T::kIdent && text(peek(1)) == "R" && peek(2).t == T::kRBrace) {
        next(); next(); next();
        out.kind = Kind::kReals;
        return true;
      }
      return fail("unsupported \\mathbb");
    }
    if (name == "operatorname") {
      next();
      if (!expect(T::kLBrace, "'{'")) return false;
      if (!at(T::kIdent)) return fail("bad \\operatorname");
      std::string fname(text(peek()));
      next();
      if (!expect(T::kRBrace, "'}'")) return false;
      const FnName* f = find_function(fname);
      if (!f || f->fn == Fn::kNone) return fail("unsupported function " + fname);
      --pos_;  // re-read as a function command: parse_latex_function consumes one token first
      return parse_latex_function(f->fn, out);
    }
    if (name == "begin") return parse_latex_matrix(out);
    if (name == "lfloor" || name == "lceil") {
      next();
      Value v;
      if (!parse_item(v) || !need_scalar(v, "floor/ceiling")) return false;
      if (!at_cmd(name == "lfloor" ? "rfloor" : "rceil")) return fail("unterminated floor/ceiling");
      next();
      out = scalar(func(name == "lfloor" ? Fn::kFloor : Fn::kCeil, {static_cast<uint32_t>(v.expr)}));
      return true;
    }
    if (name == "lvert" || name == "vert" || name == "mid" || name == "rvert") {
      toks_[pos_].t = T::kPipe;
      return parse_primary(out);
    }
    if (is_greek(name)) return next(), out = scalar(a_.add_symbol(name)), true;
    if (name == "ln") return parse_latex_function(Fn::kLog, out);
    if (const FnName* f = find_function(name); f && f->fn != Fn::kNone) return parse_latex_function(f->fn, out);
    if (name == "arcsin") return parse_latex_function(Fn::kAsin, out);
    return fail("unsupported command \\" + name);
  }

  // ( ... ) [ ... ] { ... } \{ ... \}
  bool parse_group(Value& out) {
    T open = peek().t;
    next();
    std::vector<Value> items;
    bool dict = false, trailing_comma = false;
    T close_want = open == T::kLParen ? T::kRParen
                   : open == T::kLBrack ? T::kRBrack
                   : open == T::kLBrace ? T::kRBrace : T::kSetClose;
    auto at_close = [&]() {
      if (open == T::kLParen || open == T::kLBrack) return at(T::kRParen) || at(T::kRBrack);
      return at(close_want);
    };
    int saved_abs = abs_depth_;
    abs_depth_ = 0;
    bool saved_matrix = in_matrix_;
    in_matrix_ = false;
    while (!at_close()) {
      if (at(T::kEnd)) return fail("unbalanced bracket");
      Value v;
      if (!parse_item(v)) return false;
      items.push_back(std::move(v));
      trailing_comma = false;
      if (at(T::kColon) && open == T::kLBrace) {
        next();
        Value val;
        if (!parse_item(val)) return false;
        items.push_back(std::move(val));
        dict = true;
      }
      if (at(T::kComma) || at(T::kSemi)) {
        next();
        trailing_comma = true;
        continue;
      }
      if (!at_close()) return fail("expected ',' or a closing bracket");
    }
    abs_depth_ = saved_abs;
    in_matrix_ = saved_matrix;
    T close = peek().t;
    next();
    if (dict) {
      out.kind = Kind::kDict;
      out.items = std::move(items);
      return true;
    }
    if (open == T::kLBrace) {
      if (items.size() == 1 && !trailing_comma) {
        out = std::move(items.front());  // LaTeX group
        return true;
      }
      out.kind = Kind::kSet;
      out.items = std::move(items);
      return true;
    }
    if (open == T::kSetOpen) {
      out.kind = Kind::kSet;
      out.items = std::move(items);
      return true;
    }
    bool mixed = (open == T::kLParen) != (close == T::kRParen);
    if (mixed) {
      if (items.size() != 2 || items[0].kind != Kind::kScalar || items[1].kind != Kind::kScalar)
        return fail("a half-open interval needs two endpoints");
      out.kind = Kind::kInterval;
      out.lhs = items[0].expr;
      out.rhs = items[1].expr;
      out.lo_open = open == T::kLParen;
      out.hi_open = close == T::kRParen;
      return true;
    }
    if (open == T::kLParen && items.size() == 1 && !trailing_comma) {
      out = std::move(items.front());
      return true;
    }
    out.kind = open == T::kLParen ? Kind::kTuple : Kind::kList;
    out.items = std::move(items);
    return true;
  }

  bool parse_primary(Value& out) {
    DepthGuard g(*this);
    if (!g.ok) return fail("nested too deeply");
    switch (peek().t) {
      case T::kNum: return parse_number(out);
      case T::kString:
        out.kind = Kind::kText;
        out.text = normalize_text(text(peek()));
        next();
        return true;
      case T::kIdent: return parse_identifier(out);
      case T::kCmd: return parse_command(out);
      case T::kLParen:
      case T::kLBrack:
      case T::kLBrace:
      case T::kSetOpen: return parse_group(out);
      case T::kPipe: {
        if (abs_depth_ > 0) return fail("unexpected '|'");
        next();
        ++abs_depth_;
        Value v;
        bool ok = parse_item(v);
        --abs_depth_;
        if (!ok || !need_scalar(v, "absolute value")) return false;
        if (!at(T::kPipe)) return fail("unterminated absolute value");
        next();
        out = scalar(func(Fn::kAbs, {static_cast<uint32_t>(v.expr)}));
        return true;
      }
      case T::kEnd: return fail("unexpected end");
      default: return fail("unexpected '" + std::string(text(peek())) + "'");
    }
  }
};

// Where a unit follows a constant value ("1.3 \\times 10^{2} K",
// "12.5*pi**2 N/m", "370pm"): the first token that is neither a number, an
// operator, nor a known function or constant; npos when the value before it
// is not constant (then the words are mathematics: "2 x").
size_t unit_start(const std::string& s, const std::vector<Tok>& toks) {
  auto name_of = [&](const Tok& t) { return std::string_view(s).substr(t.begin, t.end - t.begin); };
  static constexpr std::array<std::string_view, 16> kConstantCmds = {
      "\\times", "\\cdot", "\\pi", "\\sqrt", "\\frac", "\\dfrac", "\\tfrac", "\\sin", "\\cos", "\\tan",
      "\\arctan", "\\arcsin", "\\arccos", "\\ln", "\\log", "\\exp"};
  bool number = false;
  int depth = 0;
  size_t first = 0;
  // "v = 3.2 m/s", "F_{net} = 12 N": the quantity is on the right of a name.
  for (size_t e = 1; e < toks.size() && e <= 6; ++e) {
    if (toks[e].t == T::kEq) {
      bool name = toks[0].t == T::kIdent;
      for (size_t j = 1; j < e && name; ++j)
        name = toks[j].t == T::kUnder || toks[j].t == T::kLBrace || toks[j].t == T::kRBrace || toks[j].t == T::kIdent ||
               toks[j].t == T::kNum;
      if (name) first = e + 1;
      break;
    }
    if (toks[e].t != T::kUnder && toks[e].t != T::kLBrace && toks[e].t != T::kRBrace && toks[e].t != T::kIdent &&
        toks[e].t != T::kNum)
      break;
  }
  for (size_t k = first; k + 1 < toks.size(); ++k) {
    const Tok& t = toks[k];
    switch (t.t) {
      case T::kNum:
        if (number && t.space_before && name_of(t) == "1" && toks[k + 1].t == T::kSlash &&
            toks[k + 2].t == T::kIdent)
          return k;  // "2.1e-5 1/K"
        number = true;
        continue;
      case T::kLParen: case T::kLBrack: ++depth; continue;
      case T::kRParen: case T::kRBrack: --depth; continue;
      case T::kComma:
        if (depth > 0) continue;  // "(3.0, 4.0) m/s": a vector quantity
        return std::string::npos;
      case T::kPlus: case T::kMinus: case T::kStar: case T::kSlash: case T::kCaret: case T::kLBrace: case T::kRBrace:
        continue;
      case T::kCmd: {
        auto name = name_of(t);
        if (std::find(kConstantCmds.begin(), kConstantCmds.end(), name) != kConstantCmds.end()) continue;
        if (name == "\\mu" || name == "\\Omega" || name == "\\AA" || name == "\\%") return number ? k : std::string::npos;
        return std::string::npos;
      }
      case T::kIdent: {
        auto name = name_of(t);
        if (find_function(name) || name == "pi" || name == "E" || name == "e" || name == "I") continue;
        if (!number) return std::string::npos;
        return k;
      }
      default: return std::string::npos;
    }
  }
  return std::string::npos;
}

bool is_flag(const std::string& s) {
  // PCTF{...}, flag{...}: an identifier followed by one braced group, nothing else.
  size_t open = s.find('{');
  if (open < 2 || s.back() != '}' || open == std::string::npos) return false;
  for (size_t i = 0; i < open; ++i)
    if (!(std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '_')) return false;
  if (s.find('{', open + 1) != std::string::npos || s.find('}') != s.size() - 1) return false;
  return find_function(std::string_view(s).substr(0, open)) == nullptr;
}

}  // namespace

size_t matching_brace(std::string_view s, size_t open) {
  int depth = 0;
  for (size_t i = open; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      ++i;  // \{ and \} are characters, not grouping
      continue;
    }
    if (s[i] == '{') ++depth;
    if (s[i] == '}' && --depth == 0) return i;
  }
  return std::string_view::npos;
}

std::string normalize_text(std::string_view text) {
  // Braces are LaTeX grouping only when they balance; otherwise they are content.
  int depth = 0;
  bool balanced = true;
  for (char c : text) {
    if (c == '{') ++depth;
    if (c == '}' && --depth < 0) balanced = false;
  }
  balanced = balanced && depth == 0;
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (std::isspace(static_cast<unsigned char>(c)) || c == '*' || c == '`' || c == '"') continue;
    if (balanced && (c == '{' || c == '}')) continue;
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  while (!out.empty() && (out.back() == '.' || out.back() == '!')) out.pop_back();
  return out;
}

ParseResult parse_answer(std::string_view text, const ParseOptions& options) {
  ParseResult r;
  if (text.size() > kMaxAnswerChars) {
    r.error = "answer longer than " + std::to_string(kMaxAnswerChars) + " characters";
    return r;
  }
  Cleaned c = cleanup(text);
  Answer& a = r.answer;
  a.source = c.text;
  a.percent = c.percent;
  a.degrees = c.degrees;
  a.currency = c.currency;
  if (c.text.empty()) {
    r.error = "empty answer";
    return r;
  }
  if (is_flag(c.text)) {
    r.ok = true;
    a.root.kind = Kind::kFlag;
    a.root.text = c.text;
    return r;
  }
  std::vector<Tok> toks = tokenize(c.text);
  if (options.detect_units && toks.size() >= 2) {
    if (size_t k = unit_start(c.text, toks); k != std::string::npos) {
      UnitParse u;
      if (parse_unit(c.text, toks, k, u) && (toks[k].space_before || u.unit.physical())) {
        // "12.5*pi**2*newton/meter", "1.5/second": the operator before the unit joins it.
        size_t cut = k;
        if (cut > 1 && (toks[cut - 1].t == T::kStar || toks[cut - 1].t == T::kSlash)) {
          --cut;
          if (toks[cut].t == T::kSlash) {
            Unit inverse;
            inverse.dim = u.unit.dim;
            for (auto& d : inverse.dim) d = static_cast<int8_t>(-d);
            inverse.scale = 1 / u.unit.scale;
            inverse.pi_power = -u.unit.pi_power;
            inverse.label = u.unit.label;
            inverse.written = "1/" + u.unit.written;
            u.unit = std::move(inverse);
          }
        }
        a.unit = std::move(u.unit);
        if (u.percent) a.percent = true;
        Tok end = toks.back();
        end.begin = end.end = toks[cut].begin;
        toks.resize(cut);
        toks.push_back(end);
      }
    }
  }
  Parser p(c.text, std::move(toks), a);
  std::string error;
  if (p.parse(a.root, error)) {
    r.ok = true;
    return r;
  }
  // Not mathematics: keep it as text.
  r.math_error = error;
  r.fell_back_to_text = true;
  r.ok = true;
  Answer text_answer;
  text_answer.source = c.text;
  text_answer.percent = c.percent;
  text_answer.currency = c.currency;
  text_answer.degrees = c.degrees;
  text_answer.root.kind = Kind::kText;
  text_answer.root.text = normalize_text(c.text);
  if (text_answer.root.text.empty()) {
    r.ok = false;
    r.error = "nothing left to compare";
  }
  r.answer = std::move(text_answer);
  return r;
}

}  // namespace vf::equiv
