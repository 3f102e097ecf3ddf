// Job: one generation job's lifecycle, from a request to its outputs.
//
//   auto job = Job::prepare(request, notes);  // config, seeds, plan, source, clients: nothing written
//   job->open();                              // the folder and its checkpoint log: new, or the same job resumed
//   job->run(control);                        // the pipeline to its end; summary.json with model usage
//
// prepare() fails with kInvalidInput for anything the user must fix (config,
// seeds, endpoints, a seed set the generator cannot use) and writes nothing.
// open() creates the folder, opens its log and, for a logged job, refuses a
// different config or seed set (kInvalidInput, naming each changed key;
// `force` continues anyway), an unreadable log format (kUnsupported), and a
// folder holding outputs without a log; it records what the job is (config,
// seed hash, how it was invoked) and recovers the generator's and writer's
// progress. A storage failure is kIoError or kCorruption: what was committed
// stays, and the same request resumes once the cause is fixed.
//
// One Job per process at a time; not thread-safe. The job's store stays
// open (and locked against a second writer) from open() until the Job is
// destroyed.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/pipeline.h"
#include "base/status.h"
#include "dataflow/config.h"
#include "dataflow/seeds.h"
#include "job/assembly.h"
#include "storage/job_store.h"

namespace vf {

class NodeCommands;

struct JobRequest {
  std::string config_path;             // as the user spelled it
  std::vector<std::string> overrides;  // --set key=value
  std::string out_dir;                 // empty: the config's out_dir
  bool skip_invalid_seeds = false;
  bool force = false;                  // resume under a changed config or seed set
  std::string cwd;                     // where relative paths were meant (for `resume`)
  std::string listen;                  // HOST:PORT: coordinate workers that join (run --listen)
  std::string console;                 // HOST:PORT: serve the operator console (run --console; else console.listen)
  // Called once the coordinator listens, with the port it got (port 0 asks for any).
  std::function<void(uint16_t)> on_listening;
  Env* env = Env::posix();             // the log's and outputs' files go through it (tests inject faults)
};

// What the folder held when the job was opened.
struct ResumeState {
  bool fresh = true;
  bool finished = false;  // the logged job had already finished
  uint64_t issued = 0;
  size_t in_flight = 0;
  uint64_t accepted = 0;
  uint64_t rejected = 0;
};

struct JobResult {
  bool ok = false;
  bool interrupted = false;
  std::string error;
  nlohmann::json summary;  // as written to summary.json
  std::map<std::string, wire::StageReport> stages;
  bool target_met() const { return summary.is_object() && summary.value("target_met", false); }
};

class Job {
 public:
  // `notes` receives what the user should see even when preparing succeeds
  // (seed problems skipped with --skip-invalid-seeds) or fails (each seed
  // problem, before the error that sums them up).
  static Expected<std::unique_ptr<Job>> prepare(const JobRequest& request, std::vector<std::string>& notes);
  ~Job();

  Status open();
  const ResumeState& state() const { return state_; }
  // The summary of a job that had finished before open() (summary.json is
  // written again from the log when it is missing).
  Expected<nlohmann::json> finished_summary();

  JobResult run(const RunControl& control);

  const JobConfig& config() const { return config_; }
  const std::string& out_dir() const { return out_dir_; }
  size_t seed_count() const { return seeds_.seeds.size(); }

 private:
  Job() = default;
  Status write_summary(nlohmann::json& summary);
  Status recover_outputs();
  Expected<PipelineOutcome> run_coordinator(CoordinatorParts parts, LocalWork local, const RunControl& control,
                                            std::shared_ptr<JobLog> log,
                                           std::shared_ptr<NodeCommands> node_commands);

  JobRequest request_;
  JobConfig config_;
  SeedSet seeds_;
  std::string out_dir_;
  PipelinePlan plan_;
  WorkSpec work_;
  std::shared_ptr<ItemSource> source_;
  std::shared_ptr<SimilarityFilter> similarity_;
  LocalWork local_;
  std::shared_ptr<JobStore> store_;
  ResumeState state_;
  GeneratorCheckpoint resume_from_;
  std::vector<Item> in_flight_;
  bool target_covered_ = false;
  std::string cluster_token_;  // with request_.listen
};

// The request the job in `dir` was started with (its logged invocation), for
// `veriforge resume DIR`. Relative paths in it mean what they meant in
// request.cwd, where the caller must run it.
Expected<JobRequest> logged_request(const std::string& dir);

// Seed problems as the lines the user sees ("seed error: FILE: item 3 ...",
// at most `limit`, then how many more).
std::vector<std::string> seed_problem_lines(const SeedSet& seeds, size_t limit = 50);
// "seed warning: ..." lines (loaded anyway), then the count of dropped duplicates.
std::vector<std::string> seed_warning_lines(const SeedSet& seeds, size_t limit = 20);

// Model usage (calls, retries, tokens) per stage and endpoint, and totals.
nlohmann::json model_usage(const model::ModelClient* generator, const model::ModelClient* solver);

// Writes `text` to `path` atomically: a temporary file, fsynced, renamed.
Status write_file_atomically(const std::string& path, const std::string& text);

}  // namespace vf
