// Similarity of questions: ROUGE-L over lower-cased word tokens
// (Self-Instruct's filter), the pool of questions a job has admitted, and
// the generate stage's filter over it.
// Pure but for SimilarityFilter's log records; SimilarityPool and
// SimilarityFilter are not thread-safe (one owner: the generate stage's
// dispatcher on the coordinator, so the pool is one for the whole job).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "base/status.h"
#include "dataflow/item.h"
#include "storage/job_store.h"

namespace vf {

// ROUGE-L F-measure over lower-cased word tokens.
double rouge_l(const std::string& a, const std::string& b);

// Questions a job has: the closest one to a new question, for the
// similarity filter of LLM generation.
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

// Rejects a generated question whose ROUGE-L against the pool reaches the
// threshold ("too-similar"); admits the others into the pool and, when a log
// batch is given, into the log (g/ records), so a resumed job's pool is the
// uninterrupted job's.
class SimilarityFilter {
 public:
  SimilarityFilter(double threshold, const std::vector<std::string>& initial);
  // The questions earlier sessions of the job admitted.
  Status load(const JobStore& store);
  void apply(Item& item, LogBatch* log);
  size_t size() const { return pool_.size(); }

 private:
  double threshold_;
  SimilarityPool pool_;
};

}  // namespace vf
