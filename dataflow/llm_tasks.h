// The pure side of LLM generation and solving: prompt templates, the
// few-shot source, the model calls an LLM stage makes for an item and how it
// applies the replies, and verification by agreement with a pass rate.
// No CAF, no I/O beyond reading template files; the LLM stage actor
// (actors/llm_stage.cc) is a thin shell around ModelTask.
// Thread-safety: ModelTask and AgreementCheck are immutable after
// construction; FewShotSource has one owner (the generator actor).
#pragma once

#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "dataflow/checks.h"
#include "dataflow/config.h"
#include "dataflow/sources.h"
#include "model/client.h"

namespace vf {

struct PromptTemplates {
  std::string generator;                   // {{domain}}, {{examples}} (few-shot, self-instruct); evol: {{question}}, {{rationale}}, {{answer}}, {{operation}}
  std::string example;                     // {{index}}, {{question}}, {{rationale}}, {{answer}}
  std::string solver;                      // {{question}}
  std::vector<std::string> solver_systems;  // one sampled per request
};

// Files named in the config, else the built-in templates for the generator
// kind; errors name the file.
Expected<PromptTemplates> load_templates(const JobConfig& config);

// Replaces every {{name}} with its value; unknown names stay as written.
std::string render(const std::string& tmpl, const std::vector<std::pair<std::string, std::string>>& vars);

// Few-shot generation requests: each item carries a prompt showing k seeds
// of one domain (domains in turn), and no k-set is used twice; ends
// ("k-sets-exhausted") when every domain has used all its k-sets.
class FewShotSource final : public ItemSource {
 public:
  FewShotSource(std::vector<Seed> seeds, uint32_t k, uint64_t random_seed, PromptTemplates templates,
                DistributionModules modules);
  std::optional<Item> next() override;
  std::string end_reason() const override { return "k-sets-exhausted"; }

 protected:
  std::string kind() const override { return "few-shot"; }
  std::string save_progress() const override;
  Status load_progress(const std::string& bytes) override;

 private:
  struct Domain {
    std::string name;
    std::vector<size_t> seeds;
    std::set<std::vector<size_t>> used;
    bool exhausted = false;
  };
  std::vector<Seed> seeds_;
  uint32_t k_;
  PromptTemplates templates_;
  DistributionModules modules_;
  std::vector<Domain> domains_;
  std::mt19937_64 rng_;
  size_t turn_ = 0;
  uint64_t next_id_ = 0;
};

// Self-instruct: examples drawn from a pool that starts as the seeds and grows
// with the job's accepted items (at most half of each prompt's examples are
// generated ones; at least one is a seed). Runs until the generator's
// max_generated or the target stops it.
class SelfInstructSource final : public ItemSource {
 public:
  SelfInstructSource(std::vector<Seed> seeds, uint32_t k, uint64_t random_seed, PromptTemplates templates,
                     DistributionModules modules);
  std::optional<Item> next() override;
  std::string end_reason() const override { return "no-seeds"; }
  void on_accepted(const Feedback& f) override;
  bool wants_feedback() const override { return true; }
  size_t pool_size() const { return pool_.size(); }

 protected:
  std::string kind() const override { return "self-instruct"; }
  std::string save_progress() const override;
  Status load_progress(const std::string& bytes) override;

 private:
  struct Entry {
    std::string question, rationale, answer;
    Provenance provenance;
    bool seed;
    std::vector<std::string> modules;
  };
  std::vector<Entry> pool_;
  std::vector<std::string> domains_;
  uint32_t k_;
  PromptTemplates templates_;
  std::mt19937_64 rng_;
  size_t turn_ = 0;
  uint64_t next_id_ = 0;
};

// Evol-instruct: rewrites a seed or an accepted problem in depth (add
// constraints, deepen, concretize, more reasoning steps) or in breadth (a new
// problem in the same domain); failed evolutions are eliminated by the
// generate task (no information gain, copied prompt words, refusals).
class EvolInstructSource final : public ItemSource {
 public:
  EvolInstructSource(std::vector<Seed> seeds, uint64_t random_seed, PromptTemplates templates,
                     DistributionModules modules);
  std::optional<Item> next() override;
  std::string end_reason() const override { return "no-seeds"; }
  void on_accepted(const Feedback& f) override;
  bool wants_feedback() const override { return true; }

 protected:
  std::string kind() const override { return "evol-instruct"; }
  std::string save_progress() const override;
  Status load_progress(const std::string& bytes) override;

 private:
  struct Base {
    std::string question, rationale, answer;
    Provenance provenance;
    std::vector<std::string> modules;
  };
  std::vector<Base> seeds_, accepted_;
  PromptTemplates templates_;
  std::mt19937_64 rng_;
  uint64_t next_id_ = 0;
};

// ROUGE-L F-measure over lower-cased word tokens (Self-Instruct's filter).
double rouge_l(const std::string& a, const std::string& b);

// Questions a job has: the closest one to a new question, for the
// similarity filter of LLM generation. Not thread-safe (the generate stage owns it).
class SimilarityPool {
 public:
  void add(const std::string& question);
  // Highest ROUGE-L against the pool, and that question; 0 when empty.
  std::pair<double, std::string> closest(const std::string& question) const;
  size_t size() const { return questions_.size(); }

 private:
  std::vector<std::vector<std::string>> tokens_;
  std::vector<std::string> questions_;
};

// What an LLM stage asks for an item and how it reads the answers.
class ModelTask {
 public:
  virtual ~ModelTask() = default;
  virtual std::string name() const = 0;
  virtual bool wants(const Item& item) const = 0;  // false: the item passes through untouched
  virtual std::vector<model::ChatCall> calls(const Item& item) const = 0;
  // Fills the item from the outcomes (one per call, in order) or rejects it with a reason.
  virtual void apply(Item& item, std::vector<model::ChatOutcome> outcomes) const = 0;
};

struct GenerateOptions {
  double temperature = 0.8;
  uint32_t max_tokens = 1536;
  double top_p = 1.0;
  std::vector<std::string> stop;
};
std::unique_ptr<ModelTask> make_generate_task(GenerateOptions options);

struct SolveOptions {
  uint32_t samples = 4;
  bool use_n = true;
  double temperature = 0.7;
  uint32_t max_tokens = 1536;
  double top_p = 1.0;
  std::vector<std::string> stop;
  equiv::Fallback fallback = equiv::Fallback::kNone;
  PromptTemplates templates;
};
std::unique_ptr<ModelTask> make_solve_task(SolveOptions options);

// Reads one chain-of-thought response: the extracted final answer, if any.
SolverSample read_sample(const std::string& response, equiv::Fallback fallback);

struct AgreementOptions {
  CheckOptions check;
  bool majority = true;           // false: one agreeing sample suffices
  bool drop_all_solved = false;
  bool drop_none_solved = true;
};

// The execution criteria of ExecutionCheck, then: the code's answer must be
// equivalent to the solvers' majority answer (or to one sample); the verdict
// carries the pass rate and difficulty bucket.
std::unique_ptr<Check> make_agreement_check(AgreementOptions options);

// "easy" (every sample right), "medium" (at least half), "hard" (some), "unsolved" (none).
std::string difficulty_bucket(double pass_rate);

}  // namespace vf
