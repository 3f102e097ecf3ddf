// Offline variant generator (GSM-Symbolic style): new problems from a seed by
// changing numeric constants consistently in the question and in the
// rationale code. The code is then re-run (elsewhere) for the new answer.
//
// A seed is eligible when its code is a function of the question's numbers:
// at least one constant (|v| >= 3, or a decimal) appears both in the question
// and in the code, and every such constant of the code appears in the
// question. Seeds whose code holds derived constants (e.g. a precomputed
// midpoint) are skipped: changing the question would silently leave the code
// answering the old problem.
//
// The candidate stream is a pure function of (seeds, random_seed): the same
// inputs give the same candidates in the same order, whatever the timing of
// the stages downstream. No question is produced twice, nor a seed's own.
// Not thread-safe; one owner (the generator stage).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include "base/status.h"
#include "dataflow/item.h"
#include "dataflow/seeds.h"

namespace vf {

struct NumericToken {
  std::string text;  // "12", "2.5"
  size_t pos = 0;
  bool is_integer = true;
};

// Numbers in question text that may stand for a constant (not subscripts,
// thousands-separated groups, leading-zero codes or ordinals).
std::vector<NumericToken> question_numbers(const std::string& question);
// Numeric literals in Python code outside strings, comments and identifiers.
std::vector<NumericToken> code_numbers(const std::string& code);

// Replaces every listed token text by its substitute, all at once.
std::string substitute(const std::string& text, const std::vector<NumericToken>& tokens,
                       const std::vector<Substitution>& subs);

struct VariantCandidate {
  size_t seed = 0;  // index into the seed vector
  std::string question;
  std::string rationale;
  std::vector<Substitution> substitutions;
};

struct VariantOptions {
  uint32_t attempts_per_slot = 8;  // retries when a candidate repeats a question
};

// The question hashes a generator has issued. The in-memory set serves short
// jobs and tests; a job with a checkpoint log keeps them in its store
// (dataflow/sources.cc) so a long job's memory does not grow with it.
class SeenQuestions {
 public:
  virtual ~SeenQuestions() = default;
  // Records `hash`; false when it was already there.
  virtual bool insert(uint64_t hash) = 0;
};

class MemorySeenQuestions final : public SeenQuestions {
 public:
  bool insert(uint64_t hash) override { return set_.insert(hash).second; }

 private:
  std::unordered_set<uint64_t> set_;
};

class VariantGenerator {
 public:
  VariantGenerator(const std::vector<Seed>& seeds, uint64_t random_seed, VariantOptions options = {});

  // Where issued questions are remembered from now on (the seeds' own
  // questions are entered into it).
  void use_seen(std::unique_ptr<SeenQuestions> seen);

  // Progress, for the checkpoint log: restoring it continues the candidate
  // stream exactly where it stopped (given the same seen set).
  struct State {
    uint64_t slot = 0;
    uint64_t produced = 0;
    std::vector<uint32_t> misses;  // per eligible template
    MSGPACK_DEFINE(slot, produced, misses)
  };
  State state() const;
  Status restore(const State& state);

  // The next new candidate; nullopt once no eligible seed yields a new
  // question within its attempts (the constant space is exhausted).
  std::optional<VariantCandidate> next();

  size_t eligible_seeds() const { return eligible_.size(); }
  uint64_t produced() const { return produced_; }

 private:
  struct Template {
    size_t seed;
    std::vector<NumericToken> question_tokens;
    std::vector<NumericToken> code_tokens;
    std::vector<NumericToken> constants;  // distinct shared constants
    uint32_t misses = 0;                  // consecutive slots without a new question
  };
  std::optional<VariantCandidate> try_make(Template& t, std::mt19937_64& rng);

  const std::vector<Seed>& seeds_;
  uint64_t random_seed_;
  VariantOptions options_;
  std::vector<Template> eligible_;
  std::unique_ptr<SeenQuestions> seen_;
  uint64_t slot_ = 0;
  uint64_t produced_ = 0;
};

}  // namespace vf
