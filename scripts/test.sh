#!/usr/bin/env bash
# Installs what is needed, builds and runs every test:
#   1. g++ 12, warnings as errors, the whole ctest suite (unit, conformance, CLI, install +
#      find_package consumer) and the benchmarks built;
#   2. clang 14 with AddressSanitizer + UndefinedBehaviorSanitizer, warnings as errors, the same
#      suite (so both compilers build it warning-free and the sanitizers stay quiet);
#   3. clang 14 with ThreadSanitizer: only the tests that run threads against shared state (the
#      suppression index, the rate limiter, audit appends and verification, the HTTP server, the
#      SQLite, PostgreSQL and conformance concurrent writers, the opt-out engine and its access
#      path, engines sharing a store and the PostgreSQL change feed, the gateway's reply queue,
#      and the gateway end to end: its e2e, fault and load tests) are
#      built and run; any data race or lock-order report fails the run (halt_on_error=1);
#   4. clang 14 + libFuzzer + ASan/UBSan: each fuzz target runs for HEROSHHI_FUZZ_SECONDS
#      (default 30) on a copy of its seed corpus (scripts/fuzz.sh); any crash fails the run.
# Time: whole runs here from a fresh clone with an empty compiler cache took 32 minutes of wall time
# on a fairly quiet machine and 65 on 2 cores shared with two other builds (44 min of CPU); peak disk
# use 3.7 GB (build trees and cache). The PostgreSQL tests start a throwaway server per build
# directory (ctest fixture `postgres`); the hostile-input catalogue (ctest gateway-hostile) runs in
# steps 1 and 2, about 90 s each. CI's limit is 90 minutes; if a run nears 60, shorten
# HEROSHHI_FUZZ_SECONDS before dropping any step.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/install-deps.sh"
jobs="${HEROSHHI_JOBS:-$(nproc)}"
status=0
# Four build trees and a compiler cache share the disk: debug info is line tables only (enough for
# sanitizer and debugger stack traces) and the cache is capped, which keeps a whole run under
# about 4 GB. What the machine had at the start is printed so that a run that dies of a full disk
# or of memory says so.
export CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-2G}"
resources() { echo "-- $1: $(df -h --output=avail "$root" | tail -1 | tr -d ' ') free on disk," \
                   "$(free -m | awk '/^Mem:/{print $7}') MB memory available"; }
resources "before"

echo "== [1/4] g++: build and test"
"$root/scripts/build.sh" "$root/build/test-gcc" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" -DCMAKE_CXX_COMPILER=g++ -DHEROSHHI_WERROR=ON
(cd "$root/build/test-gcc" && ctest --output-on-failure -j "$jobs") || status=1

echo "== [2/4] clang + ASan/UBSan: build and test"
"$root/scripts/build.sh" "$root/build/test-asan" -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_FLAGS_DEBUG="-gline-tables-only" -DCMAKE_CXX_COMPILER=clang++ -DHEROSHHI_WERROR=ON -DHEROSHHI_SANITIZE=address,undefined \
  -DHEROSHHI_BUILD_BENCHMARKS=OFF -DHEROSHHI_BUILD_EXAMPLES=ON
(cd "$root/build/test-asan" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure -j "$jobs" -E '^consumer-') || status=1

echo "== [3/4] clang + ThreadSanitizer: build and run the concurrency tests"
tsan_tests=(unit-suppression-index unit-ratelimit unit-audit unit-http-server unit-sqlite conformance-stores
            unit-optout-engine unit-engine-access unit-engine-inbound-async unit-whatsapp-webhook-async
            unit-reply-queue unit-shared-store unit-postgres unit-postgres-change-feed
            unit-gateway-e2e unit-gateway-faults unit-gateway-load)
HEROSHHI_BUILD_TARGETS="${tsan_tests[*]}" "$root/scripts/build.sh" "$root/build/test-tsan" \
  -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -gline-tables-only" -DCMAKE_CXX_COMPILER=clang++ \
  -DHEROSHHI_WERROR=ON -DHEROSHHI_SANITIZE=thread \
  -DHEROSHHI_BUILD_BENCHMARKS=OFF -DHEROSHHI_BUILD_EXAMPLES=ON -DHEROSHHI_INSTALL=OFF
tsan_regex="^($(IFS='|'; echo "${tsan_tests[*]}"))\$"
(cd "$root/build/test-tsan" && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
  ctest --output-on-failure -j "$jobs" -R "$tsan_regex") || status=1

echo "== [4/4] clang + libFuzzer + ASan/UBSan: fuzz each target for ${HEROSHHI_FUZZ_SECONDS:-30} s"
"$root/scripts/fuzz.sh" "$root/build/test-fuzz" || status=1

resources "after"
if [ "$status" -ne 0 ]; then echo "== FAILED"; else echo "== all tests passed"; fi
exit "$status"
