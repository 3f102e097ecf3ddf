#include <doctest/doctest.h>

#include <filesystem>
#include <set>

#include "dataflow/seeds.h"
#include "test_util.h"

using namespace vf;
using vf::test::TempDir;

namespace {
const char* kGood =
    R"J({"question": "What is 3 + 4?", "final_answer": "7", "rationale": "print(3 + 4)", "metadata": {"license": "CC0", "domain": "Arithmetic", "source": ["a", "b"], "contributor": "me", "required_dependencies": ["sympy==1.13.3"], "name": "t"}})J";

bool has_problem(const SeedSet& s, int64_t index, const std::string& field, const std::string& text) {
  for (const auto& p : s.problems)
    if (p.index == index && p.field == field && p.to_string().find(text) != std::string::npos) return true;
  return false;
}
}  // namespace

TEST_CASE("seeds load from a JSON array and from JSON Lines") {
  TempDir dir;
  auto array = dir.file("a.json", std::string("[") + kGood + "]");
  auto lines = dir.file("b.jsonl", std::string(kGood).replace(std::string(kGood).find("3 + 4?"), 6, "5 + 6?") +
                                       "\n\n");
  auto set = load_seeds({array, lines});
  CHECK(set.problems.empty());
  REQUIRE(set.seeds.size() == 2);
  CHECK(set.seeds[0].domain == "Arithmetic");
  CHECK(set.seeds[0].license == "CC0");
  CHECK(required_modules(set.seeds[0], default_distribution_modules()) == std::vector<std::string>{"sympy"});
}

TEST_CASE("truncated JSON names the file and the line") {
  TempDir dir;
  auto f = dir.file("broken.json", std::string("[\n") + kGood + ",\n{\"question\": \"x");
  auto set = load_seeds({f});
  REQUIRE(set.problems.size() == 1);
  CHECK(set.problems[0].file == f);
  CHECK(set.problems[0].line == 3);
  CHECK(set.problems[0].to_string().find("invalid JSON") != std::string::npos);
}

TEST_CASE("every missing field, wrong type and empty question is reported with index and field") {
  TempDir dir;
  auto f = dir.file("bad.jsonl",
                    std::string(kGood) + "\n" +
                        R"J({"final_answer": "1", "rationale": "print(1)", "metadata": {"license": "x", "domain": "d"}})J" +
                        "\n" +
                        R"J({"question": "q2", "final_answer": 7, "rationale": "print(7)", "metadata": {"domain": "d", "license": "x"}})J" +
                        "\n" +
                        R"J({"question": "  ", "final_answer": "1", "rationale": "print(1)", "metadata": {"license": "x", "domain": "d"}})J" +
                        "\n" +
                        R"J({"question": "q4", "final_answer": "1", "rationale": "print(1)", "metadata": "none"})J" +
                        "\n" +
                        R"J({"question": "q5", "final_answer": "1", "rationale": "print(1)", "metadata": {"domain": "d", "required_dependencies": "sympy"}})J" +
                        "\n" + "not json\n" + kGood + "\n");
  auto set = load_seeds({f});
  CHECK(set.seeds.size() == 1);
  CHECK(has_problem(set, 1, "question", "missing"));
  CHECK(has_problem(set, 2, "final_answer", "expected a string"));
  CHECK(has_problem(set, 3, "question", "empty"));
  CHECK(has_problem(set, 4, "metadata", "expected an object"));
  CHECK(has_problem(set, 5, "metadata.license", "missing"));
  CHECK(has_problem(set, 5, "metadata.required_dependencies", "expected a list"));
  CHECK(has_problem(set, 6, "", "invalid JSON"));
  for (const auto& p : set.problems) CHECK(p.line > 0);  // JSON Lines: every problem has its line
}

static bool has_warning(const SeedSet& s, int64_t index, const std::string& field, const std::string& text) {
  for (const auto& p : s.warnings)
    if (p.index == index && p.field == field && p.to_string().find(text) != std::string::npos) return true;
  return false;
}

TEST_CASE("exact duplicates are dropped with a warning naming both places, not refused") {
  TempDir dir;
  auto a = dir.file("a.jsonl", std::string(kGood) + "\n");
  auto b = dir.file("b.jsonl", std::string(kGood) + "\n" + kGood + "\n");
  auto set = load_seeds({a, b});
  CHECK(set.problems.empty());
  CHECK(set.seeds.size() == 1);
  CHECK(set.duplicates_dropped == 2);
  REQUIRE(set.warnings.size() == 2);
  CHECK(set.warnings[0].file == b);
  CHECK(set.warnings[0].to_string().find(a + " item 0") != std::string::npos);
  CHECK(has_warning(set, 1, "", "duplicate of"));
}

TEST_CASE("metadata the pipeline does not read loads in any type; the fields it reads stay strict") {
  TempDir dir;
  auto f = dir.file("public.json", R"J([
    {"question": "q1", "final_answer": "1", "rationale": "print(1)",
     "metadata": {"license": "MIT", "source": "s", "domain": "Physics", "date_created": ["2025-03-01", "2025-03-02"],
                  "contributor": [{"name": "x"}], "version": 2, "difficulty": null, "python_version": 3.10}},
    {"question": "q2", "final_answer": "1", "rationale": "print(1)",
     "metadata": {"license": "MIT", "domain": "Finance", "answer_tolerance": 0.01}},
    {"question": "q3", "final_answer": "1", "rationale": "print(1)",
     "metadata": {"license": "MIT", "source": "s", "domain": "Finance", "answer_tolerance": "1e-4"}},
    {"question": "q4", "final_answer": "1", "rationale": "print(1)",
     "metadata": {"license": "MIT", "source": "s", "domain": "Finance", "answer_tolerance": "loose"}},
    {"question": "q5", "final_answer": "1", "rationale": "print(1)",
     "metadata": {"license": "MIT", "source": "s", "domain": 7}}
  ])J");
  auto set = load_seeds({f});
  REQUIRE(set.seeds.size() == 3);
  CHECK(set.seeds[0].domain == "Physics");
  CHECK(set.seeds[0].answer_tolerance < 0);
  CHECK(set.seeds[1].answer_tolerance == doctest::Approx(0.01));
  CHECK(set.seeds[2].answer_tolerance == doctest::Approx(1e-4));
  CHECK(has_warning(set, 0, "metadata.contributor", "loaded as is"));
  CHECK(has_warning(set, 0, "metadata.python_version", "loaded as is"));
  CHECK_FALSE(has_warning(set, 0, "metadata.date_created", ""));  // a list of strings is a documented form
  CHECK(has_warning(set, 1, "metadata.source", "missing"));
  CHECK(has_problem(set, 3, "metadata.answer_tolerance", "expected a non-negative number"));
  CHECK(has_problem(set, 4, "metadata.domain", "expected a string"));
  CHECK(set.problems.size() == 2);
}

TEST_CASE("folders are read recursively; missing paths are reported") {
  TempDir dir;
  dir.file("sub/one.json", std::string("[") + kGood + "]");
  dir.file("sub/readme.txt", "not a seed file");
  auto set = load_seeds({dir.path(), dir.path() + "/nope.json"});
  CHECK(set.seeds.size() == 1);
  REQUIRE(set.problems.size() == 1);
  CHECK(set.problems[0].message == "no such file or folder");
}

TEST_CASE("the bundled example seeds are valid and span several domains") {
  auto set = load_seeds({vf::test::source_dir() + "/configs/seeds"});
  CHECK(set.problems.empty());
  CHECK(set.seeds.size() >= 20);
  std::set<std::string> domains;
  for (auto& s : set.seeds) domains.insert(s.domain);
  CHECK(domains.size() >= 8);
}

TEST_CASE("the real Loong seed files load without problems") {
  std::string dir = vf::test::shared_dir() + "/seeds/loong";
  REQUIRE_MESSAGE(std::filesystem::exists(dir), "shared seeds expected at " << dir);
  auto set = load_seeds({dir + "/graph_discrete_math.json", dir + "/advanced_math.json"});
  for (size_t i = 0; i < set.problems.size() && i < 5; ++i) MESSAGE(set.problems[i].to_string());
  CHECK(set.problems.empty());
  CHECK(set.seeds.size() == 178 + 1611);
}
