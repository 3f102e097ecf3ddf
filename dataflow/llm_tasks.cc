#include "dataflow/llm_tasks.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "builtin_prompts.h"  // generated from configs/prompts/*.txt
#include "dataflow/llm_reply.h"

namespace vf {

namespace {

Expected<std::string> read_file(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  if (!in) return Error{"key '" + key + "': cannot read prompt template " + path};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

Expected<PromptTemplates> load_templates(const JobConfig& c) {
  PromptTemplates t;
  t.generator = std::string(prompts::kGeneratorFewShot);
  t.example = std::string(prompts::kGeneratorExample);
  t.solver = std::string(prompts::kSolver);
  t.solver_systems = {std::string(prompts::kSolverSystem1), std::string(prompts::kSolverSystem2),
                      std::string(prompts::kSolverSystem3)};
  if (!c.generator_prompt.empty()) {
    auto f = read_file(c.generator_prompt, "generator.prompt");
    if (!f) return Error{f.error()};
    t.generator = f.value();
  }
  if (!c.solver_prompt.empty()) {
    auto f = read_file(c.solver_prompt, "solver.prompt");
    if (!f) return Error{f.error()};
    t.solver = f.value();
  }
  if (!c.solver_system_prompts.empty()) {
    t.solver_systems.clear();
    for (const auto& p : c.solver_system_prompts) {
      auto f = read_file(p, "solver.system_prompts");
      if (!f) return Error{f.error()};
      t.solver_systems.push_back(f.value());
    }
  }
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

// ---------------------------------------------------------------- few-shot source

FewShotSource::FewShotSource(std::vector<Seed> seeds, uint32_t k, uint64_t random_seed, PromptTemplates templates,
                             DistributionModules modules)
    : seeds_(std::move(seeds)), k_(std::max<uint32_t>(1, k)), templates_(std::move(templates)),
      modules_(std::move(modules)), rng_(random_seed) {
  for (size_t i = 0; i < seeds_.size(); ++i) {
    auto it = std::find_if(domains_.begin(), domains_.end(), [&](const Domain& d) { return d.name == seeds_[i].domain; });
    if (it == domains_.end()) {
      domains_.push_back(Domain{seeds_[i].domain, {}, {}, false});
      it = domains_.end() - 1;
    }
    it->seeds.push_back(i);
  }
}

std::optional<Item> FewShotSource::next() {
  for (size_t tried = 0; tried < domains_.size(); ++tried) {
    Domain& d = domains_[turn_++ % domains_.size()];
    if (d.exhausted) continue;
    size_t k = std::min<size_t>(k_, d.seeds.size());
    // Draw a k-set not used before; give up on the domain after many misses.
    std::vector<size_t> pick;
    bool fresh = false;
    for (int attempt = 0; attempt < 64 && !fresh; ++attempt) {
      std::vector<size_t> pool = d.seeds;
      std::shuffle(pool.begin(), pool.end(), rng_);
      pick.assign(pool.begin(), pool.begin() + static_cast<long>(k));
      std::sort(pick.begin(), pick.end());
      fresh = !d.used.count(pick);
    }
    if (!fresh) {
      d.exhausted = true;
      continue;
    }
    d.used.insert(pick);
    std::shuffle(pick.begin(), pick.end(), rng_);  // example order varies too
    std::string examples;
    Item item;
    item.id = next_id_++;
    item.generator = "few-shot";
    for (size_t i = 0; i < pick.size(); ++i) {
      const Seed& s = seeds_[pick[i]];
      if (i) examples += "\n";
      examples += render(templates_.example, {{"index", std::to_string(i + 1)},
                                              {"question", s.question},
                                              {"rationale", s.rationale},
                                              {"answer", s.final_answer}});
      item.conditioned_on.push_back(provenance_of(s));
      for (auto& m : required_modules(s, modules_))
        if (std::find(item.required_modules.begin(), item.required_modules.end(), m) == item.required_modules.end())
          item.required_modules.push_back(m);
    }
    item.provenance = item.conditioned_on.front();
    item.prompt = {{"user", render(templates_.generator, {{"domain", d.name}, {"examples", examples}})}};
    return item;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------- model tasks

namespace {

void add_usage(Item& item, const model::ChatOutcome& o) {
  item.prompt_tokens += o.completion.usage.prompt_tokens;
  item.completion_tokens += o.completion.usage.completion_tokens;
}

class GenerateTask final : public ModelTask {
 public:
  explicit GenerateTask(GenerateOptions o) : o_(o) {}
  std::string name() const override { return "generate"; }
  bool wants(const Item& item) const override {
    return item.item_state() == ItemState::kGenerated && item.question.empty() && !item.prompt.empty();
  }
  std::vector<model::ChatCall> calls(const Item& item) const override {
    model::ChatCall c;
    for (const auto& m : item.prompt) c.messages.push_back({m.role, m.content});
    c.sampling.temperature = o_.temperature;
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
  bool wants(const Item& item) const override {
    if (item.item_state() != ItemState::kExecuted || item.executions.empty()) return false;
    for (const auto& e : item.executions)
      if (e.status != 0) return false;  // a failed run is rejected by the verifier anyway
    return true;
  }
  std::vector<model::ChatCall> calls(const Item& item) const override {
    auto call = [&](uint32_t sample, int n) {
      model::ChatCall c;
      const auto& systems = o_.templates.solver_systems;
      if (!systems.empty()) c.messages.push_back({"system", systems[(item.id + sample) % systems.size()]});
      c.messages.push_back({"user", render(o_.templates.solver, {{"question", item.question}})});
      c.sampling.temperature = o_.temperature;
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

class AgreementCheck final : public Check {
 public:
  explicit AgreementCheck(AgreementOptions o) : o_(std::move(o)) {}
  std::string name() const override { return "agreement"; }
  Verdict check(const Item& item) const override {
    Verdict v;
    if (!execution_criteria(item, o_.check, v)) return v;
    const std::string& code_answer = v.answer;
    if (item.solver_samples.empty()) {
      v.reason = "not-solved";
      v.detail = "no solver samples reached the verifier";
      return v;
    }
    const equiv::Policy& policy = o_.check.policies.for_domain(item.provenance.domain);
    equiv::Policy sample_policy = policy;
    sample_policy.extract = equiv::ExtractMode::kNever;  // answers were extracted by the solver stage
    size_t agree = 0, answered = 0;
    for (const auto& s : item.solver_samples) {
      bool ok = !s.answer.empty() && equiv::judge(code_answer, s.answer, sample_policy).equivalent();
      v.agrees.push_back(ok);
      agree += ok;
      answered += !s.answer.empty();
    }
    size_t k = item.solver_samples.size();
    v.pass_rate = static_cast<double>(agree) / static_cast<double>(k);
    v.difficulty = difficulty_bucket(v.pass_rate);
    // Majority: the code's class (the agreeing samples) must outnumber every
    // class of mutually equivalent disagreeing answers.
    size_t rival = 0;
    std::string rival_answer;
    for (size_t i = 0; i < k; ++i) {
      const auto& a = item.solver_samples[i].answer;
      if (a.empty() || v.agrees[i]) continue;
      size_t n = 0;
      for (size_t j = 0; j < k; ++j)
        n += !v.agrees[j] && !item.solver_samples[j].answer.empty() &&
             (i == j || equiv::judge(a, item.solver_samples[j].answer, sample_policy).equivalent());
      if (n > rival) {
        rival = n;
        rival_answer = a;
      }
    }
    v.note = "pass rate " + std::to_string(agree) + "/" + std::to_string(k) + ", " + std::to_string(answered) +
             " answered";
    if (rival) v.note += "; largest disagreeing answer '" + rival_answer.substr(0, 100) + "' (" + std::to_string(rival) + ")";
    if (agree == 0) {
      if (o_.drop_none_solved) {
        v.reason = "solver-disagrees";
        v.detail = "zero advantage: no sample agrees with the code's '" + code_answer.substr(0, 200) + "'; " + v.note;
        return v;
      }
    } else if (o_.majority && agree <= rival) {
      v.reason = "no-majority";
      v.detail = "the code printed '" + code_answer.substr(0, 200) + "'; " + v.note;
      return v;
    }
    if (agree == k && o_.drop_all_solved) {
      v.reason = "too-easy";
      v.detail = "every one of " + std::to_string(k) + " samples solved it";
      return v;
    }
    v.accepted = true;
    return v;
  }

 private:
  AgreementOptions o_;
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
std::unique_ptr<Check> make_agreement_check(AgreementOptions options) {
  return std::make_unique<AgreementCheck>(std::move(options));
}

std::string difficulty_bucket(double pass_rate) {
  if (pass_rate >= 1.0) return "easy";
  if (pass_rate >= 0.5) return "medium";
  if (pass_rate > 0.0) return "hard";
  return "unsolved";
}

}  // namespace vf
