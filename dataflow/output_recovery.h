// Output recovery: what a resumed job does with the lines a crash left in
// its output files past the lengths the log committed.
//
// A reader may already have seen those lines (`tail -F`, a loader streaming
// into training), so a line is never taken back when it can be kept: a
// complete line whose item the log still holds in flight, with the verdict
// the line says, is adopted, committed and counted as written; the exports
// that copy accepted.jsonl (written after it) are completed to the same
// items; only what cannot be adopted (a torn last line, a line the log does
// not stand behind) is cut, from there to the end of that file.
//
// Why adopting is exact: the writer hands rejected.jsonl to the OS before
// accepted.jsonl, and accepted.jsonl before the exports, batch after batch,
// so a visible accepted line implies every rejection that let the commit
// gate release it is visible too; feeding the visible verdicts to the gate
// restored from the log releases exactly the adopted items again, plus any
// parked item those rejections let through (written now).
//
// Pure: the caller reads the tails and the logged items, and applies the
// plan (appends, truncation to the new lengths, one log batch).
// Thread-safety: none needed (values).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "dataflow/checkpoint.h"
#include "dataflow/item.h"

namespace vf {

// The output files, in the order the writer hands them to the OS.
const std::vector<std::string>& output_file_names();  // rejected.jsonl, accepted.jsonl, sft.sharegpt.jsonl, ...

struct OutputTails {
  // Per file: the bytes past its committed length, as read.
  std::map<std::string, std::string> past_committed;
};

// An item the log holds: its in-flight record (i/) or its parked record (p/).
using LoggedItemLookup = std::function<std::optional<Item>(uint64_t id)>;

struct OutputRecoveryPlan {
  // Per file: the committed length after recovery (committed + adopted lines
  // + appended lines); anything past it is cut.
  std::map<std::string, uint64_t> new_lengths;
  // Per file: lines to append after the adopted ones (each without '\n').
  std::map<std::string, std::vector<std::string>> append;
  // Decided now: their states, the items leaving i/ and p/, the writer's new
  // checkpoint (gate, tallies, lengths). Empty when there was nothing to do.
  LogBatch log;
  uint64_t adopted_accepted = 0;
  uint64_t adopted_rejected = 0;
  uint64_t written_now = 0;     // released by adopted rejections, written by the recovery
  uint64_t cut_bytes = 0;       // per the old files' sizes: what is cut
  std::vector<std::string> notes;  // what was cut and why, for the log
};

// `committed`: the writer's last checkpoint (nullopt: none yet). `feedback`:
// the job's source learns from accepted items (their a/ records are written).
Expected<OutputRecoveryPlan> plan_output_recovery(const std::optional<WriterCheckpoint>& committed,
                                                  const OutputTails& tails, const LoggedItemLookup& lookup,
                                                  const std::string& job_name, uint64_t target, bool feedback);

}  // namespace vf
