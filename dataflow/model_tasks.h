// What the LLM stages ask a model for an item and how they read the
// replies: the generate task (one call with the item's prompt; the reply's
// question and code are parsed, failed evolutions eliminated) and the solve
// task (k chain-of-thought samples, final answers extracted). The model
// calls' outcomes are logged as LoggedCall (dataflow/checkpoint.h); to_logged
// and from_logged convert.
// Pure; thread-safe (tasks are immutable after construction).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "dataflow/checkpoint.h"
#include "dataflow/equiv/policy.h"
#include "dataflow/item.h"
#include "dataflow/prompts.h"
#include "model/chat.h"

#include <msgpack.hpp>

MSGPACK_ADD_ENUM(vf::equiv::Fallback);

namespace vf {

// What an LLM stage asks for an item and how it reads the answers (which
// items a stage works on is stage_wants(), dataflow/pipeline_plan.h).
class ModelTask {
 public:
  virtual ~ModelTask() = default;
  virtual std::string name() const = 0;
  virtual std::vector<model::ChatCall> calls(const Item& item) const = 0;
  // Fills the item from the outcomes (one per call, in order) or rejects it with a reason.
  virtual void apply(Item& item, std::vector<model::ChatOutcome> outcomes) const = 0;
};

struct GenerateOptions {
  double temperature = 0.8;
  uint32_t max_tokens = 1536;
  double top_p = 1.0;
  std::vector<std::string> stop;
  MSGPACK_DEFINE(temperature, max_tokens, top_p, stop)
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
  MSGPACK_DEFINE(samples, use_n, temperature, max_tokens, top_p, stop, fallback, templates)
};
std::unique_ptr<ModelTask> make_solve_task(SolveOptions options);

// Reads one chain-of-thought response: the extracted final answer, if any.
SolverSample read_sample(const std::string& response, equiv::Fallback fallback);

LoggedCall to_logged(const model::ChatOutcome& o);
model::ChatOutcome from_logged(const LoggedCall& c);

}  // namespace vf
