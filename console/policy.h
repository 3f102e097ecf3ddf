// Who may do what to the operator console: the pure rules every request
// passes before it is routed. No sockets, no HTTP library: the server hands
// over what it read (method, target, a few headers, the body's size) and
// gets back a verdict; the tests call it directly.
//
// The rules, in the order they are checked (the first that fails answers):
//   body_size > max_body_bytes                         -> 413
//   Host missing, or not one of the listen address's   -> 400 / 421
//     names (DNS rebinding: a page from evil.example resolving to us sends
//     Host: evil.example)
//   Origin present and not http(s)://<an accepted host> -> 403
//   a mutation (any method but GET, HEAD) and:
//     the console is read-only                          -> 403
//     a token in the query string                       -> 400 (never accepted there)
//     no "Authorization: Bearer ..."                    -> 401 (a cookie is never read)
//     a bearer that is not the token                    -> 403 (compared in constant time)
// Reads (GET, HEAD) need no token: what they show holds no secret (the
// effective config is shown with keys and tokens removed).
//
// Values; thread-safety: a ConsolePolicy is immutable after construction.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vf::console {

struct RequestFacts {
  std::string method;         // "GET", "POST", ...
  std::string target;         // path and query, as sent: "/api/v1/job?x=1"
  std::string host;           // the Host header ("" when absent)
  std::string origin;         // the Origin header ("" when absent)
  std::string authorization;  // the Authorization header ("" when absent)
  size_t body_size = 0;
};

struct Verdict {
  int status = 200;     // 200: go on to the route
  std::string message;  // why not, for the JSON error body and the log
  bool ok() const { return status == 200; }
};

struct PolicySettings {
  std::string listen_host;  // as bound: "127.0.0.1", "0.0.0.0", "node1.example"
  uint16_t port = 0;        // as bound (after port 0 picked one)
  std::string token;        // may be empty only when every name of listen_host is loopback
  bool read_only = false;
  size_t max_body_bytes = 64 * 1024;
  std::vector<std::string> extra_hosts;  // more names the console is reached by (console.hosts)
};

class ConsolePolicy {
 public:
  explicit ConsolePolicy(PolicySettings settings);

  Verdict check(const RequestFacts& request) const;

  // The Host values accepted, "name:port" (loopback listens also accept
  // localhost, 127.0.0.1 and [::1]).
  const std::vector<std::string>& accepted_hosts() const { return hosts_; }
  const PolicySettings& settings() const { return s_; }

 private:
  bool host_accepted(std::string_view host) const;
  PolicySettings s_;
  std::vector<std::string> hosts_;
};

bool is_loopback_host(std::string_view host);
bool is_mutation(std::string_view method);
// The query string's parameter names ("/a?b=1&c" -> {"b", "c"}).
std::vector<std::string> query_names(std::string_view target);
// The path without the query string.
std::string_view path_of(std::string_view target);

}  // namespace vf::console
