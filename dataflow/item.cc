#include "dataflow/item.h"

namespace vf {

std::string_view to_string(ExecStatus s) {
  switch (s) {
    case ExecStatus::kOk: return "ok";
    case ExecStatus::kError: return "error";
    case ExecStatus::kTimeout: return "timeout";
    case ExecStatus::kMissingDependency: return "missing-dependency";
    case ExecStatus::kOutputTooLarge: return "output-too-large";
    case ExecStatus::kKilledByLimit: return "killed-by-limit";
    case ExecStatus::kSandboxFailure: return "sandbox-failure";
  }
  return "unknown";
}

std::string_view to_string(ItemState s) {
  switch (s) {
    case ItemState::kGenerated: return "generated";
    case ItemState::kExecuted: return "executed";
    case ItemState::kAccepted: return "accepted";
    case ItemState::kRejected: return "rejected";
    case ItemState::kWritten: return "written";
    case ItemState::kRejectWritten: return "reject-written";
    case ItemState::kSurplus: return "surplus";
  }
  return "unknown";
}

std::optional<ItemState> next_state(ItemState from, ItemEvent event) {
  using S = ItemState;
  using E = ItemEvent;
  switch (event) {
    case E::kExecutionsAttached:
      if (from == S::kGenerated) return S::kExecuted;
      break;
    case E::kAccept:
      if (from == S::kExecuted) return S::kAccepted;
      break;
    case E::kReject:
      // Any stage before the writer may reject (a generator that cannot
      // build a prompt, an executor whose sandbox failed, the verifier).
      if (from == S::kGenerated || from == S::kExecuted) return S::kRejected;
      break;
    case E::kWriteAccepted:
      if (from == S::kAccepted) return S::kWritten;
      break;
    case E::kWriteRejected:
      if (from == S::kRejected) return S::kRejectWritten;
      break;
    case E::kMarkSurplus:
      if (from == S::kAccepted) return S::kSurplus;
      break;
  }
  return std::nullopt;
}

bool advance(Item& item, ItemEvent event) {
  auto next = next_state(item.item_state(), event);
  if (!next) return false;
  item.state = static_cast<uint8_t>(*next);
  return true;
}

bool reject(Item& item, std::string reason, std::string detail) {
  if (!advance(item, ItemEvent::kReject)) return false;
  item.reject_reason = std::move(reason);
  item.reject_detail = std::move(detail);
  return true;
}

}  // namespace vf
