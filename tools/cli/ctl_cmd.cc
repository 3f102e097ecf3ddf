#include "tools/cli/ctl_cmd.h"

#include <curl/curl.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <nlohmann/json.hpp>

namespace vf {

namespace {

std::string first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

size_t collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// A JSON value from the text after '=': a number or a boolean as such, else a string.
nlohmann::json value_of(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_discarded() && (j.is_number() || j.is_boolean())) return j;
  return text;
}

}  // namespace

int cmd_ctl(const CtlRequest& r) {
  std::string url = r.console_url;
  if (url.empty() && !r.dir.empty()) url = first_line(r.dir + "/console.url");
  if (url.empty()) {
    std::fprintf(stderr, "veriforge ctl: give --console URL (or --dir DIR of a job started with --console)\n");
    return 2;
  }
  if (url.back() != '/') url += '/';
  std::string token = r.token;
  if (token.empty())
    if (const char* env = std::getenv("VERIFORGE_CONSOLE_TOKEN")) token = env;
  if (token.empty() && !r.dir.empty()) token = first_line(r.dir + "/console.token");

  if (r.command.empty()) {
    std::fprintf(stderr, "veriforge ctl: say what: pause, resume, drain, stop, stop-now, status, set KEY=VALUE\n");
    return 2;
  }
  const std::string& what = r.command[0];
  std::string method = "POST", path, body;
  if (what == "status") {
    method = "GET";
    path = "api/v1/job";
  } else if (what == "pause" || what == "resume" || what == "drain" || what == "stop" || what == "stop-now") {
    path = "api/v1/job/" + what;
  } else if (what == "set") {
    if (r.command.size() != 2 || r.command[1].find('=') == std::string::npos) {
      std::fprintf(stderr, "veriforge ctl: set KEY=VALUE (e.g. set target_accepted=5000)\n");
      return 2;
    }
    auto eq = r.command[1].find('=');
    path = "api/v1/job/set";
    body = nlohmann::json{{"key", r.command[1].substr(0, eq)}, {"value", value_of(r.command[1].substr(eq + 1))}}.dump();
  } else if (what == "node") {
    static const std::set<std::string> actions{"cordon", "uncordon", "drain", "remove"};
    if (r.command.size() != 3 || r.command[1].empty() ||
        r.command[1].find_first_not_of("0123456789") != std::string::npos || !actions.count(r.command[2])) {
      std::fprintf(stderr, "veriforge ctl: node ID cordon|uncordon|drain|remove (ID as in 'status' or /api/v1/nodes)\n");
      return 2;
    }
    path = "api/v1/nodes/" + r.command[1] + "/" + r.command[2];
  } else {
    std::fprintf(stderr,
                 "veriforge ctl: unknown command '%s' (pause, resume, drain, stop, stop-now, status, set, node)\n",
                 what.c_str());
    return 2;
  }
  if (method == "POST" && token.empty()) {
    std::fprintf(stderr,
                 "veriforge ctl: '%s' changes the job and needs the console token: --token, "
                 "VERIFORGE_CONSOLE_TOKEN, or --dir DIR (its console.token)\n",
                 what.c_str());
    return 2;
  }

  CURL* c = curl_easy_init();
  std::string answer;
  std::string full = url + path;
  curl_slist* headers = nullptr;
  std::string auth = "Authorization: Bearer " + token;
  if (method == "POST") {
    headers = curl_slist_append(headers, auth.c_str());
    headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  curl_easy_setopt(c, CURLOPT_URL, full.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 15L);
  CURLcode rc = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(c);
  if (rc != CURLE_OK) {
    std::fprintf(stderr, "veriforge ctl: %s: %s\n", full.c_str(), curl_easy_strerror(rc));
    return 1;
  }
  nlohmann::json j = nlohmann::json::parse(answer, nullptr, false);
  if (status < 200 || status >= 300) {
    std::string why = (!j.is_discarded() && j.contains("error")) ? j["error"].get<std::string>() : answer;
    std::fprintf(stderr, "veriforge ctl: %s refused (%ld): %s\n", what.c_str(), status, why.c_str());
    return 1;
  }
  std::printf("%s\n", j.is_discarded() ? answer.c_str() : j.dump(2).c_str());
  return 0;
}

}  // namespace vf
