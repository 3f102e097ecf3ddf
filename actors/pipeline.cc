#include "actors/pipeline.h"

#include <thread>

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

Pipeline::Pipeline(caf::actor_system& sys, PipelinePlan plan, WorkSpec work, CoordinatorParts parts, LocalWork local)
    : sys_(sys),
      plan_(std::move(plan)),
      work_(std::move(work)),
      parts_(std::move(parts)),
      local_(std::move(local)),
      self_(sys) {}

Pipeline::~Pipeline() {
  if (!ended_)
    for (auto it = actors_.rbegin(); it != actors_.rend(); ++it) self_->send_exit(it->first, caf::exit_reason::user_shutdown);
}

Expected<std::vector<WorkActor>> spawn_work_actors(caf::actor_system& sys, const PipelinePlan& plan,
                                                   const WorkSpec& work, const LocalWork& local,
                                                   const WorkActorChoice& choice) {
  auto check = make_verify_check(work.verify);
  if (!check) return check.failure();
  std::shared_ptr<const ModelTask> generate_task, solve_task;
  if (plan.stage(StageKind::kGenerate)) generate_task = make_generate_task(work.generate);
  if (plan.stage(StageKind::kSolve)) solve_task = make_solve_task(work.solve);
  std::vector<WorkActor> out;
  for (const auto& spec : plan.stages) {
    if (!choice.stages.empty() && !choice.stages.count(spec.name)) continue;
    uint32_t n = choice.per_stage ? choice.per_stage : spec.local_workers;
    for (uint32_t i = 0; i < n; ++i) {
      wire::worker_actor w;
      switch (spec.kind) {
        case StageKind::kExecute:
          w = spawn_execute_worker(sys, {spec.name, local.executor, run_limits(work.execute), work.execute.runs_per_item,
                                         spec.worker_capacity, local.audit, choice.counters});
          break;
        case StageKind::kGenerate:
          w = spawn_model_worker(
              sys, {spec.name, generate_task, local.generator_client, spec.worker_capacity, local.audit, choice.counters});
          break;
        case StageKind::kSolve:
          w = spawn_model_worker(
              sys, {spec.name, solve_task, local.solver_client, spec.worker_capacity, local.audit, choice.counters});
          break;
        case StageKind::kVerify:
          w = spawn_verify_worker(sys, {spec.name, check.value(), spec.worker_capacity, choice.counters});
          break;
      }
      out.push_back(WorkActor{spec.name, spec.worker_capacity, std::move(w)});
    }
  }
  return out;
}

Status Pipeline::start() {
  auto monitor = caf::actor_cast<wire::monitor_actor>(self_);
  auto local_actors = spawn_work_actors(sys_, plan_, work_, local_, {});
  if (!local_actors) return local_actors.failure();

  // The writer first, then each stage from the last to the first: every
  // stage attaches to the one after it.
  wire::downstream_actor next;
  if (plan_.writer == WriterKind::kDataset) {
    parts_.dataset.capacity = plan_.writer_capacity;
    parts_.dataset.report_interval_ms = plan_.report_interval_ms;
    parts_.dataset.log = parts_.writer_log;
    parts_.dataset.feedback = parts_.source && parts_.source->wants_feedback();
    writer_ = spawn_dataset_writer(sys_, parts_.dataset, monitor);
    next = writer_;
  } else {
    parts_.seed_check.capacity = plan_.writer_capacity;
    parts_.seed_check.report_interval_ms = plan_.report_interval_ms;
    writer_ = spawn_seed_check_writer(sys_, parts_.seed_check, monitor);
    next = writer_;
  }
  actors_.emplace_back(caf::actor_cast<caf::actor>(next), "writer");
  for (auto spec = plan_.stages.rbegin(); spec != plan_.stages.rend(); ++spec) {
    DispatcherSetup d;
    d.spec = *spec;
    d.batch_size = plan_.batch_size;
    d.report_interval_ms = plan_.report_interval_ms;
    d.log = parts_.stage_log;
    d.audit = parts_.audit;
    d.next = next;
    d.worker_failure_limit = plan_.worker_failure_limit;
    d.quarantine_s = plan_.quarantine_s;
    d.lease_bytes_per_node = plan_.lease_bytes_per_node;
    if (spec->kind == StageKind::kGenerate) d.similarity = parts_.similarity;
    for (auto& w : local_actors.value())
      if (w.stage == spec->name) {
        actors_.emplace_back(caf::actor_cast<caf::actor>(w.actor), spec->name + "-worker");
        d.workers.push_back(w.actor);
      }
    auto dispatcher = spawn_dispatcher(sys_, std::move(d), monitor);
    actors_.emplace_back(caf::actor_cast<caf::actor>(dispatcher), spec->name);
    dispatchers_[spec->name] = dispatcher;
    next = dispatcher;
  }
  GeneratorSetup g;
  g.source = parts_.source;
  g.log = parts_.stage_log;
  g.resume_from = parts_.resume_from;
  g.in_flight = std::move(parts_.in_flight);
  g.target_covered = parts_.target_covered;
  g.start_paused = parts_.start_paused;
  g.max_items = plan_.max_items;
  g.batch_size = plan_.batch_size;
  g.report_interval_ms = plan_.report_interval_ms;
  g.next = next;
  auto generator = spawn_generator(sys_, std::move(g), monitor);
  generator_ = generator;
  actors_.emplace_back(caf::actor_cast<caf::actor>(generator), "generator");
  // The actors hold what they use from here on; the last to go closes it.
  parts_ = CoordinatorParts{};
  local_ = LocalWork{};
  for (const auto& [actor, name] : actors_) self_->monitor(actor);
  return {};
}

PipelineOutcome Pipeline::wait(const RunControl& control) {
  PipelineOutcome outcome;
  std::map<caf::actor_addr, std::string> names;
  for (const auto& [actor, name] : actors_) names[actor.address()] = name;
  bool done = false;
  bool paused = parts_.start_paused;
  uint64_t target_sent = 0;
  // Draining: the stages' reports since it began; two in a row from every
  // stage with nothing held end the job.
  std::map<std::string, int> drained_reports;
  bool draining = false;
  auto drain_complete = [&] {
    if (!draining || outcome.stages.empty()) return false;
    for (const auto& [name, r] : outcome.stages)
      if (r.held != 0 || drained_reports[name] < 2) return false;
    return true;
  };
  // Checked after every message, not only when none comes for a while: a
  // busy job reports many times a second.
  auto interrupted = [&] {
    if (!done && ((control.interrupt && control.interrupt->load()) || (control.stop_now && control.stop_now->load()))) {
      outcome.error = "interrupted";
      done = true;
    }
    if (control.drain && control.drain->load() && !draining) draining = true;
    bool want_paused = (control.pause && control.pause->load()) || draining;
    if (want_paused != paused && generator_) {
      paused = want_paused;
      self_->send(generator_, wire::pack(wire::Pause{paused}));
    }
    if (control.target && control.target->load() > target_sent) {
      target_sent = control.target->load();
      wire::SetTarget t{target_sent, control.max_items ? control.max_items->load() : 0};
      if (generator_) self_->send(generator_, wire::pack(t));
      if (writer_) self_->send(writer_, wire::pack(t));
    }
    if (!done && drain_complete()) {
      outcome.error = "drained";
      done = true;
    }
  };
  self_->receive_while([&] { return !done; })(
      [&](wire::stage_report_msg& m) {
        if (!m.ok()) return;
        outcome.stages[m.value.stage] = m.value;
        if (draining) {
          int& n = drained_reports[m.value.stage];
          n = m.value.held == 0 ? n + 1 : 0;
        }
        if (control.on_progress) control.on_progress(outcome.stages);
        interrupted();
      },
      [&](wire::job_report_msg& m) {
        done = true;
        if (!m.ok()) {
          outcome.error = m.decode_error;
          return;
        }
        outcome.ok = m.value.ok;
        outcome.error = m.value.error;
        if (!m.value.summary_json.empty()) outcome.summary = nlohmann::json::parse(m.value.summary_json, nullptr, false);
      },
      [&](const caf::down_msg& d) {
        if (d.reason && d.reason != caf::exit_reason::normal) {
          outcome.error = "stage " + names[d.source] + " stopped: " + sys_.render(d.reason);
          done = true;
        }
      },
      caf::after(std::chrono::milliseconds(200)) >> [&] { interrupted(); });
  if (!outcome.ok)
    for (auto it = actors_.rbegin(); it != actors_.rend(); ++it) self_->send_exit(it->first, caf::exit_reason::user_shutdown);
  ended_ = true;
  // Drain the last reports that raced with the job report.
  bool reports_left = true;
  self_->receive_while([&] { return reports_left; })(
      [&](wire::stage_report_msg& m) {
        if (m.ok()) outcome.stages[m.value.stage] = m.value;
      },
      [&](const caf::down_msg&) {}, caf::after(std::chrono::milliseconds(0)) >> [&] { reports_left = false; });
  return outcome;
}

void configure_scheduler(caf::actor_system_config& cfg, size_t threads) {
  cfg.set("scheduler.max-threads", threads);
  // An idle CAF worker thread polls its queue 100 times, then 500 times with
  // 50 us sleeps, before it sleeps 10 ms at a time. At a few hundred messages
  // a second the threads never get past the second phase and burn CPU
  // polling: measured by llm_bench at C = 64, 0.90 CPU ms per item with 500
  // polls, 0.20 with 5, the same throughput at every concurrency.
  cfg.set("work-stealing.moderate-poll-attempts", size_t{5});
}

PipelineOutcome run_pipeline(const PipelinePlan& plan, const WorkSpec& work, CoordinatorParts parts, LocalWork local,
                             const RunControl& control) {
  caf::actor_system_config cfg;
  wire::register_wire_types(cfg);
  size_t threads = control.scheduler_threads ? control.scheduler_threads : std::max(1u, std::thread::hardware_concurrency());
  configure_scheduler(cfg, threads);
  caf::actor_system sys{cfg};
  PipelineOutcome outcome;
  {
    Pipeline pipeline(sys, plan, work, std::move(parts), std::move(local));
    if (auto s = pipeline.start(); !s) {
      outcome.error = s.error();
      return outcome;
    }
    outcome = pipeline.wait(control);
  }
  return outcome;
}

}  // namespace vf
