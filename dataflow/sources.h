// Item sources: what the generator stage draws new items from.
//
// A source yields items in a deterministic order with dense ids (0, 1, ...),
// and says why it ended. VariantSource makes offline constant variants of
// seeds (the embedded default's generator); SeedSource yields the seeds
// themselves (verify-seeds); the LLM generators' sources are in
// dataflow/llm_sources.h. A source bound to the job's store logs its
// progress with the items it issues, so a resumed job continues it.
// Not thread-safe; one owner (the generator actor), which owns the seeds.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "dataflow/item.h"
#include "dataflow/seeds.h"
#include "dataflow/variants.h"
#include "storage/job_store.h"

namespace vf {

class ItemSource {
 public:
  virtual ~ItemSource() = default;
  virtual std::optional<Item> next() = 0;
  // Why next() returned nullopt ("exhausted", "seeds-done", ...).
  virtual std::string end_reason() const = 0;
  // An item of this job was accepted (sources that learn from them override).
  virtual void on_accepted(const Feedback&) {}
  // True when the source wants on_accepted() calls (the writer then sends them).
  virtual bool wants_feedback() const { return false; }

  // --- checkpoint log ---
  // Called once before the first next() when the job has a checkpoint log:
  // continues from the progress a previous run logged (none in a new job),
  // and hears again every accepted item the log holds (a/ records). The store
  // must outlive the source.
  virtual Status bind(JobStore& store);
  // Adds the progress made by next() since the last call to `batch`; the
  // generator writes it atomically with the items next() returned.
  virtual void checkpoint(LogBatch& batch);

 protected:
  // A source that does not override these cannot continue a logged job.
  virtual std::string kind() const { return "unnamed"; }              // names the source in the log
  virtual std::string save_progress() const { return {}; }             // msgpack of the source's state
  virtual Status load_progress(const std::string&) { return Error{"this generator cannot resume a job"}; }
};

Provenance provenance_of(const Seed& seed);


class SeedSource final : public ItemSource {
 public:
  SeedSource(std::vector<Seed> seeds, DistributionModules modules)
      : seeds_(std::move(seeds)), modules_(std::move(modules)) {}
  std::optional<Item> next() override;
  std::string end_reason() const override { return "seeds-done"; }

 protected:
  std::string kind() const override { return "seeds"; }
  std::string save_progress() const override;
  Status load_progress(const std::string& bytes) override;

 private:
  std::vector<Seed> seeds_;
  DistributionModules modules_;
  size_t next_ = 0;
};

class VariantSource final : public ItemSource {
 public:
  VariantSource(std::vector<Seed> seeds, uint64_t random_seed, VariantOptions options,
                DistributionModules modules = {});
  std::optional<Item> next() override;
  std::string end_reason() const override { return "exhausted"; }
  size_t eligible_seeds() const { return generator_->eligible_seeds(); }
  // Issued questions are remembered in the store (q/ keys), not in memory.
  Status bind(JobStore& store) override;
  void checkpoint(LogBatch& batch) override;

 protected:
  std::string kind() const override { return "variant"; }
  std::string save_progress() const override;
  Status load_progress(const std::string& bytes) override;

 private:
  class StoreSeenQuestions;
  StoreSeenQuestions* store_seen_ = nullptr;  // owned by generator_
  std::vector<Seed> seeds_;
  std::unique_ptr<VariantGenerator> generator_;  // refers to seeds_
  DistributionModules modules_;
  uint64_t next_id_ = 0;
};

}  // namespace vf
