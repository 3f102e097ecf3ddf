#!/usr/bin/env bash
# Quick start, part 2: install dependencies, build everything, run the tests,
# then the sanitizer builds (ASan+UBSan and TSan over the test binaries of the
# code without CAF; `tools/sanitize.sh --full` adds ASan over every test).
# This is the command CI runs (.ci/run): about 30 minutes on 2 cores.
#   tools/test.sh            CI's run: tests (but the "long" ones), then the sanitizers
#   tools/test.sh --fast     the regular build's tests only (but the "long" ones)
#   tools/test.sh --long     the regular build's tests, the long ones included
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
/usr/bin/python3 tools/check-layering.py
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
cmake --build build
# Two at a time; the end-to-end tests are marked RUN_SERIAL and run alone.
if [ "${1:-}" = "--long" ]; then
  tools/ctest-report.sh build 900 -j2
  exit 0
fi
tools/ctest-report.sh build 900 -j2 -LE long
if [ "${1:-}" != "--fast" ]; then
  tools/sanitize.sh
fi
