#include "dataflow/pipeline_plan.h"

namespace vf {

std::string_view to_string(StageKind kind) {
  switch (kind) {
    case StageKind::kGenerate: return "generate";
    case StageKind::kExecute: return "execute";
    case StageKind::kSolve: return "solve";
    case StageKind::kVerify: return "verify";
  }
  return "unknown";
}

bool parse_stage_kind(std::string_view name, StageKind& kind) {
  for (StageKind k : {StageKind::kGenerate, StageKind::kExecute, StageKind::kSolve, StageKind::kVerify})
    if (to_string(k) == name) {
      kind = k;
      return true;
    }
  return false;
}

char log_code(StageKind kind) {
  switch (kind) {
    case StageKind::kGenerate: return kGenerateStage;
    case StageKind::kExecute: return kRunsStage;
    case StageKind::kSolve: return kSolveStage;
    case StageKind::kVerify: return 0;
  }
  return 0;
}

bool stage_wants(StageKind kind, const Item& item) {
  switch (kind) {
    case StageKind::kGenerate:
      return item.item_state() == ItemState::kGenerated && item.question.empty() && !item.prompt.empty();
    case StageKind::kExecute:
      // Rejected items (unparseable reply, model error) and items that arrive
      // executed (a resumed job's) pass through.
      return item.item_state() == ItemState::kGenerated;
    case StageKind::kSolve:
      // Solved already: a resumed job's item the solve stage logged before the kill.
      if (item.item_state() != ItemState::kExecuted || item.executions.empty() || !item.solver_samples.empty())
        return false;
      for (const auto& e : item.executions)
        if (!e.ok()) return false;  // a failed run is rejected by the verifier anyway
      return true;
    case StageKind::kVerify:
      return item.item_state() == ItemState::kExecuted;
  }
  return false;
}

const StageSpec* PipelinePlan::stage(StageKind kind) const {
  for (const auto& s : stages)
    if (s.kind == kind) return &s;
  return nullptr;
}

}  // namespace vf
