#!/usr/bin/env bash
# HTTP load on loopback with a second process (wrk): the release server on SQLite and, when
# BENCH_DATABASE_URL is set, on PostgreSQL, for /healthz (no database) and /readyz (one pooled
# query per request). Bounded in time; targets 127.0.0.1 only.
#
#   scripts/bench-http.sh                         # SQLite only
#   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres scripts/bench-http.sh
#
# Needs wrk (Debian: apt-get install wrk). Results go to stdout; docs/performance.md records them.
set -euo pipefail
cd "$(dirname "$0")/.."

duration="${BENCH_DURATION:-10s}"
connections="${BENCH_CONNECTIONS:-32}"
port="${BENCH_PORT:-18090}"

cargo build --release -p server --locked
bin="$PWD/target/release/server"
work="$(mktemp -d)"
trap 'kill "${pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT

run_backend() {
  local name="$1" url="$2"
  if curl -s -o /dev/null "http://127.0.0.1:$port/healthz"; then
    echo "port $port is already serving; set BENCH_PORT" >&2
    exit 1
  fi
  # exec: $! must be the server itself, so that the TERM below reaches it.
  # One wrk client is one address: the per-IP rate limits (100/s) would turn the run into
  # a measurement of 429s (scripts/bench-hardening.sh measures those).
  (cd "$work" && exec env APP__SERVER__BIND="127.0.0.1:$port" APP__LOG__LEVEL=warn \
    APP__RATE_LIMIT__ENABLED="${APP__RATE_LIMIT__ENABLED:-false}" \
    DATABASE_URL="$url" "$bin" >"$work/$name.log" 2>&1) &
  pid=$!
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  kill -0 "$pid" # the server we started is the one answering
  for path in /healthz /readyz; do
    echo "== $name $path ($duration, $connections connections, 1 wrk thread)"
    wrk -t1 -c"$connections" -d"$duration" --latency "http://127.0.0.1:$port$path" |
      grep -E 'Requests/sec|Latency|50%|99%|Non-2xx'
  done
  kill -TERM "$pid"
  wait "$pid"
}

run_backend sqlite "sqlite://$work/bench.db"
if [ -n "${BENCH_DATABASE_URL:-}" ]; then
  db="bench_$$"
  psql "$BENCH_DATABASE_URL" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
  run_backend postgres "${BENCH_DATABASE_URL%/*}/$db"
  psql "$BENCH_DATABASE_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"
fi
