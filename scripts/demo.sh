#!/usr/bin/env bash
# The main job: installs what is needed, builds, and runs the quickstart end to end on a SQLite file.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh" "$root/build/release" -DCMAKE_BUILD_TYPE=Release \
  -DHEROSHHI_BUILD_TESTS=OFF -DHEROSHHI_BUILD_BENCHMARKS=OFF
db="$(mktemp -d)/quickstart.db"
echo "== quickstart (SQLite file: $db)"
"$root/build/release/examples/quickstart/quickstart" "$db"
