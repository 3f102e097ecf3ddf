#include <doctest/doctest.h>

#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dataflow/curriculum.h"
#include "tests/test_util.h"

TEST_CASE("curriculum export: easy to hard, domains interleaved in every bucket, nothing lost") {
  vf::test::TempDir dir;
  std::string in;
  const char* difficulties[] = {"hard", "easy", "medium", "easy", "unsolved", "easy", "hard", "easy", "medium", "easy"};
  const char* domains[] = {"Algebra", "Algebra", "Geometry", "Algebra", "Algebra", "Geometry", "Geometry", "Algebra", "Algebra", "Geometry"};
  for (int i = 0; i < 10; ++i)
    in += nlohmann::json{{"id", i}, {"difficulty", difficulties[i]}, {"domain", domains[i]}}.dump() + "\n";
  std::string rl = dir.file("rl.jsonl", in);
  std::string out = dir.path() + "/rl.curriculum.jsonl";
  REQUIRE(vf::write_curriculum(rl, out, dir.path() + "/scratch"));
  std::ifstream f(out);
  std::vector<nlohmann::json> rows;
  std::string line;
  while (std::getline(f, line)) rows.push_back(nlohmann::json::parse(line));
  REQUIRE(rows.size() == 10);
  std::vector<std::string> order;
  for (auto& r : rows) order.push_back(r["difficulty"]);
  CHECK(order == std::vector<std::string>{"easy", "easy", "easy", "easy", "easy", "medium", "medium", "hard", "hard",
                                          "unsolved"});
  // Easy items: Algebra x3, Geometry x2, interleaved A G A G A.
  std::vector<std::string> easy_domains;
  for (int i = 0; i < 5; ++i) easy_domains.push_back(rows[static_cast<size_t>(i)]["domain"]);
  CHECK(easy_domains == std::vector<std::string>{"Algebra", "Geometry", "Algebra", "Geometry", "Algebra"});
  CHECK_FALSE(std::filesystem::exists(dir.path() + "/scratch"));
  CHECK_FALSE(vf::write_curriculum(dir.path() + "/missing.jsonl", out, dir.path() + "/scratch2"));
}
