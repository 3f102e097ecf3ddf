// The pipeline as data: which stages a job has, in what order, with what
// capacity, where their work runs, and what each kind of work needs to know
// (WorkSpec). A plan holds no handles, callbacks or open resources, so the
// same plan describes a job in one process and a job spread over nodes: the
// coordinator hosts every stage's dispatcher (credit, leases, logging), and
// workers, local or joined over the network, do the work.
//
//   generator -> [generate] -> execute -> [solve] -> verify -> writer
//
// Pure values (msgpack-serializable, like everything that crosses nodes);
// thread-safety: none needed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <msgpack.hpp>

#include "dataflow/config.h"
#include "dataflow/item.h"
#include "dataflow/model_tasks.h"

namespace vf {

// Kinds of stage work. The values travel on the wire.
enum class StageKind : uint8_t {
  kGenerate = 1,  // an LLM writes the item's question and code from its prompt
  kExecute = 2,   // the rationale code runs in the sandbox
  kSolve = 3,     // an LLM answers the question by chain of thought (k samples)
  kVerify = 4,    // the item is accepted or rejected
};

}  // namespace vf
MSGPACK_ADD_ENUM(vf::StageKind);
namespace vf {

std::string_view to_string(StageKind kind);
// Parses to_string()'s names; false for anything else.
bool parse_stage_kind(std::string_view name, StageKind& kind);

// The r/ key-space code of a stage's logged parts (dataflow/checkpoint.h),
// 0 for a stage whose work has no parts worth logging (verify).
char log_code(StageKind kind);

// Whether a stage does work on an item; an item it does not want passes
// through unchanged (an item rejected upstream, an item already executed).
bool stage_wants(StageKind kind, const Item& item);

enum class WriterKind : uint8_t {
  kDataset = 1,    // accepted/rejected records, exports, commit gate, checkpoint (`run`)
  kSeedCheck = 2,  // one result line per seed (`verify-seeds`)
};
}  // namespace vf
MSGPACK_ADD_ENUM(vf::WriterKind);
namespace vf {

struct StageSpec {
  StageKind kind = StageKind::kExecute;
  std::string name;           // in logs and reports ("execute", "solve", ...)
  uint32_t capacity = 16;     // items the stage may hold (credit it grants upstream)
  uint32_t local_workers = 1; // work actors in the coordinator's own process (0: only joined workers)
  uint32_t worker_capacity = 16;  // items one local work actor may hold
  MSGPACK_DEFINE(kind, name, capacity, local_workers, worker_capacity)
};

struct PipelinePlan {
  uint32_t batch_size = 8;        // most items per message
  uint64_t max_items = 0;         // the generator issues at most this many (0: unlimited)
  std::vector<StageSpec> stages;  // between the generator and the writer, in order
  WriterKind writer = WriterKind::kDataset;
  uint32_t writer_capacity = 32;
  uint32_t report_interval_ms = 500;
  // A joined worker whose last `worker_failure_limit` items in a row ended in
  // a sandbox failure or a model error gets no work for `quarantine_s`
  // (its node's sandbox or endpoint is broken; the job's own process is
  // never taken out: it would have nobody to hand the work to).
  uint32_t worker_failure_limit = 10;
  uint32_t quarantine_s = 60;
  // Bytes of leased items one stage may have at one node at once (estimated
  // from the items' text); bounds what waits in the node pair's one FIFO.
  uint64_t lease_bytes_per_node = 64ull << 20;
  MSGPACK_DEFINE(batch_size, max_items, stages, writer, writer_capacity, report_interval_ms, worker_failure_limit,
                 quarantine_s, lease_bytes_per_node)

  const StageSpec* stage(StageKind kind) const;
};

// What the execute work needs: runs per item and the limits of each run,
// and the job's sandbox settings (node settings such as the number of
// workers are the node's own).
struct ExecuteWork {
  uint32_t runs_per_item = 2;
  double wall_timeout_s = 10;
  uint32_t cpu_seconds = 0;
  uint64_t address_space_mb = 4096;
  uint64_t max_output_bytes = 1 << 20;
  uint64_t max_file_bytes = 64ull << 20;
  uint32_t max_processes = 64;
  std::string sandbox_mode = "fork-server";
  bool contain = true;
  std::string python = "/usr/bin/python3";
  std::vector<std::string> preimport;       // the seeds' declared modules and sandbox.preimport
  std::vector<std::string> import_aliases;  // "name=installed"
  uint32_t tmp_mb = 512;
  MSGPACK_DEFINE(runs_per_item, wall_timeout_s, cpu_seconds, address_space_mb, max_output_bytes, max_file_bytes,
                 max_processes, sandbox_mode, contain, python, preimport, import_aliases, tmp_mb)
};

// What the verify work needs: which check, and its settings.
struct VerifyWork {
  std::string check = "execution";  // execution | seed-match | agreement
  uint64_t max_answer_chars = 2000;
  EquivalenceSection equivalence;
  bool majority = true;  // agreement
  bool drop_all_solved = false;
  bool drop_none_solved = true;
  MSGPACK_DEFINE(check, max_answer_chars, equivalence, majority, drop_all_solved, drop_none_solved)
};

// Everything any worker needs to do this job's work, by kind.
struct WorkSpec {
  ExecuteWork execute;
  GenerateOptions generate;
  SolveOptions solve;
  VerifyWork verify;
  MSGPACK_DEFINE(execute, generate, solve, verify)
};

}  // namespace vf
