// The LLM generators' item sources: each item carries the prompt its
// generate call will send. FewShotSource shows k seeds of one domain;
// SelfInstructSource draws examples from a pool that grows with accepted
// items; EvolInstructSource rewrites a seed or an accepted problem. Their
// progress (RNG state, turn, used k-sets) goes to the checkpoint log with
// the items they issue, so a resumed job continues the same sequence.
// Not thread-safe; one owner each (the generator actor).
#pragma once

#include <random>
#include <set>
#include <string>
#include <vector>

#include "dataflow/prompts.h"
#include "dataflow/sources.h"

namespace vf {

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

}  // namespace vf
