#!/usr/bin/env bash
# Builds the libFuzzer targets (clang 14, AddressSanitizer + UndefinedBehaviorSanitizer) and runs
# each for a bounded time on a scratch copy of its seed corpus (tests/fuzz/corpus/<target>), so
# nothing is written into the repository. Fails if any target crashes, leaks, hits UB or breaks a
# property; the crashing input is kept in BUILD_DIR/fuzz-artifacts/.
# Usage: scripts/fuzz.sh [BUILD_DIR]
#   HEROSHHI_FUZZ_SECONDS  seconds per target (default 30)
#   HEROSHHI_FUZZ_TARGETS  space-separated subset (default: all twelve)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build_dir="${1:-$root/build/fuzz}"
seconds="${HEROSHHI_FUZZ_SECONDS:-30}"
targets="${HEROSHHI_FUZZ_TARGETS:-html_encoder nosql_guard validators csv_writer keyword_classifier
  webhook_payload webhook_signature phone_number rbac_policy keyword_config http_request gateway_config}"
jobs="${HEROSHHI_JOBS:-$(nproc)}"

launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
# -O1 keeps assertions (Debug) and still fuzzes at a useful speed.
cmake -S "$root" -B "$build_dir" -G Ninja "${launcher[@]}" -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -gline-tables-only" -DHEROSHHI_WERROR=ON \
  -DHEROSHHI_SANITIZE=address,undefined -DHEROSHHI_FUZZ=ON \
  -DHEROSHHI_BUILD_BENCHMARKS=OFF -DHEROSHHI_BUILD_EXAMPLES=OFF -DHEROSHHI_INSTALL=OFF >/dev/null
cmake --build "$build_dir" -j "$jobs" --target fuzz-targets

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
status=0
for t in $targets; do
  mkdir -p "$work/$t/corpus" "$work/$t/artifacts"
  cp -R "$root/tests/fuzz/corpus/$t/." "$work/$t/corpus/"
  if ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
     "$build_dir/tests/fuzz/fuzz-$t" "$work/$t/corpus" -max_total_time="$seconds" -timeout=10 \
       -rss_limit_mb=2048 -artifact_prefix="$work/$t/artifacts/" -print_final_stats=1 >"$work/$t/log" 2>&1; then
    runs="$(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$work/$t/log" | grep -o '[0-9]*$' || echo '?')"
    echo "fuzz-$t: ok, $runs inputs in ${seconds} s"
  else
    status=1
    echo "fuzz-$t: FAILED"
    tail -40 "$work/$t/log"
    mkdir -p "$build_dir/fuzz-artifacts/$t"
    cp -R "$work/$t/artifacts/." "$build_dir/fuzz-artifacts/$t/" 2>/dev/null || true
    echo "(input kept in $build_dir/fuzz-artifacts/$t)"
  fi
done
exit "$status"
