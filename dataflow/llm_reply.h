// Reading a generator LLM's reply: the new question and its rationale code,
// whatever the dress (fenced or unfenced code, "Question:" / "**Problem:**"
// labels, prose before and after). A reply that does not yield both is an
// error naming what is missing; the caller rejects the item and keeps the
// raw reply. Pure; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"

namespace vf {

struct GeneratedProblem {
  std::string question;
  std::string rationale;  // Python that prints the answer
};

Expected<GeneratedProblem> parse_generator_reply(std::string_view reply);

}  // namespace vf
