#include "model/http_engine.h"

#include <curl/curl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <queue>
#include <thread>
#include <unordered_map>

#include <spdlog/spdlog.h>

namespace vf::model {

namespace {

struct Transfer {
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  std::string body;  // request body (curl reads it in place)
  HttpResponse response;
  HttpEngine::Callback done;
  double started = 0;
};

}  // namespace

bool header_value(std::string_view line, std::string_view name, std::string& value) {
  if (line.size() <= name.size() || line[name.size()] != ':') return false;
  for (size_t i = 0; i < name.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(line[i])) != name[i]) return false;
  std::string_view v = line.substr(name.size() + 1);
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == '\r' || v.back() == '\n' || v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  value.assign(v);
  return true;
}

namespace {

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  t->response.body.append(data, size * n);
  return size * n;
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * n);
  std::string value;
  if (header_value(line, "retry-after", value)) t->response.retry_after = value;
  else if (header_value(line, "retry-after-ms", value)) t->response.retry_after_ms = value;
  return size * n;
}

struct Timer {
  double due;
  uint64_t seq;
  std::function<void()> task;
  bool operator>(const Timer& o) const { return due > o.due || (due == o.due && seq > o.seq); }
};

}  // namespace

struct HttpEngine::Impl {
  CURLM* multi = nullptr;
  int epoll_fd = -1;
  int wake_fd = -1;          // eventfd: posted tasks and timers wake the loop
  long curl_timeout_ms = -1; // from CURLMOPT_TIMERFUNCTION; -1: none
  double curl_deadline = 0;
  std::thread thread;
  std::atomic<bool> stopping{false};
  std::mutex mu;
  std::vector<std::function<void()>> tasks;  // guarded by mu
  std::vector<Timer> incoming_timers;         // guarded by mu
  std::priority_queue<Timer, std::vector<Timer>, std::greater<Timer>> timers;  // engine thread
  std::unordered_map<CURL*, std::unique_ptr<Transfer>> transfers;              // engine thread
  uint64_t seq = 0;

  // libcurl's multi_socket interface: it tells us which sockets to watch, we
  // tell it which ones are ready; work is proportional to the ready sockets,
  // not to the transfers in flight.
  static int on_socket(CURL*, curl_socket_t fd, int what, void* user, void*) {
    auto* self = static_cast<Impl*>(user);
    if (what == CURL_POLL_REMOVE) {
      epoll_ctl(self->epoll_fd, EPOLL_CTL_DEL, fd, nullptr);
      return 0;
    }
    epoll_event ev{};
    ev.data.fd = fd;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) ev.events |= EPOLLIN;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) ev.events |= EPOLLOUT;
    if (epoll_ctl(self->epoll_fd, EPOLL_CTL_MOD, fd, &ev) != 0) epoll_ctl(self->epoll_fd, EPOLL_CTL_ADD, fd, &ev);
    return 0;
  }
  static int on_timer(CURLM*, long timeout_ms, void* user) {
    auto* self = static_cast<Impl*>(user);
    self->curl_timeout_ms = timeout_ms;
    self->curl_deadline = timeout_ms < 0 ? 0 : HttpEngine::now() + static_cast<double>(timeout_ms) / 1000.0;
    return 0;
  }

  void wake() {
    uint64_t one = 1;
    if (write(wake_fd, &one, sizeof one) < 0) {
      // The counter is saturated only if the loop is far behind; it wakes anyway.
    }
  }

  void drain_completions() {
    int left = 0;
    while (CURLMsg* m = curl_multi_info_read(multi, &left)) {
      if (m->msg != CURLMSG_DONE) continue;
      finish(m->easy_handle, m->data.result);
    }
  }

  void loop() {
    std::vector<epoll_event> events(256);
    int running = 0;
    while (!stopping.load()) {
      std::vector<std::function<void()>> run;
      {
        std::lock_guard<std::mutex> lock(mu);
        run.swap(tasks);
        for (auto& t : incoming_timers) timers.push(std::move(t));
        incoming_timers.clear();
      }
      for (auto& t : run) t();
      double t_now = HttpEngine::now();
      while (!timers.empty() && timers.top().due <= t_now) {
        auto task = timers.top().task;
        timers.pop();
        task();
      }
      if (curl_timeout_ms >= 0 && HttpEngine::now() >= curl_deadline) {
        curl_timeout_ms = -1;
        curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
        drain_completions();
      }
      double next = HttpEngine::now() + 1.0;
      if (!timers.empty()) next = std::min(next, timers.top().due);
      if (curl_timeout_ms >= 0) next = std::min(next, curl_deadline);
      int wait_ms = std::clamp(static_cast<int>((next - HttpEngine::now()) * 1000) + 1, 0, 1000);
      if (curl_timeout_ms == 0) wait_ms = 0;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (!tasks.empty() || !incoming_timers.empty()) wait_ms = 0;
      }
      int n = epoll_wait(epoll_fd, events.data(), static_cast<int>(events.size()), wait_ms);
      for (int i = 0; i < n; ++i) {
        int fd = events[static_cast<size_t>(i)].data.fd;
        if (fd == wake_fd) {
          uint64_t count;
          if (read(wake_fd, &count, sizeof count) < 0) {
            // Nothing to read: another wake-up drained it.
          }
          continue;
        }
        int mask = 0;
        uint32_t ev = events[static_cast<size_t>(i)].events;
        if (ev & EPOLLIN) mask |= CURL_CSELECT_IN;
        if (ev & EPOLLOUT) mask |= CURL_CSELECT_OUT;
        if (ev & (EPOLLERR | EPOLLHUP)) mask |= CURL_CSELECT_ERR;
        curl_multi_socket_action(multi, fd, mask, &running);
      }
      drain_completions();
    }
  }

  void finish(CURL* easy, CURLcode result) {
    auto it = transfers.find(easy);
    if (it == transfers.end()) return;
    std::unique_ptr<Transfer> t = std::move(it->second);
    transfers.erase(it);
    curl_multi_remove_handle(multi, easy);
    t->response.seconds = HttpEngine::now() - t->started;
    if (result == CURLE_OK) {
      curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &t->response.status);
    } else {
      t->response.status = 0;
      t->response.transport_error = curl_easy_strerror(result);
      t->response.timed_out = result == CURLE_OPERATION_TIMEDOUT;
      t->response.connect_failed = result == CURLE_COULDNT_CONNECT || result == CURLE_COULDNT_RESOLVE_HOST ||
                                   result == CURLE_COULDNT_RESOLVE_PROXY;
    }
    curl_easy_cleanup(easy);
    curl_slist_free_all(t->headers);
    auto done = std::move(t->done);
    done(std::move(t->response));
  }
};

HttpEngine::HttpEngine() : impl_(std::make_unique<Impl>()) {
  static std::once_flag global;
  std::call_once(global, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  impl_->multi = curl_multi_init();
  impl_->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  impl_->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = impl_->wake_fd;
  epoll_ctl(impl_->epoll_fd, EPOLL_CTL_ADD, impl_->wake_fd, &ev);
  // Reuse connections; allow many per host (one per request in flight).
  curl_multi_setopt(impl_->multi, CURLMOPT_MAXCONNECTS, 4096L);
  curl_multi_setopt(impl_->multi, CURLMOPT_SOCKETFUNCTION, &Impl::on_socket);
  curl_multi_setopt(impl_->multi, CURLMOPT_SOCKETDATA, impl_.get());
  curl_multi_setopt(impl_->multi, CURLMOPT_TIMERFUNCTION, &Impl::on_timer);
  curl_multi_setopt(impl_->multi, CURLMOPT_TIMERDATA, impl_.get());
  impl_->thread = std::thread([this] { impl_->loop(); });
}

HttpEngine::~HttpEngine() {
  impl_->stopping = true;
  impl_->wake();
  impl_->thread.join();
  for (auto& [easy, t] : impl_->transfers) {
    curl_multi_remove_handle(impl_->multi, easy);
    curl_easy_cleanup(easy);
    curl_slist_free_all(t->headers);
  }
  impl_->transfers.clear();
  curl_multi_cleanup(impl_->multi);
  close(impl_->epoll_fd);
  close(impl_->wake_fd);
}

double HttpEngine::now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void HttpEngine::post(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->tasks.push_back(std::move(task));
  }
  impl_->wake();
}

void HttpEngine::post_after(double seconds, std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->incoming_timers.push_back(Timer{now() + std::max(0.0, seconds), impl_->seq++, std::move(task)});
  }
  impl_->wake();
}

size_t HttpEngine::active_transfers() const { return impl_->transfers.size(); }

void HttpEngine::fetch(HttpRequest request, Callback done) {
  auto t = std::make_unique<Transfer>();
  t->easy = curl_easy_init();
  t->body = std::move(request.body);
  t->done = std::move(done);
  t->started = now();
  CURL* e = t->easy;
  curl_easy_setopt(e, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, t.get());
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout_s * 1000));
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::min(request.timeout_s, 10.0) * 1000));
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
  for (const auto& h : request.headers) t->headers = curl_slist_append(t->headers, h.c_str());
  if (!t->body.empty()) {
    t->headers = curl_slist_append(t->headers, "Content-Type: application/json");
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body.c_str());
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(t->body.size()));
  }
  // No "Expect: 100-continue" round trip on large prompts.
  t->headers = curl_slist_append(t->headers, "Expect:");
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
  curl_easy_setopt(e, CURLOPT_PRIVATE, t.get());
  CURLMcode rc = curl_multi_add_handle(impl_->multi, e);
  if (rc != CURLM_OK) {
    HttpResponse r;
    r.transport_error = curl_multi_strerror(rc);
    curl_easy_cleanup(e);
    curl_slist_free_all(t->headers);
    t->done(std::move(r));
    return;
  }
  impl_->transfers.emplace(e, std::move(t));
}

}  // namespace vf::model
