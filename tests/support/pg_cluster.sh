#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests (ctest fixture "postgres", see tests/CMakeLists.txt).
#
#   pg_cluster.sh start <state-dir>    initdb + start on 127.0.0.1 and a unix socket in the cluster's
#                                      directory, on a free port; writes the URL to <state-dir>/url
#                                      and prints it
#   pg_cluster.sh stop <state-dir>     stops the cluster and removes its files
#   pg_cluster.sh exec <state-dir> cmd [args...]
#                                      runs cmd with HEROSHHI_PG_URL set to the cluster's URL
#
# If HEROSHHI_PG_URL is already set when `start` runs, that server is used and nothing is started
# (CI with a service container, or a developer's own server). The port is picked at random and
# fsync is off unless HEROSHHI_PG_FSYNC=on (a throwaway cluster; benchmarks turn it on).
# retried if taken, so two build directories can test at the same time. The server runs as the
# `postgres` user when started by root (initdb refuses root), else as the caller. Binaries: the
# newest /usr/lib/postgresql/<version>/bin (Debian's postgresql package), else those on PATH.
set -euo pipefail

command="${1:-}"
state="${2:-}"
if [ -z "$command" ] || [ -z "$state" ]; then
  echo "usage: $0 start|stop|exec <state-dir> [cmd...]" >&2
  exit 2
fi

bindir=""
for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
  if [ -x "$d/initdb" ]; then bindir="$d"; break; fi
done
if [ -z "$bindir" ] && command -v initdb >/dev/null 2>&1; then bindir="$(dirname "$(command -v initdb)")"; fi

as_server() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$command" in
  start)
    mkdir -p "$state"
    rm -f "$state/url" "$state/cluster"
    if [ -n "${HEROSHHI_PG_URL:-}" ]; then
      echo "$HEROSHHI_PG_URL" > "$state/url"
      echo "pg_cluster: using HEROSHHI_PG_URL from the environment"
      exit 0
    fi
    if [ -z "$bindir" ]; then
      echo "pg_cluster: PostgreSQL server binaries (initdb, pg_ctl) not found: install postgresql-15" \
           "(scripts/install-deps.sh) or set HEROSHHI_PG_URL to a server the tests may create databases on" >&2
      exit 1
    fi
    cluster="$(mktemp -d /tmp/heroshhi-pg.XXXXXX)"
    chmod 755 "$cluster"
    [ "$(id -u)" -eq 0 ] && chown postgres "$cluster"
    echo "$cluster" > "$state/cluster"
    as_server "$bindir/initdb" -D "$cluster/data" -A trust -U postgres -E UTF8 --no-locale >"$cluster/initdb.log" 2>&1 || {
      cat "$cluster/initdb.log" >&2; exit 1; }
    for attempt in $(seq 1 20); do
      port=$(( 20000 + RANDOM % 30000 ))
      if as_server "$bindir/pg_ctl" -D "$cluster/data" -l "$cluster/log" -w -t 30 \
           -o "-p $port -k $cluster -c listen_addresses=127.0.0.1 -c fsync=${HEROSHHI_PG_FSYNC:-off} -c max_connections=200" \
           start >/dev/null 2>&1; then
        url="postgresql://postgres@127.0.0.1:$port/postgres"
        echo "$url" > "$state/url"
        echo "$url"
        exit 0
      fi
    done
    echo "pg_cluster: the server did not start on any of 20 ports; its log:" >&2
    cat "$cluster/log" >&2 || true
    exit 1
    ;;
  stop)
    if [ -f "$state/cluster" ]; then
      cluster="$(cat "$state/cluster")"
      if [ -d "$cluster/data" ]; then as_server "$bindir/pg_ctl" -D "$cluster/data" -m fast -w stop >/dev/null 2>&1 || true; fi
      case "$cluster" in /tmp/heroshhi-pg.*) rm -rf "$cluster" ;; esac
    fi
    rm -f "$state/url" "$state/cluster"
    ;;
  exec)
    shift 2
    if [ -z "${HEROSHHI_PG_URL:-}" ] && [ -f "$state/url" ]; then
      HEROSHHI_PG_URL="$(cat "$state/url")"
      export HEROSHHI_PG_URL
    fi
    exec "$@"
    ;;
  *)
    echo "usage: $0 start|stop|exec <state-dir> [cmd...]" >&2
    exit 2
    ;;
esac
