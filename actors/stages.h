// The pipeline's stages as CAF actors: thin shells around the dataflow logic.
//
//   generator -> executor stage -> verifier -> writer
//   generator -> LLM generate -> executor stage -> LLM solve -> verifier -> writer  (LLM jobs)
//
// Each stage holds at most its credit capacity of items (dataflow/credit.h),
// owns its state (no memory is shared between stages; items travel as msgpack
// bytes), reports progress to a monitor actor, and ends by forwarding
// EndOfStream once it has drained. Handles returned here must be kept by the
// caller until the job ends (an unreferenced actor is destroyed).
#pragma once

#include <memory>
#include <string>

#include <caf/all.hpp>

#include "actors/wire.h"
#include "dataflow/checkpoint.h"
#include "dataflow/checks.h"
#include "dataflow/llm_tasks.h"
#include "dataflow/sources.h"
#include "sandbox/fork_server.h"
#include "storage/audit_trail.h"
#include "storage/job_store.h"

namespace vf {

// Every stage takes the job's checkpoint log (`store`, null: no log) and the
// audit trail of costly work (`audit`, null unless VERIFORGE_AUDIT_FILE is set).
struct GeneratorOptions {
  std::shared_ptr<JobStore> store;
  // Resuming: the progress the log holds, and its in-flight items, which are
  // sent first (each stage skips the work their records already hold).
  GeneratorCheckpoint resume_from;
  std::vector<Item> in_flight;
  bool target_covered = false;  // the writer's log says the target is covered: issue nothing new
  uint64_t max_items = 0;      // 0: unlimited
  uint32_t batch_size = 8;
  uint32_t report_interval_ms = 500;
};

struct ExecutorStageOptions {
  std::shared_ptr<JobStore> store;
  std::shared_ptr<AuditTrail> audit;
  sandbox::SandboxMode mode = sandbox::SandboxMode::kForkServer;
  sandbox::SandboxOptions sandbox;
  sandbox::RunLimits limits;
  uint32_t runs_per_item = 2;
  uint32_t capacity = 16;
  uint32_t batch_size = 8;
  uint32_t report_interval_ms = 500;
};

struct VerifierOptions {
  std::shared_ptr<JobStore> store;
  uint32_t capacity = 32;
  uint32_t batch_size = 8;
  uint32_t report_interval_ms = 500;
};

struct LlmStageOptions {
  std::string name = "llm";   // "generate", "solve": names the stage in logs and reports
  char log_code = '?';        // its r/ entries in the checkpoint log (kGenerateStage, kSolveStage)
  std::shared_ptr<JobStore> store;
  std::shared_ptr<AuditTrail> audit;
  // Generate stage: reject questions too similar (ROUGE-L) to the pool, which
  // starts with `similarity_pool` and grows with every question let through. 0: off.
  double similarity_threshold = 0;
  std::vector<std::string> similarity_pool;
  uint32_t capacity = 256;
  uint32_t batch_size = 8;
  uint32_t report_interval_ms = 500;
};

enum class WriterMode { kDataset, kSeedCheck };

struct WriterOptions {
  WriterMode mode = WriterMode::kDataset;
  std::string out_dir;          // dataset: accepted.jsonl, rejected.jsonl, summary.json, db/
  std::string results_file;     // seed check: one JSON line per seed
  std::string mismatches_file;  // seed check: the executed seeds whose output did not match
  std::string job_name = "job";
  uint64_t target = 0;          // accepted items to export (0: all)
  // Dataset mode: the checkpoint log (required); output files are fsynced
  // before each log commit unless the log's sync policy is "none".
  std::shared_ptr<JobStore> store;
  bool sync = true;
  uint32_t delay_ms = 0;        // testing knob
  uint32_t capacity = 32;
  uint32_t report_interval_ms = 500;
  bool feedback = false;        // tell the generator about accepted items (self-instruct, evol-instruct)
  bool curriculum = false;      // at the end, rl.curriculum.jsonl: easy to hard, domains interleaved
};

wire::generator_actor spawn_generator(caf::actor_system& sys, std::shared_ptr<ItemSource> source,
                                      GeneratorOptions options, wire::downstream_actor next,
                                      wire::monitor_actor monitor);
// The stage owns `executor` from here on (it is destroyed with the stage).
wire::executor_actor spawn_executor_stage(caf::actor_system& sys, ExecutorStageOptions options,
                                          std::shared_ptr<sandbox::Executor> executor,
                                          wire::downstream_actor next, wire::monitor_actor monitor);
wire::stage_actor spawn_verifier(caf::actor_system& sys, std::shared_ptr<const Check> check,
                                 VerifierOptions options, wire::downstream_actor next, wire::monitor_actor monitor);
wire::writer_actor spawn_writer(caf::actor_system& sys, WriterOptions options, wire::monitor_actor monitor);
// The stage shares `client` with other LLM stages (one connection pool per job).
wire::model_stage_actor spawn_llm_stage(caf::actor_system& sys, LlmStageOptions options,
                                        std::shared_ptr<const ModelTask> task,
                                        std::shared_ptr<model::ModelClient> client, wire::downstream_actor next,
                                        wire::monitor_actor monitor);

}  // namespace vf
