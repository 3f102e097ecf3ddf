#include <doctest/doctest.h>

#include <random>
#include <set>

#include "dataflow/credit.h"

using namespace vf;

TEST_CASE("a receiver grants its capacity once, however often the upstream attaches") {
  InboundBudget b(16, 4);
  CHECK(b.initial_grant() == 16);
  CHECK(b.initial_grant() == 0);
}

TEST_CASE("a sender overrunning its credit is detected") {
  InboundBudget b(4, 1);
  b.initial_grant();
  CHECK(b.on_received(4));
  CHECK_FALSE(b.on_received(1));
}

TEST_CASE("grants are batched but flushed when the stage drains") {
  InboundBudget b(8, 4);
  b.initial_grant();
  b.on_received(6);
  CHECK(b.on_released(1) == 0);
  CHECK(b.on_released(2) == 0);
  CHECK(b.on_released(1) == 4);   // batch of 4 reached
  CHECK(b.on_released(2) == 2);   // drained: flush what is owed
  CHECK(b.held() == 0);
}

TEST_CASE("an outbound link never sends more than it was granted") {
  Outbound<int> out(3);
  out.add_link(0);
  for (int i = 0; i < 10; ++i) out.push(i);
  CHECK_FALSE(out.next_batch());  // no credit yet
  out.grant(0, 5);
  auto b1 = out.next_batch();
  auto b2 = out.next_batch();
  auto b3 = out.next_batch();
  REQUIRE(b1);
  REQUIRE(b2);
  CHECK(b1->second == std::vector<int>{0, 1, 2});
  CHECK(b2->second == std::vector<int>{3, 4});
  CHECK_FALSE(b3);
  CHECK(out.pending() == 5);
}

TEST_CASE("items go to the downstream link with the most credit, and a removed link's credit is gone") {
  Outbound<int> out(4);
  out.add_link(1);
  out.add_link(2);
  for (int i = 0; i < 12; ++i) out.push(i);
  out.grant(1, 2);
  out.grant(2, 6);
  auto first = out.next_batch();
  REQUIRE(first);
  CHECK(first->first == 2);  // 6 credits beat 2
  CHECK(first->second.size() == 4);
  auto second = out.next_batch();
  REQUIRE(second);
  CHECK(second->second.size() == 2);  // link 1 and 2 both at 2 now: the lower id first, all its credit
  out.remove_link(1);
  out.remove_link(2);
  CHECK_FALSE(out.next_batch());
  CHECK(out.credit() == 0);
}

TEST_CASE("each upstream link has its own window, and the stage ends only when every link ended") {
  Inbound in(4, 2);
  CHECK(in.attach(7) == 4);
  CHECK(in.attach(9) == 4);
  CHECK(in.attach(7) == 0);  // attaching twice does not double a window
  CHECK(in.on_received(7, 4));
  CHECK(in.on_received(9, 3));
  CHECK_FALSE(in.on_received(7, 1));  // link 7 overran its window
  CHECK(in.held() == 8);
  CHECK(in.on_released(9, 1) == 0);
  CHECK(in.on_released(9, 2) == 3);  // link 9 drained: everything owed
  CHECK(in.on_released(7, 5) == 5);
  CHECK(in.held() == 0);
  in.end(7);
  CHECK_FALSE(in.all_ended());
  in.end(9);
  CHECK(in.all_ended());
}

// A fast producer feeding a slow consumer through two credit links: no stage
// ever holds more than its capacity and every item arrives, in order.
TEST_CASE("credit links bound every queue under a slow consumer") {
  std::mt19937 rng(42);
  const uint32_t cap_mid = 5, cap_sink = 3;
  CreditWindow producer_credit;
  InboundBudget mid_in(cap_mid, 2), sink_in(cap_sink, 1);
  Outbound<int> mid_out(2);
  mid_out.add_link(0);
  std::vector<int> mid_inbox, sink_inbox, delivered;
  producer_credit.grant(mid_in.initial_grant());
  mid_out.grant(0, sink_in.initial_grant());
  int next = 0;
  const int total = 2000;
  for (int step = 0; step < 200000 && (int)delivered.size() < total; ++step) {
    switch (rng() % 4) {
      case 0: {  // producer sends everything its credit allows
        uint32_t n = producer_credit.take(static_cast<uint32_t>(total - next));
        for (uint32_t i = 0; i < n; ++i) mid_inbox.push_back(next++);
        REQUIRE(mid_in.on_received(n));
        break;
      }
      case 1: {  // middle stage processes one item
        if (mid_inbox.empty()) break;
        mid_out.push(mid_inbox.front());
        mid_inbox.erase(mid_inbox.begin());
        auto next = mid_out.next_batch();
        std::vector<int> batch = next ? next->second : std::vector<int>{};
        REQUIRE(sink_in.on_received(batch.size()));
        sink_inbox.insert(sink_inbox.end(), batch.begin(), batch.end());
        producer_credit.grant(mid_in.on_released(batch.size()));
        break;
      }
      case 2: {  // middle stage flushes on new credit
        auto next = mid_out.next_batch();
        std::vector<int> batch = next ? next->second : std::vector<int>{};
        REQUIRE(sink_in.on_received(batch.size()));
        sink_inbox.insert(sink_inbox.end(), batch.begin(), batch.end());
        producer_credit.grant(mid_in.on_released(batch.size()));
        break;
      }
      case 3: {  // the slow sink finishes one item only sometimes
        if (sink_inbox.empty() || rng() % 5 != 0) break;
        delivered.push_back(sink_inbox.front());
        sink_inbox.erase(sink_inbox.begin());
        mid_out.grant(0, sink_in.on_released(1));
        break;
      }
    }
    CHECK(mid_in.held() <= cap_mid);
    CHECK(sink_in.held() <= cap_sink);
    CHECK(mid_inbox.size() + mid_out.pending() <= cap_mid);
  }
  REQUIRE(delivered.size() == total);
  for (int i = 0; i < total; ++i) CHECK(delivered[i] == i);
  CHECK(mid_in.peak_held() <= cap_mid);
  CHECK(sink_in.peak_held() <= cap_sink);
}

// Two producers feed a middle stage over their own links; the middle stage
// feeds three sinks of different speeds. No link ever holds more than its
// window, the middle stage never more than its links' windows together, and
// every item arrives exactly once; the fastest sink gets the most.
TEST_CASE("several upstream and downstream links bound every queue and lose nothing") {
  std::mt19937 rng(7);
  const uint32_t cap_mid = 3, cap_sink = 2;
  const int per_producer = 1500;
  Inbound mid_in(cap_mid, 1);
  CreditWindow producer[2];
  int next[2] = {0, 0};
  producer[0].grant(mid_in.attach(0));
  producer[1].grant(mid_in.attach(1));
  struct Held {
    int item;
    LinkId from;
  };
  std::vector<Held> mid_inbox;
  Outbound<Held> mid_out(2);
  std::vector<InboundBudget> sink_in(3, InboundBudget(cap_sink, 1));
  std::vector<std::vector<Held>> sink_inbox(3);
  for (LinkId s = 0; s < 3; ++s) {
    mid_out.add_link(s);
    mid_out.grant(s, sink_in[s].initial_grant());
  }
  std::vector<int> delivered_by(3, 0);
  std::set<int> delivered;
  auto release_mid = [&](const std::vector<Held>& batch) {
    for (const auto& h : batch) producer[h.from].grant(mid_in.on_released(h.from, 1));
  };
  auto send_mid = [&] {
    while (auto b = mid_out.next_batch()) {
      auto& [link, batch] = *b;
      REQUIRE(sink_in[link].on_received(static_cast<uint32_t>(batch.size())));
      sink_inbox[link].insert(sink_inbox[link].end(), batch.begin(), batch.end());
      release_mid(batch);
    }
  };
  for (int step = 0; step < 400000 && delivered.size() < 2 * per_producer; ++step) {
    unsigned r = rng() % 6;
    if (r < 2) {  // a producer sends what its credit allows
      uint32_t n = producer[r].take(static_cast<uint32_t>(per_producer - next[r]));
      for (uint32_t i = 0; i < n; ++i) mid_inbox.push_back({static_cast<int>(r) * per_producer + next[r]++, r});
      REQUIRE(mid_in.on_received(r, n));
    } else if (r == 2) {  // the middle stage finishes one item
      if (!mid_inbox.empty()) {
        mid_out.push(mid_inbox.front());
        mid_inbox.erase(mid_inbox.begin());
      }
      send_mid();
    } else {  // sink s finishes one item with probability 1/(s+1): sink 0 is the fastest
      LinkId s = r - 3;
      if (sink_inbox[s].empty() || rng() % (s + 1) != 0) continue;
      REQUIRE(delivered.insert(sink_inbox[s].front().item).second);
      ++delivered_by[s];
      sink_inbox[s].erase(sink_inbox[s].begin());
      mid_out.grant(s, sink_in[s].on_released(1));
      send_mid();
    }
    REQUIRE(mid_in.held() <= 2 * cap_mid);
    REQUIRE(mid_inbox.size() + mid_out.pending() == mid_in.held());
    for (const auto& s : sink_in) REQUIRE(s.held() <= cap_sink);
  }
  CHECK(delivered.size() == 2 * per_producer);
  CHECK(mid_in.peak_held() <= 2 * cap_mid);
  CHECK(delivered_by[0] > delivered_by[2]);
}
