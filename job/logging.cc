#include "job/logging.h"

#include <memory>
#include <vector>

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace vf {

namespace {
// Set once by setup_logging(); the sink itself is thread-safe (_mt).
std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt>& warning_ring() {
  static std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> ring;
  return ring;
}
}  // namespace

std::vector<std::string> recent_warnings() {
  auto ring = std::atomic_load(&warning_ring());
  if (!ring) return {};
  return ring->last_formatted();
}

void setup_logging(const std::string& log_file, const std::string& level, const std::string& node) {
  std::vector<spdlog::sink_ptr> sinks;
  auto console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  console->set_level(spdlog::level::warn);
  sinks.push_back(console);
  if (!log_file.empty()) {
    auto file = std::make_shared<spdlog::sinks::basic_file_sink_mt>(log_file);
    file->set_level(spdlog::level::from_str(level));
    sinks.push_back(file);
  }
  auto ring = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(100);
  ring->set_level(spdlog::level::warn);
  sinks.push_back(ring);
  std::atomic_store(&warning_ring(), ring);
  auto logger = std::make_shared<spdlog::logger>("veriforge", sinks.begin(), sinks.end());
  logger->set_level(spdlog::level::from_str(level));
  logger->set_pattern(node.empty() ? "%Y-%m-%dT%H:%M:%S.%e %l %v" : "%Y-%m-%dT%H:%M:%S.%e %l node=" + node + " %v");
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
}

void setup_worker_logging(const std::string& level, const std::string& node) {
  auto console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>("veriforge", console);
  logger->set_level(spdlog::level::from_str(level));
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l node=" + (node.empty() ? std::string("worker") : node) + " %v");
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

}  // namespace vf
