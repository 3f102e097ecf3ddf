#!/usr/bin/env bash
# Sanitizer builds (see README "Sanitizers").
#   tools/sanitize.sh          CI's share (part of tools/test.sh):
#                              ASan+UBSan over the test binaries of the code
#                              without CAF (storage, dataflow, answer judge
#                              and its fuzz test, sandbox with its
#                              hostile-code suite, model client against
#                              llm-sim, console server); TSan over the
#                              threaded ones that build quickly (sandbox
#                              pool, console server).
#   tools/sanitize.sh --full   ASan+UBSan over every ctest, the CAF actors,
#                              the real jobs, the two-process wire test and
#                              the cluster tests included (CAF's headers need
#                              -fno-sanitize=null), and TSan over the unit,
#                              sandbox, model-client and console tests;
#                              ~60 min on 2 cores, run before each release.
# TSan never covers CAF: CAF's own libraries report false races under it.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh > /dev/null
FULL=0
[ "${1:-}" = "--full" ] && FULL=1
SUPP=$PWD/tools/tsan.supp
# -g1: line tables are enough for the reports' stacks, and compile time is
# most of this script's time.
FLAGS="-DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-g1"
WITHOUT_CAF="unit_tests sandbox_tests model_tests console_tests equiv_fuzz_test llm-sim"

cmake -S . -B build-asan -G Ninja $FLAGS -DVERIFORGE_SANITIZE=address > /dev/null
export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
if [ $FULL = 1 ]; then
  cmake --build build-asan
  tools/ctest-report.sh build-asan 1200 -E 'debian_package|cluster_chaos_short'
  # (the package ships the regular build; the chaos run repeats, over random
  # faults, the cluster paths cluster_acceptance, cluster_tls and
  # cluster_budget already run under ASan)
else
  cmake --build build-asan --target $WITHOUT_CAF
  # Each binary runs all its cases in one process: a leak or a race across
  # cases shows, and there is one start-up instead of one per case.
  for t in unit_tests model_tests console_tests equiv_fuzz_test; do
    echo "== ASan+UBSan: $t"
    timeout 1200 build-asan/$t
  done
  echo "== ASan+UBSan: sandbox_tests"
  (cd build-asan && timeout 900 ./sandbox_tests)
fi
unset ASAN_OPTIONS UBSAN_OPTIONS

cmake -S . -B build-tsan -G Ninja $FLAGS -DVERIFORGE_SANITIZE=thread > /dev/null
TSAN_TESTS="console_tests"
[ $FULL = 1 ] && TSAN_TESTS="unit_tests model_tests console_tests"
cmake --build build-tsan --target $TSAN_TESTS sandbox_tests
# A hang fails the run instead of eating CI's time.
export TSAN_OPTIONS="halt_on_error=1 suppressions=$SUPP"
for t in $TSAN_TESTS; do
  echo "== TSan: $t"
  timeout 1200 build-tsan/$t
done
echo "== TSan: sandbox_tests"
(cd build-tsan && timeout 900 ./sandbox_tests)
echo "sanitizers: clean"
