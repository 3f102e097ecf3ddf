#include "dataflow/prompts.h"

#include "builtin_prompts.h"  // generated from configs/prompts/*.txt

namespace vf {

PromptTemplates builtin_templates(const std::string& generator_kind) {
  PromptTemplates t;
  t.generator = std::string(generator_kind == "self-instruct"   ? prompts::kGeneratorSelfInstruct
                            : generator_kind == "evol-instruct" ? prompts::kGeneratorEvol
                                                                : prompts::kGeneratorFewShot);
  t.example = std::string(prompts::kGeneratorExample);
  t.solver = std::string(prompts::kSolver);
  t.solver_systems = {std::string(prompts::kSolverSystem1), std::string(prompts::kSolverSystem2),
                      std::string(prompts::kSolverSystem3)};
  return t;
}

std::string render(const std::string& tmpl, const std::vector<std::pair<std::string, std::string>>& vars) {
  std::string out;
  out.reserve(tmpl.size() * 2);
  size_t i = 0;
  while (i < tmpl.size()) {
    size_t open = tmpl.find("{{", i);
    if (open == std::string::npos) {
      out.append(tmpl, i, std::string::npos);
      break;
    }
    size_t close = tmpl.find("}}", open + 2);
    if (close == std::string::npos) {
      out.append(tmpl, i, std::string::npos);
      break;
    }
    out.append(tmpl, i, open - i);
    std::string name = tmpl.substr(open + 2, close - open - 2);
    bool found = false;
    for (const auto& [k, v] : vars)
      if (k == name) {
        out += v;
        found = true;
        break;
      }
    if (!found) out.append(tmpl, open, close + 2 - open);
    i = close + 2;
  }
  return out;
}

}  // namespace vf
