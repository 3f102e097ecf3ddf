#include "storage/audit_trail.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <spdlog/spdlog.h>

namespace vf {

std::shared_ptr<AuditTrail> AuditTrail::from_env() {
  const char* path = std::getenv("VERIFORGE_AUDIT_FILE");
  if (!path || !*path) return nullptr;
  int fd = ::open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    spdlog::error("event=audit-open-failed path={} error=\"{}\"", path, std::strerror(errno));
    return nullptr;
  }
  return std::shared_ptr<AuditTrail>(new AuditTrail(fd));
}

AuditTrail::~AuditTrail() { ::close(fd_); }

void AuditTrail::record(std::string_view event, std::string_view kind, std::string_view key) {
  std::string line;
  line.reserve(event.size() + kind.size() + key.size() + 3);
  line.append(event).append(" ").append(kind).append(" ").append(key).append("\n");
  if (::write(fd_, line.data(), line.size()) != static_cast<ssize_t>(line.size()))
    spdlog::warn("event=audit-write-failed error=\"{}\"", std::strerror(errno));
}

}  // namespace vf
