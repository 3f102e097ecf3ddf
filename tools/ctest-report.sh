#!/usr/bin/env bash
# Runs ctest in BUILD_DIR and reports what ran: tests run, passed, failed and
# skipped, each skipped test by name and the reason it gave. A run that finds
# no tests fails (--no-tests=error); a test that hangs fails at its timeout.
#   tools/ctest-report.sh BUILD_DIR TIMEOUT_S [CTEST_ARGS...]
set -uo pipefail
BUILD=$1
TIMEOUT=$2
shift 2
LOG=$(mktemp /tmp/veriforge-ctest-XXXXXX)
ctest --test-dir "$BUILD" --output-on-failure --no-tests=error --timeout "$TIMEOUT" "$@" 2>&1 | tee "$LOG"
rc=${PIPESTATUS[0]}
total=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#' "$LOG")
passed=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#.* Passed' "$LOG")
skipped=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#.*\*\*\*Skipped' "$LOG")
failed=$((total - passed - skipped))
echo "ctest report ($BUILD): $total tests run, $passed passed, $failed failed, $skipped skipped"
if [ "$skipped" -gt 0 ]; then
  grep -E '^ *[0-9]+/[0-9]+ Test +#.*\*\*\*Skipped' "$LOG" | sed -E 's/^ *[0-9]+\/[0-9]+ Test +#[0-9]+: ([^ ]+).*/  skipped: \1/'
  # The reason each skipped test printed (its "skipped: ..." line).
  grep -hE '^skipped: ' "$LOG" | sed 's/^/    /'
fi
rm -f "$LOG"
exit $rc
