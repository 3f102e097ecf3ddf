// Sends every registered wire message type between two real processes over a
// loopback TCP connection and checks each arrives intact. Debian's CAF drops
// a message whose type is unregistered or registered under another name on
// the peer without a word, so this is the test that catches a forgotten
// registration.
//
//   wire_loopback_test            parent: starts the peer, sends, checks
//   wire_loopback_test --serve    peer: publishes an echo actor, prints port
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "actors/wire.h"
#include "base/token.h"

using namespace vf;
using namespace vf::wire;

namespace {

template <class P>
caf::message_handler echo_one() {
  return {[](const Msg<P>& m) { return m; }};
}

caf::behavior echo(caf::event_based_actor*) {
  return echo_one<Attach>()
      .or_else(echo_one<ItemBatch>())
      .or_else(echo_one<Credit>())
      .or_else(echo_one<EndOfStream>())
      .or_else(echo_one<LeaseBatch>())
      .or_else(echo_one<WorkReport>())
      .or_else(echo_one<RunDone>())
      .or_else(echo_one<CallDone>())
      .or_else(echo_one<LogDone>())
      .or_else(echo_one<Tick>())
      .or_else(echo_one<ReportDue>())
      .or_else(echo_one<Pause>())
      .or_else(echo_one<SetTarget>())
      .or_else(echo_one<StageReport>())
      .or_else(echo_one<JobReport>())
      .or_else(echo_one<Hello>())
      .or_else(echo_one<Challenge>())
      .or_else(echo_one<Proof>())
      .or_else(echo_one<Welcome>())
      .or_else(echo_one<Join>())
      .or_else(echo_one<NodeBeat>())
      .or_else(echo_one<Leave>())
      .or_else(echo_one<Budget>());
}

Item sample_item(uint64_t id) {
  Item it;
  it.id = id;
  it.state = static_cast<uint8_t>(ItemState::kAccepted);
  it.question = "Wie viele Kanten hat K_9? \xE2\x88\x9A and a \"quote\"";
  it.rationale = "import networkx as nx\nprint(nx.complete_graph(9).number_of_edges())\n";
  it.reference_answer = "36";
  it.answer = "36";
  it.generator = "variant";
  it.provenance = {"seeds/x.json", 3, "name", "Graph Theory", "CC0 1.0", "[\"a\",\"b\"]"};
  it.substitutions = {{"9", "11"}};
  it.executions = {{0, 0, "36", "", "", 12.25}, {0, 0, "36", "warn", "", 11.5}};
  it.prompt = {{"system", "You write problems."}, {"user", "Write a new problem like these."}};
  it.conditioned_on = {it.provenance};
  it.solver_samples = {{"... so \\boxed{36}", "36", "boxed", true}};
  it.pass_rate = 0.75;
  it.difficulty = "medium";
  it.prompt_tokens = 120;
  it.completion_tokens = 80;
  return it;
}

bool same_item(const Item& a, const Item& b) { return encode(a) == encode(b) && a.question == b.question; }

int serve() {
  caf::actor_system_config cfg;
  register_wire_types(cfg);
  cfg.load<caf::io::middleman>();
  caf::actor_system sys{cfg};
  auto a = sys.spawn(echo);
  auto port = sys.middleman().publish(a, 0, "127.0.0.1");
  if (!port) {
    std::fprintf(stderr, "peer: publish failed: %s\n", sys.render(port.error()).c_str());
    return 1;
  }
  std::printf("%u\n", static_cast<unsigned>(*port));
  std::fflush(stdout);
  // Serve until the parent closes our stdin (or kills us).
  char c;
  while (read(0, &c, 1) > 0) {
  }
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  return 0;
}

struct Case {
  std::string name;
  // Sends the message to the echo peer and checks the reply; fills `why`.
  std::function<bool(caf::scoped_actor&, const caf::actor&, caf::actor_system&, std::string&)> roundtrip;
};

template <class P>
Case make_case(const P& payload, std::function<bool(const P&, const P&)> eq) {
  Msg<P> m = pack(payload);
  return {P::kWireName, [m, payload, eq](caf::scoped_actor& self, const caf::actor& peer, caf::actor_system& sys,
                                         std::string& why) {
            bool ok = false;
            why = "no reply";
            self->request(peer, std::chrono::seconds(10), m)
                .receive(
                    [&](const Msg<P>& got) {
                      // Decoded on arrival (the payload crossed the wire twice as msgpack).
                      ok = got.ok() && encode(got.value) == encode(m.value) && eq(got.value, payload);
                      if (!ok) why = got.ok() ? "reply differs" : "reply did not decode: " + got.decode_error;
                    },
                    [&](caf::error& e) { why = sys.render(e); });
            return ok;
          }};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--serve") == 0) return serve();
  alarm(120);  // a hung connect must fail the test, not the CI run

  int to_child[2], from_child[2];
  if (pipe(to_child) != 0 || pipe(from_child) != 0) return 2;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(to_child[0], 0);
    dup2(from_child[1], 1);
    close(to_child[1]);
    close(from_child[0]);
    execl("/proc/self/exe", argv[0], "--serve", nullptr);
    _exit(127);
  }
  close(to_child[0]);
  close(from_child[1]);
  char buf[32] = {0};
  ssize_t n = read(from_child[0], buf, sizeof buf - 1);
  int port = n > 0 ? std::atoi(buf) : 0;
  if (port <= 0) {
    std::fprintf(stderr, "peer did not report a port\n");
    kill(pid, SIGKILL);
    return 2;
  }
  std::printf("peer pid %d listening on 127.0.0.1:%d\n", pid, port);

  int passed = 0, failed = 0;
  {
    caf::actor_system_config cfg;
    register_wire_types(cfg);
    cfg.load<caf::io::middleman>();
    caf::actor_system sys{cfg};
    auto remote = sys.middleman().remote_actor("127.0.0.1", static_cast<uint16_t>(port));
    if (!remote) {
      std::fprintf(stderr, "connect failed: %s\n", sys.render(remote.error()).c_str());
      kill(pid, SIGKILL);
      return 2;
    }
    std::vector<Case> cases;
    cases.push_back(make_case<Attach>({"executor"}, [](auto& a, auto& b) { return a.stage == b.stage; }));
    cases.push_back(make_case<ItemBatch>({{sample_item(1), sample_item(2), sample_item(1ull << 40)}},
                                         [](auto& a, auto& b) {
                                           if (a.items.size() != b.items.size()) return false;
                                           for (size_t i = 0; i < a.items.size(); ++i)
                                             if (!same_item(a.items[i], b.items[i])) return false;
                                           return true;
                                         }));
    cases.push_back(make_case<Credit>(
        {4096, true, {{7, "q?", "print(1)", "1", sample_item(7).provenance}}}, [](auto& a, auto& b) {
          return a.credits == b.credits && a.stop == b.stop && a.accepted.size() == 1 && b.accepted.size() == 1 &&
                 a.accepted[0].question == b.accepted[0].question &&
                 a.accepted[0].provenance.license == b.accepted[0].provenance.license;
        }));
    cases.push_back(make_case<EndOfStream>({272, "target-covered"},
                                           [](auto& a, auto& b) { return a.items == b.items && a.reason == b.reason; }));
    cases.push_back(make_case<LeaseBatch>({{{11, 2, sample_item(11), {{0, encode(sample_item(11).executions.at(0))}}}}},
                                          [](auto& a, auto& b) {
                                            return a.leases.size() == 1 && b.leases.size() == 1 &&
                                                   a.leases[0].lease == b.leases[0].lease &&
                                                   a.leases[0].attempt == b.leases[0].attempt &&
                                                   same_item(a.leases[0].item, b.leases[0].item) &&
                                                   a.leases[0].parts.size() == 1 &&
                                                   a.leases[0].parts[0].bytes == b.leases[0].parts[0].bytes;
                                          }));
    cases.push_back(make_case<WorkReport>(
        {{{11, 11, {1, encode(sample_item(11).executions.at(1))}}}, {{12, sample_item(12), 2}}},
        [](auto& a, auto& b) {
          return a.parts.size() == 1 && b.parts.size() == 1 && a.parts[0].part.bytes == b.parts[0].part.bytes &&
                 a.done.size() == 1 && b.done.size() == 1 && same_item(a.done[0].item, b.done[0].item) &&
                 a.done[0].parts == b.done[0].parts;
        }));
    cases.push_back(make_case<LogDone>({77, false, "No space left on device"}, [](auto& a, auto& b) {
      return a.ticket == b.ticket && a.ok == b.ok && a.error == b.error;
    }));
    cases.push_back(make_case<Tick>({3}, [](auto& a, auto& b) { return a.n == b.n; }));
    cases.push_back(make_case<ReportDue>({4}, [](auto& a, auto& b) { return a.n == b.n; }));
    cases.push_back(make_case<Pause>({true}, [](auto& a, auto& b) { return a.paused == b.paused; }));
    cases.push_back(make_case<SetTarget>({5000, 100000}, [](auto& a, auto& b) {
      return a.target == b.target && a.max_items == b.max_items;
    }));
    cases.push_back(make_case<RunDone>({9, sample_item(9).executions.at(0)}, [](auto& a, auto& b) {
      return a.lease == b.lease && a.execution.output == b.execution.output &&
             a.execution.error_tail == b.execution.error_tail && a.execution.status == b.execution.status;
    }));
    LoggedCall call;
    call.ok = true;
    call.choices = {"The answer is \\boxed{36}.", "\xE2\x88\x9A" "2"};
    call.prompt_tokens = 120;
    call.endpoint = "sim";
    cases.push_back(make_case<CallDone>({10, 3, call}, [](auto& a, auto& b) {
      return a.lease == b.lease && a.index == b.index && a.outcome.choices == b.outcome.choices &&
             a.outcome.prompt_tokens == b.outcome.prompt_tokens && a.outcome.endpoint == b.outcome.endpoint;
    }));
    cases.push_back(make_case<StageReport>(
        {"writer", 10, 9, 8, 1, 2, 3, 32, true, 5, 3, 1, 6, 2, 0.5, 0.25, 0.25, {1, 0, 4}, 1.75},
        [](auto& a, auto& b) {
          return a.stage == b.stage && a.accepted == b.accepted && a.peak_held == b.peak_held &&
                 a.finished == b.finished && a.fenced == b.fenced && a.workers == b.workers &&
                 a.credit_overruns == b.credit_overruns && a.requeued == b.requeued && a.busy == b.busy &&
                 a.backpressured == b.backpressured && a.latency_counts == b.latency_counts &&
                 a.latency_sum == b.latency_sum;
        }));
    cases.push_back(make_case<JobReport>({false, "disk full", "{\"accepted\":1}"}, [](auto& a, auto& b) {
      return a.ok == b.ok && a.error == b.error && a.summary_json == b.summary_json;
    }));

    cases.push_back(make_case<Hello>({kClusterProtocol, kFormatVersion, "gpu-07:4711", random_nonce()},
                                     [](auto& a, auto& b) {
                                       return a.protocol == b.protocol && a.format == b.format &&
                                              a.node_name == b.node_name && a.nonce == b.nonce;
                                     }));
    cases.push_back(make_case<Challenge>({false, "wrong wire version", 2, 1, "ab12"}, [](auto& a, auto& b) {
      return a.ok == b.ok && a.reason == b.reason && a.protocol == b.protocol && a.nonce == b.nonce;
    }));
    cases.push_back(make_case<Proof>({"gpu-07", token_mac("t", "worker", "ab12"), 64}, [](auto& a, auto& b) {
      return a.node_name == b.node_name && a.mac == b.mac && a.cores == b.cores;
    }));
    Welcome welcome{true, "", 3, "cd34", "job", "name = \"job\"\n", "/x/job.toml", "/x", {"target_accepted=5"},
                    "plan-bytes", "work-bytes", 250};
    cases.push_back(make_case<Welcome>(welcome, [](auto& a, auto& b) {
      return a.ok == b.ok && a.node_id == b.node_id && a.config_text == b.config_text && a.overrides == b.overrides &&
             a.plan == b.plan && a.work == b.work && a.heartbeat_ms == b.heartbeat_ms;
    }));
    cases.push_back(make_case<Join>({3, {"executor", "verifier"}, {16, 32}}, [](auto& a, auto& b) {
      return a.node_id == b.node_id && a.stages == b.stages && a.capacities == b.capacities;
    }));
    cases.push_back(make_case<NodeBeat>({3, 12, 3400, 2}, [](auto& a, auto& b) {
      return a.node_id == b.node_id && a.leases_held == b.leases_held && a.items_done == b.items_done &&
             a.failures == b.failures;
    }));
    cases.push_back(make_case<Leave>({3, "sigterm"}, [](auto& a, auto& b) {
      return a.node_id == b.node_id && a.reason == b.reason;
    }));

    cases.push_back(make_case<Budget>({{{"hosted", 200.5, 40000}, {"other", 0, 0}}}, [](auto& a, auto& b) {
      return a.shares.size() == 2 && b.shares.size() == 2 && a.shares[0].endpoint == b.shares[0].endpoint &&
             a.shares[0].requests_per_minute == b.shares[0].requests_per_minute &&
             a.shares[0].tokens_per_minute == b.shares[0].tokens_per_minute;
    }));

    // Every registered type must have a case.
    for (const auto& name : wire_type_names()) {
      bool covered = false;
      for (const auto& c : cases) covered = covered || c.name == name;
      if (!covered) {
        std::printf("FAIL %s: registered but not covered by this test\n", name.c_str());
        ++failed;
      }
    }

    caf::scoped_actor self{sys};
    for (const auto& c : cases) {
      std::string why;
      bool ok = c.roundtrip(self, *remote, sys, why);
      std::printf("%s %s%s\n", ok ? "ok  " : "FAIL", c.name.c_str(), ok ? "" : (": " + why).c_str());
      ok ? ++passed : ++failed;
    }
  }
  close(to_child[1]);  // the peer exits on EOF
  int status = 0;
  waitpid(pid, &status, 0);
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 && passed > 0 ? 0 : 1;
}
