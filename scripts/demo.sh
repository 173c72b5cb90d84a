#!/usr/bin/env bash
# The main job: installs what is needed, builds, and starts the gateway demo — `heroshhi serve
# --demo` on 127.0.0.1:8080 with a SQLite file under build/demo/, a demo tenant and API key and a
# fake Graph API. It prints curl lines for the walkthrough (signed STOP webhook → send refused →
# START → send goes out → audit trail verified), runs them once itself, and serves until Ctrl-C.
# Extra arguments go to `heroshhi serve --demo` (e.g. --port 9090, --exit-after-walkthrough).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh" "$root/build/release" -DCMAKE_BUILD_TYPE=Release \
  -DHEROSHHI_BUILD_TESTS=OFF -DHEROSHHI_BUILD_BENCHMARKS=OFF
mkdir -p "$root/build/demo"
cd "$root/build/demo"
echo "== gateway demo (files in $root/build/demo)"
exec "$root/build/release/examples/gateway/heroshhi" serve --demo "$@"
