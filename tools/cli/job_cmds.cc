#include <ctime>
#include "tools/cli/job_cmds.h"

#include <cstdio>

#include <nlohmann/json.hpp>

#include "job/inspect.h"

namespace vf {

int cmd_status(const std::string& dir, bool as_json) {
  auto status = job_status(dir);
  if (!status) {
    std::fprintf(stderr, "veriforge status: %s\n", status.error().c_str());
    return status.code() == ErrorCode::kNotFound ? 1 : 2;
  }
  const nlohmann::json& j = status.value();
  if (as_json) {
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  auto u = [&](const char* k) { return (unsigned long long)j[k].get<uint64_t>(); };
  std::printf("job %s (%s%s%s)\n", j["job"].get<std::string>().c_str(), j["state"].get<std::string>().c_str(),
              j["end_reason"].get<std::string>().empty() ? "" : ": ", j["end_reason"].get<std::string>().c_str());
  std::printf("  generated   %llu\n", u("generated"));
  std::printf("  accepted    %llu of target %llu (accept rate %.1f%%)\n", u("accepted"), u("target_accepted"),
              100.0 * j["accept_rate"].get<double>());
  std::printf("  rejected    %llu", u("rejected"));
  auto list = [](const nlohmann::json& counts) {
    if (counts.empty()) return;
    std::printf(" (");
    bool first = true;
    for (const auto& [k, n] : counts.items()) {
      std::printf("%s%s=%llu", first ? "" : " ", k.c_str(), (unsigned long long)n.get<uint64_t>());
      first = false;
    }
    std::printf(")");
  };
  list(j["rejection_reasons"]);
  std::printf("\n  surplus     %llu\n  parked      %llu\n  in flight   %llu", u("surplus"), u("parked"), u("in_flight"));
  list(j["in_flight_by_state"]);
  std::printf("\n  tokens      %llu prompt + %llu completion\n",
              (unsigned long long)j["tokens"]["prompt"].get<uint64_t>(),
              (unsigned long long)j["tokens"]["completion"].get<uint64_t>());
  std::printf("  running     %.1f s over all sessions\n  log         %.1f MiB\n", j["running_s"].get<double>(),
              j["log_bytes"].get<uint64_t>() / 1048576.0);
  if (!j["nodes"].empty()) {
    std::printf("nodes (as the coordinator last logged them):\n");
    std::printf("  %4s  %-20s %-10s %-22s %8s %7s %9s %8s  %-24s %s\n", "id", "name", "state", "roles", "capacity",
                "leases", "done", "failures", "last heartbeat", "address");
    for (const auto& n : j["nodes"]) {
      std::string roles;
      for (const auto& r : n["roles"]) roles += (roles.empty() ? "" : ",") + r.get<std::string>();
      time_t beat = static_cast<time_t>(n["last_heartbeat_ms"].get<int64_t>() / 1000);
      char when[32] = "-";
      if (beat > 0) std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", std::gmtime(&beat));
      std::printf("  %4u  %-20s %-10s %-22s %8u %7llu %9llu %8llu  %-24s %s%s%s\n", n["id"].get<uint32_t>(),
                  n["name"].get<std::string>().c_str(), n["state"].get<std::string>().c_str(), roles.c_str(),
                  n["capacity"].get<uint32_t>(), (unsigned long long)n["leases_held"].get<uint64_t>(),
                  (unsigned long long)n["items_done"].get<uint64_t>(),
                  (unsigned long long)n["failures"].get<uint64_t>(), when, n["address"].get<std::string>().c_str(),
                  n["note"].get<std::string>().empty() ? "" : "  ", n["note"].get<std::string>().c_str());
    }
  }
  return 0;
}

int cmd_check(const std::string& dir, bool as_json) {
  auto report = check_job(dir);
  if (!report) {
    std::fprintf(stderr, "veriforge check: %s\n", report.error().c_str());
    return 2;
  }
  const CheckReport& r = report.value();
  if (as_json) {
    std::printf("%s\n", r.to_json().dump().c_str());
  } else {
    std::printf("job %s: %llu issued; decided:", r.job.c_str(), (unsigned long long)r.issued);
    for (const auto& [st, n] : r.decided) std::printf(" %s=%llu", st.c_str(), (unsigned long long)n);
    std::printf("; in flight %llu; parked %llu\n", (unsigned long long)r.in_flight, (unsigned long long)r.parked);
    for (const auto& n : r.notes) std::printf("note: %s\n", n.c_str());
    for (const auto& p : r.problems) std::printf("PROBLEM: %s\n", p.c_str());
    std::printf("%s\n", r.consistent ? "consistent: log and outputs agree" : "INCONSISTENT");
  }
  return r.consistent ? 0 : 2;
}

}  // namespace vf
