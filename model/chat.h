// Chat-completion values: what a model call asks for (ChatCall) and what
// came back (ChatOutcome). Plain values shared by the model client, the
// pipeline's model tasks and the checkpoint log; no I/O.
// Thread-safety: none needed (values).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace vf::model {

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

struct Sampling {
  double temperature = 0.7;
  double top_p = 1.0;
  int max_tokens = 2048;
  int n = 1;
  std::optional<int64_t> seed;
  std::vector<std::string> stop;
};

struct Usage {
  uint64_t prompt_tokens = 0;
  uint64_t completion_tokens = 0;
};

struct ChatCompletion {
  std::vector<std::string> choices;         // message contents, in index order
  std::vector<std::string> finish_reasons;  // "stop", "length", ...
  Usage usage;
};

struct ChatCall {
  std::vector<ChatMessage> messages;
  Sampling sampling;
  std::string purpose;  // "generator", "solver": usage is totalled per purpose
};

struct ChatOutcome {
  bool ok = false;
  ChatCompletion completion;
  std::string error;
  int attempts = 0;
  std::string endpoint;
  std::string model;
  double seconds = 0;  // from chat() to the callback
};

}  // namespace vf::model
