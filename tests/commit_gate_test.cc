#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <set>

#include "dataflow/commit_gate.h"

using vf::CommitGate;

namespace {
// The set a job must export: the first `target` accepted ids in id order.
std::set<uint64_t> expected_export(const std::vector<bool>& accepted, uint64_t target) {
  std::set<uint64_t> out;
  for (uint64_t id = 0; id < accepted.size() && out.size() < target; ++id)
    if (accepted[id]) out.insert(id);
  return out;
}

// Completion order: ids finish out of order within a sliding window, as they
// do in a pipeline with bounded credit.
std::vector<uint64_t> windowed_order(size_t n, size_t window, std::mt19937_64& rng) {
  std::vector<uint64_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  for (size_t i = 0; i < n; i += window)
    std::shuffle(order.begin() + i, order.begin() + std::min(n, i + window), rng);
  return order;
}
}  // namespace

TEST_CASE("commit gate exports exactly the first N accepted ids whatever the completion order") {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 300; ++round) {
    size_t n = 1 + rng() % 120;
    uint64_t target = 1 + rng() % 60;
    std::vector<bool> accepted(n);
    for (auto&& a : accepted) a = (rng() % 3) != 0;
    size_t window = 1 + rng() % 16;
    auto order = windowed_order(n, window, rng);

    CommitGate gate(target);
    std::set<uint64_t> released, surplus;
    size_t max_parked = 0;
    for (uint64_t id : order) {
      auto out = gate.on_decided(id, accepted[id]);
      for (auto r : out.release) CHECK(released.insert(r).second);
      for (auto s : out.surplus) CHECK(surplus.insert(s).second);
      max_parked = std::max(max_parked, gate.parked_count());
    }
    auto want = expected_export(accepted, target);
    CHECK(released == want);
    CHECK(gate.parked_count() == 0);
    size_t total_accepted = std::count(accepted.begin(), accepted.end(), true);
    CHECK(released.size() + surplus.size() == total_accepted);
    CHECK(max_parked <= 2 * window);
  }
}

TEST_CASE("commit gate releases at once while far from the target") {
  CommitGate gate(100);
  // id 0 is still undecided, yet id 5 is certainly within the first 100.
  auto out = gate.on_decided(5, true);
  REQUIRE(out.release.size() == 1);
  CHECK(out.release[0] == 5);
  CHECK(out.parked.empty());
}

TEST_CASE("commit gate parks near the target until lower ids are decided") {
  CommitGate gate(2);
  CHECK(gate.on_decided(1, true).release == std::vector<uint64_t>{1});  // worst case: 0 accepted too -> 2 <= 2
  auto out = gate.on_decided(3, true);  // 0 and 2 undecided: could be 4th
  CHECK(out.release.empty());
  CHECK(out.parked == std::vector<uint64_t>{3});
  CHECK(gate.target_covered());
  out = gate.on_decided(0, false);
  CHECK(out.release.empty());  // 2 still undecided
  out = gate.on_decided(2, true);
  CHECK(out.release == std::vector<uint64_t>{2});
  CHECK(out.surplus == std::vector<uint64_t>{3});
}

TEST_CASE("commit gate ignores a repeated verdict") {
  CommitGate gate(10);
  CHECK(gate.on_decided(0, true).release.size() == 1);
  auto again = gate.on_decided(0, true);
  CHECK(again.release.empty());
  CHECK(gate.accepted_known() == 1);
}

TEST_CASE("a gate restored from its snapshot at any point decides exactly as the uninterrupted one") {
  std::mt19937_64 rng(11);
  for (int round = 0; round < 200; ++round) {
    size_t n = 1 + rng() % 100;
    uint64_t target = 1 + rng() % 50;
    std::vector<bool> accepted(n);
    for (auto&& a : accepted) a = (rng() % 3) != 0;
    auto order = windowed_order(n, 1 + rng() % 12, rng);

    CommitGate whole(target), resumed(target);
    std::set<uint64_t> released_whole, released_resumed;
    for (size_t i = 0; i < n; ++i) {
      if (rng() % 5 == 0) resumed = CommitGate::restore(resumed.snapshot());  // a "crash" between verdicts
      auto a = whole.on_decided(order[i], accepted[order[i]]);
      auto b = resumed.on_decided(order[i], accepted[order[i]]);
      CHECK(a.release == b.release);
      CHECK(a.surplus == b.surplus);
      released_resumed.insert(b.release.begin(), b.release.end());
      CHECK(resumed.decided(order[i]));
    }
    CHECK(released_resumed == expected_export(accepted, target));
    CHECK(resumed.released() == whole.released());
  }
}
