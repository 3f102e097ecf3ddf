#include "model/openai.h"

#include <nlohmann/json.hpp>

namespace vf::model {

using nlohmann::json;

std::string chat_request_body(const std::string& model, const std::vector<ChatMessage>& messages, const Sampling& s) {
  json msgs = json::array();
  for (const auto& m : messages) msgs.push_back({{"role", m.role}, {"content", m.content}});
  json body = {{"model", model},       {"messages", msgs},   {"temperature", s.temperature},
               {"top_p", s.top_p},     {"max_tokens", s.max_tokens}, {"n", s.n}};
  if (s.seed) body["seed"] = *s.seed;
  if (!s.stop.empty()) body["stop"] = s.stop;
  return body.dump();
}

Expected<ChatCompletion> parse_chat_completion(std::string_view body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded()) {
    return Error{"reply is not valid JSON (" + std::to_string(body.size()) + " bytes, starts '" +
                 std::string(body.substr(0, 80)) + "')"};
  }
  if (!j.is_object()) return Error{"reply is not a JSON object"};
  if (j.contains("error")) return Error{"server error in a 2xx reply: " + error_message(body)};
  if (!j.contains("choices") || !j["choices"].is_array() || j["choices"].empty())
    return Error{"reply has no choices"};
  ChatCompletion c;
  std::vector<std::pair<int64_t, const json*>> ordered;
  for (const auto& ch : j["choices"]) {
    if (!ch.is_object()) return Error{"a choice is not an object"};
    int64_t idx = ch.contains("index") && ch["index"].is_number_integer() ? ch["index"].get<int64_t>()
                                                                          : static_cast<int64_t>(ordered.size());
    ordered.emplace_back(idx, &ch);
  }
  std::sort(ordered.begin(), ordered.end(), [](auto& a, auto& b) { return a.first < b.first; });
  for (auto& [idx, ch] : ordered) {
    const json* content = nullptr;
    if (ch->contains("message") && (*ch)["message"].is_object() && (*ch)["message"].contains("content"))
      content = &(*ch)["message"]["content"];
    else if (ch->contains("text"))
      content = &(*ch)["text"];  // completions-style servers
    if (!content || !(content->is_string() || content->is_null())) return Error{"a choice has no message content"};
    c.choices.push_back(content->is_string() ? content->get<std::string>() : std::string());
    c.finish_reasons.push_back(ch->contains("finish_reason") && (*ch)["finish_reason"].is_string()
                                   ? (*ch)["finish_reason"].get<std::string>()
                                   : "");
  }
  if (j.contains("usage") && j["usage"].is_object()) {
    const auto& u = j["usage"];
    if (u.contains("prompt_tokens") && u["prompt_tokens"].is_number_unsigned())
      c.usage.prompt_tokens = u["prompt_tokens"].get<uint64_t>();
    if (u.contains("completion_tokens") && u["completion_tokens"].is_number_unsigned())
      c.usage.completion_tokens = u["completion_tokens"].get<uint64_t>();
  }
  return c;
}

std::string error_message(std::string_view body) {
  json j = json::parse(body, nullptr, false);
  if (!j.is_discarded() && j.is_object()) {
    if (j.contains("error")) {
      const auto& e = j["error"];
      if (e.is_object() && e.contains("message") && e["message"].is_string()) return e["message"].get<std::string>();
      if (e.is_string()) return e.get<std::string>();
    }
    if (j.contains("detail")) return j["detail"].is_string() ? j["detail"].get<std::string>() : j["detail"].dump();
    if (j.contains("message") && j["message"].is_string()) return j["message"].get<std::string>();
  }
  std::string s(body.substr(0, 300));
  return s.empty() ? "(empty body)" : s;
}

}  // namespace vf::model
