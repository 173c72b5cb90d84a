#!/usr/bin/env bash
# Installs the Debian 12 packages heroshhi needs to build, test and run. Idempotent and
# non-interactive: packages already present are skipped, and `apt-get update` runs at most once.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config clang   # toolchain (g++ 12 and clang 14)
  libclang-rt-14-dev                                          # clang's ASan/UBSan runtimes and libFuzzer
  libsqlite3-dev                                              # embedded default store
  libpq-dev postgresql-15                                     # PostgreSQL store (libpq) and the tests' throwaway server
  libphonenumber-dev                                          # E.164 normalisation
  libutf8proc-dev                                             # NFKC + case folding for keywords
  nlohmann-json3-dev                                          # configuration and webhook JSON
  libssl-dev                                                  # SHA-256, HMAC, AES-256-GCM, TLS 1.3
  libboost-dev                                                # Asio and Beast (1.74) for the HTTP server
  libcli11-dev                                                # the `heroshhi` command line
  doctest-dev                                                 # unit tests
  libbenchmark-dev libre2-dev                                 # benchmarks (RE2 only as a baseline)
  python3 python3-yaml openssl                                # gateway tests: OpenAPI contract, TLS certificates
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
