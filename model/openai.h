// The OpenAI-compatible chat-completions wire format: request bodies and
// tolerant parsing of replies (vLLM, SGLang, llama.cpp, Ollama and hosted
// APIs differ in the optional fields). Pure; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dataflow/expected.h"

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

std::string chat_request_body(const std::string& model, const std::vector<ChatMessage>& messages, const Sampling& s);

struct Usage {
  uint64_t prompt_tokens = 0;
  uint64_t completion_tokens = 0;
};

struct ChatCompletion {
  std::vector<std::string> choices;         // message contents, in index order
  std::vector<std::string> finish_reasons;  // "stop", "length", ...
  Usage usage;
};

// A 2xx body as a completion; errors say what is wrong with the body
// ("truncated JSON at byte 120", "no choices").
Expected<ChatCompletion> parse_chat_completion(std::string_view body);

// The server's message from an error body ({"error": {"message": ...}},
// {"error": "..."}, {"detail": ...}), else the body's start.
std::string error_message(std::string_view body);

}  // namespace vf::model
