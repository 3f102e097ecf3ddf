// Item: one problem travelling through the pipeline, and its state machine.
//
// Contract: plain value types, no CAF, no I/O. Items are copied into msgpack
// batches between stages (see actors/wire.h); a stage owns the items it holds
// and never shares them. The state machine is the single place that says which
// transitions are legal; every stage advances an item only through advance().
// Thread-safety: none needed (values).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <msgpack.hpp>

namespace vf {

// Where an item came from. Carried with the item so any stage (on any node)
// can write provenance and license without a shared seed table.
struct Provenance {
  std::string seed_file;       // path of the seed file as given
  uint32_t seed_index = 0;     // index of the seed within its file
  std::string seed_name;       // metadata.name
  std::string domain;          // metadata.domain
  std::string license;         // metadata.license (outputs must carry it)
  std::string source;          // metadata.source, JSON-encoded (string or list)
  MSGPACK_DEFINE(seed_file, seed_index, seed_name, domain, license, source)
};

// One consistent constant change made by the variant generator.
struct Substitution {
  std::string from;
  std::string to;
  MSGPACK_DEFINE(from, to)
};

// How one run of rationale code ended. The values are the sandbox's
// RunStatus (the executor worker converts; static_asserts keep them equal),
// stored as an integer on the wire so the sandbox can grow categories
// without breaking older peers.
enum class ExecStatus : uint8_t {
  kOk = 0,
  kError = 1,
  kTimeout = 2,
  kMissingDependency = 3,
  kOutputTooLarge = 4,
  kKilledByLimit = 5,
  kSandboxFailure = 6,
};
// "ok", "error", "timeout", "missing-dependency", "output-too-large",
// "killed-by-limit", "sandbox-failure".
std::string_view to_string(ExecStatus s);

// Outcome of running rationale code once.
struct Execution {
  uint8_t status = 0;          // ExecStatus
  int32_t exit_code = 0;
  std::string output;          // stdout, trimmed of trailing whitespace
  std::string error_tail;      // last lines of stderr
  std::string detail;          // e.g. missing module name, limit hit
  double wall_ms = 0;
  MSGPACK_DEFINE(status, exit_code, output, error_tail, detail, wall_ms)
  ExecStatus exec_status() const { return static_cast<ExecStatus>(status); }
  bool ok() const { return exec_status() == ExecStatus::kOk; }
};

// One chat message of a prompt an LLM stage sends for this item.
struct PromptMessage {
  std::string role;
  std::string content;
  MSGPACK_DEFINE(role, content)
};

// One chain-of-thought sample from the solver stage.
struct SolverSample {
  std::string response;      // the raw reply (kept for audit)
  std::string answer;        // the extracted final answer; empty when none
  std::string extraction;    // "boxed", "final-answer", ..., "" when nothing was found
  bool agrees = false;       // equivalent to the code's answer (set by the verifier)
  MSGPACK_DEFINE(response, answer, extraction, agrees)
};

enum class ItemState : uint8_t {
  kGenerated = 0,   // question + rationale exist, not yet executed
  kExecuted = 1,    // executions attached
  kAccepted = 2,    // verifier accepted
  kRejected = 3,    // verifier (or an earlier stage) rejected, with a reason
  kWritten = 4,     // writer appended it to the accepted output
  kRejectWritten = 5,  // writer appended it to the rejected output
  kSurplus = 6,     // accepted, but beyond the job's target: not exported
};

std::string_view to_string(ItemState s);

struct Item {
  uint64_t id = 0;
  uint8_t state = 0;                 // ItemState
  std::string question;
  std::string rationale;
  std::string reference_answer;      // the seed's final_answer
  std::string answer;                // the answer this item claims (set by verifier)
  std::string generator;             // "variant", "seed", ...
  Provenance provenance;
  std::vector<Substitution> substitutions;
  std::vector<Execution> executions;
  std::string reject_reason;         // stable machine-readable code
  std::string reject_detail;         // human-readable explanation
  std::vector<std::string> required_modules;  // import names the seed declares
  std::string verdict_note;          // how the verifier judged (equivalence reason), accepted or not
  // LLM generation and solving (issue 5)
  std::vector<PromptMessage> prompt;           // the generator prompt (few-shot, self-instruct, evol)
  std::vector<Provenance> conditioned_on;      // the seeds / items the prompt showed
  std::string generator_reply;                 // the raw generator reply
  std::vector<SolverSample> solver_samples;    // k chain-of-thought samples
  double pass_rate = -1;                       // agreeing samples / k; -1: not solved
  std::string difficulty;                      // "easy", "medium", "hard", ...
  uint64_t prompt_tokens = 0;                  // summed over this item's model calls
  uint64_t completion_tokens = 0;
  std::string evolved_from;                    // evol-instruct: the question it rewrote
  std::string evolution;                       // evol-instruct: the operation ("add-constraints", ...)
  double answer_tolerance = -1;                // the seed's metadata.answer_tolerance; -1: none
  MSGPACK_DEFINE(id, state, question, rationale, reference_answer, answer, generator,
                 provenance, substitutions, executions, reject_reason, reject_detail, required_modules,
                 verdict_note, prompt, conditioned_on, generator_reply, solver_samples, pass_rate, difficulty,
                 prompt_tokens, completion_tokens, evolved_from, evolution, answer_tolerance)

  ItemState item_state() const { return static_cast<ItemState>(state); }
};

// An accepted item, told back to the generator along the credit path
// (self-instruct and evol-instruct grow their pools from them).
struct Feedback {
  uint64_t id = 0;
  std::string question;
  std::string rationale;
  std::string answer;
  Provenance provenance;
  MSGPACK_DEFINE(id, question, rationale, answer, provenance)
};

// Events that move an item forward.
enum class ItemEvent : uint8_t {
  kExecutionsAttached,
  kAccept,
  kReject,
  kWriteAccepted,
  kWriteRejected,
  kMarkSurplus,
};

// Returns the next state, or nullopt when `event` is illegal in `from`
// (for example accepting an item twice, or accepting a rejected one).
std::optional<ItemState> next_state(ItemState from, ItemEvent event);

// Applies `event` to `item`; returns false (and leaves the item unchanged)
// when the transition is illegal.
bool advance(Item& item, ItemEvent event);

// Marks the item rejected with a reason code and detail.
bool reject(Item& item, std::string reason, std::string detail);

}  // namespace vf
