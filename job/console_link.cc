#include "job/console_link.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <cmath>
#include <fstream>
#include <random>
#include <regex>
#include <set>

#include "dataflow/checkpoint.h"
#include "dataflow/node_table.h"
#include "job/inspect.h"
#include "job/logging.h"
#include "storage/codec.h"
#include "model/client.h"
#include "sandbox/metered.h"

namespace vf {

using nlohmann::json;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// The console token: the environment's, else DIR/console.token (made once,
// 0600, so only the job's owner reads it).
Expected<std::string> console_token(const std::string& out_dir) {
  if (const char* env = std::getenv("VERIFORGE_CONSOLE_TOKEN"); env && *env) return std::string(env);
  std::string path = out_dir + "/console.token";
  if (std::ifstream in(path); in) {
    std::string token;
    std::getline(in, token);
    if (!token.empty()) return token;
  }
  std::random_device rd;
  static const char* kHex = "0123456789abcdef";
  std::string token;
  for (int i = 0; i < 32; ++i) {
    unsigned v = rd();
    token += kHex[v & 15];
    token += kHex[(v >> 4) & 15];
  }
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return io_error("console: cannot write " + path);
  ::fchmod(fd, 0600);
  std::string line = token + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ::close(fd);
  if (!ok) return io_error("console: cannot write " + path);
  return token;
}

Expected<std::pair<std::string, uint16_t>> split_listen(const std::string& listen) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size())
    return invalid_input("console: '" + listen + "' is not HOST:PORT (e.g. 127.0.0.1:8090, port 0 for any)");
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  std::string port = listen.substr(colon + 1);
  if (port.find_first_not_of("0123456789") != std::string::npos || port.size() > 5 || std::stoul(port) > 65535)
    return invalid_input("console: port '" + port + "' in '" + listen + "' is not a port number");
  return std::make_pair(host, static_cast<uint16_t>(std::stoul(port)));
}

}  // namespace

// Counters mirror the stage reports' totals (which restart with the process,
// as a Prometheus counter may); gauges are set from the latest report.
struct ConsoleLink::Metrics {
  prometheus::Family<prometheus::Counter>& received;
  prometheus::Family<prometheus::Counter>& sent;
  prometheus::Family<prometheus::Gauge>& held;
  prometheus::Family<prometheus::Gauge>& capacity;
  prometheus::Counter& generated;
  prometheus::Counter& accepted;
  prometheus::Counter& rejected;
  prometheus::Gauge& target;
  prometheus::Gauge& paused;
  prometheus::Gauge& uptime;
  prometheus::Family<prometheus::Histogram>& stage_latency;
  prometheus::Family<prometheus::Histogram>& model_latency;
  prometheus::Family<prometheus::Counter>& model_requests;
  prometheus::Family<prometheus::Counter>& model_errors;
  prometheus::Family<prometheus::Counter>& model_tokens;
  prometheus::Family<prometheus::Gauge>& model_in_flight;
  prometheus::Family<prometheus::Gauge>& model_limit;
  prometheus::Histogram& sandbox_seconds;
  prometheus::Family<prometheus::Counter>& sandbox_runs;
  std::map<std::string, std::pair<uint64_t, uint64_t>> counted;  // stage -> (received, sent) counted so far
  std::map<std::string, uint64_t> counted_model;                // "endpoint/what" -> counted so far
  std::map<std::string, vf::Histogram> counted_model_latency;   // endpoint -> observations counted so far
  vf::Histogram counted_sandbox_seconds;
  std::map<std::string, uint64_t> counted_sandbox_runs;
  uint64_t counted_generated = 0, counted_accepted = 0, counted_rejected = 0;

  explicit Metrics(prometheus::Registry& r)
      : received(prometheus::BuildCounter()
                     .Name("veriforge_stage_items_received_total")
                     .Help("Items a stage received")
                     .Register(r)),
        sent(prometheus::BuildCounter().Name("veriforge_stage_items_sent_total").Help("Items a stage sent on").Register(r)),
        held(prometheus::BuildGauge()
                 .Name("veriforge_stage_items_held")
                 .Help("Items a stage holds against its credit")
                 .Register(r)),
        capacity(prometheus::BuildGauge()
                     .Name("veriforge_stage_credit_items")
                     .Help("Items a stage may hold (its credit)")
                     .Register(r)),
        generated(prometheus::BuildCounter()
                      .Name("veriforge_items_generated_total")
                      .Help("Items the generator issued")
                      .Register(r)
                      .Add({})),
        accepted(prometheus::BuildCounter()
                     .Name("veriforge_items_accepted_total")
                     .Help("Items accepted and written")
                     .Register(r)
                     .Add({})),
        rejected(prometheus::BuildCounter()
                     .Name("veriforge_items_rejected_total")
                     .Help("Items rejected and written with a reason")
                     .Register(r)
                     .Add({})),
        target(prometheus::BuildGauge()
                   .Name("veriforge_job_target_items")
                   .Help("Accepted items the job aims for")
                   .Register(r)
                   .Add({})),
        paused(prometheus::BuildGauge()
                   .Name("veriforge_job_paused")
                   .Help("1 while an operator's pause holds")
                   .Register(r)
                   .Add({})),
        uptime(prometheus::BuildGauge()
                   .Name("veriforge_job_running_seconds")
                   .Help("Seconds this process has run the job")
                   .Register(r)
                   .Add({})),
        stage_latency(prometheus::BuildHistogram()
                          .Name("veriforge_stage_item_seconds")
                          .Help("Seconds an item spent in a stage, from arrival to leaving")
                          .Register(r)),
        model_latency(prometheus::BuildHistogram()
                          .Name("veriforge_model_call_seconds")
                          .Help("Seconds per answered model call attempt")
                          .Register(r)),
        model_requests(prometheus::BuildCounter()
                           .Name("veriforge_model_requests_total")
                           .Help("Model call attempts sent")
                           .Register(r)),
        model_errors(prometheus::BuildCounter()
                         .Name("veriforge_model_errors_total")
                         .Help("Model call attempts answered 429 or 5xx, or timed out (kind)")
                         .Register(r)),
        model_tokens(prometheus::BuildCounter()
                         .Name("veriforge_model_tokens_total")
                         .Help("Tokens used (kind: prompt or completion)")
                         .Register(r)),
        model_in_flight(prometheus::BuildGauge()
                            .Name("veriforge_model_in_flight_calls")
                            .Help("Model calls in flight")
                            .Register(r)),
        model_limit(prometheus::BuildGauge()
                        .Name("veriforge_model_in_flight_limit_calls")
                        .Help("The adaptive in-flight limit now")
                        .Register(r)),
        sandbox_seconds(prometheus::BuildHistogram()
                            .Name("veriforge_sandbox_run_seconds")
                            .Help("Wall seconds per sandbox run")
                            .Register(r)
                            .Add({}, prometheus::Histogram::BucketBoundaries(vf::Histogram::seconds_bounds()))),
        sandbox_runs(prometheus::BuildCounter()
                         .Name("veriforge_sandbox_runs_total")
                         .Help("Sandbox runs by how they ended (status)")
                         .Register(r)) {}

  // Adds what `now` (cumulative) holds beyond `counted` to the Prometheus histogram.
  static void observe_delta(prometheus::Histogram& h, const vf::Histogram& now, vf::Histogram& counted) {
    if (now.count() <= counted.count() || now.bounds() != counted.bounds()) {
      if (now.bounds() != counted.bounds()) counted = vf::Histogram(now.bounds());
      if (now.count() <= counted.count()) return;
    }
    std::vector<double> buckets(now.counts().size());
    for (size_t i = 0; i < buckets.size(); ++i)
      buckets[i] = static_cast<double>(now.counts()[i] - counted.counts()[i]);
    h.ObserveMultiple(buckets, now.sum() - counted.sum());
    counted = now;
  }

  static void count_up(prometheus::Counter& c, uint64_t& counted, uint64_t now) {
    if (now > counted) c.Increment(static_cast<double>(now - counted));
    counted = std::max(counted, now);
  }
};

Expected<std::unique_ptr<ConsoleLink>> ConsoleLink::start(const ConsoleLinkSettings& settings,
                                                          std::shared_ptr<JobStore> store, const JobConfig& config,
                                                          const std::string& out_dir) {
  auto address = split_listen(settings.listen);
  if (!address) return address.failure();
  auto token = console_token(out_dir);
  if (!token) return token.failure();
  std::unique_ptr<ConsoleLink> link(new ConsoleLink());
  link->store_ = std::move(store);
  link->job_name_ = config.job.name;
  link->target_ = config.job.target_accepted;
  link->max_generated_ = config.job.max_generated;
  link->out_dir_ = out_dir;
  link->outputs_ = std::make_unique<OutputViews>(out_dir);
  link->sources_.described_config = describe(config);
  link->sources_.endpoints = config.endpoints;
  link->registry_ = std::make_shared<prometheus::Registry>();
  link->metrics_ = std::make_unique<Metrics>(*link->registry_);
  link->metrics_->target.Set(static_cast<double>(config.job.target_accepted));
  if (auto logged = link->store_->get_meta(meta::kConsolePaused); logged && logged.value() && *logged.value() == "1")
    link->paused_ = true;
  console::PolicySettings p;
  p.listen_host = address->first;
  p.port = address->second;
  p.token = token.value();
  p.read_only = settings.read_only;
  console::ConsoleHooks hooks;
  ConsoleLink* self = link.get();
  hooks.job = [self] { return self->snapshot(); };
  hooks.metrics = [self] { return self->metrics(); };
  hooks.view = [self](const std::string& name, const std::string& query) { return self->view(name, query); };
  if (!settings.read_only) hooks.control = [self](const console::ControlRequest& c) { return self->control(c); };
  auto server = console::ConsoleServer::start(p, std::move(hooks));
  if (!server) return server.failure();
  link->server_ = std::move(server.value());
  std::ofstream(out_dir + "/console.url") << link->server_->url() << "\n";
  if (link->paused_) spdlog::warn("component=console event=restarted-paused reason=\"an operator paused this job\"");
  return link;
}

ConsoleLink::~ConsoleLink() { server_.reset(); }
ConsoleLink::ConsoleLink() = default;

std::string ConsoleLink::url() const { return server_ ? server_->url() : ""; }

void ConsoleLink::update(const std::map<std::string, wire::StageReport>& stages) {
  std::lock_guard<std::mutex> lock(mu_);
  double now = seconds_since(started_);
  for (const auto& [name, r] : stages) {
    // Rates over at least a second, so a burst of reports does not jitter them.
    auto& in = last_in_[name];
    auto& out = last_out_[name];
    if (now - in.first >= 1.0) {
      in_rate_[name] = in.first > 0 ? (r.received - in.second) / (now - in.first) : 0;
      out_rate_[name] = out.first > 0 ? (r.sent - out.second) / (now - out.first) : 0;
      in = {now, r.received};
      out = {now, r.sent};
    }
  }
  stages_ = stages;
  Metrics& m = *metrics_;
  for (const auto& [name, r] : stages) {
    auto& counted = m.counted[name];
    Metrics::count_up(m.received.Add({{"stage", name}}), counted.first, r.received);
    Metrics::count_up(m.sent.Add({{"stage", name}}), counted.second, r.sent);
    m.held.Add({{"stage", name}}).Set(r.held);
    m.capacity.Add({{"stage", name}}).Set(r.capacity);
  }
  if (auto g = stages.find("generator"); g != stages.end())
    Metrics::count_up(m.generated, m.counted_generated, g->second.sent);
  if (auto w = stages.find("writer"); w != stages.end()) {
    Metrics::count_up(m.accepted, m.counted_accepted, w->second.accepted);
    Metrics::count_up(m.rejected, m.counted_rejected, w->second.rejected);
  }
  // Each report's latencies once (the map repeats the others' last reports).
  for (const auto& [name, r] : stages) {
    if (r.latency_counts.empty()) continue;
    auto seen = latency_sum_seen_.find(name);
    if (seen != latency_sum_seen_.end() && seen->second == r.latency_sum) continue;
    latency_sum_seen_[name] = r.latency_sum;
    auto& bounds = Histogram::seconds_bounds();
    if (r.latency_counts.size() != bounds.size() + 1) continue;
    std::vector<double> buckets(r.latency_counts.begin(), r.latency_counts.end());
    m.stage_latency.Add({{"stage", name}}, prometheus::Histogram::BucketBoundaries(bounds))
        .ObserveMultiple(buckets, r.latency_sum);
  }
}

std::string ConsoleLink::metrics() const {
  {
    std::lock_guard<std::mutex> lock(mu_);
    Metrics& m = *metrics_;
    m.paused.Set(paused_ ? 1 : 0);
    m.uptime.Set(seconds_since(started_));
    for (const auto* client : {sources_.generator_client.get(), sources_.solver_client.get()}) {
      if (!client) continue;
      for (const auto& [name, e] : client->stats().endpoints) {
        if (sources_.generator_client && sources_.solver_client &&
            sources_.generator_client == sources_.solver_client && client == sources_.solver_client.get())
          continue;  // one client serves both roles: count it once
        auto up = [&](prometheus::Counter& c, const std::string& what, uint64_t now) {
          Metrics::count_up(c, m.counted_model[name + "/" + what], now);
        };
        up(m.model_requests.Add({{"endpoint", name}}), "requests", e.requests);
        up(m.model_errors.Add({{"endpoint", name}, {"kind", "429"}}), "429", e.http_429);
        up(m.model_errors.Add({{"endpoint", name}, {"kind", "5xx"}}), "5xx", e.http_5xx);
        up(m.model_errors.Add({{"endpoint", name}, {"kind", "timeout"}}), "timeout", e.timeouts);
        up(m.model_tokens.Add({{"endpoint", name}, {"kind", "prompt"}}), "prompt", e.prompt_tokens);
        up(m.model_tokens.Add({{"endpoint", name}, {"kind", "completion"}}), "completion", e.completion_tokens);
        m.model_in_flight.Add({{"endpoint", name}}).Set(e.in_flight);
        m.model_limit.Add({{"endpoint", name}}).Set(e.limit);
        Metrics::observe_delta(
            m.model_latency.Add({{"endpoint", name}}, prometheus::Histogram::BucketBoundaries(e.latency.bounds())),
            e.latency, m.counted_model_latency[name]);
      }
    }
    if (auto ex = sources_.executor.lock()) {
      auto st = ex->stats();
      for (const auto& [status, n] : st.by_status)
        Metrics::count_up(m.sandbox_runs.Add({{"status", status}}), m.counted_sandbox_runs[status], n);
      Metrics::observe_delta(m.sandbox_seconds, st.run_seconds, m.counted_sandbox_seconds);
    }
  }
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

void ConsoleLink::finished(bool ok, const std::string& error) {
  std::lock_guard<std::mutex> lock(mu_);
  end_state_ = ok ? "finished" : (stop_now_ || drain_ ? "stopped" : "failed");
  end_error_ = error;
}

json ConsoleLink::snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  json j;
  j["name"] = job_name_;
  uint64_t generated = 0, accepted = 0, rejected = 0;
  if (auto g = stages_.find("generator"); g != stages_.end()) generated = g->second.sent;
  if (auto w = stages_.find("writer"); w != stages_.end()) {
    accepted = w->second.accepted;
    rejected = w->second.rejected;
  }
  std::string state = !end_state_.empty() ? end_state_
                      : stop_now_        ? "stopping"
                      : drain_           ? "draining"
                      : paused_          ? "paused"
                                         : "running";
  uint64_t target = std::max(target_, target_raised_.load());
  double elapsed = seconds_since(started_);
  j["state"] = state;
  j["generated"] = generated;
  j["accepted"] = accepted;
  j["rejected"] = rejected;
  j["target"] = target;
  j["elapsed_s"] = elapsed;
  if (accepted + rejected > 0) j["accept_rate"] = static_cast<double>(accepted) / (accepted + rejected);
  double per_s = elapsed > 0 ? accepted / elapsed : 0;
  j["accepted_per_s"] = per_s;
  if (per_s > 0 && accepted < target) j["eta_s"] = (target - accepted) / per_s;
  j["warnings"] = recent_warnings().size();
  if (!end_error_.empty()) j["error"] = end_error_;
  json stages = json::array();
  // In pipeline order (the map's is alphabetical).
  auto rank = [](const std::string& n) {
    static const std::map<std::string, int> order{{"generator", 0}, {"generate", 1}, {"executor", 2}, {"execute", 2},
                                                  {"solver", 3},    {"solve", 3},    {"verifier", 4}, {"verify", 4},
                                                  {"writer", 9}};
    auto it = order.find(n);
    return it == order.end() ? 5 : it->second;
  };
  std::vector<const std::pair<const std::string, wire::StageReport>*> ordered;
  for (const auto& entry : stages_) ordered.push_back(&entry);
  std::stable_sort(ordered.begin(), ordered.end(), [&](auto* a, auto* b) { return rank(a->first) < rank(b->first); });
  for (const auto* entry : ordered) {
    const auto& [name, r] = *entry;
    json s;
    s["name"] = name;
    s["received"] = r.received;
    s["sent"] = r.sent;
    s["held"] = r.held;
    s["capacity"] = r.capacity;
    s["in_per_s"] = in_rate_.count(name) ? in_rate_.at(name) : 0.0;
    s["out_per_s"] = out_rate_.count(name) ? out_rate_.at(name) : 0.0;
    s["finished"] = r.finished;
    s["busy"] = r.busy;
    s["idle"] = r.idle;
    s["backpressured"] = r.backpressured;
    s["workers"] = r.workers;
    stages.push_back(std::move(s));
  }
  j["stages"] = std::move(stages);
  return j;
}

Status ConsoleLink::record(const console::ControlRequest& c, const std::string& outcome, const json& setting) {
  json entry{{"action", c.action},
             {"from", c.from},
             {"at", std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count()},
             {"outcome", outcome}};
  if (!c.key.empty()) entry["key"] = c.key;
  if (!c.value.is_null()) entry["value"] = c.value;
  std::lock_guard<std::mutex> lock(mu_);
  json all = json::array();
  if (auto logged = store_->get_meta(meta::kConsoleControls); logged && logged.value())
    all = json::parse(*logged.value(), nullptr, false);
  if (!all.is_array()) all = json::array();
  all.push_back(entry);
  LogBatch batch;
  batch.put_meta(meta::kConsoleControls, all.dump());
  if (c.action == "pause" || c.action == "resume") batch.put_meta(meta::kConsolePaused, c.action == "pause" ? "1" : "0");
  if (!setting.is_null()) {
    json settings = json::object();
    if (auto logged = store_->get_meta(meta::kConsoleSettings); logged && logged.value())
      settings = json::parse(*logged.value(), nullptr, false);
    if (!settings.is_object()) settings = json::object();
    settings[c.key] = setting;
    batch.put_meta(meta::kConsoleSettings, settings.dump());
  }
  return store_->write(batch);
}

console::Reply ConsoleLink::control(const console::ControlRequest& c) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!end_state_.empty()) return {409, json{{"error", "the job has ended"}}};
  }
  if (c.action == "pause" || c.action == "resume") {
    // Logged before it takes effect: a restart after the answer keeps it.
    if (auto s = record(c, "done"); !s) return {500, json{{"error", "could not log the control: " + s.error()}}};
    paused_ = c.action == "pause";
    spdlog::info("component=console event={} from={}", c.action == "pause" ? "pause" : "resume", c.from);
    return {200, json{{"ok", true}, {"state", paused_ ? "paused" : "running"}}};
  }
  if (c.action == "stop-now") {
    if (auto s = record(c, "done"); !s) return {500, json{{"error", "could not log the control: " + s.error()}}};
    stop_now_ = true;
    spdlog::warn("component=console event=stop-now from={}", c.from);
    return {200, json{{"ok", true}, {"state", "stopping"}}};
  }
  if (c.action == "drain" || c.action == "stop") {
    // No new items; the job exits (resumable) once nothing is in flight.
    if (auto s = record(c, "done"); !s) return {500, json{{"error", "could not log the control: " + s.error()}}};
    drain_ = true;
    spdlog::warn("component=console event=drain from={}", c.from);
    return {200, json{{"ok", true}, {"state", "draining"}}};
  }
  if (c.action == "set") return set(c);
  if (c.action.rfind("node-", 0) == 0) return node_control(c);
  return {404, json{{"error", "no action '" + c.action + "'"}}};
}

console::Reply ConsoleLink::node_control(const console::ControlRequest& c) {
  const ConsoleSources src = current_sources();
  if (!src.node_control) return {409, json{{"error", "a single-process job has no nodes"}}};
  std::string action = c.action.substr(5);
  if (c.key.empty() || c.key.size() > 9) return {404, json{{"error", "no node " + c.key}}};
  uint32_t id = static_cast<uint32_t>(std::stoul(c.key));
  // The node must be one the coordinator knows and that still works (the
  // table as last logged, at most one heartbeat interval old).
  std::string state;
  if (auto logged = store_->get_meta(meta::kNodes); logged && logged.value())
    if (auto table = decode<std::vector<NodeInfo>>(*logged.value(), "node table"); table)
      for (const auto& n : table.value())
        if (n.id == id) state = n.state;
  if (state.empty()) return {404, json{{"error", "no node " + c.key}}};
  if (state == "left" || state == "lost" || state == "removed" || state == "drained" || state == "refused")
    return {409, json{{"error", "node " + c.key + " is " + state}}};
  if (auto s = record(c, "done"); !s) return {500, json{{"error", "could not log the control: " + s.error()}}};
  src.node_control(id, action);
  spdlog::warn("component=console event=node-{} node={} from={}", action, id, c.from);
  return {200, json{{"ok", true}, {"node", id}, {"action", action}}};
}

Expected<json> check_setting(const std::string& key, const json& value, const SettingTargets& t) {
  auto integer = [&](int64_t lo, int64_t hi) -> Expected<json> {
    bool whole = value.is_number_integer() ||
                 (value.is_number_float() && value.get<double>() == std::floor(value.get<double>()) &&
                  std::fabs(value.get<double>()) < 9e15);
    if (!whole) return invalid_input("value: " + key + " takes a whole number");
    auto v = value.is_number_unsigned() && value.get<uint64_t>() > uint64_t{1} << 62 ? int64_t{1} << 62
                                                                                     : value.get<int64_t>();
    if (v < lo || v > hi)
      return invalid_input("value: " + key + " must be between " + std::to_string(lo) + " and " + std::to_string(hi));
    return json(v);
  };
  if (key == "target_accepted") {
    if (t.covered) return Error{"target_accepted: the target is covered already; the job is finishing", ErrorCode::kConflict};
    auto v = integer(1, int64_t{1} << 40);
    if (!v) return v;
    if (v->get<int64_t>() <= static_cast<int64_t>(t.target))
      return invalid_input("value: target_accepted can only be raised (now " + std::to_string(t.target) + ")");
    return v;
  }
  if (key == "executor.concurrency") {
    if (!t.executor_workers) return invalid_input("key: executor.concurrency: no sandbox runs in this process");
    return integer(1, t.executor_workers);
  }
  const std::string prefix = "endpoints.";
  if (key.rfind(prefix, 0) == 0) {
    auto dot = key.rfind('.');
    std::string name = key.substr(prefix.size(), dot > prefix.size() ? dot - prefix.size() : 0);
    std::string field = dot == std::string::npos ? "" : key.substr(dot + 1);
    if (name.empty() || !t.endpoints.count(name)) {
      std::string known;
      for (const auto& [n, _] : t.endpoints) known += (known.empty() ? "" : ", ") + n;
      return invalid_input("key: " + key + ": no endpoint named '" + name + "' (known: " +
                           (known.empty() ? "none" : known) + ")");
    }
    if (field == "max_in_flight") return integer(1, 1 << 20);
    if (field == "requests_per_minute" || field == "tokens_per_minute") {
      if (!value.is_number() || value.get<double>() < 0)
        return invalid_input("value: " + key + " takes a number >= 0 (0: unlimited)");
      return json(value.get<double>());
    }
    return invalid_input("key: " + key + ": an endpoint takes max_in_flight, requests_per_minute or tokens_per_minute");
  }
  return invalid_input("key: '" + key +
                       "' cannot be changed while running (target_accepted, executor.concurrency, "
                       "endpoints.NAME.max_in_flight, endpoints.NAME.requests_per_minute, "
                       "endpoints.NAME.tokens_per_minute)");
}

console::Reply ConsoleLink::set(const console::ControlRequest& c) {
  const ConsoleSources src = current_sources();
  SettingTargets t;
  {
    std::lock_guard<std::mutex> lock(mu_);
    t.target = std::max(target_, target_raised_.load());
    if (auto w = stages_.find("writer"); w != stages_.end()) t.covered = w->second.accepted >= t.target;
  }
  for (const auto* client : {src.generator_client.get(), src.solver_client.get()})
    if (client)
      for (const auto& [name, e] : client->stats().endpoints) t.endpoints[name] = e.max_in_flight;
  for (const auto& e : src.endpoints) t.endpoints.try_emplace(e.name, static_cast<int>(e.max_in_flight));
  if (auto ex = src.executor.lock()) t.executor_workers = ex->workers();
  auto checked = check_setting(c.key, c.value, t);
  if (!checked) {
    int status = checked.code() == ErrorCode::kConflict ? 409 : 400;
    return {status, json{{"error", checked.error()}}};
  }
  if (auto s = record(c, "done", checked.value()); !s)
    return {500, json{{"error", "could not log the control: " + s.error()}}};
  apply_setting(c.key, checked.value());
  spdlog::info("component=console event=set key={} value={} from={}", c.key, checked.value().dump(), c.from);
  return {200, json{{"ok", true}, {"key", c.key}, {"value", checked.value()}}};
}

bool ConsoleLink::apply_setting(const std::string& key, const json& value) {
  const ConsoleSources src = current_sources();
  if (key == "target_accepted") {
    uint64_t target = value.get<uint64_t>();
    if (!max_generated_) max_items_ = target * 20;  // the derived ceiling follows (JobSection::effective_max_generated)
    target_raised_ = std::max(target_raised_.load(), target);
    return true;
  }
  return apply_live_setting(src, key, value);
}

bool apply_live_setting(const ConsoleSources& sources, const std::string& key, const json& value) {
  if (key == "executor.concurrency") {
    auto ex = sources.executor.lock();
    return ex && ex->set_concurrency(value.get<unsigned>());
  }
  const std::string prefix = "endpoints.";
  auto dot = key.rfind('.');
  if (key.rfind(prefix, 0) != 0 || dot == std::string::npos || dot <= prefix.size()) return false;
  std::string name = key.substr(prefix.size(), dot - prefix.size()), field = key.substr(dot + 1);
  bool applied = false;
  for (const auto& client : {sources.generator_client, sources.solver_client}) {
    if (!client || !client->has_endpoint(name)) continue;
    if (field == "max_in_flight") {
      applied |= client->set_max_in_flight(name, value.get<int>());
    } else if (field == "requests_per_minute" || field == "tokens_per_minute") {
      auto st = client->stats().endpoints[name];
      double rpm = field == "requests_per_minute" ? value.get<double>() : st.requests_per_minute;
      double tpm = field == "tokens_per_minute" ? value.get<double>() : st.tokens_per_minute;
      client->set_rate(name, rpm, tpm);
      applied = true;
    }
  }
  return applied;
}

json logged_console_settings(JobStore& store) {
  auto logged = store.get_meta(meta::kConsoleSettings);
  if (!logged || !logged.value()) return json::object();
  json settings = json::parse(*logged.value(), nullptr, false);
  return settings.is_object() ? settings : json::object();
}

void ConsoleLink::attach(ConsoleSources sources) {
  std::lock_guard<std::mutex> lock(mu_);  // the server may already answer requests
  sources.described_config = sources_.described_config;
  if (sources.endpoints.empty()) sources.endpoints = sources_.endpoints;
  sources_ = std::move(sources);
}

ConsoleSources ConsoleLink::current_sources() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sources_;
}

void ConsoleLink::reapply_settings() {
  json settings = logged_console_settings(*store_);
  if (settings.contains("target_accepted") && settings["target_accepted"].is_number_unsigned())
    apply_setting("target_accepted", settings["target_accepted"]);
}

console::Reply ConsoleLink::view(const std::string& name, const std::string& query) {
  const ConsoleSources src = current_sources();
  auto param = [&](const std::string& key, uint64_t fallback) -> uint64_t {
    std::string needle = key + "=";
    for (size_t pos = 0; pos < query.size();) {
      size_t amp = query.find('&', pos);
      std::string part = query.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
      if (part.rfind(needle, 0) == 0) {
        std::string v = part.substr(needle.size());
        if (!v.empty() && v.size() < 12 && v.find_first_not_of("0123456789") == std::string::npos) return std::stoull(v);
      }
      if (amp == std::string::npos) break;
      pos = amp + 1;
    }
    return fallback;
  };
  if (name == "endpoints") return {200, endpoints_view()};
  if (name == "sandbox") return {200, sandbox_view()};
  if (name == "rejections") return {200, outputs_->rejections()};
  if (name == "accepted") return {200, outputs_->accepted(param("offset", 0), param("limit", 20))};
  if (name == "warnings") return {200, json{{"lines", recent_warnings()}}};
  if (name == "config") return {200, config_view()};
  if (name == "nodes") {
    if (src.nodes) return {200, src.nodes()};
    // As the coordinator last logged them (every heartbeat round that changed them).
    json nodes = json::array();
    if (auto logged = store_->get_meta(meta::kNodes); logged && logged.value())
      if (auto table = decode<std::vector<NodeInfo>>(*logged.value(), "node table"); table)
        for (const auto& n : table.value()) nodes.push_back(to_json(n));
    return {200, json{{"nodes", nodes}}};
  }
  if (name == "controls") {
    std::lock_guard<std::mutex> lock(mu_);
    auto logged = store_->get_meta(meta::kConsoleControls);
    json all = logged && logged.value() ? json::parse(*logged.value(), nullptr, false) : json::array();
    return {200, json{{"controls", all.is_array() ? all : json::array()}}};
  }
  return {404, json{{"error", "no view '" + name + "'"}}};
}

json ConsoleLink::endpoints_view() const {
  const ConsoleSources src = current_sources();
  json out = json::array();
  std::map<std::string, const EndpointSpec*> specs;
  for (const auto& e : src.endpoints) specs[e.name] = &e;
  double elapsed = seconds_since(started_);
  std::set<const model::ModelClient*> seen;
  for (const auto& [role, client] : {std::pair{"generator", src.generator_client.get()},
                                     std::pair{"solver", src.solver_client.get()}}) {
    if (!client || !seen.insert(client).second) continue;
    for (const auto& [name, e] : client->stats().endpoints) {
      json j{{"name", name},
             {"role", role},
             {"in_flight", e.in_flight},
             {"limit", e.limit},
             {"max_in_flight", e.max_in_flight},
             {"requests_per_minute", e.requests_per_minute},
             {"tokens_per_minute", e.tokens_per_minute},
             {"requests", e.requests},
             {"successes", e.successes},
             {"retries", e.retries},
             {"failures", e.failures},
             {"http_429", e.http_429},
             {"http_5xx", e.http_5xx},
             {"timeouts", e.timeouts},
             {"latency_p50_s", e.latency.quantile(0.5)},
             {"latency_p95_s", e.latency.quantile(0.95)},
             {"prompt_tokens", e.prompt_tokens},
             {"completion_tokens", e.completion_tokens},
             {"tokens_per_s", elapsed > 0 ? (e.prompt_tokens + e.completion_tokens) / elapsed : 0.0},
             {"down", e.down}};
      if (auto s = specs.find(name); s != specs.end() &&
                                     (s->second->prompt_price_per_mtok > 0 || s->second->completion_price_per_mtok > 0))
        j["cost"] = (e.prompt_tokens * s->second->prompt_price_per_mtok +
                     e.completion_tokens * s->second->completion_price_per_mtok) / 1e6;
      out.push_back(std::move(j));
    }
  }
  return json{{"endpoints", out}};
}

json ConsoleLink::sandbox_view() const {
  const ConsoleSources src = current_sources();
  auto ex = src.executor.lock();
  if (!ex) return json{{"present", false}};
  auto st = ex->stats();
  return json{{"present", true},
              {"workers", st.workers},
              {"concurrency", st.concurrency},
              {"running", st.running},
              {"waiting", st.waiting},
              {"by_status", st.by_status},
              {"missing", st.missing},
              {"run_p50_s", st.run_seconds.quantile(0.5)},
              {"run_p95_s", st.run_seconds.quantile(0.95)}};
}

json ConsoleLink::config_view() const {
  const ConsoleSources src = current_sources();
  json endpoints = json::array();
  static const std::regex url_password(R"(://([^:/@\s]+):[^@/\s]+@)");
  for (const auto& e : src.endpoints)
    endpoints.push_back({{"name", e.name},
                         {"role", e.role},
                         {"base_url", std::regex_replace(e.base_url, url_password, "://$1:(hidden)@")},
                         {"model", e.model},
                         {"api_key_env", e.api_key_env},
                         {"max_in_flight", e.max_in_flight},
                         {"requests_per_minute", e.requests_per_minute},
                         {"tokens_per_minute", e.tokens_per_minute},
                         {"timeout_s", e.timeout_s},
                         {"shared", e.shared}});
  json settings = json::object();
  if (auto logged = store_->get_meta(meta::kConsoleSettings); logged && logged.value())
    settings = json::parse(*logged.value(), nullptr, false);
  return json{{"keys", redacted_config(src.described_config)},
              {"endpoints", endpoints},
              {"changed_while_running", settings.is_object() ? settings : json::object()}};
}

namespace {

// The last warning and error lines of a job's log file (at most `n`).
std::vector<std::string> warning_lines(const std::string& log_path, size_t n) {
  std::vector<std::string> lines;
  std::ifstream in(log_path);
  for (std::string line; std::getline(in, line);) {
    if (line.find(" warning ") == std::string::npos && line.find(" error ") == std::string::npos &&
        line.find(" critical ") == std::string::npos)
      continue;
    lines.push_back(line);
    if (lines.size() > 2 * n) lines.erase(lines.begin(), lines.begin() + static_cast<long>(n));
  }
  if (lines.size() > n) lines.erase(lines.begin(), lines.end() - static_cast<long>(n));
  return lines;
}

struct EndedJob {
  std::string dir;
  std::shared_ptr<JobStore> store;
  OutputViews outputs;
  std::mutex mu;  // guards the cached snapshot
  json snapshot;
  std::chrono::steady_clock::time_point taken{};
  explicit EndedJob(std::string d) : dir(d), outputs(d) {}

  json job() {
    std::lock_guard<std::mutex> lock(mu);
    if (!snapshot.is_null() && std::chrono::steady_clock::now() - taken < std::chrono::seconds(1)) return snapshot;
    auto st = job_status(dir);
    json j;
    if (!st) {
      j = {{"state", "unknown"}, {"error", st.error()}};
    } else {
      const json& s = st.value();
      j = {{"name", s["job"]},
           {"state", s["state"] == "finished" ? "finished" : "stopped"},
           {"generated", s["generated"]},
           {"accepted", s["accepted"]},
           {"rejected", s["rejected"]},
           {"target", s["target_accepted"]},
           {"elapsed_s", s["running_s"]},
           {"in_flight", s["in_flight"]},
           {"stages", json::array()},
           {"after_the_fact", true}};
      uint64_t accepted = s["accepted"].get<uint64_t>(), rejected = s["rejected"].get<uint64_t>();
      if (accepted + rejected) j["accept_rate"] = double(accepted) / double(accepted + rejected);
      double running = s["running_s"].get<double>();
      if (running > 0) j["accepted_per_s"] = accepted / running;
    }
    snapshot = j;
    taken = std::chrono::steady_clock::now();
    return j;
  }

  console::Reply view(const std::string& name, const std::string& query) {
    if (name == "rejections") return {200, outputs.rejections()};
    if (name == "accepted") {
      uint64_t offset = 0, limit = 20;
      std::smatch m;
      if (std::regex_search(query, m, std::regex(R"((^|&)offset=(\d{1,11}))"))) offset = std::stoull(m[2]);
      if (std::regex_search(query, m, std::regex(R"((^|&)limit=(\d{1,4}))"))) limit = std::stoull(m[2]);
      return {200, outputs.accepted(offset, limit)};
    }
    if (name == "warnings") return {200, json{{"lines", warning_lines(dir + "/veriforge.log", 100)}}};
    if (name == "endpoints") return {200, json{{"endpoints", json::array()}}};
    if (name == "sandbox") return {200, json{{"present", false}}};
    if (name == "config") {
      std::string described;
      if (auto c = store->get_meta(meta::kConfig); c && c.value()) described = *c.value();
      json settings = json::object();
      if (auto logged = store->get_meta(meta::kConsoleSettings); logged && logged.value())
        settings = json::parse(*logged.value(), nullptr, false);
      return {200, json{{"keys", redacted_config(described)},
                        {"endpoints", json::array()},
                        {"changed_while_running", settings.is_object() ? settings : json::object()}}};
    }
    if (name == "nodes") {
      json nodes = json::array();
      if (auto logged = store->get_meta(meta::kNodes); logged && logged.value())
        if (auto table = decode<std::vector<NodeInfo>>(*logged.value(), "node table"); table)
          for (const auto& n : table.value()) nodes.push_back(to_json(n));
      return {200, json{{"nodes", nodes}}};
    }
    if (name == "controls") {
      auto logged = store->get_meta(meta::kConsoleControls);
      json all = logged && logged.value() ? json::parse(*logged.value(), nullptr, false) : json::array();
      return {200, json{{"controls", all.is_array() ? all : json::array()}}};
    }
    return {404, json{{"error", "no view '" + name + "'"}}};
  }
};

}  // namespace

Expected<std::unique_ptr<console::ConsoleServer>> serve_ended_job(const std::string& dir, const std::string& listen) {
  auto address = split_listen(listen);
  if (!address) return address.failure();
  auto opened = JobStore::open_read_only(dir + "/db");
  if (!opened) return Error{dir + ": no job to show (" + opened.error() + ")", opened.code()};
  auto job = std::make_shared<EndedJob>(dir);
  job->store = std::shared_ptr<JobStore>(std::move(opened.value()));
  console::PolicySettings p;
  p.listen_host = address->first;
  p.port = address->second;
  p.read_only = true;
  if (const char* env = std::getenv("VERIFORGE_CONSOLE_TOKEN"); env && *env) p.token = env;
  console::ConsoleHooks hooks;
  hooks.job = [job] { return job->job(); };
  hooks.view = [job](const std::string& name, const std::string& query) { return job->view(name, query); };
  return console::ConsoleServer::start(p, std::move(hooks));
}

}  // namespace vf
