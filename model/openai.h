// The OpenAI-compatible chat-completions wire format: request bodies and
// tolerant parsing of replies (vLLM, SGLang, llama.cpp, Ollama and hosted
// APIs differ in the optional fields). Pure; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "model/chat.h"

namespace vf::model {

std::string chat_request_body(const std::string& model, const std::vector<ChatMessage>& messages, const Sampling& s);

// A 2xx body as a completion; errors say what is wrong with the body
// ("truncated JSON at byte 120", "no choices").
Expected<ChatCompletion> parse_chat_completion(std::string_view body);

// The server's message from an error body ({"error": {"message": ...}},
// {"error": "..."}, {"detail": ...}), else the body's start.
std::string error_message(std::string_view body);

}  // namespace vf::model
