#include "job/console_link.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <fstream>
#include <random>

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
  std::map<std::string, std::pair<uint64_t, uint64_t>> counted;  // stage -> (received, sent) counted so far
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
                   .Add({})) {}

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
  link->out_dir_ = out_dir;
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
}

std::string ConsoleLink::metrics() const {
  {
    std::lock_guard<std::mutex> lock(mu_);
    metrics_->paused.Set(paused_ ? 1 : 0);
    metrics_->uptime.Set(seconds_since(started_));
  }
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

void ConsoleLink::finished(bool ok, const std::string& error) {
  std::lock_guard<std::mutex> lock(mu_);
  end_state_ = ok ? "finished" : (stop_now_ ? "stopped" : "failed");
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
  std::string state = !end_state_.empty() ? end_state_ : stop_now_ ? "stopping" : paused_ ? "paused" : "running";
  double elapsed = seconds_since(started_);
  j["state"] = state;
  j["generated"] = generated;
  j["accepted"] = accepted;
  j["rejected"] = rejected;
  j["target"] = target_;
  j["elapsed_s"] = elapsed;
  if (accepted + rejected > 0) j["accept_rate"] = static_cast<double>(accepted) / (accepted + rejected);
  double per_s = elapsed > 0 ? accepted / elapsed : 0;
  j["accepted_per_s"] = per_s;
  if (per_s > 0 && accepted < target_) j["eta_s"] = (target_ - accepted) / per_s;
  if (!end_error_.empty()) j["error"] = end_error_;
  json stages = json::array();
  for (const auto& [name, r] : stages_) {
    json s;
    s["name"] = name;
    s["received"] = r.received;
    s["sent"] = r.sent;
    s["held"] = r.held;
    s["capacity"] = r.capacity;
    s["in_per_s"] = in_rate_.count(name) ? in_rate_.at(name) : 0.0;
    s["out_per_s"] = out_rate_.count(name) ? out_rate_.at(name) : 0.0;
    s["finished"] = r.finished;
    stages.push_back(std::move(s));
  }
  j["stages"] = std::move(stages);
  return j;
}

Status ConsoleLink::record(const console::ControlRequest& c, const std::string& outcome) {
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
  return store_->write(batch);
}

console::Reply ConsoleLink::control(const console::ControlRequest& c) {
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
  // PLACEHOLDER (issue 15, not built yet): drain, stop, set and the node
  // controls answer 501 and change nothing.
  return {501, json{{"error", "'" + c.action + "' is not implemented yet"}}};
}

}  // namespace vf
