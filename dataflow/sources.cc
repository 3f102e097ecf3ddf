#include "dataflow/sources.h"

#include "sandbox/fork_server.h"

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

std::vector<std::string> required_modules(const Seed& seed, const DistributionModules& map) {
  std::vector<std::string> out;
  for (const auto& d : seed.required_dependencies) out.push_back(sandbox::module_for_distribution(d, map));
  return out;
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

}  // namespace vf
