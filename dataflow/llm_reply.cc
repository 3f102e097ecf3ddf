#include "dataflow/llm_reply.h"

#include <algorithm>
#include <cctype>
#include <vector>

#include "dataflow/seeds.h"

namespace vf {

namespace {

std::string trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string_view::npos ? std::string() : std::string(s.substr(b, e - b + 1));
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

struct Code {
  std::string text;
  size_t begin = std::string_view::npos;  // where the code (or its fence) starts in the reply
};

// The first fenced block (```python, ```py, ``` ), or an unterminated one to the end.
Code fenced_code(std::string_view r) {
  Code c;
  size_t open = r.find("```");
  if (open == std::string_view::npos) return c;
  size_t line_end = r.find('\n', open);
  if (line_end == std::string_view::npos) return c;
  size_t close = r.find("```", line_end);
  c.begin = open;
  c.text = std::string(r.substr(line_end + 1, close == std::string_view::npos ? std::string_view::npos : close - line_end - 1));
  return c;
}

bool looks_like_code(std::string_view line) {
  std::string t = trim(line);
  for (std::string_view p : {"import ", "from ", "def ", "print(", "for ", "while ", "if ", "return ", "class "})
    if (t.rfind(p, 0) == 0) return true;
  return t.find(" = ") != std::string::npos && t.find(' ') < t.find('=') + 1 && !t.empty() && !std::isupper(static_cast<unsigned char>(t[0]));
}

// Unfenced code: the lines after a "Code:"/"Rationale:" label, or the first
// run of code-looking lines to the end.
Code unfenced_code(std::string_view r) {
  Code c;
  std::string low = lower(r);
  for (std::string_view label : {"rationale:", "code:", "solution code:"}) {
    size_t at = low.find(label);
    if (at == std::string::npos) continue;
    size_t start = r.find('\n', at);
    if (start == std::string_view::npos) continue;
    c.begin = at;
    c.text = std::string(r.substr(start + 1));
    return c;
  }
  size_t pos = 0;
  while (pos < r.size()) {
    size_t nl = r.find('\n', pos);
    std::string_view line = r.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    if (looks_like_code(line)) {
      c.begin = pos;
      c.text = std::string(r.substr(pos));
      return c;
    }
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  return c;
}

}  // namespace

Expected<GeneratedProblem> parse_generator_reply(std::string_view reply) {
  if (trim(reply).empty()) return Error{"empty reply"};
  Code code = fenced_code(reply);
  if (code.begin == std::string_view::npos) code = unfenced_code(reply);
  if (code.begin == std::string_view::npos || trim(code.text).empty())
    return Error{"no rationale code in the reply (no ``` block, no 'Code:' section, no code lines)"};
  std::string rationale = trim(code.text);
  if (rationale.find("print") == std::string::npos) return Error{"the rationale code never prints an answer"};
  // The question: after a label if there is one, else the prose before the code.
  std::string_view before = reply.substr(0, code.begin);
  std::string low = lower(before);
  std::string question;
  size_t best = std::string::npos, label_len = 0;
  for (std::string_view label : {"question:", "problem:", "new problem:"}) {
    size_t at = low.rfind(label);
    if (at != std::string::npos && (best == std::string::npos || at > best)) {
      best = at;
      label_len = label.size();
    }
  }
  if (best != std::string::npos) {
    question = std::string(before.substr(best + label_len));
  } else {
    // Drop a lead-in line such as "Here is a new problem."
    std::string text(before);
    size_t nl = text.find('\n');
    std::string first = lower(text.substr(0, nl));
    if (nl != std::string::npos && (first.find("here is") != std::string::npos || first.find("here's") != std::string::npos))
      text = text.substr(nl + 1);
    question = text;
  }
  // Strip markdown emphasis left from "**Question:**" and trailing labels.
  question = trim(question);
  while (question.rfind("**", 0) == 0) question = trim(question.substr(2));
  std::string qlow = lower(question);
  for (std::string_view tail : {"rationale:", "code:", "solution:"}) {
    size_t at = qlow.rfind(tail);
    if (at != std::string::npos && at + tail.size() >= qlow.size() - 2) question = trim(question.substr(0, at));
  }
  while (question.size() >= 2 && question.compare(question.size() - 2, 2, "**") == 0) question = trim(question.substr(0, question.size() - 2));
  if (collapse_whitespace(question).size() < 10) return Error{"no question in the reply (nothing before the code)"};
  return GeneratedProblem{question, rationale};
}

}  // namespace vf
