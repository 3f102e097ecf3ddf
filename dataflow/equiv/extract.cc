#include <algorithm>
#include <array>
#include <vector>
#include <cctype>

#include "dataflow/equiv/extract.h"
#include "dataflow/equiv/parse.h"

namespace vf::equiv {

namespace {

std::string trim_answer(std::string s) {
  auto strip = [](std::string& x) {
    size_t b = x.find_first_not_of(" \t\r\n"), e = x.find_last_not_of(" \t\r\n");
    x = b == std::string::npos ? std::string() : x.substr(b, e - b + 1);
  };
  strip(s);
  // Markdown emphasis and math delimiters around the answer.
  for (int k = 0; k < 4; ++k) {
    if (s.size() >= 4 && s.compare(0, 2, "**") == 0 && s.compare(s.size() - 2, 2, "**") == 0) s = s.substr(2, s.size() - 4);
    if (s.size() >= 2 && s.front() == '$' && s.back() == '$') s = s.substr(1, s.size() - 2);
    while (!s.empty() && (s.back() == '.' || s.back() == ' ')) s.pop_back();
    strip(s);
  }
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Content of the last \boxed{...} (or \fbox{...}) with balanced braces; when
// the response boxes several answers together ("\boxed{2} and \boxed{3}":
// boxes on one line, a few words apart), all of them, joined by ", ".
bool last_boxed(std::string_view text, std::string& out, bool& several) {
  struct Box {
    size_t begin, end;
    std::string content;
  };
  std::vector<Box> boxes;
  for (size_t at = 0; at < text.size();) {
    size_t best = std::string_view::npos;
    for (std::string_view marker : {"\\boxed", "\\fbox"}) {
      size_t m = text.find(marker, at);
      if (m < best) best = m;
    }
    if (best == std::string_view::npos) break;
    size_t open = text.find('{', best);
    if (open == std::string_view::npos) break;
    bool ok = true;
    for (size_t k = best; k < open; ++k)
      if (!std::isalpha(static_cast<unsigned char>(text[k])) && text[k] != '\\' && text[k] != ' ') ok = false;
    size_t close = ok ? matching_brace(text, open) : std::string_view::npos;
    if (close == std::string_view::npos) {
      at = best + 1;
      continue;
    }
    boxes.push_back(Box{best, close + 1, std::string(text.substr(open + 1, close - open - 1))});
    at = close + 1;
  }
  if (boxes.empty()) return false;
  size_t first = boxes.size() - 1;
  while (first > 0) {
    // Only separators between them: "\boxed{2} and \boxed{3}", "$\boxed{2}$, $\boxed{3}$".
    std::string gap = lower(text.substr(boxes[first - 1].end, boxes[first].begin - boxes[first - 1].end));
    std::string rest;
    for (char c : gap)
      if (!std::isspace(static_cast<unsigned char>(c)) && c != ',' && c != ';' && c != '$' && c != '\\' && c != '(' && c != ')')
        rest += c;
    for (std::string_view word : {"and", "or", "quad", "text{}", "text{and}", "text{or}"})
      if (rest == word) rest.clear();
    if (!rest.empty() || gap.size() > 40) break;
    --first;
  }
  out.clear();
  for (size_t k = first; k < boxes.size(); ++k) out += (out.empty() ? "" : ", ") + boxes[k].content;
  several = first + 1 < boxes.size();
  return true;
}

// The text after the last "final answer is" / "answer:" marker, to the end of its line.
bool after_marker(std::string_view text, std::string& out, std::string& method) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 8> kMarkers = {{
      {"final answer is", "final-answer"},
      {"final answer:", "final-answer"},
      {"final answer =", "final-answer"},
      {"the answer is", "final-answer"},
      {"answer is:", "final-answer"},
      {"**answer:**", "answer-label"},
      {"answer:", "answer-label"},
      {"answer =", "answer-label"},
  }};
  std::string low = lower(text);
  size_t best = std::string::npos, best_len = 0;
  std::string_view best_method;
  // The marker that ends last wins ("**Answer:**" over the "answer:" inside it).
  for (auto [m, name] : kMarkers) {
    size_t at = low.rfind(m);
    if (at == std::string::npos) continue;
    if (best == std::string::npos || at + m.size() > best + best_len ||
        (at + m.size() == best + best_len && m.size() > best_len)) {
      best = at;
      best_len = m.size();
      best_method = name;
    }
  }
  if (best == std::string::npos) return false;
  size_t from = best + best_len;
  size_t to = text.find('\n', from);
  std::string tail(text.substr(from, to == std::string_view::npos ? std::string_view::npos : to - from));
  // "... is 12. So we are done." -> "12": stop at a sentence end (". " followed by a capital or end).
  for (size_t i = 0; i + 1 < tail.size(); ++i) {
    if (tail[i] == '.' && tail[i + 1] == ' ' && !(i > 0 && std::isdigit(static_cast<unsigned char>(tail[i - 1])) &&
                                                   i + 2 < tail.size() && std::isdigit(static_cast<unsigned char>(tail[i + 2])))) {
      tail = tail.substr(0, i);
      break;
    }
  }
  if (tail.find_first_not_of(" :\t") == std::string::npos) return false;
  size_t b = tail.find_first_not_of(" :\t");
  out = trim_answer(tail.substr(b));
  method = std::string(best_method);
  return !out.empty();
}

}  // namespace

Extraction extract_final_answer(std::string_view response, Fallback fallback) {
  Extraction ex;
  std::string inner;
  bool several = false;
  if (last_boxed(response, inner, several)) {
    ex.found = true;
    ex.answer = trim_answer(inner);
    ex.method = several ? "boxed-several" : "boxed";
    return ex;
  }
  std::string method;
  if (after_marker(response, inner, method)) {
    std::string boxed;
    ex.found = true;
    ex.answer = inner;
    ex.method = method;
    return ex;
  }
  if (fallback == Fallback::kWhole) {
    ex.answer = trim_answer(std::string(response));
    ex.found = !ex.answer.empty();
    ex.method = "whole";
  } else if (fallback == Fallback::kLastLine) {
    std::string_view r = response;
    while (!r.empty() && std::isspace(static_cast<unsigned char>(r.back()))) r.remove_suffix(1);
    size_t nl = r.rfind('\n');
    ex.answer = trim_answer(std::string(nl == std::string_view::npos ? r : r.substr(nl + 1)));
    ex.found = !ex.answer.empty();
    ex.method = "last-line";
  }
  return ex;
}

}  // namespace vf::equiv
