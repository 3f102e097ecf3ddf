// The cluster's pure parts: the node table's states, the rate-budget split,
// the token's proof, the cluster config keys, placement by observed throughput.
#include <doctest/doctest.h>

#include <set>

#include "base/token.h"
#include "dataflow/config.h"
#include "dataflow/node_table.h"
#include "dataflow/placement.h"

#include <algorithm>
#include <functional>
#include <deque>
#include <queue>

using namespace vf;

TEST_CASE("a node is active while it beats, suspected after 3 silent intervals, active again when heard") {
  NodeTable t;
  uint32_t a = t.admit("gpu-1", "host#1", 8, 1000);
  uint32_t b = t.admit("gpu-2", "host#2", 8, 1000);
  CHECK(a != b);
  CHECK(t.find(a)->state == "active");
  CHECK_FALSE(t.age(3900, 1000));  // 2.9 intervals: still active
  t.beat(a, 3, 10, 0, 0, 10, 4000);
  CHECK(t.age(4500, 1000));        // b: 3.5 intervals silent
  CHECK(t.find(a)->state == "active");
  CHECK(t.find(b)->state == "suspected");
  t.beat(b, 0, 0, 0, 0, 10, 4600);
  CHECK(t.find(b)->state == "active");
  CHECK(t.live() == 2);
}

TEST_CASE("a node whose failures in a row reach the limit is failing until it succeeds again") {
  NodeTable t;
  uint32_t a = t.admit("gpu-1", "host#1", 8, 0);
  t.beat(a, 1, 5, 9, 9, 10, 100);
  CHECK(t.find(a)->state == "active");
  t.beat(a, 1, 6, 10, 10, 10, 200);
  CHECK(t.find(a)->state == "failing");
  CHECK(t.live() == 1);  // failing is still a member: it may recover
  t.beat(a, 1, 7, 10, 0, 10, 300);
  CHECK(t.find(a)->state == "active");
}

TEST_CASE("lost and left nodes hold no leases and are not live; refused peers are listed after the admitted") {
  NodeTable t;
  uint32_t a = t.admit("gpu-1", "host#1", 8, 0);
  uint32_t b = t.admit("gpu-2", "host#2", 8, 0);
  t.beat(a, 7, 1, 0, 0, 10, 10);
  t.set_state(a, "lost", "remote_link_unreachable");
  t.set_state(b, "left", "sigterm");
  t.refuse("intruder", "host#9", "wrong cluster token", 20);
  CHECK(t.find(a)->leases_held == 0);
  CHECK(t.find(a)->note == "remote_link_unreachable");
  CHECK(t.live() == 0);
  auto all = t.nodes();
  REQUIRE(all.size() == 3);
  CHECK(all.back().state == "refused");
  CHECK(all.back().id == 0);
  CHECK(to_json(all.back())["note"] == "wrong cluster token");
}

TEST_CASE("a shared endpoint's budget is split evenly: the shares never add up to more than the budget") {
  std::vector<SharedEndpoint> shared = {{"hosted", 600, 90000}, {"unlimited", 0, 0}};
  for (size_t nodes : {0u, 1u, 3u, 7u}) {
    auto shares = split_rate_budget(shared, nodes);
    REQUIRE(shares.size() == 2);
    double n = static_cast<double>(std::max<size_t>(1, nodes));
    CHECK(shares[0].endpoint == "hosted");
    CHECK(shares[0].requests_per_minute * n <= 600 + 1e-9);
    CHECK(shares[0].requests_per_minute * n >= 600 - 1e-9);
    CHECK(shares[0].tokens_per_minute * n <= 90000 + 1e-6);
    CHECK(shares[1].requests_per_minute == 0);  // unlimited stays unlimited
  }
}

TEST_CASE("the token's proof depends on token, purpose and nonce, and nonces do not repeat") {
  std::string n1 = random_nonce(), n2 = random_nonce();
  CHECK(n1.size() == 64);
  CHECK(n1 != n2);
  CHECK(token_mac("t", "worker", n1) == token_mac("t", "worker", n1));
  std::set<std::string> macs = {token_mac("t", "worker", n1), token_mac("u", "worker", n1),
                                token_mac("t", "coordinator", n1), token_mac("t", "worker", n2)};
  CHECK(macs.size() == 4);  // a worker's answer is no coordinator's answer, nor good for another challenge
  CHECK(equal_in_constant_time("abc", "abc"));
  CHECK_FALSE(equal_in_constant_time("abc", "abd"));
  CHECK_FALSE(equal_in_constant_time("abc", "ab"));
}

TEST_CASE("cluster keys: half a TLS configuration and a heartbeat timeout below the interval are refused") {
  auto half = parse_config("", "test", ".", {"cluster.tls.certificate=/x/node.pem"});
  REQUIRE_FALSE(half.ok());
  CHECK(half.error().find("cluster.tls") != std::string::npos);
  auto slow = parse_config("", "test", ".", {"cluster.heartbeat_interval_ms=2000", "cluster.heartbeat_timeout_ms=1000"});
  REQUIRE_FALSE(slow.ok());
  CHECK(slow.error().find("heartbeat_timeout_ms") != std::string::npos);
  auto full = parse_config("", "test", "/etc/vf",
                           {"cluster.tls.certificate=node.pem", "cluster.tls.key=node.key", "cluster.tls.ca_file=ca.pem"});
  REQUIRE_MESSAGE(full.ok(), full.error());
  CHECK(full->cluster.tls());
}

TEST_CASE("an endpoint marked shared is read as such; a non-boolean shared is named") {
  auto c = parse_config("[[endpoints]]\nrole = \"solver\"\nbase_url = \"https://api.example/v1\"\nmodel = \"m\"\n"
                        "requests_per_minute = 600\nshared = true\n",
                        "job.toml", ".", {});
  REQUIRE_MESSAGE(c.ok(), c.error());
  REQUIRE(c->endpoints.size() == 1);
  CHECK(c->endpoints[0].shared);
  auto bad = parse_config("[[endpoints]]\nrole = \"solver\"\nbase_url = \"u\"\nmodel = \"m\"\nshared = \"yes\"\n",
                          "job.toml", ".", {});
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().find("job.toml:5: endpoints[0].shared") != std::string::npos);
}

namespace {

using Clock = std::chrono::steady_clock;

// A discrete-event run of one stage: items arrive every `gap`; each worker
// holds at most its credit and finishes an item `service` after leasing it.
// `choose` picks a worker for the next item; returns the mean time from
// arrival to finish and each worker's share of the items.
struct SimResult {
  double mean_latency_s = 0;
  std::vector<uint64_t> done;
};
SimResult simulate(std::vector<std::chrono::milliseconds> service, uint32_t credit, std::chrono::microseconds gap,
                   int items, bool by_throughput) {
  size_t n = service.size();
  std::vector<ThroughputMeter> meters(n);
  std::vector<uint64_t> held(n, 0);
  SimResult r;
  r.done.assign(n, 0);
  using Event = std::pair<Clock::time_point, size_t>;  // finish time, worker
  std::priority_queue<Event, std::vector<Event>, std::greater<>> finishing;
  std::deque<Clock::time_point> waiting;  // arrival times
  Clock::time_point t0{}, now = t0;
  int arrived = 0;
  double latency_sum = 0;
  auto place = [&] {
    while (!waiting.empty()) {
      std::vector<PlacementCandidate> c;
      for (size_t i = 0; i < n; ++i)
        c.push_back({i, static_cast<uint32_t>(credit - held[i]), held[i],
                     by_throughput ? meters[i].rate(held[i], now) : std::nullopt});
      auto w = place_next(c);
      if (!w) return;
      meters[*w].leased(held[*w], now);
      ++held[*w];
      latency_sum += std::chrono::duration<double>(now - waiting.front()).count();
      waiting.pop_front();
      finishing.push({now + service[*w], *w});
      latency_sum += std::chrono::duration<double>(service[*w]).count();
    }
  };
  while (arrived < items || !finishing.empty() || !waiting.empty()) {
    Clock::time_point next_arrival = t0 + gap * arrived;
    if (arrived < items && (finishing.empty() || next_arrival <= finishing.top().first)) {
      now = next_arrival;
      waiting.push_back(now);
      ++arrived;
    } else {
      auto [t, w] = finishing.top();
      finishing.pop();
      now = t;
      meters[w].finished(held[w], 1, now);
      --held[w];
      ++r.done[w];
    }
    place();
  }
  r.mean_latency_s = latency_sum / items;
  return r;
}

}  // namespace

TEST_CASE("with work to spare, leases go to the worker that finishes faster, not the one with more free credit") {
  // A fast node (10 ms per item) and a slow one (100 ms), 8 slots each;
  // 400 items/s arrive, which the fast node alone can take (800/s).
  auto by_rate = simulate({std::chrono::milliseconds(10), std::chrono::milliseconds(100)}, 8,
                          std::chrono::microseconds(2500), 4000, true);
  auto by_credit = simulate({std::chrono::milliseconds(10), std::chrono::milliseconds(100)}, 8,
                            std::chrono::microseconds(2500), 4000, false);
  CHECK(by_rate.done[0] + by_rate.done[1] == 4000);
  INFO("slow node's items by rate " << by_rate.done[1] << ", by credit " << by_credit.done[1]);
  CHECK(by_rate.done[1] < 4000 / 40);  // the slow node gets under 2.5 %
  CHECK(by_credit.done[1] > 4 * by_rate.done[1]);
  CHECK(by_rate.mean_latency_s < 0.6 * by_credit.mean_latency_s);
}

TEST_CASE("when every worker is saturated, placement by throughput keeps every slot busy") {
  // 2,000 items/s arrive; together the nodes take 880/s: the queue grows and
  // both nodes must work at their full rate, the slow one included.
  auto r = simulate({std::chrono::milliseconds(10), std::chrono::milliseconds(100)}, 8,
                    std::chrono::microseconds(500), 3000, true);
  double share_slow = static_cast<double>(r.done[1]) / 3000;
  CHECK(share_slow > 0.07);  // 80 / 880 = 9 % of the items at full use
  CHECK(share_slow < 0.11);
}

TEST_CASE("a worker not yet measured is credited with the best measured rate, so a joining worker gets work at once") {
  ThroughputMeter measured;
  Clock::time_point t{};
  measured.leased(0, t);
  for (int i = 0; i < 20; ++i) measured.finished(1, 1, t += std::chrono::milliseconds(100));  // 10 items/s
  REQUIRE(measured.rate(1, t));
  std::vector<PlacementCandidate> c = {{1, 4, 4, measured.rate(4, t)}, {2, 4, 0, std::nullopt}};
  CHECK(place_next(c) == 2u);
  // Nothing measured anywhere: the most free credit wins, ties to the first.
  std::vector<PlacementCandidate> fresh = {{1, 2, 0, std::nullopt}, {2, 6, 0, std::nullopt}, {3, 6, 0, std::nullopt}};
  CHECK(place_next(fresh) == 2u);
  std::vector<PlacementCandidate> none = {{1, 0, 8, 5.0}, {2, 0, 8, std::nullopt}};
  CHECK_FALSE(place_next(none));
}

TEST_CASE("a worker that stops finishing items (frozen, cut off) stops attracting work before it is declared lost") {
  ThroughputMeter stalled, steady;
  Clock::time_point t{};
  stalled.leased(0, t);
  steady.leased(0, t);
  for (int i = 0; i < 40; ++i) {
    t += std::chrono::milliseconds(50);
    stalled.finished(4, 1, t);  // 20 items/s while it works
    steady.finished(4, 1, t);
  }
  double before = *stalled.rate(4, t);
  CHECK(before > 15);
  t += std::chrono::seconds(2);  // then nothing for 2 s with 4 leases held
  double after = *stalled.rate(4, t);
  CHECK(after < 1.0);
  std::vector<PlacementCandidate> c = {{1, 4, 4, stalled.rate(4, t)},
                                       {2, 1, 7, steady.rate(7, t - std::chrono::seconds(2))}};
  CHECK(place_next(c) == 2u);
  // An idle worker (no leases) keeps its rate: idleness is not slowness.
  ThroughputMeter idle = steady;
  CHECK(*idle.rate(0, t + std::chrono::minutes(5)) == doctest::Approx(before).epsilon(0.3));
}

TEST_CASE("a node admitted but never joined is lost once silent past the limit, and active if its join still comes") {
  NodeTable t;
  uint32_t a = t.admit("gpu-1", "host#1", 8, 1000);
  uint32_t b = t.admit("gpu-2", "host#2", 8, 1000);
  t.joined(b, {"solve"}, 8);
  t.age(4500, 1000, 10000);
  CHECK(t.find(a)->state == "suspected");
  t.age(11500, 1000, 10000);
  CHECK(t.find(a)->state == "lost");
  CHECK(t.find(b)->state == "suspected");  // a joined node is lost by its connection, not by silence
  CHECK(t.live() == 1);
  t.joined(a, {"execute"}, 4);
  CHECK(t.find(a)->state == "active");
}
