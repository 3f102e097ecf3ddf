#!/usr/bin/env bash
# Sanitizer builds (see README "Sanitizers"):
#   ASan+UBSan over every test, including the CAF actors and the two-process
#   wire test (CAF's headers need -fno-sanitize=null);
#   TSan over the tests of code without CAF (storage, dataflow, sandbox,
#   including the hostile-code suite, the model client against llm-sim, and
#   the console's server),
#   since CAF's own libraries report false races under TSan.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh > /dev/null
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DVERIFORGE_SANITIZE=address > /dev/null
cmake --build build-asan
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  tools/ctest-report.sh build-asan 1200 -E 'debian_package|cluster_chaos_short'
# (the package ships the regular build; the chaos run repeats, over random
# faults, the cluster paths cluster_acceptance, cluster_tls and cluster_budget
# already run under ASan: CI's 30 minutes are better spent elsewhere)
SUPP=$PWD/tools/tsan.supp
cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DVERIFORGE_SANITIZE=thread > /dev/null
cmake --build build-tsan --target unit_tests sandbox_tests model_tests console_tests
# A hang fails the run instead of eating CI's time.
TSAN_OPTIONS="halt_on_error=1 suppressions=$SUPP" timeout 1800 build-tsan/unit_tests
TSAN_OPTIONS="halt_on_error=1 suppressions=$SUPP" timeout 900 build-tsan/model_tests
TSAN_OPTIONS="halt_on_error=1 suppressions=$SUPP" timeout 300 build-tsan/console_tests
(cd build-tsan && TSAN_OPTIONS="halt_on_error=1 suppressions=$SUPP" timeout 1800 ./sandbox_tests)
