#!/usr/bin/env bash
# Installs what is needed, builds and runs every test:
#   1. g++ 12, warnings as errors, the whole ctest suite (unit, conformance, CLI, install +
#      find_package consumer) and the benchmarks built;
#   2. clang 14 with AddressSanitizer + UndefinedBehaviorSanitizer, warnings as errors, the same
#      suite (so both compilers build it warning-free and the sanitizers stay quiet);
#   3. clang 14 + libFuzzer + ASan/UBSan: each fuzz target runs for HEROSHHI_FUZZ_SECONDS
#      (default 30) on a copy of its seed corpus (scripts/fuzz.sh); any crash fails the run.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/install-deps.sh"
jobs="${HEROSHHI_JOBS:-$(nproc)}"
status=0

echo "== [1/3] g++: build and test"
"$root/scripts/build.sh" "$root/build/test-gcc" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=g++ -DHEROSHHI_WERROR=ON
(cd "$root/build/test-gcc" && ctest --output-on-failure -j "$jobs") || status=1

echo "== [2/3] clang + ASan/UBSan: build and test"
"$root/scripts/build.sh" "$root/build/test-asan" -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_COMPILER=clang++ -DHEROSHHI_WERROR=ON -DHEROSHHI_SANITIZE=address,undefined \
  -DHEROSHHI_BUILD_BENCHMARKS=OFF -DHEROSHHI_BUILD_EXAMPLES=ON
(cd "$root/build/test-asan" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure -j "$jobs" -E '^consumer-') || status=1

echo "== [3/3] clang + libFuzzer + ASan/UBSan: fuzz each target for ${HEROSHHI_FUZZ_SECONDS:-30} s"
"$root/scripts/fuzz.sh" "$root/build/test-fuzz" || status=1

if [ "$status" -ne 0 ]; then echo "== FAILED"; else echo "== all tests passed"; fi
exit "$status"
