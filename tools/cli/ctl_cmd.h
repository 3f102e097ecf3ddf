// `veriforge ctl`: the console's command-line client. Sends one request to a
// running job's console (--console URL, or DIR/console.url with --dir) and
// prints the JSON answer. The token for a control comes from --token,
// VERIFORGE_CONSOLE_TOKEN, or DIR/console.token; it goes in the
// Authorization header only.
#pragma once

#include <string>
#include <vector>

namespace vf {

struct CtlRequest {
  std::string console_url;  // http://HOST:PORT/ (may lack the trailing slash)
  std::string dir;          // a job folder: its console.url and console.token
  std::string token;
  std::vector<std::string> command;  // pause | resume | drain | stop | stop-now | status | set KEY=VALUE
};

// Exit status: 0 the console said yes, 1 it refused or could not be reached, 2 usage.
int cmd_ctl(const CtlRequest& request);

}  // namespace vf
