#!/usr/bin/env bash
# What the HTTP hardening layer costs (docs/performance.md): GET /healthz under load from a
# second process (wrk) on loopback, with the layers switched on one by one, in one run:
#
#   1. a bare actix-web handler (examples/bare_hello.rs), the ceiling;
#   2. the server with rate limits and security headers off;
#   3. with security headers on (the default);
#   4. with the rate limiter on too, its quota far above the load (every request is counted,
#      none is refused): the full default stack;
#   5. the default quota (100/s, burst 200 for one address): nearly every request is refused
#      with 429, which shows what a refusal costs.
#
# SQLite (the probe touches no database). Bounded in time, 127.0.0.1 only. Needs wrk and curl.
#
#   scripts/bench-hardening.sh
#   cargo build --release --features actix-governor -p server && BENCH_NO_BUILD=1 scripts/bench-hardening.sh
#     (the same run on the opt-in actix-governor middleware instead of governor directly)
set -euo pipefail
cd "$(dirname "$0")/.."

duration="${BENCH_DURATION:-8s}"
connections="${BENCH_CONNECTIONS:-32}"
port="${BENCH_PORT:-18090}"
hello_port=$((port + 9))

if [ -z "${BENCH_NO_BUILD:-}" ]; then
  cargo build --release --locked -p server --bin server --example bare_hello
fi
bin="$PWD/target/release/server"
hello="$PWD/target/release/examples/bare_hello"
work="$(mktemp -d)"
trap 'kill "${pid:-0}" "${hello_pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT

load() { # label url
  echo "== $1"
  wrk -t1 -c"$connections" -d"$duration" --latency "$2" |
    grep -E 'Requests/sec|^ +(50|99)%|Non-2xx|Socket errors'
}

wait_ready() {
  for _ in $(seq 1 100); do
    curl -fs "$1" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "not ready: $1" >&2
  exit 1
}

run() { # label, then settings as NAME=value
  local label="$1"
  shift
  (cd "$work" && exec env APP__SERVER__BIND="127.0.0.1:$port" APP__LOG__LEVEL=warn \
    DATABASE_URL="sqlite://$work/bench.db" "$@" "$bin" >"$work/server.log" 2>&1) &
  pid=$!
  wait_ready "http://127.0.0.1:$port/healthz"
  # wait_ready's requests count against the quota of run 5: let the bucket refill first.
  sleep 3
  load "$label" "http://127.0.0.1:$port/healthz"
  kill -TERM "$pid"
  wait "$pid"
}

"$hello" "127.0.0.1:$hello_port" 2 >/dev/null 2>&1 &
hello_pid=$!
wait_ready "http://127.0.0.1:$hello_port/"
echo "#### $duration per run, $connections connections, 1 wrk thread, 2 server workers"
load "bare actix-web GET /" "http://127.0.0.1:$hello_port/"
run "/healthz, rate limits and headers off" \
  APP__RATE_LIMIT__ENABLED=false APP__HEADERS__ENABLED=false
run "/healthz, security headers on" APP__RATE_LIMIT__ENABLED=false
run "/healthz, headers and rate limiter on (quota never reached)" \
  APP__RATE_LIMIT__PER_SECOND=1000000 APP__RATE_LIMIT__BURST=1000000
run "/healthz, default quota: refusals (429)"
