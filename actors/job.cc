#include "actors/job.h"

#include <filesystem>
#include <set>

#include <spdlog/spdlog.h>

namespace vf {

namespace {
std::map<std::string, std::string> parse_pairs(const std::vector<std::string>& entries,
                                               std::map<std::string, std::string> base = {}) {
  for (const auto& e : entries) {
    auto eq = e.find('=');
    if (eq != std::string::npos) base[e.substr(0, eq)] = e.substr(eq + 1);
  }
  return base;
}
}  // namespace

std::map<std::string, std::string> distribution_modules(const JobConfig& c) {
  return parse_pairs(c.distribution_modules, sandbox::default_distribution_modules());
}

sandbox::SandboxOptions sandbox_options(const JobConfig& c, const std::vector<Seed>& seeds,
                                        const std::vector<std::string>& hide_paths) {
  sandbox::SandboxOptions o;
  o.python = c.python;
  o.workers = c.executor_workers;
  o.contain = c.contain;
  o.aliases = parse_pairs(c.import_aliases);
  o.uid_base = c.uid_base;
  o.tmp_mb = c.tmp_mb;
  auto dist = distribution_modules(c);
  std::set<std::string> modules(c.preimport.begin(), c.preimport.end());
  for (const auto& s : seeds)
    for (const auto& m : required_modules(s, dist)) modules.insert(m);
  o.preimport.assign(modules.begin(), modules.end());
  o.hide_paths = {"/root", "/home", "/etc/shadow", "/etc/gshadow"};
  for (const auto& p : hide_paths) o.hide_paths.push_back(std::filesystem::absolute(p).lexically_normal().string());
  return o;
}

void apply_config(const JobConfig& c, const std::vector<Seed>& seeds, const std::vector<std::string>& hide_paths,
                  JobSpec& spec) {
  spec.generator.max_items = c.effective_max_generated();
  spec.generator.batch_size = c.batch_size;
  spec.generator.report_interval_ms = c.progress_interval_ms;
  spec.executor.mode =
      c.sandbox_mode == "fresh-interpreter" ? sandbox::SandboxMode::kFreshInterpreter : sandbox::SandboxMode::kForkServer;
  spec.executor.sandbox = sandbox_options(c, seeds, hide_paths);
  spec.executor.limits.wall_timeout_s = c.timeout_s;
  spec.executor.limits.cpu_seconds = c.cpu_seconds;
  spec.executor.limits.address_space_mb = c.memory_mb;
  spec.executor.limits.max_output_bytes = c.max_output_bytes;
  spec.executor.limits.max_file_bytes = c.max_file_mb << 20;
  spec.executor.limits.max_processes = c.max_processes;
  spec.executor.runs_per_item = c.runs_per_item;
  spec.executor.capacity = c.executor_credits;
  spec.executor.batch_size = c.batch_size;
  spec.executor.report_interval_ms = c.progress_interval_ms;
  spec.verifier.capacity = c.verifier_credits;
  spec.verifier.batch_size = c.batch_size;
  spec.verifier.report_interval_ms = c.progress_interval_ms;
  spec.writer.capacity = c.writer_credits;
  spec.writer.sync = c.checkpoint_sync != "none";
  spec.writer.delay_ms = c.writer_delay_ms;
  spec.writer.report_interval_ms = c.progress_interval_ms;
  spec.writer.job_name = c.name;
}

Status apply_llm_config(const JobConfig& c, const std::vector<Seed>& seeds, JobSpec& spec) {
  bool llm_generator = c.generator != "variant";
  if (!llm_generator && !c.solver_enabled) return {};
  auto templates = load_templates(c);
  if (!templates) return Error{templates.error()};
  auto policies = equivalence_policies(c);
  if (!policies) return Error{policies.error()};
  auto client_for = [&](const std::string& role) -> Expected<std::shared_ptr<model::ModelClient>> {
    model::ClientOptions o;
    o.backoff.base_s = c.model_backoff_base_s;
    o.backoff.max_s = c.model_backoff_max_s;
    o.backoff.max_attempts = static_cast<int>(c.model_max_attempts);
    o.random_seed = c.random_seed;
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
    if (!client) return Error{role + " endpoints: " + client.error()};
    return std::shared_ptr<model::ModelClient>(std::move(client.value()));
  };
  auto stage = [&](const char* name) {
    LlmStageOptions s;
    s.name = name;
    s.log_code = std::string(name) == "generate" ? kGenerateStage : kSolveStage;
    s.capacity = c.llm_credits;
    s.batch_size = c.batch_size;
    s.report_interval_ms = c.progress_interval_ms;
    return s;
  };
  if (llm_generator) {
    auto client = client_for("generator");
    if (!client) return Error{client.error()};
    spec.generator_client = client.value();
    spec.generate_task =
        make_generate_task({c.generator_temperature, c.generator_max_tokens, c.generator_top_p, c.generator_stop});
    spec.generate_stage = stage("generate");
    spec.generate_stage.similarity_threshold = c.similarity_threshold;
    for (const auto& s : seeds) spec.generate_stage.similarity_pool.push_back(s.question);
    if (c.generator == "self-instruct")
      spec.source = std::make_shared<SelfInstructSource>(seeds, c.generator_examples, c.random_seed, templates.value(),
                                                         distribution_modules(c));
    else if (c.generator == "evol-instruct")
      spec.source = std::make_shared<EvolInstructSource>(seeds, c.random_seed, templates.value(), distribution_modules(c));
    else
      spec.source = std::make_shared<FewShotSource>(seeds, c.generator_examples, c.random_seed, templates.value(),
                                                    distribution_modules(c));
  }
  auto solver = client_for("solver");
  if (!solver) return Error{solver.error()};
  spec.solver_client = solver.value();
  SolveOptions so;
  so.samples = c.solver_samples;
  so.use_n = c.solver_use_n;
  so.temperature = c.solver_temperature;
  so.max_tokens = c.solver_max_tokens;
  so.top_p = c.solver_top_p;
  so.stop = c.solver_stop;
  equiv::Policy extraction;  // one parser of fallback names: the equivalence policy's
  if (auto s = equiv::set_policy_field(extraction, "fallback", c.extract_fallback); !s)
    return Error{"key 'solver.extract_fallback': " + s.error()};
  so.fallback = extraction.fallback;
  so.templates = templates.value();
  spec.solve_task = make_solve_task(std::move(so));
  spec.solve_stage = stage("solve");
  AgreementOptions ao;
  ao.check = {c.max_answer_chars, policies.value()};
  ao.majority = c.agreement == "majority";
  ao.drop_all_solved = c.drop_all_solved;
  ao.drop_none_solved = c.drop_none_solved;
  spec.check = make_agreement_check(std::move(ao));
  spec.writer.curriculum = c.curriculum;
  return {};
}

Expected<ResumeInfo> prepare_resume(JobSpec& spec) {
  ResumeInfo info;
  if (!spec.store) return info;
  if (auto s = spec.source->bind(*spec.store); !s) return Error{s.error()};
  auto r = recover(*spec.store);
  if (!r) return Error{r.error()};
  info.fresh = r->fresh;
  info.issued = r->generator.issued;
  info.in_flight = r->in_flight.size();
  if (r->writer) {
    info.finished = r->writer->finished;
    info.accepted = r->writer->tally.total_accepted();
    info.rejected = r->writer->tally.total_rejected();
    uint64_t target = spec.writer.target ? spec.writer.target : CommitGate::kUnlimited;
    spec.generator.target_covered = r->writer->gate.accepted_known >= target;
  }
  spec.generator.resume_from = r->generator;
  spec.generator.in_flight = std::move(r->in_flight);
  return info;
}

JobOutcome run_job(JobSpec spec) {
  JobOutcome outcome;
  spec.generator.store = spec.store;
  spec.executor.store = spec.store;
  spec.executor.audit = spec.audit;
  spec.verifier.store = spec.store;
  if (spec.store) spec.writer.store = spec.store;
  for (auto* s : {&spec.generate_stage, &spec.solve_stage}) {
    s->store = spec.store;
    s->audit = spec.audit;
  }
  caf::actor_system_config cfg;
  wire::register_wire_types(cfg);
  if (spec.scheduler_threads) cfg.set("scheduler.max-threads", static_cast<size_t>(spec.scheduler_threads));
  auto executor = sandbox::make_executor(spec.executor.mode, spec.executor.sandbox);
  if (!executor) {
    outcome.error = executor.error();
    return outcome;
  }
  std::shared_ptr<sandbox::Executor> pool = std::move(executor.value());
  caf::actor_system sys{cfg};
  {
    caf::scoped_actor self{sys};
    auto monitor = caf::actor_cast<wire::monitor_actor>(self);
    std::vector<std::pair<caf::actor, std::string>> stages;  // for monitoring and stopping
    spec.writer.feedback = spec.source && spec.source->wants_feedback();
    auto writer = spawn_writer(sys, spec.writer, monitor);
    stages.emplace_back(caf::actor_cast<caf::actor>(writer), "writer");
    auto verifier = spawn_verifier(sys, spec.check, spec.verifier, writer, monitor);
    stages.emplace_back(caf::actor_cast<caf::actor>(verifier), "verifier");
    wire::downstream_actor after_executor = verifier;
    if (spec.solve_task) {
      auto solve = spawn_llm_stage(sys, spec.solve_stage, spec.solve_task, spec.solver_client, verifier, monitor);
      stages.emplace_back(caf::actor_cast<caf::actor>(solve), spec.solve_stage.name);
      after_executor = solve;
    }
    auto executor = spawn_executor_stage(sys, spec.executor, std::move(pool), after_executor, monitor);
    stages.emplace_back(caf::actor_cast<caf::actor>(executor), "executor");
    wire::downstream_actor after_generator = executor;
    if (spec.generate_task) {
      auto generate =
          spawn_llm_stage(sys, spec.generate_stage, spec.generate_task, spec.generator_client, executor, monitor);
      stages.emplace_back(caf::actor_cast<caf::actor>(generate), spec.generate_stage.name);
      after_generator = generate;
    }
    auto generator = spawn_generator(sys, spec.source, spec.generator, after_generator, monitor);
    stages.emplace_back(caf::actor_cast<caf::actor>(generator), "generator");
    spec.source.reset();  // the generator owns it now
    spec.generator_client.reset();  // the LLM stages own the clients now
    spec.solver_client.reset();
    spec.store.reset();  // the stages share it now; the last one to go closes it
    std::map<caf::actor_addr, std::string> names;
    for (const auto& [actor, name] : stages) {
      names[actor.address()] = name;
      self->monitor(actor);
    }

    auto stop_all = [&](caf::exit_reason why) {
      for (auto it = stages.rbegin(); it != stages.rend(); ++it) self->send_exit(it->first, why);
    };
    bool done = false;
    self->receive_while([&] { return !done; })(
        [&](const wire::stage_report_msg& m) {
          if (auto r = wire::unpack(m)) {
            outcome.stages[r->stage] = *r;
            if (spec.on_progress) spec.on_progress(outcome.stages);
          }
        },
        [&](const wire::job_report_msg& m) {
          done = true;
          auto r = wire::unpack(m);
          if (!r) {
            outcome.error = r.error();
            return;
          }
          outcome.ok = r->ok;
          outcome.error = r->error;
          if (!r->summary_json.empty()) outcome.summary = nlohmann::json::parse(r->summary_json, nullptr, false);
        },
        [&](const caf::down_msg& d) {
          if (d.reason && d.reason != caf::exit_reason::normal) {
            outcome.error = "stage " + names[d.source] + " stopped: " + sys.render(d.reason);
            done = true;
          }
        },
        caf::after(std::chrono::milliseconds(200)) >>
            [&] {
              if (spec.interrupt && spec.interrupt->load()) {
                outcome.error = "interrupted";
                done = true;
              }
            });
    if (!outcome.ok) stop_all(caf::exit_reason::user_shutdown);
    // Drain the last reports that raced with the job report.
    bool draining = true;
    self->receive_while([&] { return draining; })(
        [&](const wire::stage_report_msg& m) {
          if (auto r = wire::unpack(m)) outcome.stages[r->stage] = *r;
        },
        [&](const caf::down_msg&) {}, caf::after(std::chrono::milliseconds(0)) >> [&] { draining = false; });
  }
  return outcome;
}

}  // namespace vf
