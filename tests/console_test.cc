// The console's server against a live instance over real HTTP (libcurl):
// every refusal of the security rules, the JSON API's shape and its controls.
#include <curl/curl.h>
#include <doctest/doctest.h>

#include <atomic>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "console/policy.h"
#include "console/server.h"

using namespace vf::console;
using nlohmann::json;

namespace {

struct Response {
  long status = 0;
  std::string body;
  json j() const { return json::parse(body, nullptr, false); }
};

size_t collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// One request; `headers` replace curl's own (an empty "Host:" removes it).
Response http(const std::string& method, const std::string& url, const std::vector<std::string>& headers = {},
              const std::string& body = "") {
  CURL* c = curl_easy_init();
  Response r;
  curl_slist* list = nullptr;
  for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  if (method == "POST") {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
  if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  curl_slist_free_all(list);
  curl_easy_cleanup(c);
  return r;
}

// A console over a pretend job: a state the controls change.
struct Fixture {
  std::mutex mu;
  std::string state = "running";
  uint64_t target = 100;
  std::vector<ControlRequest> log;
  std::unique_ptr<ConsoleServer> server;
  std::string base;

  explicit Fixture(bool read_only = false, std::string token = "s3cret-token") {
    PolicySettings s;
    s.listen_host = "127.0.0.1";
    s.port = 0;
    s.token = std::move(token);
    s.read_only = read_only;
    s.max_body_bytes = 4096;
    ConsoleHooks h;
    h.job = [this] {
      std::lock_guard<std::mutex> lock(mu);
      return json{{"state", state}, {"generated", 10}, {"accepted", 7}, {"rejected", 2}, {"target", target}};
    };
    h.metrics = [] { return std::string("# TYPE veriforge_items_total counter\nveriforge_items_total 7\n"); };
    if (!read_only)
      h.control = [this](const ControlRequest& c) {
        std::lock_guard<std::mutex> lock(mu);
        log.push_back(c);
        if (c.action == "pause") state = "paused";
        if (c.action == "resume") state = "running";
        if (c.action == "set" && c.key == "job.target_accepted") target = c.value.get<uint64_t>();
        return Reply{200, json{{"ok", true}, {"state", state}}};
      };
    auto started = ConsoleServer::start(s, std::move(h));
    REQUIRE(started.ok());
    server = std::move(started.value());
    base = "http://127.0.0.1:" + std::to_string(server->port());
  }
  std::string auth() const { return "Authorization: Bearer s3cret-token"; }
};

}  // namespace

TEST_CASE("GET /api/v1/job answers with state, generated, accepted, rejected and target without a token") {
  Fixture f;
  Response r = http("GET", f.base + "/api/v1/job");
  CHECK(r.status == 200);
  json j = r.j();
  REQUIRE(j.is_object());
  for (const char* k : {"state", "generated", "accepted", "rejected", "target"}) CHECK(j.contains(k));
  CHECK(j["state"] == "running");
}

TEST_CASE("pause and resume with the token change the job, and the change names the caller's address") {
  Fixture f;
  Response p = http("POST", f.base + "/api/v1/job/pause", {f.auth()});
  CHECK(p.status == 200);
  CHECK(http("GET", f.base + "/api/v1/job").j()["state"] == "paused");
  Response r = http("POST", f.base + "/api/v1/job/resume", {f.auth()});
  CHECK(r.status == 200);
  CHECK(http("GET", f.base + "/api/v1/job").j()["state"] == "running");
  REQUIRE(f.log.size() == 2);
  CHECK(f.log[0].from.rfind("127.0.0.1:", 0) == 0);
}

TEST_CASE("a mutation without a token, with a wrong one, or with the token in the query string or a cookie is refused") {
  Fixture f;
  CHECK(http("POST", f.base + "/api/v1/job/pause").status == 401);
  CHECK(http("POST", f.base + "/api/v1/job/pause", {"Authorization: Bearer wrong-token"}).status == 403);
  CHECK(http("POST", f.base + "/api/v1/job/pause", {"Authorization: Basic czNjcmV0LXRva2Vu"}).status == 401);
  CHECK(http("POST", f.base + "/api/v1/job/pause?token=s3cret-token").status == 400);
  CHECK(http("POST", f.base + "/api/v1/job/pause?access_token=s3cret-token", {f.auth()}).status == 400);
  CHECK(http("POST", f.base + "/api/v1/job/pause", {"Cookie: token=s3cret-token; Authorization=Bearer s3cret-token"})
            .status == 401);
  CHECK(f.log.empty());
  CHECK(http("GET", f.base + "/api/v1/job").j()["state"] == "running");
}

TEST_CASE("a request whose Host or Origin is not the console is refused (DNS rebinding)") {
  Fixture f;
  std::string port = std::to_string(f.server->port());
  CHECK(http("GET", f.base + "/api/v1/job", {"Host: evil.example:" + port}).status == 421);
  CHECK(http("POST", f.base + "/api/v1/job/pause", {"Host: evil.example:" + port, f.auth()}).status == 421);
  CHECK(http("GET", f.base + "/api/v1/job", {"Host: localhost:" + port}).status == 200);
  CHECK(http("POST", f.base + "/api/v1/job/pause", {"Origin: http://evil.example", f.auth()}).status == 403);
  CHECK(http("POST", f.base + "/api/v1/job/pause", {"Origin: http://127.0.0.1:" + port, f.auth()}).status == 200);
  CHECK(f.log.size() == 1);
}

TEST_CASE("an oversized body is refused before it is read, and malformed JSON is answered 400 naming the field") {
  Fixture f;
  std::string big(8192, 'x');
  Response r = http("POST", f.base + "/api/v1/job/set", {f.auth(), "Content-Type: application/json"}, big);
  CHECK(r.status == 413);
  Response bad = http("POST", f.base + "/api/v1/job/set", {f.auth()}, "{\"key\": ");
  CHECK(bad.status == 400);
  CHECK(bad.j()["error"].get<std::string>().find("body") != std::string::npos);
  Response no_value = http("POST", f.base + "/api/v1/job/set", {f.auth()}, R"({"key": "job.target_accepted"})");
  CHECK(no_value.status == 400);
  CHECK(no_value.j()["error"].get<std::string>().find("'value'") != std::string::npos);
  Response wrong_type =
      http("POST", f.base + "/api/v1/job/set", {f.auth()}, R"({"key": "job.target_accepted", "value": [1]})");
  CHECK(wrong_type.status == 400);
  CHECK(wrong_type.j()["error"].get<std::string>().find("'value'") != std::string::npos);
  Response typo = http("POST", f.base + "/api/v1/job/set", {f.auth()}, R"({"kye": "x", "value": 1})");
  CHECK(typo.j()["error"].get<std::string>().find("'kye'") != std::string::npos);
  CHECK(f.log.empty());
  Response ok = http("POST", f.base + "/api/v1/job/set", {f.auth()}, R"({"key": "job.target_accepted", "value": 500})");
  CHECK(ok.status == 200);
  CHECK(http("GET", f.base + "/api/v1/job").j()["target"] == 500);
}

TEST_CASE("a read-only console serves the views and refuses every control even with the token") {
  Fixture f(true);
  CHECK(http("GET", f.base + "/api/v1/job").status == 200);
  CHECK(http("POST", f.base + "/api/v1/job/pause", {f.auth()}).status == 403);
}

TEST_CASE("a non-loopback console without a token is refused at start") {
  PolicySettings s;
  s.listen_host = "0.0.0.0";
  auto started = ConsoleServer::start(s, ConsoleHooks{});
  CHECK_FALSE(started.ok());
  CHECK(started.error().find("token") != std::string::npos);
}

TEST_CASE("the event stream sends the job snapshot as server-sent events") {
  Fixture f;
  CURL* c = curl_easy_init();
  std::string got;
  std::string url = f.base + "/api/v1/events";
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &got);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2500L);  // the stream never ends: read for 2.5 s
  curl_easy_perform(c);
  curl_easy_cleanup(c);
  // The page went away: the server notices at its next frame and lets the
  // request go (under ASan a request kept would show as a leak).
  std::this_thread::sleep_for(std::chrono::milliseconds(2200));
  CHECK(http("GET", f.base + "/api/v1/job").status == 200);
  size_t frames = 0;
  for (size_t at = got.find("event: job\ndata: "); at != std::string::npos; at = got.find("event: job\ndata: ", at + 1))
    ++frames;
  CHECK(frames >= 2);  // the first at once, then one a second
  auto data = got.find("data: ");
  REQUIRE(data != std::string::npos);
  json j = json::parse(got.substr(data + 6, got.find('\n', data) - data - 6), nullptr, false);
  CHECK(j["accepted"] == 7);
}

TEST_CASE("unknown routes and methods are answered with a JSON error, never with the page") {
  Fixture f;
  CHECK(http("GET", f.base + "/api/v1/nothing-here").status == 404);
  CHECK(http("POST", f.base + "/api/v1/job/explode", {f.auth()}).status == 404);
  CHECK(http("DELETE", f.base + "/api/v1/job", {f.auth()}).status == 405);
  CHECK(http("POST", f.base + "/api/v1/nodes/abc/cordon", {f.auth()}).status == 400);
}

TEST_CASE("the policy accepts loopback names for a wildcard listen and nothing else unless listed") {
  PolicySettings s;
  s.listen_host = "0.0.0.0";
  s.port = 8080;
  s.token = "t";
  s.extra_hosts = {"node1.example"};
  ConsolePolicy p(s);
  RequestFacts r;
  r.method = "GET";
  r.target = "/";
  r.host = "localhost:8080";
  CHECK(p.check(r).ok());
  r.host = "node1.example:8080";
  CHECK(p.check(r).ok());
  r.host = "node2.example:8080";
  CHECK(p.check(r).status == 421);
  r.host = "localhost:9090";
  CHECK(p.check(r).status == 421);
}
