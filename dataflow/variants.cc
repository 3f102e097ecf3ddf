#include "dataflow/variants.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <map>

namespace vf {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool is_alnum(char c) { return is_digit(c) || is_alpha(c); }

// A constant worth varying: integers >= 3 (0, 1, 2 are usually structural:
// exponents, offsets, "half"), and decimals other than zero.
bool variable_constant(const NumericToken& t) {
  if (t.text.size() > 15) return false;
  if (!t.is_integer) return std::stod(t.text) != 0.0;
  return std::stoll(t.text) >= 3;
}

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::string new_value(const NumericToken& t, std::mt19937_64& rng) {
  if (t.is_integer) {
    long long v = std::stoll(t.text);
    long long lo = std::max(3LL, v / 2), hi = std::max(v * 2, v + 5);
    std::uniform_int_distribution<long long> d(lo, hi);
    long long n = v;
    for (int i = 0; i < 16 && n == v; ++i) n = d(rng);
    return n == v ? t.text : std::to_string(n);
  }
  size_t decimals = t.text.size() - t.text.find('.') - 1;
  double x = std::stod(t.text);
  std::uniform_real_distribution<double> d(x / 2, x * 2);
  char buf[64];
  for (int i = 0; i < 16; ++i) {
    std::snprintf(buf, sizeof buf, "%.*f", static_cast<int>(decimals), d(rng));
    if (buf != t.text && std::stod(buf) > 0) return buf;
  }
  return t.text;
}

}  // namespace

std::vector<NumericToken> question_numbers(const std::string& q) {
  std::vector<NumericToken> out;
  size_t i = 0;
  while (i < q.size()) {
    if (!is_digit(q[i]) || (i > 0 && (is_alnum(q[i - 1]) || q[i - 1] == '.'))) {
      ++i;
      continue;
    }
    size_t start = i;
    while (i < q.size() && is_digit(q[i])) ++i;
    bool integer = true;
    if (i + 1 < q.size() && q[i] == '.' && is_digit(q[i + 1])) {
      integer = false;
      ++i;
      while (i < q.size() && is_digit(q[i])) ++i;
    }
    NumericToken t{q.substr(start, i - start), start, integer};
    bool skip = false;
    if (t.text.size() > 1 && t.text[0] == '0' && is_digit(t.text[1])) skip = true;  // codes like 007
    // Thousands groups ("12,500") are one number written in pieces.
    if (i + 3 < q.size() && q[i] == ',' && is_digit(q[i + 1]) && is_digit(q[i + 2]) &&
        is_digit(q[i + 3]) && (i + 4 >= q.size() || !is_digit(q[i + 4])))
      skip = true;
    if (start >= 2 && q[start - 1] == ',' && is_digit(q[start - 2])) skip = true;
    // Ordinals: "3rd", "21st".
    if (i + 1 < q.size()) {
      std::string suffix{static_cast<char>(std::tolower(q[i])), static_cast<char>(std::tolower(q[i + 1]))};
      if ((suffix == "st" || suffix == "nd" || suffix == "rd" || suffix == "th") &&
          (i + 2 >= q.size() || !is_alpha(q[i + 2])))
        skip = true;
    }
    if (i < q.size() && (is_digit(q[i]) || q[i] == '_')) skip = true;
    if (!skip) out.push_back(std::move(t));
  }
  return out;
}

std::vector<NumericToken> code_numbers(const std::string& c) {
  std::vector<NumericToken> out;
  size_t i = 0;
  auto skip_string = [&](size_t quote_pos) {
    char quote = c[quote_pos];
    bool triple = quote_pos + 2 < c.size() && c[quote_pos + 1] == quote && c[quote_pos + 2] == quote;
    size_t j = quote_pos + (triple ? 3 : 1);
    while (j < c.size()) {
      if (c[j] == '\\') {
        j += 2;
        continue;
      }
      if (triple) {
        if (c[j] == quote && j + 2 < c.size() && c[j + 1] == quote && c[j + 2] == quote) return j + 3;
      } else if (c[j] == quote) {
        return j + 1;
      } else if (c[j] == '\n') {
        return j;  // unterminated single-quoted string: stop at line end
      }
      ++j;
    }
    return c.size();
  };
  while (i < c.size()) {
    char ch = c[i];
    if (ch == '#') {
      while (i < c.size() && c[i] != '\n') ++i;
    } else if (ch == '\'' || ch == '"') {
      i = skip_string(i);
    } else if (is_alpha(ch)) {
      size_t start = i;
      while (i < c.size() && is_alnum(c[i])) ++i;
      std::string word = c.substr(start, i - start);
      std::transform(word.begin(), word.end(), word.begin(), ::tolower);
      bool prefix = word.size() <= 2 && word.find_first_not_of("rbuf") == std::string::npos;
      if (prefix && i < c.size() && (c[i] == '\'' || c[i] == '"')) i = skip_string(i);
    } else if (is_digit(ch) || (ch == '.' && i + 1 < c.size() && is_digit(c[i + 1]))) {
      size_t start = i;
      bool simple = is_digit(ch);
      while (i < c.size() && is_digit(c[i])) ++i;
      bool integer = true;
      if (i < c.size() && c[i] == '.') {
        integer = false;
        ++i;
        if (i >= c.size() || !is_digit(c[i])) simple = false;  // "3." float
        while (i < c.size() && is_digit(c[i])) ++i;
      }
      // Anything else (exponents, hex, underscores, complex) is left alone.
      if (i < c.size() && (is_alnum(c[i]) || c[i] == '.')) {
        simple = false;
        while (i < c.size() && (is_alnum(c[i]) || c[i] == '.')) ++i;
      }
      std::string text = c.substr(start, i - start);
      if (text.size() > 1 && text[0] == '0' && is_digit(text[1])) simple = false;
      if (simple) out.push_back({text, start, integer});
    } else {
      ++i;
    }
  }
  return out;
}

std::string substitute(const std::string& text, const std::vector<NumericToken>& tokens,
                       const std::vector<Substitution>& subs) {
  std::string out;
  out.reserve(text.size() + 16);
  size_t last = 0;
  for (const auto& t : tokens) {  // tokens are in text order
    auto s = std::find_if(subs.begin(), subs.end(), [&](const Substitution& x) { return x.from == t.text; });
    if (s == subs.end()) continue;
    out.append(text, last, t.pos - last);
    out.append(s->to);
    last = t.pos + t.text.size();
  }
  out.append(text, last, std::string::npos);
  return out;
}

VariantGenerator::VariantGenerator(const std::vector<Seed>& seeds, uint64_t random_seed,
                                   VariantOptions options)
    : seeds_(seeds), random_seed_(random_seed), options_(options), seen_(std::make_unique<MemorySeenQuestions>()) {
  for (size_t s = 0; s < seeds.size(); ++s) {
    const Seed& seed = seeds[s];
    seen_->insert(fnv1a64(seed.question.data(), seed.question.size()));
    Template t{s, question_numbers(seed.question), code_numbers(seed.rationale), {}, 0};
    std::map<std::string, NumericToken> in_question, in_code;
    for (const auto& q : t.question_tokens)
      if (variable_constant(q)) in_question.emplace(q.text, q);
    for (const auto& k : t.code_tokens)
      if (variable_constant(k)) in_code.emplace(k.text, k);
    bool code_is_function_of_question = true;
    for (const auto& [text, tok] : in_code) {
      if (!in_question.count(text)) code_is_function_of_question = false;
    }
    if (!code_is_function_of_question || in_code.empty()) continue;
    for (const auto& [text, tok] : in_code) t.constants.push_back(tok);
    eligible_.push_back(std::move(t));
  }
}

std::optional<VariantCandidate> VariantGenerator::try_make(Template& t, std::mt19937_64& rng) {
  std::vector<Substitution> subs;
  std::bernoulli_distribution coin(0.5);
  for (const auto& c : t.constants)
    if (coin(rng)) subs.push_back({c.text, {}});
  if (subs.empty()) {
    std::uniform_int_distribution<size_t> pick(0, t.constants.size() - 1);
    subs.push_back({t.constants[pick(rng)].text, {}});
  }
  for (auto& s : subs) {
    auto c = std::find_if(t.constants.begin(), t.constants.end(), [&](auto& k) { return k.text == s.from; });
    s.to = new_value(*c, rng);
  }
  subs.erase(std::remove_if(subs.begin(), subs.end(), [](auto& s) { return s.from == s.to; }), subs.end());
  if (subs.empty()) return std::nullopt;
  const Seed& seed = seeds_[t.seed];
  VariantCandidate v{t.seed, substitute(seed.question, t.question_tokens, subs),
                     substitute(seed.rationale, t.code_tokens, subs), subs};
  if (!seen_->insert(fnv1a64(v.question.data(), v.question.size()))) return std::nullopt;
  return v;
}

std::optional<VariantCandidate> VariantGenerator::next() {
  if (eligible_.empty()) return std::nullopt;
  // A template that missed on several slots in a row is exhausted.
  constexpr uint32_t kMaxMisses = 3;
  for (size_t tried = 0; tried < eligible_.size() * (kMaxMisses + 1); ++tried) {
    Template& t = eligible_[slot_ % eligible_.size()];
    std::mt19937_64 rng(splitmix64(random_seed_ ^ splitmix64(slot_)));
    ++slot_;
    if (t.misses >= kMaxMisses) continue;
    for (uint32_t a = 0; a < options_.attempts_per_slot; ++a) {
      if (auto v = try_make(t, rng)) {
        t.misses = 0;
        ++produced_;
        return v;
      }
    }
    ++t.misses;
  }
  return std::nullopt;
}

void VariantGenerator::use_seen(std::unique_ptr<SeenQuestions> seen) {
  seen_ = std::move(seen);
  for (const auto& seed : seeds_) seen_->insert(fnv1a64(seed.question.data(), seed.question.size()));
}

VariantGenerator::State VariantGenerator::state() const {
  State s{slot_, produced_, {}};
  for (const auto& t : eligible_) s.misses.push_back(t.misses);
  return s;
}

Status VariantGenerator::restore(const State& s) {
  if (s.misses.size() != eligible_.size())
    return Error{"the logged variant progress has " + std::to_string(s.misses.size()) +
                 " eligible seeds, these seeds give " + std::to_string(eligible_.size())};
  slot_ = s.slot;
  produced_ = s.produced;
  for (size_t i = 0; i < eligible_.size(); ++i) eligible_[i].misses = s.misses[i];
  return {};
}

}  // namespace vf
