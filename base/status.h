// Errors as values: Error (a code and a message), Expected<T> (a value or an
// Error) and Status (an Error or nothing). Every boundary where bad input or a
// failing system is expected (configs, seeds, storage, sandbox, network)
// returns one of these instead of throwing; the message names the place
// (file and line, key, store path) and the code says what kind of failure it
// is, so callers decide by code (a CLI exit status, a retry) and print the
// message.
// Header-only; values; thread-safety: none needed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace vf {

enum class ErrorCode : uint8_t {
  kUnknown = 0,
  kInvalidInput,  // the user's input is wrong (seeds, config, arguments, a changed job)
  kNotFound,      // a file, job or record that should exist does not
  kIoError,       // the system refused (disk full, permissions, a file that cannot be written)
  kCorruption,    // stored data does not decode or contradicts itself
  kUnavailable,   // a peer or service cannot be reached now; retrying may help
  kUnsupported,   // a format or version this build does not read
  kInternal,      // a bug: an invariant of ours does not hold
  kConflict,      // the request is valid but the state forbids it now (a job already finishing)
};

std::string_view to_string(ErrorCode code);

struct Error {
  std::string message;
  ErrorCode code = ErrorCode::kUnknown;
};

inline Error invalid_input(std::string message) { return {std::move(message), ErrorCode::kInvalidInput}; }
inline Error io_error(std::string message) { return {std::move(message), ErrorCode::kIoError}; }
inline Error corruption(std::string message) { return {std::move(message), ErrorCode::kCorruption}; }
inline Error not_found(std::string message) { return {std::move(message), ErrorCode::kNotFound}; }
inline Error internal_error(std::string message) { return {std::move(message), ErrorCode::kInternal}; }

template <class T>
class Expected {
 public:
  Expected(T value) : v_(std::move(value)) {}
  Expected(Error e) : v_(std::move(e)) {}
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  // The error message; empty when there is a value.
  const std::string& error() const {
    static const std::string kNone;
    return ok() ? kNone : std::get<1>(v_).message;
  }
  ErrorCode code() const { return ok() ? ErrorCode::kUnknown : std::get<1>(v_).code; }
  // The error as a value (to pass on); undefined when there is a value.
  const Error& failure() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// Status: Expected without a value.
class Status {
 public:
  Status() = default;
  Status(Error e) : error_(std::move(e.message)), code_(e.code), failed_(true) {}
  static Status ok_status() { return {}; }
  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const std::string& error() const { return error_; }
  ErrorCode code() const { return code_; }
  Error failure() const { return {error_, code_}; }

 private:
  std::string error_;
  ErrorCode code_ = ErrorCode::kUnknown;
  bool failed_ = false;
};

inline std::string_view to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::kUnknown: return "unknown";
    case ErrorCode::kInvalidInput: return "invalid-input";
    case ErrorCode::kNotFound: return "not-found";
    case ErrorCode::kIoError: return "io-error";
    case ErrorCode::kCorruption: return "corruption";
    case ErrorCode::kUnavailable: return "unavailable";
    case ErrorCode::kUnsupported: return "unsupported";
    case ErrorCode::kInternal: return "internal";
    case ErrorCode::kConflict: return "conflict";
  }
  return "unknown";
}

}  // namespace vf
