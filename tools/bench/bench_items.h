// Items for the benchmarks of the pipeline's own path: arithmetic problems
// already executed twice (the execute stage passes them through) and,
// when `solved`, solved `samples` times (the solve stage passes them too).
// Deterministic by id. Not thread-safe (the generator actor owns it).
#pragma once

#include <optional>
#include <string>

#include "dataflow/sources.h"

namespace vf::bench {

class ExecutedItems final : public ItemSource {
 public:
  ExecutedItems(uint64_t n, uint32_t samples, bool solved) : n_(n), samples_(samples), solved_(solved) {}
  std::optional<Item> next() override {
    if (next_ >= n_) return std::nullopt;
    Item item;
    item.id = next_++;
    std::string answer = std::to_string(item.id * 7 + 3);
    item.question = "A farmer has " + std::to_string(item.id) + " sheep and buys 7 times as many plus 3; how many?";
    item.rationale = "n = " + std::to_string(item.id) + "\nprint(n * 7 + 3)\n";
    item.reference_answer = "1";
    item.generator = "bench";
    item.provenance = {"bench.jsonl", static_cast<uint32_t>(item.id % 50), "bench", "Arithmetic", "CC0", "\"bench\""};
    Execution e;
    e.output = answer;
    item.executions = {e, e};
    item.state = static_cast<uint8_t>(ItemState::kExecuted);
    if (solved_)
      for (uint32_t i = 0; i < samples_; ++i)
        item.solver_samples.push_back({"Multiply and add: the answer is \\boxed{" + answer + "}.", answer, "boxed", false});
    return item;
  }
  std::string end_reason() const override { return "done"; }

 private:
  uint64_t n_;
  uint32_t samples_;
  bool solved_;
  uint64_t next_ = 0;
};

}  // namespace vf::bench
