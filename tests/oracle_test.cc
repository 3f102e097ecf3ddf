// Direct tests of the code other tests rely on as an oracle, or that had no
// test of its own: the audit trail (the crash test's witness), recovery from
// the checkpoint log, the LLM generators' sources and the similarity filter,
// and the record builders the exports are made of.
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "dataflow/checkpoint.h"
#include "dataflow/llm_sources.h"
#include "dataflow/records.h"
#include "dataflow/similarity.h"
#include "storage/audit_trail.h"
#include "storage/codec.h"
#include "storage/job_store.h"
#include "test_util.h"

using namespace vf;
using vf::test::TempDir;

namespace {

Seed seed(const std::string& domain, int n) {
  Seed s;
  s.file = "seeds.jsonl";
  s.index = static_cast<uint32_t>(n);
  s.question = domain + " question number " + std::to_string(n) + " about apples and pears";
  s.final_answer = std::to_string(n);
  s.rationale = "print(" + std::to_string(n) + ")";
  s.domain = domain;
  s.license = "CC0";
  s.name = domain + "-" + std::to_string(n);
  s.metadata = {{"source", "tests"}};
  return s;
}

std::vector<Seed> seeds(const std::vector<std::pair<std::string, int>>& per_domain) {
  std::vector<Seed> out;
  int n = 0;
  for (const auto& [domain, count] : per_domain)
    for (int i = 0; i < count; ++i) out.push_back(seed(domain, n++));
  return out;
}

// The seed indices a generated item's prompt showed.
std::vector<uint32_t> shown(const Item& item) {
  std::vector<uint32_t> out;
  for (const auto& p : item.conditioned_on) out.push_back(p.seed_index);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

// --- the audit trail ----------------------------------------------------------

TEST_CASE("audit trail: off without its variable; with it, one whole line per record from any thread") {
  unsetenv("VERIFORGE_AUDIT_FILE");
  CHECK(AuditTrail::from_env() == nullptr);
  TempDir dir;
  std::string path = dir.path() + "/audit";
  setenv("VERIFORGE_AUDIT_FILE", path.c_str(), 1);
  {
    auto audit = AuditTrail::from_env();
    REQUIRE(audit != nullptr);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&, t] {
        for (int i = 0; i < 500; ++i) audit->record(i % 2 ? "logged" : "start", "run", std::to_string(t) + "." + std::to_string(i));
      });
    for (auto& t : threads) t.join();
  }
  unsetenv("VERIFORGE_AUDIT_FILE");
  std::ifstream in(path);
  std::set<std::string> keys;
  int lines = 0;
  for (std::string line; std::getline(in, line); ++lines) {
    std::istringstream ss(line);
    std::string event, kind, key, extra;
    ss >> event >> kind >> key;
    CHECK((event == "start" || event == "logged"));
    CHECK(kind == "run");
    bool more = static_cast<bool>(ss >> extra);
    CHECK_FALSE(more);  // no two records on one line
    keys.insert(key);
  }
  CHECK(lines == 2000);
  CHECK(keys.size() == 2000);
}

// --- recovery -------------------------------------------------------------------

TEST_CASE("recovery: in-flight items from the gate's watermark on, in id order, with both progress records") {
  TempDir dir;
  auto store = JobStore::open(dir.path() + "/db");
  REQUIRE(store.ok());
  {
    auto fresh = recover(**store);
    REQUIRE(fresh.ok());
    CHECK(fresh->fresh);
    CHECK_FALSE(fresh->writer);
    CHECK(fresh->in_flight.empty());
  }
  LogBatch b;
  for (uint64_t id : {3, 9, 7, 12}) {
    Item item;
    item.id = id;
    item.question = "q" + std::to_string(id);
    b.put_item(id, encode(item));
  }
  WriterCheckpoint w;
  w.gate.low_watermark = 5;  // ids below are decided: item 3's record is stale and must not come back
  w.tally.accepted("Algebra");
  b.put_meta(meta::kWriter, encode(w));
  b.put_meta(meta::kGenerator, encode(GeneratorCheckpoint{13, false, ""}));
  REQUIRE((*store)->write(b).ok());
  auto r = recover(**store);
  REQUIRE_MESSAGE(r.ok(), r.error());
  CHECK_FALSE(r->fresh);
  REQUIRE(r->writer);
  CHECK(r->writer->tally.total_accepted() == 1);
  CHECK(r->generator.issued == 13);
  std::vector<uint64_t> ids;
  for (const auto& item : r->in_flight) ids.push_back(item.id);
  CHECK(ids == std::vector<uint64_t>{7, 9, 12});
  CHECK(r->in_flight[0].question == "q7");
  auto counts = count_log(**store, true);
  REQUIRE(counts.ok());
  CHECK(counts->in_flight.at("generated") == 4);
}

TEST_CASE("recovery: a record under another item's key or that does not decode is reported, naming the key") {
  TempDir dir;
  auto store = JobStore::open(dir.path() + "/db");
  REQUIRE(store.ok());
  Item item;
  item.id = 4;
  LogBatch b;
  b.put_item(5, encode(item));
  REQUIRE((*store)->write(b).ok());
  auto r = recover(**store);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().find("i/5") != std::string::npos);
  LogBatch junk;
  junk.erase_item(5);
  junk.put_item(6, "not msgpack");
  REQUIRE((*store)->write(junk).ok());
  auto bad = recover(**store);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().find("item 6") != std::string::npos);
}

// --- LLM sources ------------------------------------------------------------------

TEST_CASE("few-shot: domains take turns, k seeds of one domain per prompt, no k-set twice, then it ends") {
  auto s = seeds({{"Algebra", 4}, {"Geometry", 3}});
  FewShotSource source(s, 2, 7, builtin_templates("few-shot"), default_distribution_modules());
  std::map<std::string, std::set<std::vector<uint32_t>>> sets;
  std::vector<std::string> order;
  uint64_t expected_id = 0;
  while (auto item = source.next()) {
    CHECK(item->id == expected_id++);
    CHECK(item->conditioned_on.size() == 2);
    const auto& domain = item->conditioned_on.front().domain;
    for (const auto& p : item->conditioned_on) CHECK(p.domain == domain);
    CHECK(sets[domain].insert(shown(*item)).second);  // never the same k-set twice
    CHECK(item->prompt.at(0).content.find(s[item->conditioned_on[0].seed_index].question) != std::string::npos);
    order.push_back(domain);
  }
  CHECK(sets["Algebra"].size() == 6);   // C(4, 2)
  CHECK(sets["Geometry"].size() == 3);  // C(3, 2)
  CHECK(source.end_reason() == "k-sets-exhausted");
  // While both have sets left, they alternate.
  for (size_t i = 1; i < 6; ++i) CHECK(order[i] != order[i - 1]);
}

TEST_CASE("few-shot: a source restored from its logged progress continues the same sequence") {
  auto s = seeds({{"Algebra", 5}, {"Geometry", 4}});
  TempDir dir;
  auto store = JobStore::open(dir.path() + "/db");
  REQUIRE(store.ok());
  FewShotSource a(s, 2, 11, builtin_templates("few-shot"), {});
  REQUIRE(a.bind(**store).ok());
  for (int i = 0; i < 5; ++i) a.next();
  LogBatch b;
  a.checkpoint(b);
  REQUIRE((*store)->write(b).ok());
  FewShotSource restored(s, 2, 11, builtin_templates("few-shot"), {});
  REQUIRE(restored.bind(**store).ok());
  for (int i = 0; i < 8; ++i) {
    auto x = a.next(), y = restored.next();
    REQUIRE(x.has_value() == y.has_value());
    if (!x) break;
    CHECK(x->id == y->id);
    CHECK(shown(*x) == shown(*y));
    CHECK(x->prompt.at(0).content == y->prompt.at(0).content);
  }
}

TEST_CASE("self-instruct: accepted items join the pool, at most half of a prompt's examples, never all") {
  auto s = seeds({{"Algebra", 3}});
  SelfInstructSource source(s, 4, 3, builtin_templates("self-instruct"), {});
  auto first = source.next();
  REQUIRE(first);
  CHECK(first->conditioned_on.size() == 3);  // only seeds so far: all three
  for (int i = 0; i < 5; ++i) {
    Feedback fb;
    fb.id = 100 + i;
    fb.question = "generated question " + std::to_string(i);
    fb.provenance = Provenance{"gen", static_cast<uint32_t>(100 + i), "", "Algebra", "CC0", ""};
    source.on_accepted(fb);
  }
  CHECK(source.pool_size() == 8);
  for (int i = 0; i < 20; ++i) {
    auto item = source.next();
    REQUIRE(item);
    size_t generated = 0;
    for (const auto& p : item->conditioned_on) generated += p.seed_file == "gen";
    CHECK(generated <= 2);                              // at most half of k = 4
    CHECK(generated < item->conditioned_on.size());     // at least one seed
  }
}

TEST_CASE("evol-instruct: each item rewrites one base by a named operation, accepted items among the bases") {
  auto s = seeds({{"Algebra", 2}});
  EvolInstructSource source(s, 5, builtin_templates("evol-instruct"), {});
  std::set<std::string> operations;
  for (int i = 0; i < 30; ++i) {
    auto item = source.next();
    REQUIRE(item);
    CHECK_FALSE(item->evolution.empty());
    operations.insert(item->evolution);
    CHECK(item->prompt.at(0).content.find(item->evolved_from) != std::string::npos);
  }
  CHECK(operations.size() >= 4);  // depth and breadth operations both drawn
  Feedback fb;
  fb.question = "an accepted evolved question";
  fb.provenance.domain = "Algebra";
  source.on_accepted(fb);
  bool evolved_accepted = false;
  for (int i = 0; i < 40 && !evolved_accepted; ++i) evolved_accepted = source.next()->evolved_from == fb.question;
  CHECK(evolved_accepted);
}

// --- similarity ---------------------------------------------------------------------

TEST_CASE("similarity: ROUGE-L over words, and the filter admits new questions and rejects near copies") {
  CHECK(rouge_l("the cat sat on the mat", "the cat sat on the mat") == doctest::Approx(1.0));
  CHECK(rouge_l("the cat sat", "a dog ran") == doctest::Approx(0.0));
  CHECK(rouge_l("How many apples?", "how MANY apples") == doctest::Approx(1.0));  // case and punctuation do not count
  SimilarityFilter filter(0.7, {"How many edges does the complete graph on 9 vertices have?"});
  Item copy;
  copy.id = 1;
  copy.question = "How many edges does the complete graph on 10 vertices have?";
  LogBatch log;
  filter.apply(copy, &log);
  CHECK(copy.item_state() == ItemState::kRejected);
  CHECK(copy.reject_reason == "too-similar");
  CHECK(log.empty());
  Item fresh;
  fresh.id = 2;
  fresh.question = "A train leaves at noon at 60 km/h; when does it arrive 150 km away?";
  filter.apply(fresh, &log);
  CHECK(fresh.item_state() == ItemState::kGenerated);
  CHECK(log.operations() == 1);  // admitted, and logged for a resumed job's pool
  Item again = fresh;
  again.id = 3;
  filter.apply(again, nullptr);  // the admitted question is in the pool now
  CHECK(again.reject_reason == "too-similar");
}

// --- record builders ----------------------------------------------------------------

TEST_CASE("records: an accepted item carries its provenance and license into every export") {
  Item item;
  item.id = 42;
  item.question = "What is 6 x 7?";
  item.rationale = "print(6 * 7)";
  item.answer = "42";
  item.reference_answer = "40";
  item.generator = "variant";
  item.provenance = {"seeds/x.jsonl", 3, "mult", "Arithmetic", "CC-BY-4.0", "[\"book\"]"};
  item.substitutions = {{"5", "6"}};
  auto a = accepted_record(item, "job");
  CHECK(a["id"] == "job-000000000042");
  CHECK(a["item_id"] == 42);
  CHECK(a["license"] == "CC-BY-4.0");
  CHECK(a["seed"]["source"] == nlohmann::json::array({"book"}));
  CHECK(a["seed_answer"] == "40");
  CHECK(a["substitutions"][0]["to"] == "6");
  CHECK(a["messages"][0]["content"] == item.question);
  CHECK(a["messages"][1]["content"].get<std::string>().find("\\boxed{42}") != std::string::npos);  // program of thought
  for (const auto& r : {sharegpt_record(item, "job"), openai_sft_record(item, "job"), rl_record(item, "job")}) {
    CHECK(r["id"] == "job-000000000042");
    CHECK(r["license"] == "CC-BY-4.0");
    CHECK(r["domain"] == "Arithmetic");
  }
  CHECK(sharegpt_record(item, "job")["conversations"][0]["value"] == item.question);
  CHECK(rl_record(item, "job")["ground_truth"] == "42");
  CHECK_FALSE(rl_record(item, "job").contains("pass_rate"));
  // With solver samples, the SFT answer is an agreeing chain of thought, and the RL record has the pass rate.
  item.solver_samples = {{"wrong path, \\boxed{41}", "41", "boxed", false}, {"6*7 = \\boxed{42}", "42", "boxed", true}};
  item.pass_rate = 0.5;
  item.difficulty = "medium";
  CHECK(openai_sft_record(item, "job")["messages"][1]["content"] == "6*7 = \\boxed{42}");
  CHECK(rl_record(item, "job")["pass_rate"] == 0.5);
  CHECK(accepted_record(item, "job")["solver_samples"].size() == 2);
}

TEST_CASE("records: a rejected item says why, with each run's status and stderr") {
  Item item;
  item.id = 7;
  item.question = "q";
  item.executions = {{static_cast<uint8_t>(ExecStatus::kError), 1, "", "ZeroDivisionError: division by zero", "", 3.5}};
  advance(item, ItemEvent::kExecutionsAttached);
  reject(item, "execution-error", "run 1: error");
  auto r = rejected_record(item, "job");
  CHECK(r["reason"] == "execution-error");
  CHECK(r["detail"] == "run 1: error");
  CHECK(r["executions"][0]["status"] == "error");
  CHECK(r["executions"][0]["stderr_tail"] == "ZeroDivisionError: division by zero");
}
