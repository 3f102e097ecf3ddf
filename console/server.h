// The operator console's HTTP server: the page, the JSON API under /api/v1/,
// live updates by Server-Sent Events, and /metrics. It knows nothing of the
// pipeline: the job hands it hooks that return snapshots and carry out
// controls; every request first passes ConsolePolicy (console/policy.h).
//
// Threads: one, its own (libevent's loop), so serving never runs on the
// pipeline's threads. The hooks are called on that thread and must be
// thread-safe and quick (return a snapshot taken elsewhere, post a command).
// Ownership: the server owns its loop and thread; the destructor stops the
// loop, closes every connection and joins the thread before it returns.
//
// Routes:
//   GET  /                      the page (static, built into the binary)
//   GET  /api/v1/job            the job snapshot (hooks.job)
//   GET  /api/v1/<view>         any other view the job offers (hooks.view)
//   GET  /api/v1/events         text/event-stream: the job snapshot once a second
//   POST /api/v1/job/<action>   pause, resume, drain, stop, stop-now
//   POST /api/v1/job/set        {"key": "...", "value": ...}
//   POST /api/v1/nodes/<id>/<action>   cordon, uncordon, drain, remove
//   GET  /metrics               Prometheus text exposition (hooks.metrics)
//   GET  /healthz               "ok"
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "base/status.h"
#include "console/policy.h"

namespace vf::console {

struct ControlRequest {
  std::string action;   // "pause", "resume", "drain", "stop", "stop-now", "set", "node-cordon", ...
  std::string key;      // for set: the setting; for a node action: the node id
  nlohmann::json value; // for set
  std::string from;     // the peer's address, for the record
};

struct Reply {
  int status = 200;
  nlohmann::json body;
};

struct ConsoleHooks {
  std::function<nlohmann::json()> job;
  // Another view by name ("stages", "config", "rejections", "accepted?offset=..",
  // ...); nullopt-like: a Reply with status 404 when there is none.
  std::function<Reply(const std::string& view, const std::string& query)> view;
  std::function<std::string()> metrics;
  // Carries out a control; absent on a read-only console.
  std::function<Reply(const ControlRequest&)> control;
};

class ConsoleServer {
 public:
  // Binds settings.listen_host:settings.port (0 picks a free port) and starts
  // serving. Fails (kInvalidInput) on a non-loopback address without a token,
  // (kIoError) when the address cannot be bound.
  static Expected<std::unique_ptr<ConsoleServer>> start(PolicySettings settings, ConsoleHooks hooks);
  ~ConsoleServer();
  ConsoleServer(const ConsoleServer&) = delete;
  ConsoleServer& operator=(const ConsoleServer&) = delete;

  uint16_t port() const;
  // http://HOST:PORT/ (a wildcard listen shows as 127.0.0.1).
  std::string url() const;

  struct Impl;

 private:
  explicit ConsoleServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Parses the body of POST /api/v1/job/set: {"key": string, "value": number|string|bool}.
// A bad body is an error whose message names the field.
Expected<ControlRequest> parse_set_body(const std::string& body);

// The page served at / (console/page.html, embedded at build time).
const std::string& console_page();

}  // namespace vf::console
