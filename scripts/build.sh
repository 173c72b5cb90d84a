#!/usr/bin/env bash
# Configures and builds heroshhi into a build directory.
# Usage: scripts/build.sh BUILD_DIR [extra cmake arguments...]
#   HEROSHHI_BUILD_TARGETS  space-separated targets to build (default: all)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build_dir="$1"; shift

launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
jobs="${HEROSHHI_JOBS:-$(nproc)}"

cmake -S "$root" -B "$build_dir" -G Ninja "${launcher[@]}" "$@" >/dev/null
targets=()
[ -n "${HEROSHHI_BUILD_TARGETS:-}" ] && read -r -a targets <<<"--target $HEROSHHI_BUILD_TARGETS"
cmake --build "$build_dir" -j "$jobs" "${targets[@]}"
