#include "dataflow/llm_sources.h"

#include <algorithm>
#include <sstream>

#include "storage/codec.h"

namespace vf {

// ---------------------------------------------------------------- few-shot source

FewShotSource::FewShotSource(std::vector<Seed> seeds, uint32_t k, uint64_t random_seed, PromptTemplates templates,
                             DistributionModules modules)
    : seeds_(std::move(seeds)), k_(std::max<uint32_t>(1, k)), templates_(std::move(templates)),
      modules_(std::move(modules)), rng_(random_seed) {
  for (size_t i = 0; i < seeds_.size(); ++i) {
    auto it = std::find_if(domains_.begin(), domains_.end(), [&](const Domain& d) { return d.name == seeds_[i].domain; });
    if (it == domains_.end()) {
      domains_.push_back(Domain{seeds_[i].domain, {}, {}, false});
      it = domains_.end() - 1;
    }
    it->seeds.push_back(i);
  }
}

std::optional<Item> FewShotSource::next() {
  for (size_t tried = 0; tried < domains_.size(); ++tried) {
    Domain& d = domains_[turn_++ % domains_.size()];
    if (d.exhausted) continue;
    size_t k = std::min<size_t>(k_, d.seeds.size());
    // Draw a k-set not used before; give up on the domain after many misses.
    std::vector<size_t> pick;
    bool fresh = false;
    for (int attempt = 0; attempt < 64 && !fresh; ++attempt) {
      std::vector<size_t> pool = d.seeds;
      std::shuffle(pool.begin(), pool.end(), rng_);
      pick.assign(pool.begin(), pool.begin() + static_cast<long>(k));
      std::sort(pick.begin(), pick.end());
      fresh = !d.used.count(pick);
    }
    if (!fresh) {
      d.exhausted = true;
      continue;
    }
    d.used.insert(pick);
    std::shuffle(pick.begin(), pick.end(), rng_);  // example order varies too
    std::string examples;
    Item item;
    item.id = next_id_++;
    item.generator = "few-shot";
    for (size_t i = 0; i < pick.size(); ++i) {
      const Seed& s = seeds_[pick[i]];
      if (i) examples += "\n";
      examples += render(templates_.example, {{"index", std::to_string(i + 1)},
                                              {"question", s.question},
                                              {"rationale", s.rationale},
                                              {"answer", s.final_answer}});
      item.conditioned_on.push_back(provenance_of(s));
      for (auto& m : required_modules(s, modules_))
        if (std::find(item.required_modules.begin(), item.required_modules.end(), m) == item.required_modules.end())
          item.required_modules.push_back(m);
    }
    item.provenance = item.conditioned_on.front();
    item.prompt = {{"user", render(templates_.generator, {{"domain", d.name}, {"examples", examples}})}};
    return item;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------- self-instruct

SelfInstructSource::SelfInstructSource(std::vector<Seed> seeds, uint32_t k, uint64_t random_seed,
                                       PromptTemplates templates, DistributionModules modules)
    : k_(std::max<uint32_t>(1, k)), templates_(std::move(templates)), rng_(random_seed) {
  for (const auto& s : seeds) {
    pool_.push_back(Entry{s.question, s.rationale, s.final_answer, provenance_of(s), true, required_modules(s, modules)});
    if (std::find(domains_.begin(), domains_.end(), s.domain) == domains_.end()) domains_.push_back(s.domain);
  }
}

void SelfInstructSource::on_accepted(const Feedback& f) {
  std::vector<std::string> modules;
  for (const auto& e : pool_)
    if (e.seed && e.provenance.seed_file == f.provenance.seed_file && e.provenance.seed_index == f.provenance.seed_index)
      modules = e.modules;
  pool_.push_back(Entry{f.question, f.rationale, f.answer, f.provenance, false, modules});
}

std::optional<Item> SelfInstructSource::next() {
  if (domains_.empty()) return std::nullopt;
  const std::string& domain = domains_[turn_++ % domains_.size()];
  std::vector<size_t> seeds, generated;
  for (size_t i = 0; i < pool_.size(); ++i)
    if (pool_[i].provenance.domain == domain) (pool_[i].seed ? seeds : generated).push_back(i);
  std::shuffle(seeds.begin(), seeds.end(), rng_);
  std::shuffle(generated.begin(), generated.end(), rng_);
  size_t from_generated = std::min<size_t>(generated.size(), k_ / 2);
  size_t from_seeds = std::min<size_t>(seeds.size(), k_ - from_generated);
  std::vector<size_t> pick(seeds.begin(), seeds.begin() + static_cast<long>(from_seeds));
  pick.insert(pick.end(), generated.begin(), generated.begin() + static_cast<long>(from_generated));
  std::shuffle(pick.begin(), pick.end(), rng_);
  Item item;
  item.id = next_id_++;
  item.generator = "self-instruct";
  std::string examples;
  for (size_t i = 0; i < pick.size(); ++i) {
    const Entry& e = pool_[pick[i]];
    if (i) examples += "\n";
    examples += render(templates_.example,
                       {{"index", std::to_string(i + 1)}, {"question", e.question}, {"rationale", e.rationale}, {"answer", e.answer}});
    item.conditioned_on.push_back(e.provenance);
    for (const auto& m : e.modules)
      if (std::find(item.required_modules.begin(), item.required_modules.end(), m) == item.required_modules.end())
        item.required_modules.push_back(m);
  }
  item.provenance = item.conditioned_on.front();
  item.prompt = {{"user", render(templates_.generator, {{"domain", domain}, {"examples", examples}})}};
  return item;
}

// ---------------------------------------------------------------- evol-instruct

namespace {
struct Operation {
  const char* name;
  const char* instruction;
};
constexpr Operation kOperations[] = {
    {"add-constraints", "Rewrite the given problem by adding one more constraint or requirement, so that it becomes harder."},
    {"deepen", "Rewrite the given problem so that it asks about the same idea in more depth: a more general or more demanding question."},
    {"concretize", "Rewrite the given problem by replacing general concepts with more specific ones."},
    {"more-reasoning", "Rewrite the given problem so that solving it clearly requires more reasoning steps."},
    {"breadth", "Write a brand-new problem in the same domain, inspired by the given one but about a different topic or skill, of similar difficulty."},
};
}  // namespace

EvolInstructSource::EvolInstructSource(std::vector<Seed> seeds, uint64_t random_seed, PromptTemplates templates,
                                       DistributionModules modules)
    : templates_(std::move(templates)), rng_(random_seed) {
  for (const auto& s : seeds)
    seeds_.push_back(Base{s.question, s.rationale, s.final_answer, provenance_of(s), required_modules(s, modules)});
}

void EvolInstructSource::on_accepted(const Feedback& f) {
  accepted_.push_back(Base{f.question, f.rationale, f.answer, f.provenance, {}});
}

std::optional<Item> EvolInstructSource::next() {
  if (seeds_.empty()) return std::nullopt;
  // Half the time evolve an accepted item further, when there is one.
  bool from_accepted = !accepted_.empty() && rng_() % 2 == 0;
  const auto& bases = from_accepted ? accepted_ : seeds_;
  const Base& b = bases[rng_() % bases.size()];
  const Operation& op = kOperations[rng_() % (sizeof kOperations / sizeof kOperations[0])];
  Item item;
  item.id = next_id_++;
  item.generator = "evol-instruct";
  item.evolved_from = b.question;
  item.evolution = op.name;
  item.provenance = b.provenance;
  item.conditioned_on = {b.provenance};
  item.required_modules = b.modules;
  item.prompt = {{"user", render(templates_.generator, {{"domain", b.provenance.domain},
                                                         {"question", b.question},
                                                         {"rationale", b.rationale},
                                                         {"answer", b.answer},
                                                         {"operation", op.instruction}})}};
  return item;
}

// ---------------------------------------------------------------- progress in the checkpoint log

namespace {
std::string rng_text(const std::mt19937_64& rng) {
  std::ostringstream out;
  out << rng;
  return out.str();
}
Status rng_from_text(const std::string& text, std::mt19937_64& rng) {
  std::istringstream in(text);
  in >> rng;
  if (!in) return Error{"random generator state does not parse"};
  return {};
}

struct LlmSourceProgress {
  std::string rng;
  uint64_t turn = 0;
  uint64_t next_id = 0;
  std::vector<std::vector<std::vector<uint64_t>>> used;  // few-shot: per domain, the k-sets used
  std::vector<bool> exhausted;                            // few-shot: per domain
  MSGPACK_DEFINE(rng, turn, next_id, used, exhausted)
};

Expected<LlmSourceProgress> read_progress(const std::string& bytes, std::mt19937_64& rng) {
  auto p = decode<LlmSourceProgress>(bytes, "generator progress");
  if (!p) return Error{p.error()};
  if (auto s = rng_from_text(p->rng, rng); !s) return Error{s.error()};
  return p;
}
}  // namespace

std::string FewShotSource::save_progress() const {
  LlmSourceProgress p{rng_text(rng_), turn_, next_id_, {}, {}};
  for (const auto& d : domains_) {
    std::vector<std::vector<uint64_t>> sets;
    for (const auto& k : d.used) sets.emplace_back(k.begin(), k.end());
    p.used.push_back(std::move(sets));
    p.exhausted.push_back(d.exhausted);
  }
  return encode(p);
}

Status FewShotSource::load_progress(const std::string& bytes) {
  auto p = read_progress(bytes, rng_);
  if (!p) return Error{p.error()};
  if (p->used.size() != domains_.size() || p->exhausted.size() != domains_.size())
    return Error{"the logged few-shot progress has " + std::to_string(p->used.size()) + " domains, the seeds have " +
                 std::to_string(domains_.size())};
  turn_ = p->turn;
  next_id_ = p->next_id;
  for (size_t i = 0; i < domains_.size(); ++i) {
    domains_[i].used.clear();
    for (const auto& k : p->used[i]) domains_[i].used.insert(std::vector<size_t>(k.begin(), k.end()));
    domains_[i].exhausted = p->exhausted[i];
  }
  return {};
}

std::string SelfInstructSource::save_progress() const {
  return encode(LlmSourceProgress{rng_text(rng_), turn_, next_id_, {}, {}});
}

Status SelfInstructSource::load_progress(const std::string& bytes) {
  auto p = read_progress(bytes, rng_);
  if (!p) return Error{p.error()};
  turn_ = p->turn;
  next_id_ = p->next_id;
  return {};
}

std::string EvolInstructSource::save_progress() const {
  return encode(LlmSourceProgress{rng_text(rng_), 0, next_id_, {}, {}});
}

Status EvolInstructSource::load_progress(const std::string& bytes) {
  auto p = read_progress(bytes, rng_);
  if (!p) return Error{p.error()};
  next_id_ = p->next_id;
  return {};
}

}  // namespace vf
