#include "dataflow/llm_tasks.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "builtin_prompts.h"  // generated from configs/prompts/*.txt
#include "dataflow/llm_reply.h"
#include "storage/codec.h"

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
  t.generator = std::string(c.generator == "self-instruct"   ? prompts::kGeneratorSelfInstruct
                            : c.generator == "evol-instruct" ? prompts::kGeneratorEvol
                                                             : prompts::kGeneratorFewShot);
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

// ---------------------------------------------------------------- similarity

namespace {
std::vector<std::string> words(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char ch : s) {
    if (std::isalnum(static_cast<unsigned char>(ch))) cur += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    else if (!cur.empty()) out.push_back(std::move(cur)), cur.clear();
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

double rouge_l_tokens(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  if (a.empty() || b.empty()) return 0;
  std::vector<uint32_t> prev(b.size() + 1, 0), cur(b.size() + 1, 0);
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = a[i - 1] == b[j - 1] ? prev[j - 1] + 1 : std::max(prev[j], cur[j - 1]);
    std::swap(prev, cur);
  }
  double lcs = prev[b.size()];
  double p = lcs / static_cast<double>(b.size()), r = lcs / static_cast<double>(a.size());
  return p + r == 0 ? 0 : 2 * p * r / (p + r);
}
}  // namespace

double rouge_l(const std::string& a, const std::string& b) { return rouge_l_tokens(words(a), words(b)); }

void SimilarityPool::add(const std::string& question) {
  tokens_.push_back(words(question));
  questions_.push_back(question);
}

std::pair<double, std::string> SimilarityPool::closest(const std::string& question) const {
  auto q = words(question);
  double best = 0;
  size_t at = 0;
  for (size_t i = 0; i < tokens_.size(); ++i) {
    double r = rouge_l_tokens(q, tokens_[i]);
    if (r > best) {
      best = r;
      at = i;
    }
  }
  return {best, tokens_.empty() ? std::string() : questions_[at]};
}

// ---------------------------------------------------------------- self-instruct

SelfInstructSource::SelfInstructSource(std::vector<Seed> seeds, uint32_t k, uint64_t random_seed,
                                       PromptTemplates templates, DistributionModules modules)
    : k_(std::max<uint32_t>(1, k)), templates_(std::move(templates)), rng_(random_seed) {
  for (const auto& s : seeds) {
    pool_.push_back(Entry{s.question, s.rationale, s.final_answer, provenance_of(s), true, required_modules(s, modules)});
    if (std::find(domains_.begin(), domains_.end(), s.domain) == domains_.end()) domains_.push_back(s.domain);
  }
}

void SelfInstructSource::on_accepted(const Feedback& f) {
  std::vector<std::string> modules;
  for (const auto& e : pool_)
    if (e.seed && e.provenance.seed_file == f.provenance.seed_file && e.provenance.seed_index == f.provenance.seed_index)
      modules = e.modules;
  pool_.push_back(Entry{f.question, f.rationale, f.answer, f.provenance, false, modules});
}

std::optional<Item> SelfInstructSource::next() {
  if (domains_.empty()) return std::nullopt;
  const std::string& domain = domains_[turn_++ % domains_.size()];
  std::vector<size_t> seeds, generated;
  for (size_t i = 0; i < pool_.size(); ++i)
    if (pool_[i].provenance.domain == domain) (pool_[i].seed ? seeds : generated).push_back(i);
  std::shuffle(seeds.begin(), seeds.end(), rng_);
  std::shuffle(generated.begin(), generated.end(), rng_);
  size_t from_generated = std::min<size_t>(generated.size(), k_ / 2);
  size_t from_seeds = std::min<size_t>(seeds.size(), k_ - from_generated);
  std::vector<size_t> pick(seeds.begin(), seeds.begin() + static_cast<long>(from_seeds));
  pick.insert(pick.end(), generated.begin(), generated.begin() + static_cast<long>(from_generated));
  std::shuffle(pick.begin(), pick.end(), rng_);
  Item item;
  item.id = next_id_++;
  item.generator = "self-instruct";
  std::string examples;
  for (size_t i = 0; i < pick.size(); ++i) {
    const Entry& e = pool_[pick[i]];
    if (i) examples += "\n";
    examples += render(templates_.example,
                       {{"index", std::to_string(i + 1)}, {"question", e.question}, {"rationale", e.rationale}, {"answer", e.answer}});
    item.conditioned_on.push_back(e.provenance);
    for (const auto& m : e.modules)
      if (std::find(item.required_modules.begin(), item.required_modules.end(), m) == item.required_modules.end())
        item.required_modules.push_back(m);
  }
  item.provenance = item.conditioned_on.front();
  item.prompt = {{"user", render(templates_.generator, {{"domain", domain}, {"examples", examples}})}};
  return item;
}

// ---------------------------------------------------------------- evol-instruct

namespace {
struct Operation {
  const char* name;
  const char* instruction;
};
constexpr Operation kOperations[] = {
    {"add-constraints", "Rewrite the given problem by adding one more constraint or requirement, so that it becomes harder."},
    {"deepen", "Rewrite the given problem so that it asks about the same idea in more depth: a more general or more demanding question."},
    {"concretize", "Rewrite the given problem by replacing general concepts with more specific ones."},
    {"more-reasoning", "Rewrite the given problem so that solving it clearly requires more reasoning steps."},
    {"breadth", "Write a brand-new problem in the same domain, inspired by the given one but about a different topic or skill, of similar difficulty."},
};
}  // namespace

EvolInstructSource::EvolInstructSource(std::vector<Seed> seeds, uint64_t random_seed, PromptTemplates templates,
                                       DistributionModules modules)
    : templates_(std::move(templates)), rng_(random_seed) {
  for (const auto& s : seeds)
    seeds_.push_back(Base{s.question, s.rationale, s.final_answer, provenance_of(s), required_modules(s, modules)});
}

void EvolInstructSource::on_accepted(const Feedback& f) {
  accepted_.push_back(Base{f.question, f.rationale, f.answer, f.provenance, {}});
}

std::optional<Item> EvolInstructSource::next() {
  if (seeds_.empty()) return std::nullopt;
  // Half the time evolve an accepted item further, when there is one.
  bool from_accepted = !accepted_.empty() && rng_() % 2 == 0;
  const auto& bases = from_accepted ? accepted_ : seeds_;
  const Base& b = bases[rng_() % bases.size()];
  const Operation& op = kOperations[rng_() % (sizeof kOperations / sizeof kOperations[0])];
  Item item;
  item.id = next_id_++;
  item.generator = "evol-instruct";
  item.evolved_from = b.question;
  item.evolution = op.name;
  item.provenance = b.provenance;
  item.conditioned_on = {b.provenance};
  item.required_modules = b.modules;
  item.prompt = {{"user", render(templates_.generator, {{"domain", b.provenance.domain},
                                                         {"question", b.question},
                                                         {"rationale", b.rationale},
                                                         {"answer", b.answer},
                                                         {"operation", op.instruction}})}};
  return item;
}

// ---------------------------------------------------------------- progress in the checkpoint log

namespace {
std::string rng_text(const std::mt19937_64& rng) {
  std::ostringstream out;
  out << rng;
  return out.str();
}
Status rng_from_text(const std::string& text, std::mt19937_64& rng) {
  std::istringstream in(text);
  in >> rng;
  if (!in) return Error{"random generator state does not parse"};
  return {};
}

struct LlmSourceProgress {
  std::string rng;
  uint64_t turn = 0;
  uint64_t next_id = 0;
  std::vector<std::vector<std::vector<uint64_t>>> used;  // few-shot: per domain, the k-sets used
  std::vector<bool> exhausted;                            // few-shot: per domain
  MSGPACK_DEFINE(rng, turn, next_id, used, exhausted)
};

Expected<LlmSourceProgress> read_progress(const std::string& bytes, std::mt19937_64& rng) {
  auto p = decode<LlmSourceProgress>(bytes, "generator progress");
  if (!p) return Error{p.error()};
  if (auto s = rng_from_text(p->rng, rng); !s) return Error{s.error()};
  return p;
}
}  // namespace

std::string FewShotSource::save_progress() const {
  LlmSourceProgress p{rng_text(rng_), turn_, next_id_, {}, {}};
  for (const auto& d : domains_) {
    std::vector<std::vector<uint64_t>> sets;
    for (const auto& k : d.used) sets.emplace_back(k.begin(), k.end());
    p.used.push_back(std::move(sets));
    p.exhausted.push_back(d.exhausted);
  }
  return encode(p);
}

Status FewShotSource::load_progress(const std::string& bytes) {
  auto p = read_progress(bytes, rng_);
  if (!p) return Error{p.error()};
  if (p->used.size() != domains_.size() || p->exhausted.size() != domains_.size())
    return Error{"the logged few-shot progress has " + std::to_string(p->used.size()) + " domains, the seeds have " +
                 std::to_string(domains_.size())};
  turn_ = p->turn;
  next_id_ = p->next_id;
  for (size_t i = 0; i < domains_.size(); ++i) {
    domains_[i].used.clear();
    for (const auto& k : p->used[i]) domains_[i].used.insert(std::vector<size_t>(k.begin(), k.end()));
    domains_[i].exhausted = p->exhausted[i];
  }
  return {};
}

std::string SelfInstructSource::save_progress() const {
  return encode(LlmSourceProgress{rng_text(rng_), turn_, next_id_, {}, {}});
}

Status SelfInstructSource::load_progress(const std::string& bytes) {
  auto p = read_progress(bytes, rng_);
  if (!p) return Error{p.error()};
  turn_ = p->turn;
  next_id_ = p->next_id;
  return {};
}

std::string EvolInstructSource::save_progress() const {
  return encode(LlmSourceProgress{rng_text(rng_), 0, next_id_, {}, {}});
}

Status EvolInstructSource::load_progress(const std::string& bytes) {
  auto p = read_progress(bytes, rng_);
  if (!p) return Error{p.error()};
  next_id_ = p->next_id;
  return {};
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
  bool wants(const Item& item) const override {
    // Solved already: a resumed job's item that the solve stage logged before the kill.
    if (item.item_state() != ItemState::kExecuted || item.executions.empty() || !item.solver_samples.empty()) return false;
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
