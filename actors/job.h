// run_job(): one pipeline (generator -> executor -> verifier -> writer) in
// its own actor system, run to completion on the calling thread.
//
// The calling thread watches the stages (monitor + progress reports), fails
// the job when a stage dies abnormally, and stops it cleanly when `interrupt`
// becomes true (outputs written so far stay intact). Returns the writer's
// summary and each stage's last report.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "actors/stages.h"
#include "dataflow/config.h"

namespace vf {

struct JobSpec {
  // The checkpoint log (null: none). run_job hands it to every stage; the
  // source must already be bound to it (ItemSource::bind) and
  // `generator.resume_from` / `generator.in_flight` filled from recover().
  std::shared_ptr<JobStore> store;
  std::shared_ptr<AuditTrail> audit;
  std::shared_ptr<ItemSource> source;
  std::shared_ptr<const Check> check;
  // LLM stages: present when the job generates with an LLM / solves by chain of thought.
  std::shared_ptr<const ModelTask> generate_task;
  std::shared_ptr<model::ModelClient> generator_client;
  LlmStageOptions generate_stage;
  std::shared_ptr<const ModelTask> solve_task;
  std::shared_ptr<model::ModelClient> solver_client;
  LlmStageOptions solve_stage;
  GeneratorOptions generator;
  ExecutorStageOptions executor;
  VerifierOptions verifier;
  WriterOptions writer;
  uint32_t scheduler_threads = 0;  // 0: CAF's default
  // Called on the job's thread with the latest report of each stage.
  std::function<void(const std::map<std::string, wire::StageReport>&)> on_progress;
  const std::atomic<bool>* interrupt = nullptr;
};

struct JobOutcome {
  bool ok = false;
  std::string error;
  nlohmann::json summary;
  std::map<std::string, wire::StageReport> stages;  // last report per stage
};

JobOutcome run_job(JobSpec spec);

// Opens (or continues) a job's checkpoint log for `spec`: binds the source,
// recovers the in-flight items and progress into spec.generator, and says
// whether the logged job had already finished.
struct ResumeInfo {
  bool fresh = true;
  bool finished = false;
  uint64_t issued = 0;
  size_t in_flight = 0;
  uint64_t accepted = 0;
  uint64_t rejected = 0;
};
Expected<ResumeInfo> prepare_resume(JobSpec& spec);

// Fills every stage's options from a job config. The fork servers pre-import
// the modules the seeds declare plus sandbox.preimport, and hide
// `hide_paths` (the job's output folder) besides /root, /home and /etc/shadow.
void apply_config(const JobConfig& config, const std::vector<Seed>& seeds,
                  const std::vector<std::string>& hide_paths, JobSpec& spec);

// The LLM parts of a job from its config: model clients (one per role), the
// generate and solve tasks, the agreement check and, for LLM generators, the
// source. Errors name the config key or endpoint.
Status apply_llm_config(const JobConfig& config, const std::vector<Seed>& seeds, JobSpec& spec);

// The distribution -> module map of a config (built-ins plus its entries).
sandbox::SandboxOptions sandbox_options(const JobConfig& config, const std::vector<Seed>& seeds,
                                        const std::vector<std::string>& hide_paths);
std::map<std::string, std::string> distribution_modules(const JobConfig& config);

}  // namespace vf
