// Prompt templates for the LLM stages: the text of each template (built in,
// or read from the files a config names) and the {{name}} substitution.
// Pure; thread-safe (values and pure functions).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <msgpack.hpp>

namespace vf {

struct PromptTemplates {
  std::string generator;                    // {{domain}}, {{examples}} (few-shot, self-instruct); evol: {{question}}, {{rationale}}, {{answer}}, {{operation}}
  std::string example;                      // {{index}}, {{question}}, {{rationale}}, {{answer}}
  std::string solver;                       // {{question}}
  std::vector<std::string> solver_systems;  // one sampled per request
  MSGPACK_DEFINE(generator, example, solver, solver_systems)
};

// The built-in templates (compiled from configs/prompts/*.txt) for a generator kind.
PromptTemplates builtin_templates(const std::string& generator_kind);

// Replaces every {{name}} with its value; unknown names stay as written.
std::string render(const std::string& tmpl, const std::vector<std::pair<std::string, std::string>>& vars);

}  // namespace vf
