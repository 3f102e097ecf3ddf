#include "console/policy.h"

#include <algorithm>
#include <cctype>

#include "base/token.h"

namespace vf::console {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string with_port(const std::string& host, uint16_t port) {
  bool v6 = host.find(':') != std::string::npos && host.front() != '[';
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

}  // namespace

bool is_loopback_host(std::string_view host) {
  std::string h = lower(host);
  return h == "localhost" || h == "::1" || h == "[::1]" || h.rfind("127.", 0) == 0;
}

bool is_mutation(std::string_view method) { return method != "GET" && method != "HEAD"; }

std::string_view path_of(std::string_view target) {
  auto q = target.find('?');
  return q == std::string_view::npos ? target : target.substr(0, q);
}

std::vector<std::string> query_names(std::string_view target) {
  std::vector<std::string> names;
  auto q = target.find('?');
  if (q == std::string_view::npos) return names;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    auto eq = pair.find('=');
    std::string_view name = pair.substr(0, eq);
    if (!name.empty()) names.push_back(lower(name));
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return names;
}

ConsolePolicy::ConsolePolicy(PolicySettings settings) : s_(std::move(settings)) {
  std::vector<std::string> names;
  bool wildcard = s_.listen_host == "0.0.0.0" || s_.listen_host == "::" || s_.listen_host.empty();
  if (!wildcard) names.push_back(s_.listen_host);
  if (wildcard || is_loopback_host(s_.listen_host)) {
    // Bound to every address (or loopback): reached from this machine by its
    // loopback names; other names must be listed (console.hosts).
    for (const char* n : {"localhost", "127.0.0.1", "::1"}) names.emplace_back(n);
  }
  for (const auto& h : s_.extra_hosts) names.push_back(h);
  for (const auto& n : names) hosts_.push_back(lower(with_port(n, s_.port)));
  std::sort(hosts_.begin(), hosts_.end());
  hosts_.erase(std::unique(hosts_.begin(), hosts_.end()), hosts_.end());
}

bool ConsolePolicy::host_accepted(std::string_view host) const {
  std::string h = lower(host);
  return std::find(hosts_.begin(), hosts_.end(), h) != hosts_.end();
}

Verdict ConsolePolicy::check(const RequestFacts& r) const {
  if (r.body_size > s_.max_body_bytes)
    return {413, "request body of " + std::to_string(r.body_size) + " bytes is over the limit of " +
                     std::to_string(s_.max_body_bytes)};
  if (r.host.empty()) return {400, "missing Host header"};
  if (!host_accepted(r.host))
    return {421, "Host '" + r.host + "' is not an address this console listens on (set console.hosts to add one)"};
  if (!r.origin.empty()) {
    std::string o = lower(r.origin);
    std::string rest;
    if (o.rfind("http://", 0) == 0) rest = o.substr(7);
    else if (o.rfind("https://", 0) == 0) rest = o.substr(8);
    if (rest.empty() || !host_accepted(rest)) return {403, "Origin '" + r.origin + "' is not this console"};
  }
  if (!is_mutation(r.method)) return {};
  if (s_.read_only) return {403, "this console is read-only"};
  for (const auto& name : query_names(r.target))
    if (name == "token" || name == "access_token" || name == "bearer" || name == "auth")
      return {400, "a token is never accepted in the query string; send Authorization: Bearer TOKEN"};
  constexpr std::string_view kBearer = "bearer ";
  if (r.authorization.size() <= kBearer.size() || lower(r.authorization.substr(0, kBearer.size())) != kBearer)
    return {401, "this request changes the job: send Authorization: Bearer TOKEN"};
  std::string_view given = std::string_view(r.authorization).substr(kBearer.size());
  while (!given.empty() && given.front() == ' ') given.remove_prefix(1);
  while (!given.empty() && given.back() == ' ') given.remove_suffix(1);
  if (s_.token.empty() || !equal_in_constant_time(given, s_.token)) return {403, "wrong token"};
  return {};
}

}  // namespace vf::console
