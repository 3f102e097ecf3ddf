#include "job/assembly.h"

#include "sandbox/metered.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "base/text.h"
#include "dataflow/llm_sources.h"
#include "model/client.h"

namespace vf {

namespace {

Expected<std::string> read_template(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  if (!in) return invalid_input("key '" + key + "': cannot read prompt template " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

Expected<PromptTemplates> load_templates(const JobConfig& c) {
  PromptTemplates t = builtin_templates(c.generator.kind);
  if (!c.generator.prompt.empty()) {
    auto f = read_template(c.generator.prompt, "generator.prompt");
    if (!f) return f.failure();
    t.generator = f.value();
  }
  if (!c.solver.prompt.empty()) {
    auto f = read_template(c.solver.prompt, "solver.prompt");
    if (!f) return f.failure();
    t.solver = f.value();
  }
  if (!c.solver.system_prompts.empty()) {
    t.solver_systems.clear();
    for (const auto& p : c.solver.system_prompts) {
      auto f = read_template(p, "solver.system_prompts");
      if (!f) return f.failure();
      t.solver_systems.push_back(f.value());
    }
  }
  return t;
}

PipelinePlan make_plan(const JobConfig& c, JobKind kind) {
  PipelinePlan plan;
  plan.batch_size = c.pipeline.batch_size;
  plan.report_interval_ms = c.job.progress_interval_ms;
  plan.worker_failure_limit = c.cluster.worker_failure_limit;
  plan.quarantine_s = c.cluster.quarantine_s;
  plan.lease_bytes_per_node = c.cluster.lease_mb_per_node << 20;
  plan.writer_capacity = c.pipeline.writer_credits;
  auto stage = [](StageKind k, std::string name, uint32_t capacity) {
    StageSpec s;
    s.kind = k;
    s.name = std::move(name);
    s.capacity = capacity;
    s.local_workers = 1;
    s.worker_capacity = capacity;
    return s;
  };
  if (kind == JobKind::kSeedCheck) {
    plan.writer = WriterKind::kSeedCheck;
    plan.stages = {stage(StageKind::kExecute, "executor", c.pipeline.executor_credits),
                   stage(StageKind::kVerify, "verifier", c.pipeline.verifier_credits)};
    return plan;
  }
  plan.writer = WriterKind::kDataset;
  plan.max_items = c.job.effective_max_generated();
  if (c.generator.uses_model()) plan.stages.push_back(stage(StageKind::kGenerate, "generate", c.pipeline.llm_credits));
  plan.stages.push_back(stage(StageKind::kExecute, "executor", c.pipeline.executor_credits));
  if (c.solves()) plan.stages.push_back(stage(StageKind::kSolve, "solve", c.pipeline.llm_credits));
  plan.stages.push_back(stage(StageKind::kVerify, "verifier", c.pipeline.verifier_credits));
  return plan;
}

DistributionModules distribution_modules(const JobConfig& c) {
  return parse_name_pairs(c.sandbox.distribution_modules, default_distribution_modules());
}

Expected<WorkSpec> make_work_spec(const JobConfig& c, const std::vector<Seed>& seeds, JobKind kind) {
  WorkSpec w;
  auto& e = w.execute;
  e.runs_per_item = kind == JobKind::kSeedCheck ? 1 : c.executor.runs;
  e.wall_timeout_s = c.executor.timeout_s;
  e.cpu_seconds = c.executor.cpu_s;
  e.address_space_mb = c.executor.memory_mb;
  e.max_output_bytes = c.executor.max_output_bytes;
  e.max_file_bytes = c.executor.max_file_mb << 20;
  e.max_processes = c.sandbox.max_processes;
  e.sandbox_mode = c.sandbox.mode;
  e.contain = c.sandbox.contain;
  e.python = c.executor.python;
  e.import_aliases = c.sandbox.import_aliases;
  e.tmp_mb = c.sandbox.tmp_mb;
  auto dist = distribution_modules(c);
  std::set<std::string> modules(c.sandbox.preimport.begin(), c.sandbox.preimport.end());
  for (const auto& s : seeds)
    for (const auto& m : required_modules(s, dist)) modules.insert(m);
  e.preimport.assign(modules.begin(), modules.end());

  auto& v = w.verify;
  v.max_answer_chars = c.verifier.max_answer_chars;
  v.equivalence = c.equivalence;
  v.majority = c.verifier.agreement == "majority";
  v.drop_all_solved = c.verifier.drop_all_solved;
  v.drop_none_solved = c.verifier.drop_none_solved;
  v.check = kind == JobKind::kSeedCheck ? "seed-match" : c.solves() ? "agreement" : "execution";
  if (kind == JobKind::kSeedCheck || !(c.generator.uses_model() || c.solves())) return w;

  auto templates = load_templates(c);
  if (!templates) return templates.failure();
  w.generate = {c.generator.temperature, c.generator.max_tokens, c.generator.top_p, c.generator.stop};
  auto& s = w.solve;
  s.samples = c.solver.samples;
  s.use_n = c.solver.use_n;
  s.temperature = c.solver.temperature;
  s.max_tokens = c.solver.max_tokens;
  s.top_p = c.solver.top_p;
  s.stop = c.solver.stop;
  equiv::Policy extraction;  // one parser of fallback names: the equivalence policy's
  if (auto st = equiv::set_policy_field(extraction, "fallback", c.solver.extract_fallback); !st)
    return invalid_input("key 'solver.extract_fallback': " + st.error());
  s.fallback = extraction.fallback;
  s.templates = templates.value();
  return w;
}

Expected<std::shared_ptr<ItemSource>> make_source(const JobConfig& c, const std::vector<Seed>& seeds, JobKind kind) {
  auto dist = distribution_modules(c);
  if (kind == JobKind::kSeedCheck) return std::shared_ptr<ItemSource>(std::make_shared<SeedSource>(seeds, dist));
  if (c.generator.kind == "variant") {
    auto source = std::make_shared<VariantSource>(seeds, c.job.random_seed, VariantOptions{c.generator.attempts_per_slot},
                                                  dist);
    if (source->eligible_seeds() == 0)
      return invalid_input("none of the " + std::to_string(seeds.size()) +
                           " seeds is eligible for the variant generator (a seed needs a numeric constant that "
                           "appears in both its question and its rationale code, and no other constant in the code)");
    return std::shared_ptr<ItemSource>(source);
  }
  auto templates = load_templates(c);
  if (!templates) return templates.failure();
  if (c.generator.kind == "self-instruct")
    return std::shared_ptr<ItemSource>(
        std::make_shared<SelfInstructSource>(seeds, c.generator.examples, c.job.random_seed, templates.value(), dist));
  if (c.generator.kind == "evol-instruct")
    return std::shared_ptr<ItemSource>(
        std::make_shared<EvolInstructSource>(seeds, c.job.random_seed, templates.value(), dist));
  return std::shared_ptr<ItemSource>(
      std::make_shared<FewShotSource>(seeds, c.generator.examples, c.job.random_seed, templates.value(), dist));
}

std::shared_ptr<SimilarityFilter> make_similarity_filter(const JobConfig& c, const std::vector<Seed>& seeds) {
  if (!c.generator.uses_model() || c.generator.similarity_threshold <= 0) return nullptr;
  std::vector<std::string> questions;
  for (const auto& s : seeds) questions.push_back(s.question);
  return std::make_shared<SimilarityFilter>(c.generator.similarity_threshold, questions);
}

sandbox::SandboxOptions sandbox_options(const ExecuteWork& w, const JobConfig& node,
                                        const std::vector<std::string>& hide_paths) {
  sandbox::SandboxOptions o;
  o.python = w.python;
  o.workers = node.executor.workers;
  o.contain = w.contain;
  o.aliases = parse_name_pairs(w.import_aliases);
  o.uid_base = node.sandbox.uid_base;
  o.tmp_mb = w.tmp_mb;
  o.preimport = w.preimport;
  o.hide_paths = {"/root", "/home", "/etc/shadow", "/etc/gshadow"};
  for (const auto& p : hide_paths) o.hide_paths.push_back(std::filesystem::absolute(p).lexically_normal().string());
  return o;
}

namespace {

Expected<std::shared_ptr<model::ModelClient>> model_client(const JobConfig& c, const std::string& role) {
  model::ClientOptions o;
  o.backoff.base_s = c.model.backoff_base_s;
  o.backoff.max_s = c.model.backoff_max_s;
  o.backoff.max_attempts = static_cast<int>(c.model.max_attempts);
  o.backoff.retry_after_max_s = c.model.retry_after_max_s;
  o.random_seed = c.job.random_seed;
  for (const auto& e : c.endpoints) {
    if (e.role != role && e.role != "both") continue;
    model::EndpointConfig ec;
    ec.name = e.name;
    ec.base_url = e.base_url;
    ec.model = e.model;
    ec.api_key_env = e.api_key_env;
    ec.max_in_flight = static_cast<int>(e.max_in_flight);
    ec.requests_per_minute = e.requests_per_minute;
    ec.tokens_per_minute = e.tokens_per_minute;
    ec.timeout_s = e.timeout_s;
    o.endpoints.push_back(ec);
  }
  auto client = model::ModelClient::create(o);
  if (!client) return invalid_input(role + " endpoints: " + client.error());
  return std::shared_ptr<model::ModelClient>(std::move(client.value()));
}

}  // namespace

Expected<LocalWork> make_model_clients(const JobConfig& c, const PipelinePlan& plan) {
  LocalWork local;
  local.audit = AuditTrail::from_env();
  if (plan.stage(StageKind::kGenerate)) {
    auto client = model_client(c, "generator");
    if (!client) return client.failure();
    local.generator_client = client.value();
  }
  if (plan.stage(StageKind::kSolve)) {
    auto client = model_client(c, "solver");
    if (!client) return client.failure();
    local.solver_client = client.value();
  }
  return local;
}

Status start_sandbox(LocalWork& local, const JobConfig& c, const WorkSpec& work,
                     const std::vector<std::string>& hide_paths) {
  auto mode = work.execute.sandbox_mode == "fresh-interpreter" ? sandbox::SandboxMode::kFreshInterpreter
                                                                : sandbox::SandboxMode::kForkServer;
  auto executor = sandbox::make_executor(mode, sandbox_options(work.execute, c, hide_paths));
  if (!executor) return Error{"sandbox: " + executor.error(), ErrorCode::kIoError};
  // Metered: the console shows what the runs ended as and may cap how many run at once.
  local.executor = std::make_shared<sandbox::MeteredExecutor>(std::move(executor.value()));
  return {};
}

}  // namespace vf
