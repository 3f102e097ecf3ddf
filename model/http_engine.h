// HttpEngine: one thread drives every HTTP(S) transfer through libcurl's
// multi_socket interface over epoll (work per ready socket, not per transfer
// in flight), and runs tasks and timers posted to it. There is no thread
// per request and nothing blocks a caller: requests complete by callback on
// the engine thread. Connections are reused (keep-alive) across requests.
//
// Thread-safety: post() and post_after() may be called from any thread;
// fetch() and the callbacks run on the engine thread only, so state touched
// only from tasks and callbacks needs no locks. Destruction stops the thread;
// transfers still running are abandoned without calling their callbacks.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace vf::model {

struct HttpRequest {
  std::string url;
  std::string body;                  // POSTed when non-empty, else GET
  std::vector<std::string> headers;  // "Name: value"
  double timeout_s = 60;
};

struct HttpResponse {
  long status = 0;              // 0 when the transfer failed
  std::string body;
  std::string retry_after;      // the Retry-After header, if any
  std::string retry_after_ms;   // the retry-after-ms header (OpenAI's, milliseconds), if any
  std::string transport_error;  // curl's message when the transfer failed
  bool timed_out = false;
  bool connect_failed = false;  // refused / unresolvable: the endpoint is not there
  double seconds = 0;
};

// The value of header `name` (lower case) when `line` ("Name: value\r\n",
// any case) is that header; false otherwise. Exposed for tests.
bool header_value(std::string_view line, std::string_view name, std::string& value);

class HttpEngine {
 public:
  using Callback = std::function<void(HttpResponse)>;
  HttpEngine();
  ~HttpEngine();
  HttpEngine(const HttpEngine&) = delete;
  HttpEngine& operator=(const HttpEngine&) = delete;

  void post(std::function<void()> task);
  void post_after(double seconds, std::function<void()> task);
  // Engine thread only (from a task or a callback).
  void fetch(HttpRequest request, Callback done);
  size_t active_transfers() const;  // engine thread only
  static double now();              // monotonic seconds

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vf::model
