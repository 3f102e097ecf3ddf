// What a job is made of, from its config and seeds: the pipeline plan, the
// work spec every worker gets, the item source, the similarity filter, and
// this node's resources (sandbox pool, model clients). One place decides
// which stages a job has and which check its verifier applies, for `run`,
// `verify-seeds` and (later) a cluster's coordinator and workers.
//
// Reads the files a config names (prompt templates); starts processes only
// in start_sandbox(). Thread-safety: none needed.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "actors/pipeline.h"
#include "base/status.h"
#include "dataflow/config.h"
#include "dataflow/pipeline_plan.h"
#include "dataflow/prompts.h"
#include "dataflow/seeds.h"
#include "dataflow/sources.h"
#include "sandbox/fork_server.h"

namespace vf {

// What a job does: a generation job (`run`) or a check of the seeds against
// their own final answers (`verify-seeds`).
enum class JobKind { kGenerate, kSeedCheck };

// The templates the config names (files, relative paths already resolved),
// else the built-in ones for its generator kind; errors name key and file.
Expected<PromptTemplates> load_templates(const JobConfig& config);

// Stages, capacities and placement (all local workers today).
PipelinePlan make_plan(const JobConfig& config, JobKind kind);

// What workers need for every kind of work of this job.
Expected<WorkSpec> make_work_spec(const JobConfig& config, const std::vector<Seed>& seeds, JobKind kind);

// The distribution -> module map of a config (built-ins plus its entries).
DistributionModules distribution_modules(const JobConfig& config);

// The generator's source: variant, few-shot, self-instruct, evol-instruct,
// or the seeds themselves (seed check). Errors are invalid input (a variant
// job whose seeds have no eligible constant).
Expected<std::shared_ptr<ItemSource>> make_source(const JobConfig& config, const std::vector<Seed>& seeds, JobKind kind);

// The generate stage's similarity filter (null when off or not an LLM job).
std::shared_ptr<SimilarityFilter> make_similarity_filter(const JobConfig& config, const std::vector<Seed>& seeds);

// The fork servers' options: the work spec's sandbox settings plus this
// node's own (workers, uids, the paths to hide: /root, /home, /etc/shadow,
// and `hide_paths` such as the job's output folder).
sandbox::SandboxOptions sandbox_options(const ExecuteWork& work, const JobConfig& node,
                                        const std::vector<std::string>& hide_paths);

// This process's workers' resources, in two steps: a model client per role
// the plan needs (no connection is made yet; errors name the endpoint), then
// the sandbox pool (its servers start here; errors name the failure).
Expected<LocalWork> make_model_clients(const JobConfig& config, const PipelinePlan& plan);
Status start_sandbox(LocalWork& local, const JobConfig& config, const WorkSpec& work,
                     const std::vector<std::string>& hide_paths);

}  // namespace vf
