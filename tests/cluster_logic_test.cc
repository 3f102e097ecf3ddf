// The cluster's pure parts: the node table's states, the rate-budget split,
// the token's proof, the cluster config keys.
#include <doctest/doctest.h>

#include <set>

#include "base/token.h"
#include "dataflow/config.h"
#include "dataflow/node_table.h"

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
