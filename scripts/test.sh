#!/usr/bin/env bash
# The test command: unit suites and end-to-end runs on the Release build, then the whole suite
# again under AddressSanitizer + UndefinedBehaviorSanitizer, then a short fuzz of the parsers
# (when clang is present). Run scripts/setup.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

echo "== Release build: unit tests and end-to-end runs"
cmake --build build -j"$jobs" >/dev/null
ctest --test-dir build --output-on-failure -j"$jobs"

echo "== ASan + UBSan build of the tests"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DXTALGEN_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs" >/dev/null
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  XG_SANITIZED=1 ctest --test-dir build-asan --output-on-failure -j"$jobs"

if [ -x tests/fuzz/run.sh ] && command -v clang >/dev/null 2>&1; then
  echo "== fuzzing the CIF and POSCAR readers (short run)"
  tests/fuzz/run.sh 30
fi
echo "== all tests passed"
