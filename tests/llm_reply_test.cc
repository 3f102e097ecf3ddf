#include <doctest/doctest.h>

#include "dataflow/llm_reply.h"

using vf::parse_generator_reply;

TEST_CASE("generator replies in the usual dresses yield question and code") {
  auto a = parse_generator_reply("Question: What is 2 + 40?\n\nRationale:\n```python\nprint(2 + 40)\n```\n");
  REQUIRE(a);
  CHECK(a->question == "What is 2 + 40?");
  CHECK(a->rationale == "print(2 + 40)");
  auto b = parse_generator_reply(
      "Here is a new problem.\n\n**Question:** How many subsets does a 5-element set have?\n\n```py\nprint(2**5)\n```\nThis prints 32.");
  REQUIRE(b);
  CHECK(b->question == "How many subsets does a 5-element set have?");
  CHECK(b->rationale == "print(2**5)");
  auto c = parse_generator_reply("Problem:\nFind the sum of 3 and 4 please.\n\nCode:\nx = 3 + 4\nprint(x)\n");
  REQUIRE(c);
  CHECK(c->question == "Find the sum of 3 and 4 please.");
  CHECK(c->rationale == "x = 3 + 4\nprint(x)");
  auto unterminated = parse_generator_reply("Question: What is 6 times 7?\n```python\nprint(6 * 7)\n");
  REQUIRE(unterminated);
  CHECK(unterminated->rationale == "print(6 * 7)");
  auto bare = parse_generator_reply("Compute the number of primes below 100.\nimport sympy\nprint(sympy.primepi(100))");
  REQUIRE(bare);
  CHECK(bare->question == "Compute the number of primes below 100.");
}

TEST_CASE("replies without code, without a question, or with code that prints nothing are errors saying so") {
  auto prose = parse_generator_reply("Here is an interesting idea for a problem, but I will leave the details to you.");
  CHECK_FALSE(prose);
  CHECK(prose.error().find("no rationale code") != std::string::npos);
  auto silent = parse_generator_reply("Question: What is 1 + 1?\n```python\nx = 1 + 1\n```");
  CHECK_FALSE(silent);
  CHECK(silent.error().find("never prints") != std::string::npos);
  auto no_question = parse_generator_reply("```python\nprint(1)\n```");
  CHECK_FALSE(no_question);
  CHECK(no_question.error().find("no question") != std::string::npos);
  CHECK_FALSE(parse_generator_reply(""));
}
