// The checkpoint log's records and the recovery of a job from it.
//
// Who writes what (each in one LogBatch, before the items move on):
//   generator   i/<id> for every item it issues + its source's progress
//               (m/source, q/ hashes) + m/generator
//   stages      r/<id>/<stage>/<n> for each finished code run or model call;
//               i/<id> with the item's new state when the stage is done with
//               it (and its r/ entries erased)
//   writer      s/<id>, p/<id>, a/<id>, erases i/<id> of decided items, and
//               m/writer (gate, tallies, committed output lengths)
// An item's i/ record is therefore its last finished stage: recovery
// re-dispatches every i/ record to the head of the pipeline, and each stage
// skips work the record (or its r/ entries) already holds.
//
// Pure functions over a JobStore; no CAF. Thread-safety: as JobStore.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <msgpack.hpp>

#include "base/status.h"
#include "dataflow/commit_gate.h"
#include "dataflow/item.h"
#include "dataflow/records.h"
#include "storage/job_store.h"

namespace vf {

// Names of the m/ metadata records (JobStore::get_meta / LogBatch::put_meta).
namespace meta {
inline constexpr const char* kFormatVersion = "format_version";    // the log's format (storage/codec.h)
inline constexpr const char* kJobName = "job_name";
inline constexpr const char* kConfig = "config";                   // describe(config) of the job
inline constexpr const char* kSeedHash = "seed_hash";              // content hash of the seed files
inline constexpr const char* kTargetAccepted = "target_accepted";
inline constexpr const char* kCheckpointLog = "checkpoint_log";    // "false": the job cannot resume
inline constexpr const char* kInvocation = "invocation";           // how `run` was called (JSON), for `resume`
inline constexpr const char* kSource = "source";                   // the item source's progress
inline constexpr const char* kGenerator = "generator";             // GeneratorCheckpoint
inline constexpr const char* kWriter = "writer";                   // WriterCheckpoint
inline constexpr const char* kSummary = "summary";                 // summary.json's content, when finished
inline constexpr const char* kNodes = "nodes";                     // the cluster's nodes (NodeTable), msgpack
}  // namespace meta

// Stage codes of r/ entries.
inline constexpr char kRunsStage = 'x';      // executor: one entry per code run
inline constexpr char kGenerateStage = 'g';  // LLM generate: one per model call
inline constexpr char kSolveStage = 'v';     // LLM solve: one per model call

// A model call's outcome as logged (model::ChatOutcome without timing;
// dataflow/model_tasks.h converts).
struct LoggedCall {
  bool ok = false;
  std::vector<std::string> choices;
  std::vector<std::string> finish_reasons;
  uint64_t prompt_tokens = 0;
  uint64_t completion_tokens = 0;
  std::string error;
  int32_t attempts = 0;
  std::string endpoint;
  std::string model;
  MSGPACK_DEFINE(ok, choices, finish_reasons, prompt_tokens, completion_tokens, error, attempts, endpoint, model)
};

// The writer's progress (m/writer), written with every writer batch.
struct WriterCheckpoint {
  GateSnapshot gate;
  Tally tally;
  uint64_t received = 0;
  uint64_t max_id_seen = 0;
  std::map<std::string, uint64_t> file_lengths;  // output file name -> committed bytes
  double active_s = 0;                           // running time over every session
  bool finished = false;
  std::string end_reason;
  MSGPACK_DEFINE(gate, tally, received, max_id_seen, file_lengths, active_s, finished, end_reason)
};

// The generator's progress (m/generator).
struct GeneratorCheckpoint {
  uint64_t issued = 0;  // ids 0 .. issued-1 exist; the next item gets `issued`
  bool ended = false;
  std::string end_reason;
  MSGPACK_DEFINE(issued, ended, end_reason)
};

// What a job needs to continue from its log.
struct Recovery {
  bool fresh = true;                       // nothing logged yet
  std::optional<WriterCheckpoint> writer;  // absent until the writer's first batch
  GeneratorCheckpoint generator;
  std::vector<Item> in_flight;             // i/ records, in id order
};

// Reads the job's progress; memory is proportional to the items in flight,
// not to the items already decided (they are skipped by the gate's watermark).
Expected<Recovery> recover(const JobStore& store);

// Counts for `status` and `check`: per logged state, per in-flight stage.
struct LogCounts {
  std::map<std::string, uint64_t> decided;    // s/ by state name
  std::map<std::string, uint64_t> in_flight;  // i/ by state name
  uint64_t parked = 0;
};
Expected<LogCounts> count_log(const JobStore& store, bool scan_decided);

}  // namespace vf
