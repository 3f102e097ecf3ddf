#include "console/server.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <mutex>
#include <map>
#include <thread>

namespace vf::console {

using nlohmann::json;

struct ConsoleServer::Impl {
  PolicySettings settings;
  ConsolePolicy policy;
  ConsoleHooks hooks;
  event_base* base = nullptr;
  evhttp* http = nullptr;
  event* tick = nullptr;
  uint16_t port = 0;
  std::thread thread;
  // Open event streams by connection (loop thread only). Keyed by the
  // connection because once it fails libevent detaches the request from it
  // (the request no longer names its connection) and leaves it to us.
  std::map<evhttp_connection*, evhttp_request*> subscribers;

  Impl(PolicySettings s, ConsoleHooks h) : settings(s), policy(std::move(s)), hooks(std::move(h)) {}
};

namespace {

const char* method_name(evhttp_cmd_type m) {
  switch (m) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    case EVHTTP_REQ_PATCH: return "PATCH";
    default: return "OTHER";
  }
}

std::string header(evhttp_request* req, const char* name) {
  const char* v = evhttp_find_header(evhttp_request_get_input_headers(req), name);
  return v ? v : "";
}

std::string peer_of(evhttp_request* req) {
  evhttp_connection* conn = evhttp_request_get_connection(req);
  if (!conn) return "?";
  const char* addr = nullptr;
  uint16_t port = 0;
  evhttp_connection_get_peer(conn, const_cast<char**>(&addr), &port);
  return std::string(addr ? addr : "?") + ":" + std::to_string(port);
}

void add_common_headers(evhttp_request* req, const char* type) {
  evkeyvalq* h = evhttp_request_get_output_headers(req);
  evhttp_add_header(h, "Content-Type", type);
  evhttp_add_header(h, "Cache-Control", "no-store");
  evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
  evhttp_add_header(h, "X-Frame-Options", "DENY");
  evhttp_add_header(h, "Referrer-Policy", "no-referrer");
  // The page loads nothing from any other host, and nothing may frame it.
  evhttp_add_header(h, "Content-Security-Policy",
                    "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; "
                    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'");
}

void send_text(evhttp_request* req, int status, const std::string& body, const char* type) {
  add_common_headers(req, type);
  evbuffer* buf = evbuffer_new();
  if (evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) evbuffer_add(buf, body.data(), body.size());
  const char* reason = status == 200 ? "OK" : status == 404 ? "Not Found" : nullptr;
  evhttp_send_reply(req, status, reason ? reason : "", buf);
  evbuffer_free(buf);
}

void send_json(evhttp_request* req, int status, const json& body) {
  send_text(req, status, body.dump(), "application/json");
}

void send_error(evhttp_request* req, int status, const std::string& message) {
  send_json(req, status, json{{"error", message}, {"status", status}});
}

std::string body_of(evhttp_request* req) {
  evbuffer* in = evhttp_request_get_input_buffer(req);
  std::string body(evbuffer_get_length(in), '\0');
  if (!body.empty()) evbuffer_copyout(in, body.data(), body.size());
  return body;
}

void on_stream_closed(evhttp_connection* conn, void* arg) {
  // libevent detached the unfinished request from the failed connection and
  // left it to us (it frees only requests whose reply ended).
  auto* impl = static_cast<ConsoleServer::Impl*>(arg);
  auto it = impl->subscribers.find(conn);
  if (it == impl->subscribers.end()) return;
  evhttp_request_free(it->second);
  impl->subscribers.erase(it);
}

void push_events(evutil_socket_t, short, void* arg) {
  auto* impl = static_cast<ConsoleServer::Impl*>(arg);
  if (impl->subscribers.empty() || !impl->hooks.job) return;
  std::string frame = "event: job\ndata: " + impl->hooks.job().dump() + "\n\n";
  for (auto [conn, req] : impl->subscribers) {
    evbuffer* buf = evbuffer_new();
    evbuffer_add(buf, frame.data(), frame.size());
    evhttp_send_reply_chunk(req, buf);
    evbuffer_free(buf);
  }
}

// On the loop's thread: send every open stream the last snapshot (a page
// then shows how the job ended), end it (libevent frees a request only once
// its reply ends), and leave the loop a moment later, once those last bytes
// and the streams' final chunks are written.
void shut_down(evutil_socket_t, short, void* arg) {
  auto* impl = static_cast<ConsoleServer::Impl*>(arg);
  push_events(-1, 0, impl);
  for (auto [conn, req] : impl->subscribers) {
    evhttp_connection_set_closecb(conn, nullptr, nullptr);
    evhttp_send_reply_end(req);
  }
  impl->subscribers.clear();
  timeval flush{0, 200 * 1000};
  event_base_loopexit(impl->base, &flush);
}

void open_stream(ConsoleServer::Impl* impl, evhttp_request* req) {
  evkeyvalq* h = evhttp_request_get_output_headers(req);
  evhttp_add_header(h, "Content-Type", "text/event-stream");
  evhttp_add_header(h, "Cache-Control", "no-store");
  evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
  evhttp_send_reply_start(req, 200, "OK");
  evhttp_connection* conn = evhttp_request_get_connection(req);
  impl->subscribers[conn] = req;
  evhttp_connection_set_closecb(conn, on_stream_closed, impl);
  // The first frame at once, so a page shows numbers before the first tick.
  if (impl->hooks.job) {
    std::string frame = "retry: 2000\nevent: job\ndata: " + impl->hooks.job().dump() + "\n\n";
    evbuffer* buf = evbuffer_new();
    evbuffer_add(buf, frame.data(), frame.size());
    evhttp_send_reply_chunk(req, buf);
    evbuffer_free(buf);
  }
}

void route_control(ConsoleServer::Impl* impl, evhttp_request* req, std::string_view path) {
  if (!impl->hooks.control) return send_error(req, 403, "this console is read-only");
  ControlRequest c;
  c.from = peer_of(req);
  constexpr std::string_view kJob = "/api/v1/job/";
  constexpr std::string_view kNodes = "/api/v1/nodes/";
  if (path.rfind(kJob, 0) == 0) {
    std::string action(path.substr(kJob.size()));
    if (action == "set") {
      auto parsed = parse_set_body(body_of(req));
      if (!parsed) return send_error(req, 400, parsed.error());
      c = std::move(parsed.value());
      c.from = peer_of(req);
    } else if (action == "pause" || action == "resume" || action == "drain" || action == "stop" ||
               action == "stop-now") {
      c.action = action;
    } else {
      return send_error(req, 404, "no job action '" + action + "' (pause, resume, drain, stop, stop-now, set)");
    }
  } else if (path.rfind(kNodes, 0) == 0) {
    std::string_view rest = path.substr(kNodes.size());
    auto slash = rest.find('/');
    if (slash == std::string_view::npos) return send_error(req, 404, "POST /api/v1/nodes/ID/ACTION");
    std::string id(rest.substr(0, slash)), action(rest.substr(slash + 1));
    if (id.empty() || id.find_first_not_of("0123456789") != std::string::npos)
      return send_error(req, 400, "node id '" + id + "' is not a number");
    if (action != "cordon" && action != "uncordon" && action != "drain" && action != "remove")
      return send_error(req, 404, "no node action '" + action + "' (cordon, uncordon, drain, remove)");
    c.action = "node-" + action;
    c.key = id;
  } else {
    return send_error(req, 404, "no such resource");
  }
  Reply r = impl->hooks.control(c);
  spdlog::info("component=console event=control action={} key={} from={} status={}", c.action, c.key, c.from,
               r.status);
  send_json(req, r.status, r.body);
}

void on_request(evhttp_request* req, void* arg) {
  auto* impl = static_cast<ConsoleServer::Impl*>(arg);
  RequestFacts facts;
  facts.method = method_name(evhttp_request_get_command(req));
  facts.target = evhttp_request_get_uri(req) ? evhttp_request_get_uri(req) : "/";
  facts.host = header(req, "Host");
  facts.origin = header(req, "Origin");
  facts.authorization = header(req, "Authorization");
  facts.body_size = evbuffer_get_length(evhttp_request_get_input_buffer(req));
  Verdict v = impl->policy.check(facts);
  if (!v.ok()) {
    spdlog::warn("component=console event=refused status={} method={} path={} from={} reason=\"{}\"", v.status,
                 facts.method, std::string(path_of(facts.target)), peer_of(req), v.message);
    if (v.status == 401) evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate", "Bearer");
    return send_error(req, v.status, v.message);
  }
  std::string_view target = facts.target;
  std::string_view path = path_of(target);
  std::string query(target.size() > path.size() ? target.substr(path.size() + 1) : std::string_view());
  if (is_mutation(facts.method)) {
    if (facts.method != "POST") return send_error(req, 405, facts.method + " is not allowed here; use POST");
    return route_control(impl, req, path);
  }
  if (path == "/" || path == "/index.html") return send_text(req, 200, console_page(), "text/html; charset=utf-8");
  if (path == "/healthz") return send_text(req, 200, "ok\n", "text/plain");
  if (path == "/metrics") {
    if (!impl->hooks.metrics) return send_error(req, 404, "no metrics");
    return send_text(req, 200, impl->hooks.metrics(), "text/plain; version=0.0.4; charset=utf-8");
  }
  if (path == "/api/v1/job") return send_json(req, 200, impl->hooks.job ? impl->hooks.job() : json::object());
  if (path == "/api/v1/events") return open_stream(impl, req);
  constexpr std::string_view kApi = "/api/v1/";
  if (path.rfind(kApi, 0) == 0 && impl->hooks.view) {
    Reply r = impl->hooks.view(std::string(path.substr(kApi.size())), query);
    return send_json(req, r.status, r.body);
  }
  send_error(req, 404, "no such resource");
}

}  // namespace

Expected<ControlRequest> parse_set_body(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded()) return invalid_input("body: not valid JSON (expected {\"key\": ..., \"value\": ...})");
  if (!j.is_object()) return invalid_input("body: expected a JSON object {\"key\": ..., \"value\": ...}");
  for (auto it = j.begin(); it != j.end(); ++it)
    if (it.key() != "key" && it.key() != "value") return invalid_input("field '" + it.key() + "': unknown");
  if (!j.contains("key")) return invalid_input("field 'key': missing");
  if (!j["key"].is_string() || j["key"].get<std::string>().empty())
    return invalid_input("field 'key': must be a non-empty string");
  if (!j.contains("value")) return invalid_input("field 'value': missing");
  const json& v = j["value"];
  if (!v.is_number() && !v.is_string() && !v.is_boolean())
    return invalid_input("field 'value': must be a number, a string or a boolean");
  ControlRequest c;
  c.action = "set";
  c.key = j["key"].get<std::string>();
  c.value = v;
  return c;
}

Expected<std::unique_ptr<ConsoleServer>> ConsoleServer::start(PolicySettings settings, ConsoleHooks hooks) {
  if (settings.token.empty() && !is_loopback_host(settings.listen_host))
    return invalid_input("console: listening on " + settings.listen_host +
                         " (not loopback) needs a token: set VERIFORGE_CONSOLE_TOKEN");
  static std::once_flag threads_once;
  std::call_once(threads_once, [] { evthread_use_pthreads(); });
  auto impl = std::make_unique<Impl>(settings, std::move(hooks));
  impl->base = event_base_new();
  impl->http = evhttp_new(impl->base);
  if (!impl->base || !impl->http) return io_error("console: cannot create the HTTP server");
  evhttp_set_allowed_methods(impl->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                             EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH | EVHTTP_REQ_OPTIONS);
  evhttp_set_max_body_size(impl->http, static_cast<ev_ssize_t>(settings.max_body_bytes));
  evhttp_set_max_headers_size(impl->http, 16 * 1024);
  evhttp_set_timeout(impl->http, 30);
  evhttp_set_gencb(impl->http, on_request, impl.get());
  evhttp_bound_socket* sock = evhttp_bind_socket_with_handle(impl->http, settings.listen_host.c_str(), settings.port);
  if (!sock)
    return io_error("console: cannot listen on " + settings.listen_host + ":" + std::to_string(settings.port) +
                    " (address in use, or not an address of this machine)");
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  getsockname(evhttp_bound_socket_get_fd(sock), reinterpret_cast<sockaddr*>(&addr), &len);
  impl->port = ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                                                : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  // The policy checks Host against the port actually bound.
  settings.port = impl->port;
  impl->settings = settings;
  impl->policy = ConsolePolicy(settings);
  impl->tick = event_new(impl->base, -1, EV_PERSIST, push_events, impl.get());
  timeval second{1, 0};
  event_add(impl->tick, &second);
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { event_base_dispatch(raw->base); });
  spdlog::info("component=console event=listening url={}", "http://" + settings.listen_host + ":" +
                                                                   std::to_string(impl->port) + "/");
  return std::unique_ptr<ConsoleServer>(new ConsoleServer(std::move(impl)));
}

ConsoleServer::ConsoleServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ConsoleServer::~ConsoleServer() {
  if (!impl_) return;
  timeval now{0, 0};
  if (impl_->thread.joinable()) {
    event_base_once(impl_->base, -1, EV_TIMEOUT, shut_down, impl_.get(), &now);
    impl_->thread.join();
  }
  if (impl_->tick) event_free(impl_->tick);
  if (impl_->http) evhttp_free(impl_->http);
  if (impl_->base) event_base_free(impl_->base);
}

uint16_t ConsoleServer::port() const { return impl_->port; }

std::string ConsoleServer::url() const {
  std::string host = impl_->settings.listen_host;
  if (host == "0.0.0.0" || host == "::" || host.empty()) host = "127.0.0.1";
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return "http://" + host + ":" + std::to_string(impl_->port) + "/";
}

}  // namespace vf::console
