// AuditTrail: a line per unit of costly work (a code run, a model call) when
// it starts and when its result is in the checkpoint log, so the crash-test
// tool (tools/crash-test.py) can count, across kills, work that was done
// twice. Off unless the VERIFORGE_AUDIT_FILE environment variable names a
// file; then each record is one write(2) to an O_APPEND descriptor, which
// survives a SIGKILL of the process right after it returns.
// Thread-safe (write(2) of one short line with O_APPEND is atomic).
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace vf {

class AuditTrail {
 public:
  // nullptr when VERIFORGE_AUDIT_FILE is unset or cannot be opened (logged).
  static std::shared_ptr<AuditTrail> from_env();
  ~AuditTrail();
  AuditTrail(const AuditTrail&) = delete;
  AuditTrail& operator=(const AuditTrail&) = delete;

  // "<event> <kind> <key>\n", e.g. "start run 42.1", "logged call 42.v.0".
  void record(std::string_view event, std::string_view kind, std::string_view key);

 private:
  explicit AuditTrail(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace vf
