#include "dataflow/sources.h"

#include <unordered_set>

#include "dataflow/checkpoint.h"
#include "storage/codec.h"

namespace vf {

Provenance provenance_of(const Seed& seed) {
  Provenance p;
  p.seed_file = seed.file;
  p.seed_index = seed.index;
  p.seed_name = seed.name;
  p.domain = seed.domain;
  p.license = seed.license;
  if (auto it = seed.metadata.find("source"); it != seed.metadata.end()) p.source = it->dump();
  return p;
}

std::optional<Item> SeedSource::next() {
  if (next_ >= seeds_.size()) return std::nullopt;
  const Seed& s = seeds_[next_];
  Item item;
  item.id = next_++;
  item.question = s.question;
  item.rationale = s.rationale;
  item.reference_answer = s.final_answer;
  item.generator = "seed";
  item.provenance = provenance_of(s);
  item.required_modules = required_modules(s, modules_);
  item.answer_tolerance = s.answer_tolerance;
  return item;
}

VariantSource::VariantSource(std::vector<Seed> seeds, uint64_t random_seed, VariantOptions options,
                             DistributionModules modules)
    : seeds_(std::move(seeds)),
      generator_(std::make_unique<VariantGenerator>(seeds_, random_seed, options)),
      modules_(std::move(modules)) {}

std::optional<Item> VariantSource::next() {
  auto c = generator_->next();
  if (!c) return std::nullopt;
  const Seed& s = seeds_[c->seed];
  Item item;
  item.id = next_id_++;
  item.question = std::move(c->question);
  item.rationale = std::move(c->rationale);
  item.reference_answer = s.final_answer;
  item.generator = "variant";
  item.provenance = provenance_of(s);
  item.required_modules = required_modules(s, modules_);
  item.substitutions = std::move(c->substitutions);
  return item;
}

namespace {

// m/source: which source logged its progress, and the progress itself.
struct SourceCheckpoint {
  std::string kind;
  std::string progress;
  MSGPACK_DEFINE(kind, progress)
};

struct VariantProgress {
  uint64_t next_id = 0;
  VariantGenerator::State generator;
  MSGPACK_DEFINE(next_id, generator)
};

}  // namespace

Status ItemSource::bind(JobStore& store) {
  auto logged = store.get_meta(meta::kSource);
  if (!logged) return Error{logged.error()};
  if (logged.value()) {
    auto c = decode<SourceCheckpoint>(*logged.value(), "generator progress (m/source)");
    if (!c) return Error{"job store " + store.path() + ": " + c.error()};
    if (c->kind != kind())
      return Error{"the job's log holds the progress of the '" + c->kind + "' generator, this run uses '" + kind() +
                   "'"};
    if (auto s = load_progress(c->progress); !s) return Error{"generator progress (m/source): " + s.error()};
  }
  if (!wants_feedback()) return {};
  return store.for_each_feedback([&](uint64_t id, std::string_view bytes) -> Status {
    auto f = decode<Feedback>(bytes, "accepted item (a/)");
    if (!f) return Error{"job store " + store.path() + ": item " + std::to_string(id) + ": " + f.error()};
    on_accepted(f.value());
    return {};
  });
}

void ItemSource::checkpoint(LogBatch& batch) {
  batch.put_meta(meta::kSource, encode(SourceCheckpoint{kind(), save_progress()}));
}

std::string SeedSource::save_progress() const { return encode(static_cast<uint64_t>(next_)); }

Status SeedSource::load_progress(const std::string& bytes) {
  auto n = decode<uint64_t>(bytes, "seed progress");
  if (!n) return Error{n.error()};
  next_ = static_cast<size_t>(n.value());
  return {};
}

// Issued question hashes in the store; those of the batch being built wait
// in memory until checkpoint() hands them to the generator's LogBatch.
class VariantSource::StoreSeenQuestions final : public SeenQuestions {
 public:
  explicit StoreSeenQuestions(const JobStore& store) : store_(store) {}
  bool insert(uint64_t hash) override {
    if (pending_.count(hash)) return false;
    auto seen = store_.seen(hash);
    if (!seen) {
      error_ = seen.error();
      return false;  // the next log write reports the store's failure
    }
    if (seen.value()) return false;
    pending_.insert(hash);
    return true;
  }
  void drain(LogBatch& batch) {
    for (uint64_t h : pending_) batch.put_seen(h);
    pending_.clear();
  }
  const std::string& error() const { return error_; }

 private:
  const JobStore& store_;
  std::unordered_set<uint64_t> pending_;
  std::string error_;
};

Status VariantSource::bind(JobStore& store) {
  auto seen = std::make_unique<StoreSeenQuestions>(store);
  store_seen_ = seen.get();
  generator_->use_seen(std::move(seen));
  if (!store_seen_->error().empty()) return Error{store_seen_->error()};
  return ItemSource::bind(store);
}

void VariantSource::checkpoint(LogBatch& batch) {
  if (store_seen_) store_seen_->drain(batch);
  ItemSource::checkpoint(batch);
}

std::string VariantSource::save_progress() const { return encode(VariantProgress{next_id_, generator_->state()}); }

Status VariantSource::load_progress(const std::string& bytes) {
  auto p = decode<VariantProgress>(bytes, "variant progress");
  if (!p) return Error{p.error()};
  if (auto s = generator_->restore(p->generator); !s) return s;
  next_id_ = p->next_id;
  return {};
}

}  // namespace vf
