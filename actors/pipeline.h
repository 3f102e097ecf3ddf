// The pipeline's actors, and run_pipeline(): a PipelinePlan
// (dataflow/pipeline_plan.h) turned into running actors in one actor system,
// run to completion on the calling thread.
//
//   generator -> dispatcher(generate)? -> dispatcher(execute) -> dispatcher(solve)? -> dispatcher(verify) -> writer
//                      |                        |                       |                      |
//                 model workers           execute workers          model workers         verify workers
//
// The coordinator's side (generator, dispatchers, writer) owns the job's
// state: the source, the checkpoint log, the commit gate, the leases. Workers
// own only the resources they work with (a sandbox pool, a model client, a
// check) and hold nothing the job would lose with them. This process's own
// workers are built from LocalWork; workers on other nodes join through the
// registry (actors/registry.h) and speak the same protocol.
//
// Handles returned by the spawn functions must be kept by the caller until
// the job ends (an unreferenced actor is destroyed).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "actors/wire.h"
#include "dataflow/checkpoint.h"
#include "dataflow/checks.h"
#include "dataflow/model_tasks.h"
#include "dataflow/pipeline_plan.h"
#include "dataflow/similarity.h"
#include "dataflow/sources.h"
#include "model/client.h"
#include "sandbox/run.h"
#include "storage/audit_trail.h"
#include "storage/env.h"
#include "storage/job_log.h"

namespace vf {

// --- coordinator side --------------------------------------------------------

struct GeneratorSetup {
  std::shared_ptr<ItemSource> source;
  std::shared_ptr<JobLog> log;  // null: items are not logged
  // Resuming: the progress the log holds, and its in-flight items, which are
  // sent first (each stage skips the work their records already hold).
  GeneratorCheckpoint resume_from;
  std::vector<Item> in_flight;
  bool target_covered = false;  // the writer's log says the target is covered: issue nothing new
  bool start_paused = false;    // an operator paused the job (logged): issue nothing until resumed
  uint64_t max_items = 0;       // 0: unlimited
  uint32_t batch_size = 8;
  uint32_t report_interval_ms = 500;
  wire::downstream_actor next;
};

struct DispatcherSetup {
  StageSpec spec;
  uint32_t batch_size = 8;
  uint32_t report_interval_ms = 500;
  std::shared_ptr<JobLog> log;                   // null: nothing is logged
  std::shared_ptr<AuditTrail> audit;             // null unless VERIFORGE_AUDIT_FILE is set
  std::shared_ptr<SimilarityFilter> similarity;  // generate: reject questions too close to earlier ones
  wire::downstream_actor next;
  std::vector<wire::worker_actor> workers;       // this process's workers for the stage
  uint32_t worker_failure_limit = 10;            // see PipelinePlan
  uint32_t quarantine_s = 60;
  uint64_t lease_bytes_per_node = 64ull << 20;
};

struct DatasetWriterSetup {
  std::string out_dir;   // accepted.jsonl, rejected.jsonl, exports, summary.json
  std::string job_name = "job";
  uint64_t target = 0;   // accepted items to export (0: all)
  // The job's store: the writer's progress (gate, tallies, committed output
  // lengths) is committed with every batch, through `log` (always present:
  // without stage logging the writer still keeps its own progress).
  std::shared_ptr<JobLog> log;
  bool sync = true;           // fsync output files before each commit
  uint32_t delay_ms = 0;      // testing knob
  uint32_t capacity = 32;
  uint32_t report_interval_ms = 500;
  bool feedback = false;      // tell the generator about accepted items (self-instruct, evol-instruct)
  bool curriculum = false;    // at the end, rl.curriculum.jsonl: easy to hard, domains interleaved
  Env* env = Env::posix();    // the output files go through it (tests simulate power loss)
};

struct SeedCheckWriterSetup {
  std::string results_file;     // one JSON line per seed (empty: none)
  std::string mismatches_file;  // the executed seeds whose output did not match (empty: none)
  uint32_t capacity = 32;
  uint32_t report_interval_ms = 500;
};

wire::generator_actor spawn_generator(caf::actor_system& sys, GeneratorSetup setup, wire::monitor_actor monitor);
wire::stage_actor spawn_dispatcher(caf::actor_system& sys, DispatcherSetup setup, wire::monitor_actor monitor);
wire::writer_actor spawn_dataset_writer(caf::actor_system& sys, DatasetWriterSetup setup, wire::monitor_actor monitor);
wire::writer_actor spawn_seed_check_writer(caf::actor_system& sys, SeedCheckWriterSetup setup,
                                           wire::monitor_actor monitor);

// --- worker side --------------------------------------------------------------

// A node's work counters, shared by its work actors and read by its
// heartbeat (relaxed atomics: figures for operators, not for decisions).
struct WorkerCounters {
  std::atomic<uint64_t> held{0};      // leases being worked on
  std::atomic<uint64_t> done{0};      // leases finished
  std::atomic<uint64_t> failures{0};  // finished as a sandbox failure or a model error
  std::atomic<uint64_t> failures_in_a_row{0};
  // Self-fencing of a joined node: the last time (steady clock, ms) the
  // coordinator answered a heartbeat. A node that has not heard from it for
  // `stale_after_ms` (frozen, cut off) has been dropped and its leases given
  // to others, so its actors start no new code run or model call until
  // contact is back (or the node is torn down). 0: never stale (this process).
  std::atomic<int64_t> contact_ms{0};
  int64_t stale_after_ms = 0;
  static int64_t steady_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  bool out_of_contact() const { return stale_after_ms > 0 && steady_ms() - contact_ms.load() > stale_after_ms; }
};

struct ExecuteWorkerSetup {
  std::string stage = "executor";
  std::shared_ptr<sandbox::Executor> executor;  // shared by every execute worker of the process
  sandbox::RunLimits limits;
  uint32_t runs_per_item = 2;
  uint32_t capacity = 16;
  std::shared_ptr<AuditTrail> audit;
  std::shared_ptr<WorkerCounters> counters;  // null: counted privately
};

struct ModelWorkerSetup {
  std::string stage;  // "generate" or "solve"
  std::shared_ptr<const ModelTask> task;
  std::shared_ptr<model::ModelClient> client;
  uint32_t capacity = 256;
  std::shared_ptr<AuditTrail> audit;
  std::shared_ptr<WorkerCounters> counters;  // null: counted privately
};

struct VerifyWorkerSetup {
  std::string stage = "verifier";
  std::shared_ptr<const Check> check;
  uint32_t capacity = 32;
  std::shared_ptr<WorkerCounters> counters;  // null: counted privately
};

wire::worker_actor spawn_execute_worker(caf::actor_system& sys, ExecuteWorkerSetup setup);
wire::worker_actor spawn_model_worker(caf::actor_system& sys, ModelWorkerSetup setup);
wire::worker_actor spawn_verify_worker(caf::actor_system& sys, VerifyWorkerSetup setup);

// The limits of one run, from the job's execute work.
sandbox::RunLimits run_limits(const ExecuteWork& work);

// --- one job in this process ------------------------------------------------------

// What this process's own workers work with (the coordinator's local worker).
struct LocalWork {
  std::shared_ptr<sandbox::Executor> executor;
  std::shared_ptr<model::ModelClient> generator_client;
  std::shared_ptr<model::ModelClient> solver_client;
  std::shared_ptr<AuditTrail> audit;
};

// Work actors for this process's resources: one set per stage of the plan
// (of `stages` only, when not empty), `per_stage` of each (0: the plan's
// local_workers), counting into `counters`.
struct WorkActorChoice {
  std::set<std::string> stages;
  uint32_t per_stage = 0;
  std::shared_ptr<WorkerCounters> counters;
};
struct WorkActor {
  std::string stage;
  uint32_t capacity = 0;
  wire::worker_actor actor;
};
Expected<std::vector<WorkActor>> spawn_work_actors(caf::actor_system& sys, const PipelinePlan& plan,
                                                   const WorkSpec& work, const LocalWork& local,
                                                   const WorkActorChoice& choice);

// What the coordinator's side is built from, besides the plan and the work spec.
struct CoordinatorParts {
  std::shared_ptr<JobLog> stage_log;  // null: stages do not log (checkpoint.log = false)
  std::shared_ptr<JobLog> writer_log; // dataset writer: always present
  std::shared_ptr<ItemSource> source;
  GeneratorCheckpoint resume_from;
  std::vector<Item> in_flight;
  bool target_covered = false;
  bool start_paused = false;  // an operator's pause, logged: the generator starts paused
  std::shared_ptr<SimilarityFilter> similarity;
  std::shared_ptr<AuditTrail> audit;
  DatasetWriterSetup dataset;       // plan.writer == kDataset
  SeedCheckWriterSetup seed_check;  // plan.writer == kSeedCheck
};

struct PipelineOutcome {
  bool ok = false;
  std::string error;
  nlohmann::json summary;
  std::map<std::string, wire::StageReport> stages;  // last report per stage
};

struct RunControl {
  // Actor threads (0: one per core). CAF's own default, twice the cores, costs
  // throughput in context switches: no actor thread ever waits on I/O here
  // (the sandbox, the model client and the log have threads of their own).
  uint32_t scheduler_threads = 0;
  // Called on the calling thread with the latest report of each stage.
  std::function<void(const std::map<std::string, wire::StageReport>&)> on_progress;
  const std::atomic<bool>* interrupt = nullptr;
  // An operator's pause: while true the generator issues no new item (checked
  // after every message wait() receives, and at least every 200 ms).
  const std::atomic<bool>* pause = nullptr;
  // An operator's stop now: as interrupt (what was committed stays; resumable).
  const std::atomic<bool>* stop_now = nullptr;
  // An operator's drain: no new items; once every stage holds nothing (two
  // reports running), the job stops as on interrupt, with nothing in flight.
  const std::atomic<bool>* drain = nullptr;
  // An operator's raised target (0: none): sent to the writer and, with the
  // generation ceiling `max_items`, to the generator when it changes.
  const std::atomic<uint64_t>* target = nullptr;
  const std::atomic<uint64_t>* max_items = nullptr;
};

// One job's actors in an actor system the caller owns (configured with
// register_wire_types(), and the middleman when nodes join).
//
//   Pipeline p(sys, plan, work, parts, local);
//   p.start();            // spawns the plan's actors with this process's workers; returns at once
//   auto out = p.wait(control);  // watches them until the job ends
//
// wait() runs on the calling thread: it collects progress reports, fails
// the job when an actor dies abnormally, and stops it cleanly when
// control.interrupt becomes true (what was committed stays). The actors are
// stopped when the Pipeline is destroyed, if they have not ended by then.
// Not thread-safe: one thread calls start() and wait().
class Pipeline {
 public:
  Pipeline(caf::actor_system& sys, PipelinePlan plan, WorkSpec work, CoordinatorParts parts, LocalWork local);
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  Status start();
  PipelineOutcome wait(const RunControl& control);
  // The dispatcher of each stage, by stage name (after start()): where the
  // registry hands the work actors of nodes that join.
  const std::map<std::string, wire::stage_actor>& dispatchers() const { return dispatchers_; }

 private:
  caf::actor_system& sys_;
  PipelinePlan plan_;
  WorkSpec work_;
  CoordinatorParts parts_;
  LocalWork local_;
  caf::scoped_actor self_;
  std::vector<std::pair<caf::actor, std::string>> actors_;  // every actor, for monitoring and stopping
  std::map<std::string, wire::stage_actor> dispatchers_;
  wire::generator_actor generator_;  // where an operator's pause goes
  wire::writer_actor writer_;        // where an operator's new target goes
  bool ended_ = false;
};

// The scheduler settings every veriforge actor system uses: `threads`
// worker threads, and idle threads that sleep soon instead of polling.
void configure_scheduler(caf::actor_system_config& cfg, size_t threads);

// Convenience: an actor system of its own, start() and wait().
PipelineOutcome run_pipeline(const PipelinePlan& plan, const WorkSpec& work, CoordinatorParts parts, LocalWork local,
                             const RunControl& control);

}  // namespace vf
