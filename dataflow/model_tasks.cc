#include "dataflow/model_tasks.h"

#include <algorithm>
#include <cctype>

#include "dataflow/equiv/extract.h"
#include "dataflow/llm_reply.h"
#include "dataflow/similarity.h"

namespace vf {

LoggedCall to_logged(const model::ChatOutcome& o) {
  LoggedCall c;
  c.ok = o.ok;
  c.choices = o.completion.choices;
  c.finish_reasons = o.completion.finish_reasons;
  c.prompt_tokens = o.completion.usage.prompt_tokens;
  c.completion_tokens = o.completion.usage.completion_tokens;
  c.error = o.error;
  c.attempts = o.attempts;
  c.endpoint = o.endpoint;
  c.model = o.model;
  return c;
}

model::ChatOutcome from_logged(const LoggedCall& c) {
  model::ChatOutcome o;
  o.ok = c.ok;
  o.completion.choices = c.choices;
  o.completion.finish_reasons = c.finish_reasons;
  o.completion.usage.prompt_tokens = c.prompt_tokens;
  o.completion.usage.completion_tokens = c.completion_tokens;
  o.error = c.error;
  o.attempts = c.attempts;
  o.endpoint = c.endpoint;
  o.model = c.model;
  return o;
}

namespace {

void add_usage(Item& item, const model::ChatOutcome& o) {
  item.prompt_tokens += o.completion.usage.prompt_tokens;
  item.completion_tokens += o.completion.usage.completion_tokens;
}

class GenerateTask final : public ModelTask {
 public:
  explicit GenerateTask(GenerateOptions o) : o_(o) {}
  std::string name() const override { return "generate"; }
  std::vector<model::ChatCall> calls(const Item& item) const override {
    model::ChatCall c;
    for (const auto& m : item.prompt) c.messages.push_back({m.role, m.content});
    c.sampling.temperature = o_.temperature;
    c.sampling.top_p = o_.top_p;
    c.sampling.stop = o_.stop;
    c.sampling.max_tokens = static_cast<int>(o_.max_tokens);
    c.sampling.seed = static_cast<int64_t>(item.id);
    c.purpose = "generator";
    return {c};
  }
  void apply(Item& item, std::vector<model::ChatOutcome> outcomes) const override {
    const auto& o = outcomes.front();
    if (!o.ok) {
      reject(item, "model-error", "generator call failed after " + std::to_string(o.attempts) + " attempts: " + o.error);
      return;
    }
    add_usage(item, o);
    item.generator_reply = o.completion.choices.front();
    auto parsed = parse_generator_reply(item.generator_reply);
    if (!parsed) {
      reject(item, "unparseable-reply", parsed.error());
      return;
    }
    if (!item.evolution.empty()) {
      // Eliminate failed evolutions (WizardLM's rules).
      std::string low = parsed->question;
      for (auto& ch : low) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      for (std::string_view refusal : {"sorry", "i cannot", "i can't", "as an ai"})
        if (low.rfind(refusal, 0) == 0) {
          reject(item, "evolution-failed", "the model declined: '" + parsed->question.substr(0, 120) + "'");
          return;
        }
      for (std::string_view leak : {"given problem", "rewritten problem", "#rewritten", "given prompt", "rewritten prompt"})
        if (low.find(leak) != std::string::npos) {
          reject(item, "evolution-failed", "the new problem copies words of the prompt ('" + std::string(leak) + "')");
          return;
        }
      double same = rouge_l(item.evolved_from, parsed->question);
      if (same >= 0.95) {
        reject(item, "evolution-failed",
               "no information gain: ROUGE-L " + std::to_string(same).substr(0, 4) + " against the problem it rewrote");
        return;
      }
    }
    item.question = parsed->question;
    item.rationale = parsed->rationale;
  }

 private:
  GenerateOptions o_;
};

class SolveTask final : public ModelTask {
 public:
  explicit SolveTask(SolveOptions o) : o_(std::move(o)) {}
  std::string name() const override { return "solve"; }
  std::vector<model::ChatCall> calls(const Item& item) const override {
    auto call = [&](uint32_t sample, int n) {
      model::ChatCall c;
      const auto& systems = o_.templates.solver_systems;
      if (!systems.empty()) c.messages.push_back({"system", systems[(item.id + sample) % systems.size()]});
      c.messages.push_back({"user", render(o_.templates.solver, {{"question", item.question}})});
      c.sampling.temperature = o_.temperature;
      c.sampling.top_p = o_.top_p;
      c.sampling.stop = o_.stop;
      c.sampling.max_tokens = static_cast<int>(o_.max_tokens);
      c.sampling.n = n;
      c.sampling.seed = static_cast<int64_t>(item.id * 1000 + sample);
      c.purpose = "solver";
      return c;
    };
    if (o_.use_n) return {call(0, static_cast<int>(o_.samples))};
    std::vector<model::ChatCall> out;
    for (uint32_t i = 0; i < o_.samples; ++i) out.push_back(call(i, 1));
    return out;
  }
  void apply(Item& item, std::vector<model::ChatOutcome> outcomes) const override {
    std::string errors;
    for (const auto& o : outcomes) {
      if (!o.ok) {
        errors += (errors.empty() ? "" : "; ") + o.error;
        continue;
      }
      add_usage(item, o);
      for (const auto& choice : o.completion.choices) item.solver_samples.push_back(read_sample(choice, o_.fallback));
    }
    if (item.solver_samples.empty())
      reject(item, "model-error", "every solver call failed: " + errors.substr(0, 500));
  }

 private:
  SolveOptions o_;
};

}  // namespace

SolverSample read_sample(const std::string& response, equiv::Fallback fallback) {
  SolverSample s;
  s.response = response;
  auto ex = equiv::extract_final_answer(response, fallback);
  if (ex.found) {
    s.answer = ex.answer;
    s.extraction = ex.method;
  }
  return s;
}

std::unique_ptr<ModelTask> make_generate_task(GenerateOptions options) { return std::make_unique<GenerateTask>(options); }
std::unique_ptr<ModelTask> make_solve_task(SolveOptions options) { return std::make_unique<SolveTask>(std::move(options)); }

}  // namespace vf
