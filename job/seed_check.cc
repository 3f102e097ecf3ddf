#include "job/seed_check.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "job/assembly.h"
#include "job/job.h"

namespace vf {

Expected<nlohmann::json> run_seed_check(const SeedCheckRequest& request, const RunControl& control,
                                        std::vector<std::string>& notes) {
  auto config = load_config(request.config_path, request.overrides);
  if (!config) return invalid_input("config error: " + config.error());
  JobConfig& c = config.value();
  bool skip = request.skip_invalid_seeds || c.job.skip_invalid_seeds;
  SeedSet seeds = load_seeds(request.seed_paths);
  for (auto& line : seed_warning_lines(seeds)) notes.push_back(std::move(line));
  if (!seeds.problems.empty()) {
    for (auto& line : seed_problem_lines(seeds)) notes.push_back(std::move(line));
    if (!skip)
      return invalid_input(std::to_string(seeds.problems.size()) +
                           " problem(s) in the seeds; nothing was written. Fix them, or pass --skip-invalid-seeds "
                           "to check the " + std::to_string(seeds.seeds.size()) + " valid items.");
    notes.push_back("skipping invalid seed items; " + std::to_string(seeds.seeds.size()) + " valid of " +
                    std::to_string(seeds.items_read) + " read");
    if (seeds.seeds.empty()) return invalid_input("no valid seed items to check");
  }
  std::vector<std::string> hide;
  for (const auto* file : {&request.results_file, &request.mismatches_file}) {
    if (file->empty()) continue;
    std::error_code ec;
    auto parent = std::filesystem::path(*file).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    std::FILE* f = std::fopen(file->c_str(), "w");  // a fresh report each run
    if (!f) return invalid_input("cannot write " + *file + ": " + std::strerror(errno));
    std::fclose(f);
    hide.push_back(*file);
  }
  PipelinePlan plan = make_plan(c, JobKind::kSeedCheck);
  auto work = make_work_spec(c, seeds.seeds, JobKind::kSeedCheck);
  if (!work) return invalid_input("config error: " + work.error());
  auto source = make_source(c, seeds.seeds, JobKind::kSeedCheck);
  if (!source) return source.failure();
  LocalWork local;
  if (auto s = start_sandbox(local, c, work.value(), hide); !s) return s.failure();
  CoordinatorParts parts;
  parts.source = source.value();
  parts.seed_check.results_file = request.results_file;
  parts.seed_check.mismatches_file = request.mismatches_file;
  auto outcome = run_pipeline(plan, work.value(), std::move(parts), std::move(local), control);
  if (!outcome.ok) return Error{outcome.error, ErrorCode::kIoError};
  return outcome.summary;
}

}  // namespace vf
