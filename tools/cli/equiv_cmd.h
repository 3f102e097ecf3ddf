// `veriforge equiv`: judge answer pairs from the command line.
//
//   veriforge equiv --gold G --pred P          one verdict; exit 0 equivalent, 3 not
//   veriforge equiv --cases FILE.jsonl         one JSON line per record, then a summary line
//
// Records carry id, gold, pred and optionally expected (bool) and domain; with
// expected, the output reports agreement and the exit status is 3 when any
// record disagrees. Malformed records are reported as FILE:LINE errors on
// stderr (exit 1) and do not stop the rest.
#pragma once

#include <string>
#include <vector>

namespace vf {

struct EquivArgs {
  std::string gold, pred;
  bool have_gold = false, have_pred = false;
  std::string cases_file;
  std::string out_file;            // --cases output; stdout when empty
  std::string config_path;         // policies from a job config
  std::vector<std::string> overrides;
  std::vector<std::string> policy;  // "key=value, ..." on the default policy
  std::string domain;               // for --gold/--pred
  std::string extract = "auto";
  std::string fallback = "none";
  bool json = false;
};

int cmd_equiv(const EquivArgs& args);

}  // namespace vf
