#include "actors/pipeline.h"

#include <spdlog/spdlog.h>

#include "dataflow/agreement.h"

namespace vf {

namespace {

// The check a verify worker applies, from the job's verify work.
Expected<std::shared_ptr<const Check>> make_verify_check(const VerifyWork& w) {
  auto policies = equivalence_policies(w.equivalence);
  if (!policies) return policies.failure();
  CheckOptions options{w.max_answer_chars, policies.value()};
  if (w.check == "agreement") {
    AgreementOptions a;
    a.check = options;
    a.majority = w.majority;
    a.drop_all_solved = w.drop_all_solved;
    a.drop_none_solved = w.drop_none_solved;
    return std::shared_ptr<const Check>(make_agreement_check(std::move(a)));
  }
  auto check = make_check(w.check, options);
  if (!check) return invalid_input("unknown verify check '" + w.check + "'");
  return std::shared_ptr<const Check>(std::move(check));
}

}  // namespace

PipelineOutcome run_pipeline(const PipelinePlan& plan, const WorkSpec& work, CoordinatorParts parts, LocalWork local,
                             const RunControl& control) {
  PipelineOutcome outcome;
  auto check = make_verify_check(work.verify);
  if (!check) {
    outcome.error = check.error();
    return outcome;
  }
  std::shared_ptr<const ModelTask> generate_task, solve_task;
  if (plan.stage(StageKind::kGenerate)) generate_task = make_generate_task(work.generate);
  if (plan.stage(StageKind::kSolve)) solve_task = make_solve_task(work.solve);

  caf::actor_system_config cfg;
  wire::register_wire_types(cfg);
  if (control.scheduler_threads) cfg.set("scheduler.max-threads", static_cast<size_t>(control.scheduler_threads));
  caf::actor_system sys{cfg};
  {
    caf::scoped_actor self{sys};
    auto monitor = caf::actor_cast<wire::monitor_actor>(self);
    std::vector<std::pair<caf::actor, std::string>> actors;  // for monitoring and stopping

    // The writer first, then each stage from the last to the first: every
    // stage attaches to the one after it.
    wire::downstream_actor next;
    if (plan.writer == WriterKind::kDataset) {
      parts.dataset.capacity = plan.writer_capacity;
      parts.dataset.report_interval_ms = plan.report_interval_ms;
      parts.dataset.log = parts.writer_log;
      parts.dataset.feedback = parts.source && parts.source->wants_feedback();
      next = spawn_dataset_writer(sys, parts.dataset, monitor);
    } else {
      parts.seed_check.capacity = plan.writer_capacity;
      parts.seed_check.report_interval_ms = plan.report_interval_ms;
      next = spawn_seed_check_writer(sys, parts.seed_check, monitor);
    }
    actors.emplace_back(caf::actor_cast<caf::actor>(next), "writer");
    for (auto spec = plan.stages.rbegin(); spec != plan.stages.rend(); ++spec) {
      DispatcherSetup d;
      d.spec = *spec;
      d.batch_size = plan.batch_size;
      d.report_interval_ms = plan.report_interval_ms;
      d.log = parts.stage_log;
      d.audit = parts.audit;
      d.next = next;
      if (spec->kind == StageKind::kGenerate) d.similarity = parts.similarity;
      for (uint32_t i = 0; i < spec->local_workers; ++i) {
        wire::worker_actor w;
        switch (spec->kind) {
          case StageKind::kExecute:
            w = spawn_execute_worker(sys, {spec->name, local.executor, run_limits(work.execute),
                                           work.execute.runs_per_item, spec->worker_capacity, local.audit});
            break;
          case StageKind::kGenerate:
            w = spawn_model_worker(sys, {spec->name, generate_task, local.generator_client, spec->worker_capacity,
                                         local.audit});
            break;
          case StageKind::kSolve:
            w = spawn_model_worker(sys, {spec->name, solve_task, local.solver_client, spec->worker_capacity,
                                         local.audit});
            break;
          case StageKind::kVerify:
            w = spawn_verify_worker(sys, {spec->name, check.value(), spec->worker_capacity});
            break;
        }
        actors.emplace_back(caf::actor_cast<caf::actor>(w), spec->name + "-worker");
        d.workers.push_back(std::move(w));
      }
      auto dispatcher = spawn_dispatcher(sys, std::move(d), monitor);
      actors.emplace_back(caf::actor_cast<caf::actor>(dispatcher), spec->name);
      next = dispatcher;
    }
    GeneratorSetup g;
    g.source = parts.source;
    g.log = parts.stage_log;
    g.resume_from = parts.resume_from;
    g.in_flight = std::move(parts.in_flight);
    g.target_covered = parts.target_covered;
    g.max_items = plan.max_items;
    g.batch_size = plan.batch_size;
    g.report_interval_ms = plan.report_interval_ms;
    g.next = next;
    auto generator = spawn_generator(sys, std::move(g), monitor);
    actors.emplace_back(caf::actor_cast<caf::actor>(generator), "generator");
    // The actors hold what they use from here on; the last to go closes it.
    parts = CoordinatorParts{};
    local = LocalWork{};
    next = wire::downstream_actor{};

    std::map<caf::actor_addr, std::string> names;
    for (const auto& [actor, name] : actors) {
      names[actor.address()] = name;
      self->monitor(actor);
    }
    auto stop_all = [&](caf::exit_reason why) {
      for (auto it = actors.rbegin(); it != actors.rend(); ++it) self->send_exit(it->first, why);
    };
    bool done = false;
    self->receive_while([&] { return !done; })(
        [&](wire::stage_report_msg& m) {
          if (!m.ok()) return;
          outcome.stages[m.value.stage] = m.value;
          if (control.on_progress) control.on_progress(outcome.stages);
        },
        [&](wire::job_report_msg& m) {
          done = true;
          if (!m.ok()) {
            outcome.error = m.decode_error;
            return;
          }
          outcome.ok = m.value.ok;
          outcome.error = m.value.error;
          if (!m.value.summary_json.empty())
            outcome.summary = nlohmann::json::parse(m.value.summary_json, nullptr, false);
        },
        [&](const caf::down_msg& d) {
          if (d.reason && d.reason != caf::exit_reason::normal) {
            outcome.error = "stage " + names[d.source] + " stopped: " + sys.render(d.reason);
            done = true;
          }
        },
        caf::after(std::chrono::milliseconds(200)) >>
            [&] {
              if (control.interrupt && control.interrupt->load()) {
                outcome.error = "interrupted";
                done = true;
              }
            });
    if (!outcome.ok) stop_all(caf::exit_reason::user_shutdown);
    // Drain the last reports that raced with the job report.
    bool draining = true;
    self->receive_while([&] { return draining; })(
        [&](wire::stage_report_msg& m) {
          if (m.ok()) outcome.stages[m.value.stage] = m.value;
        },
        [&](const caf::down_msg&) {}, caf::after(std::chrono::milliseconds(0)) >> [&] { draining = false; });
  }
  return outcome;
}

}  // namespace vf
