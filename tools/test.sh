#!/usr/bin/env bash
# Quick start, part 2: install dependencies, build everything, run the tests,
# then the sanitizer builds (ASan+UBSan over every test, TSan over the code
# without CAF). This is the command CI runs (.ci/run).
#   tools/test.sh            everything
#   tools/test.sh --fast     the regular build's tests only
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
/usr/bin/python3 tools/check-layering.py
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
cmake --build build
tools/ctest-report.sh build 900
if [ "${1:-}" != "--fast" ]; then
  tools/sanitize.sh
fi
