#include <doctest/doctest.h>

#include "dataflow/item.h"
#include "storage/codec.h"

using namespace vf;

TEST_CASE("an item moves generated -> executed -> accepted -> written") {
  Item item;
  CHECK(advance(item, ItemEvent::kExecutionsAttached));
  CHECK(item.item_state() == ItemState::kExecuted);
  CHECK(advance(item, ItemEvent::kAccept));
  CHECK(advance(item, ItemEvent::kWriteAccepted));
  CHECK(item.item_state() == ItemState::kWritten);
}

TEST_CASE("illegal transitions are refused and leave the item unchanged") {
  Item item;
  CHECK_FALSE(advance(item, ItemEvent::kAccept));  // not executed yet
  CHECK(item.item_state() == ItemState::kGenerated);
  advance(item, ItemEvent::kExecutionsAttached);
  CHECK(reject(item, "timeout", "run 1 timed out"));
  CHECK_FALSE(advance(item, ItemEvent::kAccept));  // never both accepted and rejected
  CHECK_FALSE(advance(item, ItemEvent::kWriteAccepted));
  CHECK(advance(item, ItemEvent::kWriteRejected));
  CHECK_FALSE(advance(item, ItemEvent::kWriteRejected));  // never written twice
  CHECK(item.reject_reason == "timeout");
}

TEST_CASE("an accepted item cannot be accepted twice or be surplus after being written") {
  Item item;
  advance(item, ItemEvent::kExecutionsAttached);
  advance(item, ItemEvent::kAccept);
  CHECK_FALSE(advance(item, ItemEvent::kAccept));
  advance(item, ItemEvent::kWriteAccepted);
  CHECK_FALSE(advance(item, ItemEvent::kMarkSurplus));
}

TEST_CASE("items round-trip through the versioned msgpack codec") {
  Item item;
  item.id = 42;
  item.question = "What is 6 x 7?";
  item.rationale = "print(6 * 7)";
  item.provenance.license = "CC0";
  item.substitutions = {{"6", "8"}};
  item.executions = {{0, 0, "42", "", "", 12.5}};
  auto bytes = encode(item);
  auto back = decode<Item>(bytes, "item");
  REQUIRE(back.ok());
  CHECK(back->id == 42);
  CHECK(back->question == item.question);
  CHECK(back->provenance.license == "CC0");
  CHECK(back->substitutions[0].to == "8");
  CHECK(back->executions[0].output == "42");
}

TEST_CASE("the codec refuses garbage and newer format versions with a clear error") {
  auto garbage = decode<Item>(std::string("\xc1\x00\x01", 3), "item");
  CHECK_FALSE(garbage.ok());
  auto newer = decode<Item>(encode(Item{}, kFormatVersion + 1), "item");
  REQUIRE_FALSE(newer.ok());
  CHECK(newer.error().find("newer") != std::string::npos);
}
