#include "job/cluster.h"

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include <caf/io/all.hpp>
#include <caf/openssl/all.hpp>
#include <spdlog/spdlog.h>
#include <toml++/toml.h>

#include "actors/registry.h"
#include "base/token.h"
#include "job/assembly.h"
#include "storage/codec.h"

namespace vf {

Expected<ListenAddress> parse_listen_address(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
    return invalid_input("'" + text + "': expected HOST:PORT (e.g. 0.0.0.0:7700, 127.0.0.1:0)");
  ListenAddress a;
  a.host = text.substr(0, colon);
  if (a.host.size() > 2 && a.host.front() == '[' && a.host.back() == ']') a.host = a.host.substr(1, a.host.size() - 2);
  try {
    size_t used = 0;
    long port = std::stol(text.substr(colon + 1), &used);
    if (used != text.size() - colon - 1 || port < 0 || port > 65535) throw std::out_of_range("port");
    a.port = static_cast<uint16_t>(port);
  } catch (const std::exception&) {
    return invalid_input("'" + text + "': the port must be a number from 0 to 65535");
  }
  return a;
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

Expected<std::string> cluster_token(const ClusterSection& cluster) {
  std::string token;
  if (!cluster.token_file.empty()) {
    std::ifstream in(cluster.token_file);
    if (!in) return invalid_input("cluster.token_file " + cluster.token_file + ": cannot be read");
    std::stringstream ss;
    ss << in.rdbuf();
    token = ss.str();
  } else if (const char* env = std::getenv("VERIFORGE_CLUSTER_TOKEN")) {
    token = env;
  }
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) token.pop_back();
  return token;
}

void configure_middleman(caf::actor_system_config& cfg, const ClusterSection& cluster) {
  cfg.load<caf::io::middleman>();
  if (cluster.tls()) {
    cfg.load<caf::openssl::manager>();
    cfg.openssl_certificate = cluster.tls_certificate;
    cfg.openssl_key = cluster.tls_key;
    cfg.openssl_cafile = cluster.tls_ca_file;
    cfg.openssl_passphrase = cluster.tls_passphrase;
  }
  cfg.set("middleman.heartbeat-interval", caf::timespan{std::chrono::milliseconds(cluster.heartbeat_interval_ms)});
  cfg.set("middleman.connection-timeout", caf::timespan{std::chrono::milliseconds(cluster.heartbeat_timeout_ms)});
}

Expected<PipelineOutcome> run_coordinator(const PipelinePlan& plan, const WorkSpec& work, CoordinatorParts parts,
                                          LocalWork local, const RunControl& control, std::shared_ptr<JobLog> log,
                                          CoordinatorOptions o) {
  caf::actor_system_config cfg;
  wire::register_wire_types(cfg);
  configure_middleman(cfg, o.cluster);
  size_t threads =
      control.scheduler_threads ? control.scheduler_threads : std::max(1u, std::thread::hardware_concurrency());
  configure_scheduler(cfg, threads);
  caf::actor_system sys{cfg};
  Pipeline pipeline(sys, plan, work, std::move(parts), std::move(local));
  if (auto s = pipeline.start(); !s) return s.failure();
  RegistrySetup r;
  r.token = o.token;
  r.stages = pipeline.dispatchers();
  r.log = std::move(log);
  r.heartbeat_ms = o.cluster.heartbeat_interval_ms;
  r.heartbeat_timeout_ms = o.cluster.heartbeat_timeout_ms;
  r.failure_limit = o.cluster.worker_failure_limit;
  r.shared_endpoints = o.shared_endpoints;
  r.local_workers = o.local_clients.generator_client || o.local_clients.solver_client;
  r.apply_locally = [clients = o.local_clients](const std::vector<EndpointShare>& shares) {
    for (const auto& s : shares)
      for (const auto& c : {clients.generator_client, clients.solver_client})
        if (c) c->set_rate(s.endpoint, s.requests_per_minute, s.tokens_per_minute);
  };
  r.job = std::move(o.job);
  r.job.plan = encode(plan);
  r.job.work = encode(work);
  auto registry = spawn_registry(sys, std::move(r));
  auto port = o.cluster.tls() ? caf::openssl::publish(registry, o.listen.port, o.listen.host.c_str(), true)
                              : sys.middleman().publish(registry, o.listen.port, o.listen.host.c_str(), true);
  if (!port) {
    caf::anon_send_exit(registry, caf::exit_reason::user_shutdown);
    return Error{"--listen " + o.listen.host + ":" + std::to_string(o.listen.port) +
                     ": cannot listen: " + sys.render(port.error()),
                 ErrorCode::kIoError};
  }
  spdlog::info("event=listening host={} port={} token={} tls={}", o.listen.host, *port,
               o.token.empty() ? "none" : "set", o.cluster.tls() ? "on" : "off");
  if (o.on_listening) o.on_listening(*port);
  RunControl with_nodes = control;
  if (o.node_commands) {
    // Checked on every progress report (several a second).
    // Sent from an actor of this process: the registry refuses node
    // controls from anywhere else (it is published to the nodes).
    with_nodes.on_progress = [outer = control.on_progress, commands = o.node_commands, registry,
                              &sys](const std::map<std::string, wire::StageReport>& stages) {
      auto pending = commands->take();
      if (!pending.empty()) {
        caf::scoped_actor self{sys};
        for (auto& [node, action] : pending) self->send(registry, wire::node_control_atom::value, node, std::move(action));
      }
      if (outer) outer(stages);
    };
  }
  PipelineOutcome outcome = pipeline.wait(with_nodes);
  {
    // Tell the nodes the job ended, so they exit instead of reconnecting.
    caf::scoped_actor self{sys};
    self->request(registry, std::chrono::seconds(5),
                  wire::pack(wire::Leave{0, outcome.ok ? "job-finished" : "job-stopped"}))
        .receive([](wire::leave_msg&) {}, [](caf::error&) {});
    // The messages must leave before the middleman stops.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (!o.cluster.tls()) sys.middleman().unpublish(registry, *port);
  caf::anon_send_exit(registry, caf::exit_reason::user_shutdown);
  return outcome;
}

namespace {

std::string default_node_name() {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  return std::string(host) + ":" + std::to_string(getpid());
}

// The node's own settings: a TOML file with an optional [worker] table
// (name, stages) and any of the node-level sections of a job config
// ([[endpoints]], [executor], [sandbox], [model], [cluster]).
struct NodeSettings {
  std::string name;
  std::set<std::string> stages;  // empty: every stage of the job
  uint32_t actors_per_stage = 0; // 0: the job's plan decides
  JobConfig config;              // its node-level sections
  std::set<std::string> given;   // which sections the file or --set gave
};

Expected<NodeSettings> load_node_settings(const WorkerRequest& r) {
  NodeSettings n;
  std::string text;
  std::string base = ".";
  if (!r.config_path.empty()) {
    std::ifstream in(r.config_path);
    if (!in) return invalid_input(r.config_path + ": cannot be read");
    std::stringstream ss;
    ss << in.rdbuf();
    toml::table doc;
    try {
      doc = toml::parse(ss.str(), r.config_path);
    } catch (const toml::parse_error& e) {
      return invalid_input(r.config_path + ":" + std::to_string(e.source().begin.line) + ": " +
                           std::string(e.description()));
    }
    if (auto* w = doc.get_as<toml::table>("worker")) {
      for (auto& [k, v] : *w) {
        std::string key(k.str());
        if (key == "name" && v.is_string()) {
          n.name = v.as_string()->get();
        } else if (key == "stages" && v.is_array()) {
          for (auto& s : *v.as_array())
            if (s.is_string()) n.stages.insert(s.as_string()->get());
        } else if (key == "actors_per_stage" && v.is_integer()) {
          n.actors_per_stage = static_cast<uint32_t>(v.as_integer()->get());
        } else {
          return invalid_input(r.config_path + ": unknown key 'worker." + key +
                               "' (known: worker.name, worker.stages, worker.actors_per_stage)");
        }
      }
      doc.erase("worker");
    }
    for (auto& [k, _] : doc) n.given.insert(std::string(k.str()));
    std::stringstream rest;
    rest << doc;
    text = rest.str();
    base = std::filesystem::path(r.config_path).parent_path().string();
  }
  for (const auto& o : r.overrides) n.given.insert(o.substr(0, o.find('.')));
  auto c = parse_config(text, r.config_path.empty() ? "--set" : r.config_path, base, r.overrides);
  if (!c) return c.failure();
  n.config = std::move(c.value());
  if (!r.name.empty()) n.name = r.name;
  if (n.name.empty()) n.name = default_node_name();
  return n;
}

// The node's config: the job's, with the node's own sections where it gave them.
JobConfig node_config(JobConfig job, const NodeSettings& node) {
  if (node.given.count("endpoints")) job.endpoints = node.config.endpoints;
  if (node.given.count("executor")) job.executor = node.config.executor;
  if (node.given.count("sandbox")) job.sandbox = node.config.sandbox;
  if (node.given.count("model")) job.model = node.config.model;
  return job;
}

// One session with one coordinator: from connecting to the job's end, the
// node's stop, or the coordinator's loss.
enum class SessionEnd { kJobEnded, kStopped, kRefused, kUnreachable, kLost };

class WorkerNode {
 public:
  WorkerNode(const WorkerRequest& r, NodeSettings settings, std::string token)
      : r_(r), settings_(std::move(settings)), token_(std::move(token)) {}

  int run() {
    caf::actor_system_config cfg;
    wire::register_wire_types(cfg);
    configure_middleman(cfg, settings_.config.cluster);
    configure_scheduler(cfg, std::max(1u, std::thread::hardware_concurrency()));
    caf::actor_system sys{cfg};
    uint32_t backoff = 250;
    auto unreachable_since = std::chrono::steady_clock::now();
    while (!stopped()) {
      SessionEnd end = session(sys);
      switch (end) {
        case SessionEnd::kJobEnded:
        case SessionEnd::kStopped:
          return 0;
        case SessionEnd::kRefused:
          return 1;
        case SessionEnd::kLost:
          backoff = 250;
          unreachable_since = std::chrono::steady_clock::now();
          break;
        case SessionEnd::kUnreachable:
          break;
      }
      if (std::chrono::steady_clock::now() - unreachable_since > std::chrono::seconds(r_.give_up_after_s)) {
        spdlog::error("event=giving-up reason=\"no coordinator at {}:{} for {} s\"",
                      r_.coordinator.host, r_.coordinator.port, r_.give_up_after_s);
        std::fprintf(stderr, "veriforge worker: no coordinator at %s:%u for %u s; giving up\n",
                     r_.coordinator.host.c_str(), r_.coordinator.port, r_.give_up_after_s);
        return 2;
      }
      // Backoff with jitter, interruptible by a stop.
      uint32_t wait = backoff / 2 + static_cast<uint32_t>(std::rand() % (backoff / 2 + 1));
      for (uint32_t waited = 0; waited < wait && !stopped(); waited += 50)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      backoff = std::min(backoff * 2, r_.max_backoff_ms);
    }
    return 0;
  }

 private:
  bool stopped() const { return r_.stop && r_.stop->load(); }

  SessionEnd session(caf::actor_system& sys) {
    caf::scoped_actor self{sys};
    auto timeout = std::chrono::milliseconds(r_.connect_timeout_ms);
    wire::registry_actor registry;
    std::string error;
    // The middleman actor's connect has a timeout; middleman().remote_actor()
    // would block forever on a peer that hangs (actor-framework #1240).
    const caf::io::middleman_actor& connector = settings_.config.cluster.tls() ? sys.openssl_manager().actor_handle()
                                                                              : sys.middleman().actor_handle();
    self->request(connector, timeout, caf::connect_atom::value, r_.coordinator.host, r_.coordinator.port)
        .receive(
            [&](const caf::node_id&, caf::strong_actor_ptr& ptr, const std::set<std::string>&) {
              registry = caf::actor_cast<wire::registry_actor>(ptr);
            },
            [&](caf::error& e) { error = sys.render(e); });
    if (!registry) {
      if (!announced_unreachable_)
        spdlog::warn("event=coordinator-unreachable address={}:{} error=\"{}\"",
                     r_.coordinator.host, r_.coordinator.port, error.empty() ? "nothing published" : error);
      announced_unreachable_ = true;
      return SessionEnd::kUnreachable;
    }
    announced_unreachable_ = false;
    // Hello -> Challenge -> Proof -> Welcome.
    std::string my_nonce = random_nonce();
    wire::Challenge challenge;
    bool answered = false;
    self->request(registry, timeout, wire::pack(wire::Hello{wire::kClusterProtocol, kFormatVersion, settings_.name, my_nonce}))
        .receive(
            [&](wire::challenge_msg& c) {
              answered = c.ok();
              if (c.ok()) challenge = c.value;
              else error = c.decode_error;
            },
            [&](caf::error& e) { error = sys.render(e); });
    if (!answered) return unreachable("hello", error);
    if (!challenge.ok) return refused(challenge.reason);
    wire::Welcome welcome;
    answered = false;
    self->request(registry, timeout,
                  wire::pack(wire::Proof{settings_.name, token_mac(token_, "worker", challenge.nonce),
                                         std::max(1u, std::thread::hardware_concurrency())}))
        .receive(
            [&](wire::welcome_msg& w) {
              answered = w.ok();
              if (w.ok()) welcome = std::move(w.value);
              else error = w.decode_error;
            },
            [&](caf::error& e) { error = sys.render(e); });
    if (!answered) return unreachable("proof", error);
    // Only a wrong token is final; anything else (the coordinator restarted
    // between our hello and our proof, say) is tried again.
    if (!welcome.ok && welcome.reason == "wrong cluster token") return refused(welcome.reason);
    if (!welcome.ok) return unreachable("proof", welcome.reason);
    if (!equal_in_constant_time(welcome.mac, token_mac(token_, "coordinator", my_nonce)))
      return refused("the coordinator could not prove it holds the cluster token");
    node_id_ = welcome.node_id;
    spdlog::info("event=admitted node_id={} job={}", node_id_, welcome.job_name);

    // The job, and this node's resources for it.
    auto job_config = parse_config(welcome.config_text, welcome.config_origin, welcome.config_base, welcome.overrides);
    if (!job_config) return refused("the job's config does not parse here: " + job_config.error());
    JobConfig config = node_config(std::move(job_config.value()), settings_);
    auto plan = decode<PipelinePlan>(welcome.plan, "pipeline plan");
    auto work = decode<WorkSpec>(welcome.work, "work spec");
    if (!plan || !work) return refused("cannot read the job's plan: " + (plan ? work.error() : plan.error()));
    auto local = make_model_clients(config, plan.value());
    if (!local) return refused(local.error());
    bool executes = false;
    for (const auto& s : plan.value().stages)
      if (s.kind == StageKind::kExecute && (settings_.stages.empty() || settings_.stages.count(s.name))) executes = true;
    if (executes)
      if (auto s = start_sandbox(local.value(), config, work.value(), {}); !s) {
        // This node's sandbox could not start (a busy machine, a missing
        // interpreter): tried again with backoff, and the worker gives up
        // after --give-up-after like any other failure to take part.
        spdlog::error("event=sandbox-failed error=\"{}\"", s.error());
        return SessionEnd::kUnreachable;
      }
    auto counters = std::make_shared<WorkerCounters>();
    counters->stale_after_ms = settings_.config.cluster.heartbeat_timeout_ms;
    counters->contact_ms = WorkerCounters::steady_ms();
    WorkActorChoice choice{settings_.stages, settings_.actors_per_stage ? settings_.actors_per_stage : 1, counters};
    auto actors = spawn_work_actors(sys, plan.value(), work.value(), local.value(), choice);
    if (!actors) return refused(actors.error());
    auto generator_client = local.value().generator_client;  // for the rate shares the coordinator sends
    auto solver_client = local.value().solver_client;
    local.value() = LocalWork{};  // the actors own the resources now
    wire::Join join;
    join.node_id = node_id_;
    std::vector<caf::actor> handles;
    for (const auto& a : actors.value()) {
      join.stages.push_back(a.stage);
      join.capacities.push_back(a.capacity);
      handles.push_back(caf::actor_cast<caf::actor>(a.actor));
    }
    self->send(registry, wire::pack(join), handles);
    self->monitor(registry);
    spdlog::info("event=joined node_id={} actors={}", node_id_, handles.size());

    auto stop_actors = [&] {
      for (auto& h : handles) self->send_exit(h, caf::exit_reason::user_shutdown);
    };
    SessionEnd end = SessionEnd::kLost;
    bool running = true;
    auto beat = [&] {
      // Answered by the registry: each answer renews this node's contact.
      self->request(registry, std::chrono::milliseconds(welcome.heartbeat_ms),
                    wire::pack(wire::NodeBeat{node_id_, counters->held.load(), counters->done.load(),
                                              counters->failures.load(), counters->failures_in_a_row.load()}))
          .receive(
              [&](wire::node_beat_msg& m) {
                if (m.ok() && m.value.node_id == node_id_) counters->contact_ms = WorkerCounters::steady_ms();
              },
              [&](caf::error&) {});
    };
    auto next_beat = std::chrono::steady_clock::now();
    while (running) {
      if (stopped()) {
        // Leave: the registry takes this node's work actors back (their leases
        // go to other workers), then the actors stop.
        self->request(registry, timeout, wire::pack(wire::Leave{node_id_, "sigterm"}))
            .receive([&](wire::leave_msg&) {}, [&](caf::error&) {});
        spdlog::info("event=left reason=sigterm done={}", counters->done.load());
        end = SessionEnd::kStopped;
        break;
      }
      if (std::chrono::steady_clock::now() >= next_beat) {
        beat();
        next_beat = std::chrono::steady_clock::now() + std::chrono::milliseconds(welcome.heartbeat_ms);
      }
      self->receive(
          [&](wire::budget_msg& m) {
            if (!m.ok()) return;
            for (const auto& s : m.value.shares) {
              for (const auto& c : {generator_client, solver_client})
                if (c) c->set_rate(s.endpoint, s.requests_per_minute, s.tokens_per_minute);
              spdlog::info("event=rate-share endpoint={} rpm={:.1f} tpm={:.0f}", s.endpoint, s.requests_per_minute,
                           s.tokens_per_minute);
            }
          },
          [&](wire::leave_msg& m) {
            if (!m.ok()) return;
            spdlog::info("event=job-over reason={} done={}", m.value.reason,
                         counters->done.load());
            end = SessionEnd::kJobEnded;
            running = false;
          },
          [&](const caf::down_msg& d) {
            if (d.source == registry.address()) {
              spdlog::warn("event=coordinator-lost reason=\"{}\" done={}", sys.render(d.reason),
                           counters->done.load());
              end = SessionEnd::kLost;
              running = false;
            }
          },
          caf::after(std::chrono::milliseconds(100)) >> [] {});
    }
    stop_actors();
    return end;
  }

  SessionEnd unreachable(const char* step, const std::string& error) {
    spdlog::warn("event=handshake-failed step={} error=\"{}\"", step, error);
    return SessionEnd::kUnreachable;
  }
  SessionEnd refused(const std::string& why) {
    spdlog::error("event=refused reason=\"{}\"", why);
    std::fprintf(stderr, "veriforge worker: refused: %s\n", why.c_str());
    return SessionEnd::kRefused;
  }

  const WorkerRequest& r_;
  NodeSettings settings_;
  std::string token_;
  uint32_t node_id_ = 0;
  bool announced_unreachable_ = false;
};

}  // namespace

int run_worker(const WorkerRequest& request) {
  auto settings = load_node_settings(request);
  if (!settings) {
    std::fprintf(stderr, "veriforge worker: %s\n", settings.error().c_str());
    return 1;
  }
  auto token = cluster_token(settings.value().config.cluster);
  if (!token) {
    std::fprintf(stderr, "veriforge worker: %s\n", token.error().c_str());
    return 1;
  }
  if (token.value().empty() && !is_loopback(request.coordinator.host)) {
    std::fprintf(stderr,
                 "veriforge worker: joining %s needs the cluster token (VERIFORGE_CLUSTER_TOKEN or "
                 "cluster.token_file)\n",
                 request.coordinator.host.c_str());
    return 1;
  }
  WorkerNode node(request, std::move(settings.value()), std::move(token.value()));
  return node.run();
}

}  // namespace vf
