// llm-sim: an OpenAI-compatible chat-completions server for tests and
// benchmarks (no model runs here). libevent's HTTP server, one thread.
//
//   llm-sim --port 0 --seeds FILE_OR_DIR... [--seed N] [--latency-ms 200]
//           [--latency-jitter-ms 0] [--latency-dist fixed|uniform|exponential] [--p429 0] [--p500 0] [--pdrop 0]
//           [--ptimeout 0] [--pmalformed 0] [--ptruncated 0]
//           [--solver-accuracy 0.7] [--gen-broken 0.1] [--retry-after 1] [--retry-after-ms N] [--solve-variants]
//
// Prints "llm-sim listening on PORT" on stdout once ready. Answers as a
// generator when a message asks for a "new problem" (a variant of a bank
// seed, with rationale code; some broken on purpose), otherwise as a solver
// (a chain of thought ending in the bank's answer with probability
// --solver-accuracy, else a plausible wrong one, in varied formats). Faults
// are drawn per request from (seed, body, how often that body was seen), so a
// run is deterministic for a given seed and a retried request can succeed;
// the reply's content depends on (seed, body) alone when the request carries
// a sampling `seed`, else also on how often the body was seen.
// GET /stats returns counts, including bodies answered successfully more than
// once (a client that repeats finished calls shows up there) and bodies sent
// again before the Retry-After of their 429 had passed (early_retries: a
// client that ignores the header shows up there).
// --solve-variants: the solver also knows the answer of a numeric variant of
// a bank seed (the offline generator's items): it runs the seed's code with
// the question's numbers, once per question, in a fork server.
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <netinet/tcp.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <algorithm>
#include <map>
#include <set>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "dataflow/seeds.h"
#include "dataflow/variants.h"
#include "sandbox/fresh_interpreter.h"
#include "sandbox/fork_server.h"

#include <future>

using nlohmann::json;

namespace {

// SplitMix64: a cheap, good generator; seeding std::mt19937_64 per request
// cost more than answering it.
struct Rng {
  using result_type = uint64_t;
  uint64_t state;
  explicit Rng(uint64_t seed) : state(seed) {}
  static constexpr uint64_t min() { return 0; }
  static constexpr uint64_t max() { return ~uint64_t{0}; }
  uint64_t operator()() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
};

struct Options {
  int port = 0;
  std::vector<std::string> seeds;
  uint64_t seed = 1;
  double latency_ms = 0, jitter_ms = 0;
  std::string latency_dist = "uniform";  // fixed | uniform (+-jitter) | exponential (mean latency_ms)
  double p429 = 0, p500 = 0, pdrop = 0, ptimeout = 0, pmalformed = 0, ptruncated = 0;
  double solver_accuracy = 0.7, gen_broken = 0.1;
  int retry_after = 1;        // seconds in the Retry-After header of a 429
  int retry_after_ms = -1;    // >= 0: also send retry-after-ms (which the client prefers)
  bool solve_variants = false;
};

struct Stats {
  uint64_t requests = 0;
  std::map<std::string, uint64_t> outcomes;
  uint64_t generator_ok = 0, solver_ok = 0;
  uint64_t repeated_ok = 0;
  uint64_t early_retries = 0;  // a body sent again before the Retry-After its 429 asked for had passed
};

double monotonic_s() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

struct Sim {
  Options opt;
  event_base* base = nullptr;
  std::vector<vf::Seed> bank;
  std::unordered_map<std::string, size_t> by_question;  // normalized question -> bank index
  std::unordered_map<std::string, std::string> generated_answers;  // problems this server wrote -> their answer
  std::unordered_map<uint64_t, uint32_t> seen;          // body hash -> times seen
  std::unordered_map<uint64_t, uint32_t> ok_bodies;     // body hash -> successful answers
  std::unordered_map<uint64_t, double> not_before;      // body hash -> when a 429 allowed it again (monotonic s)
  Stats stats;
  // --solve-variants: bank seeds by their question with every number as '#'.
  std::vector<std::pair<std::string, size_t>> templates;
  std::unique_ptr<vf::sandbox::Executor> runner;
  std::unordered_map<std::string, std::string> variant_answers;  // variant question -> answer ("" when the code failed)
};

std::string norm(const std::string& s) { return vf::collapse_whitespace(s); }

struct Delayed {
  Sim* sim;
  evhttp_request* req;
  int code;
  std::string reason;
  std::string body;
  std::string retry_after;
  bool truncate = false;
  bool drop = false;
  uint64_t body_hash = 0;
};

void respond(Delayed* d) {
  if (d->drop) {
    // Close the connection without an answer.
    evhttp_connection* conn = evhttp_request_get_connection(d->req);
    evhttp_connection_free(conn);
    delete d;
    return;
  }
  evkeyvalq* headers = evhttp_request_get_output_headers(d->req);
  evhttp_add_header(headers, "Content-Type", "application/json");
  if (!d->retry_after.empty()) {
    evhttp_add_header(headers, "Retry-After", d->retry_after.c_str());
    double wait_s = std::atof(d->retry_after.c_str());
    if (d->sim->opt.retry_after_ms >= 0) {
      wait_s = d->sim->opt.retry_after_ms / 1000.0;
      evhttp_add_header(headers, "retry-after-ms", std::to_string(d->sim->opt.retry_after_ms).c_str());
    }
    // The client may send this body again once the wait it was told has passed.
    d->sim->not_before[d->body_hash] = monotonic_s() + wait_s;
  }
  evbuffer* buf = evbuffer_new();
  std::string body = d->truncate ? d->body.substr(0, d->body.size() / 2) : d->body;
  evbuffer_add(buf, body.data(), body.size());
  evhttp_send_reply(d->req, d->code, d->reason.c_str(), buf);
  evbuffer_free(buf);
  delete d;
}

void on_timer(evutil_socket_t, short, void* arg) { respond(static_cast<Delayed*>(arg)); }

std::string wrong_answer(const std::string& gold, Rng& rng) {
  char* end = nullptr;
  double v = std::strtod(gold.c_str(), &end);
  if (end != gold.c_str() && *end == '\0') {
    long long k = static_cast<long long>(v);
    if (static_cast<double>(k) == v) return std::to_string(k + 1 + static_cast<long long>(rng() % 5));
    return std::to_string(v * 1.5);
  }
  static const char* kOthers[] = {"0", "1", "\\frac{1}{2}", "-1", "42"};
  return kOthers[rng() % 5];
}

// Numbers in `text` (digit runs with one optional decimal point), and the text with each as '#'.
std::string number_template(const std::string& text, std::vector<std::string>* numbers) {
  std::string out;
  for (size_t i = 0; i < text.size();) {
    if (std::isdigit(static_cast<unsigned char>(text[i]))) {
      size_t j = i;
      while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) ++j;
      if (j + 1 < text.size() && text[j] == '.' && std::isdigit(static_cast<unsigned char>(text[j + 1]))) {
        ++j;
        while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) ++j;
      }
      if (numbers) numbers->push_back(text.substr(i, j - i));
      out += '#';
      i = j;
    } else {
      out += text[i++];
    }
  }
  return out;
}

// The answer of a numeric variant of a bank seed quoted in `prompt`: the
// seed's code with the variant's numbers, run once per question.
std::string variant_gold(Sim& s, const std::string& prompt) {
  std::vector<std::string> prompt_numbers;
  std::string shape = number_template(prompt, &prompt_numbers);
  for (const auto& [tmpl, idx] : s.templates) {
    size_t at = shape.find(tmpl);
    if (at == std::string::npos) continue;
    // The numbers of the matched span, in order, stand for the seed question's.
    size_t first = static_cast<size_t>(std::count(shape.begin(), shape.begin() + static_cast<long>(at), '#'));
    const vf::Seed& seed = s.bank[idx];
    std::vector<std::string> seed_numbers;
    number_template(norm(seed.question), &seed_numbers);
    std::string key = std::to_string(idx);
    std::vector<vf::Substitution> subs;
    for (size_t k = 0; k < seed_numbers.size() && first + k < prompt_numbers.size(); ++k) {
      const std::string& to = prompt_numbers[first + k];
      key += "|" + to;
      bool known = std::any_of(subs.begin(), subs.end(), [&](auto& x) { return x.from == seed_numbers[k]; });
      if (!known && to != seed_numbers[k]) subs.push_back({seed_numbers[k], to});
    }
    if (auto it = s.variant_answers.find(key); it != s.variant_answers.end()) return it->second;
    std::string code = vf::substitute(seed.rationale, vf::code_numbers(seed.rationale), subs);
    std::promise<vf::sandbox::RunResult> done;
    vf::sandbox::RunRequest run;
    run.code = code;
    run.limits.wall_timeout_s = 20;
    s.runner->submit(run, [&done](vf::sandbox::RunResult r) { done.set_value(std::move(r)); });
    auto r = done.get_future().get();
    std::string answer = r.status == vf::sandbox::RunStatus::kOk ? r.output : "";
    s.variant_answers[key] = answer;
    return answer;
  }
  return {};
}

std::string solver_reply(Sim& s, const std::string& prompt, Rng& rng) {
  std::string gold;
  std::string np = norm(prompt);
  for (const auto& [q, idx] : s.by_question)
    if (np.find(q) != std::string::npos) {
      gold = s.bank[idx].final_answer;
      break;
    }
  if (gold.empty())
    for (const auto& [q, answer] : s.generated_answers)
      if (np.find(q) != std::string::npos) {
        gold = answer;
        break;
      }
  if (gold.empty() && s.runner) gold = variant_gold(s, np);
  bool correct = !gold.empty() && std::uniform_real_distribution<double>(0, 1)(rng) < s.opt.solver_accuracy;
  std::string answer = correct ? gold : wrong_answer(gold.empty() ? "7" : gold, rng);
  switch (rng() % 4) {
    case 0: return "Let me work through this step by step.\nAfter simplifying, the result follows.\nTherefore the answer is \\boxed{" + answer + "}.";
    case 1: return "We set up the equations and solve them carefully.\n\nFinal answer: " + answer;
    case 2: return "Reasoning: combine the given quantities.\n\n**Answer:** $" + answer + "$";
    default: return "Step 1: read the problem.\nStep 2: compute.\nThe final answer is $\\boxed{" + answer + "}$";
  }
}

std::string generator_reply(Sim& s, const std::string& prompt, Rng& rng) {
  if (s.bank.empty()) return "I could not think of a problem.";
  // Condition on a bank seed quoted in the prompt when there is one.
  std::vector<size_t> quoted;
  std::string np = norm(prompt);
  for (const auto& [q, idx] : s.by_question)
    if (np.find(q) != std::string::npos) quoted.push_back(idx);
  size_t pick = quoted.empty() ? rng() % s.bank.size() : quoted[rng() % quoted.size()];
  std::vector<vf::Seed> one{s.bank[pick]};
  vf::VariantGenerator gen(one, rng());
  auto v = gen.next();
  std::string question = v ? v->question : s.bank[pick].question;
  std::string code = v ? v->rationale : s.bank[pick].rationale;
  double roll = std::uniform_real_distribution<double>(0, 1)(rng);
  if (roll < s.opt.gen_broken / 3) return "Here is an interesting idea for a problem about " + s.bank[pick].domain + ", but I will leave the details to you.";
  if (roll < 2 * s.opt.gen_broken / 3) code = "def solve(:\n    return 1\nprint(solve()";  // syntax error
  else if (roll < s.opt.gen_broken) code = "x = 1\n";                                    // prints nothing
  else if (!s.generated_answers.count(norm(question))) {
    // Know the answer of what we wrote, so the solver role can be right about it.
    vf::sandbox::RunRequest run;
    run.code = code;
    run.limits.wall_timeout_s = 20;
    auto r = vf::sandbox::run_python("/usr/bin/python3", run);
    if (r.status == vf::sandbox::RunStatus::kOk && !r.output.empty()) s.generated_answers[norm(question)] = r.output;
  }
  switch (rng() % 3) {
    case 0: return "Question: " + question + "\n\nRationale:\n```python\n" + code + "\n```\n";
    case 1: return "Here is a new problem.\n\n**Question:** " + question + "\n\n```python\n" + code + "\n```\nThis code prints the answer.";
    default: return "Question:\n" + question + "\n\nCode:\n```\n" + code + "\n```";
  }
}

void on_chat(evhttp_request* req, void* arg) {
  Sim& s = *static_cast<Sim*>(arg);
  s.stats.requests++;
  // Replies go out at once (no Nagle delay behind a delayed ACK).
  if (evhttp_connection* conn = evhttp_request_get_connection(req)) {
    if (bufferevent* bev = evhttp_connection_get_bufferevent(conn)) {
      int one = 1;
      setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
  }
  evbuffer* in = evhttp_request_get_input_buffer(req);
  std::string body(evbuffer_get_length(in), '\0');
  evbuffer_copyout(in, body.data(), body.size());
  uint64_t h = vf::fnv1a64(body.data(), body.size());
  uint32_t seen = s.seen[h]++;
  if (auto nb = s.not_before.find(h); nb != s.not_before.end()) {
    // 20 ms of slack for timer granularity on a loaded machine.
    if (monotonic_s() < nb->second - 0.02) s.stats.early_retries++;
    s.not_before.erase(nb);
  }
  Rng rng(s.opt.seed * 0x9e3779b97f4a7c15ULL ^ h ^ (uint64_t{seen} << 48));
  std::uniform_real_distribution<double> u(0, 1);
  auto* d = new Delayed{&s, req, 200, "OK", "", "", false, false, h};
  double roll = u(rng);
  double acc = 0;
  auto fault = [&](double p) { acc += p; return roll < acc; };
  std::string outcome = "ok";
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.contains("messages") || !j["messages"].is_array()) {
    d->code = 400;
    d->reason = "Bad Request";
    d->body = json{{"error", {{"message", "request body is not a chat completion request"}, {"type", "invalid_request_error"}}}}.dump();
    outcome = "bad-request";
  } else if (fault(s.opt.p429)) {
    d->code = 429;
    d->reason = "Too Many Requests";
    d->retry_after = std::to_string(s.opt.retry_after);
    d->body = json{{"error", {{"message", "rate limit exceeded (simulated)"}, {"type", "rate_limit"}}}}.dump();
    outcome = "429";
  } else if (fault(s.opt.p500)) {
    d->code = 500;
    d->reason = "Internal Server Error";
    d->body = json{{"error", {{"message", "internal error (simulated)"}}}}.dump();
    outcome = "500";
  } else if (fault(s.opt.pdrop)) {
    d->drop = true;
    outcome = "drop";
  } else if (fault(s.opt.ptimeout)) {
    outcome = "timeout";  // never answered; the client times out
    s.stats.outcomes[outcome]++;
    delete d;
    return;
  } else {
    std::string prompt;
    for (const auto& m : j["messages"])
      if (m.contains("content") && m["content"].is_string()) prompt += m["content"].get<std::string>() + "\n";
    bool generator = false;
    {
      std::string low = prompt;
      for (auto& c : low) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      generator = low.find("new problem") != std::string::npos;
    }
    // A request with a sampling seed is answered the same every time (as servers
    // that honour `seed` do); without one, a repeated request samples anew.
    Rng content_rng = j.contains("seed") && j["seed"].is_number_integer() ? Rng(s.opt.seed * 0x9e3779b97f4a7c15ULL ^ h) : rng;
    int n = j.contains("n") && j["n"].is_number_integer() ? std::max(1, std::min(16, j["n"].get<int>())) : 1;
    json choices = json::array();
    size_t completion_chars = 0;
    for (int i = 0; i < n; ++i) {
      std::string text = generator ? generator_reply(s, prompt, content_rng) : solver_reply(s, prompt, content_rng);
      completion_chars += text.size();
      choices.push_back({{"index", i}, {"message", {{"role", "assistant"}, {"content", text}}}, {"finish_reason", "stop"}});
    }
    json reply = {{"id", "sim-" + std::to_string(h)},
                  {"object", "chat.completion"},
                  {"model", j.value("model", "sim")},
                  {"choices", choices},
                  {"usage", {{"prompt_tokens", prompt.size() / 4 + 1}, {"completion_tokens", completion_chars / 4 + 1},
                             {"total_tokens", prompt.size() / 4 + completion_chars / 4 + 2}}}};
    d->body = reply.dump();
    if (fault(s.opt.pmalformed)) {
      d->body = "{\"id\": \"sim\", \"choices\": [ oops";
      outcome = "malformed";
    } else if (fault(s.opt.ptruncated)) {
      d->truncate = true;
      outcome = "truncated";
    } else {
      (generator ? s.stats.generator_ok : s.stats.solver_ok)++;
      if (s.ok_bodies[h]++ > 0) s.stats.repeated_ok++;
    }
  }
  s.stats.outcomes[outcome]++;
  double delay_ms = s.opt.latency_ms;
  if (s.opt.latency_dist == "exponential") delay_ms = -s.opt.latency_ms * std::log(1 - u(rng));
  else if (s.opt.latency_dist == "uniform" && s.opt.jitter_ms > 0) delay_ms += (u(rng) * 2 - 1) * s.opt.jitter_ms;
  if (delay_ms <= 0) {
    respond(d);
    return;
  }
  timeval tv{static_cast<time_t>(delay_ms / 1000), static_cast<suseconds_t>(std::fmod(delay_ms, 1000.0) * 1000)};
  event_base_once(s.base, -1, EV_TIMEOUT, on_timer, d, &tv);  // frees itself after firing
}

void on_stats(evhttp_request* req, void* arg) {
  Sim& s = *static_cast<Sim*>(arg);
  json j = {{"requests", s.stats.requests},         {"outcomes", s.stats.outcomes},
            {"generator_ok", s.stats.generator_ok}, {"solver_ok", s.stats.solver_ok},
            {"repeated_ok", s.stats.repeated_ok},   {"distinct_bodies", s.seen.size()},
            {"early_retries", s.stats.early_retries}};
  std::string body = j.dump();
  evbuffer* buf = evbuffer_new();
  evbuffer_add(buf, body.data(), body.size());
  evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
  evhttp_send_reply(req, 200, "OK", buf);
  evbuffer_free(buf);
}

void on_other(evhttp_request* req, void*) {
  std::string uri = evhttp_request_get_uri(req);
  evbuffer* buf = evbuffer_new();
  if (uri == "/v1/models") {
    std::string body = R"({"object":"list","data":[{"id":"sim","object":"model"}]})";
    evbuffer_add(buf, body.data(), body.size());
    evhttp_send_reply(req, 200, "OK", buf);
  } else {
    std::string body = R"({"error":{"message":"not found"}})";
    evbuffer_add(buf, body.data(), body.size());
    evhttp_send_reply(req, 404, "Not Found", buf);
  }
  evbuffer_free(buf);
}

bool parse_args(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    if (a == "--solve-variants" && (i + 1 >= argc || argv[i + 1][0] == '-')) {
      o.solve_variants = true;
      continue;
    }
    if (a == "--seeds") {
      while (i + 1 < argc && argv[i + 1][0] != '-') o.seeds.push_back(argv[++i]);
      continue;
    }
    if (!(v = value())) {
      std::fprintf(stderr, "llm-sim: %s needs a value\n", a.c_str());
      return false;
    }
    if (a == "--port") o.port = std::atoi(v);
    else if (a == "--seed") o.seed = std::strtoull(v, nullptr, 10);
    else if (a == "--latency-ms") o.latency_ms = std::atof(v);
    else if (a == "--latency-jitter-ms") o.jitter_ms = std::atof(v);
    else if (a == "--latency-dist") o.latency_dist = v;
    else if (a == "--p429") o.p429 = std::atof(v);
    else if (a == "--p500") o.p500 = std::atof(v);
    else if (a == "--pdrop") o.pdrop = std::atof(v);
    else if (a == "--ptimeout") o.ptimeout = std::atof(v);
    else if (a == "--pmalformed") o.pmalformed = std::atof(v);
    else if (a == "--ptruncated") o.ptruncated = std::atof(v);
    else if (a == "--solver-accuracy") o.solver_accuracy = std::atof(v);
    else if (a == "--gen-broken") o.gen_broken = std::atof(v);
    else if (a == "--retry-after") o.retry_after = std::atoi(v);
    else if (a == "--retry-after-ms") o.retry_after_ms = std::atoi(v);
    else if (a == "--solve-variants") o.solve_variants = std::string(v) != "0" && std::string(v) != "false";
    else {
      std::fprintf(stderr, "llm-sim: unknown option %s\n", a.c_str());
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Sim s;
  if (!parse_args(argc, argv, s.opt)) return 1;
  if (!s.opt.seeds.empty()) {
    auto set = vf::load_seeds(s.opt.seeds);
    if (set.seeds.empty()) {
      std::fprintf(stderr, "llm-sim: no valid seeds in the given paths\n");
      return 1;
    }
    s.bank = std::move(set.seeds);
    for (size_t i = 0; i < s.bank.size(); ++i) s.by_question.emplace(norm(s.bank[i].question), i);
  }
  if (s.opt.solve_variants) {
    std::set<std::string> modules;
    for (size_t i = 0; i < s.bank.size(); ++i) {
      s.templates.emplace_back(number_template(norm(s.bank[i].question), nullptr), i);
      for (const auto& d : s.bank[i].required_dependencies) modules.insert(vf::module_for_distribution(d, vf::default_distribution_modules()));
    }
    // Longest templates first: a short one may be part of a longer question.
    std::sort(s.templates.begin(), s.templates.end(), [](auto& a, auto& b) { return a.first.size() > b.first.size(); });
    vf::sandbox::SandboxOptions so;
    so.workers = 1;
    so.contain = false;  // the bank's own code, not untrusted input
    so.preimport.assign(modules.begin(), modules.end());
    auto runner = vf::sandbox::make_executor(vf::sandbox::SandboxMode::kForkServer, so);
    if (!runner) {
      std::fprintf(stderr, "llm-sim: --solve-variants: %s\n", runner.error().c_str());
      return 1;
    }
    s.runner = std::move(runner.value());
  }
  s.base = event_base_new();
  evhttp* http = evhttp_new(s.base);
  evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
  evhttp_set_cb(http, "/v1/chat/completions", on_chat, &s);
  evhttp_set_cb(http, "/stats", on_stats, &s);
  evhttp_set_gencb(http, on_other, &s);
  evhttp_bound_socket* sock = evhttp_bind_socket_with_handle(http, "127.0.0.1", static_cast<uint16_t>(s.opt.port));
  if (!sock) {
    std::fprintf(stderr, "llm-sim: cannot listen on 127.0.0.1:%d\n", s.opt.port);
    return 1;
  }
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  getsockname(evhttp_bound_socket_get_fd(sock), reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  std::printf("llm-sim listening on %d\n", port);
  std::fflush(stdout);
  event_base_dispatch(s.base);
  evhttp_free(http);
  event_base_free(s.base);
  return 0;
}
