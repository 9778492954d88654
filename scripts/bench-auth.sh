#!/usr/bin/env bash
# HTTP load on loopback with a second process (wrk) for the account work (docs/performance.md):
#
#   1. a bare actix-web handler (examples/bare_hello.rs), /healthz, and an authenticated
#      GET /api/v1/me, side by side in one run;
#   2. login throughput (right password, one address) against the hashing bound;
#   3. GET /api/v1/me latency while a login flood keeps every hashing slot busy.
#
# SQLite always; PostgreSQL too when BENCH_DATABASE_URL is set. Bounded in time, 127.0.0.1 only.
#
#   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres scripts/bench-auth.sh
#
# Extra server settings can be passed through, e.g. APP__AUTH__HASH_CONCURRENCY=2.
# BENCH_BIN=/path/to/server runs a server binary built elsewhere (an older commit, to compare
# before and after with this script); the bare handler is still built from this checkout.
# BENCH_ONLY_FLOOD=1 runs only the lines a before/after comparison needs: /me unloaded, login
# throughput and /me during a login flood. BENCH_FLOOD_CONNECTIONS (16) sets the size of
# that flood; at 256 it fills every blocking thread the server allows (pool + slots +
# auth.hash_queue per worker), and from one address it then needs
# APP__LIMITS__MAX_CONNECTIONS_PER_ADDRESS raised above 256 + 8.
# Needs wrk and curl.
set -euo pipefail
cd "$(dirname "$0")/.."

duration="${BENCH_DURATION:-8s}"
connections="${BENCH_CONNECTIONS:-32}"
flood_connections="${BENCH_FLOOD_CONNECTIONS:-16}"
port="${BENCH_PORT:-18090}"
hello_port=$((port + 9))

if [ -n "${BENCH_BIN:-}" ]; then
  cargo build --release --locked -p server --example bare_hello
  bin="$BENCH_BIN"
else
  cargo build --release --locked -p server --bin server --example bare_hello
  bin="$PWD/target/release/server"
fi
hello="$PWD/target/release/examples/bare_hello"
work="$(mktemp -d)"
trap 'kill "${pid:-0}" "${hello_pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT

password="bench-otter-lantern-meadow-42-quartz"
users=32
# Logins rotate over $users accounts, as a crowd of users would: one account hammered from one
# address is throttled by design (attempts are counted before the password is checked).
cat >"$work/login.lua" <<LUA
local n = 0
request = function()
  n = n + 1
  local body = '{"identifier":"bencher' .. (n % $users) .. '","password":"$password"}'
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
LUA

load() { # label url [wrk args...]
  local label="$1" url="$2"
  shift 2
  echo "== $label"
  wrk -t1 --latency "$@" "$url" | grep -E 'Requests/sec|^ +(50|99)%|Non-2xx|Socket errors'
}

wait_ready() {
  for _ in $(seq 1 100); do
    curl -fs "$1" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "not ready: $1" >&2
  exit 1
}

"$hello" "127.0.0.1:$hello_port" 2 >/dev/null 2>&1 &
hello_pid=$!
wait_ready "http://127.0.0.1:$hello_port/"

run_backend() {
  local name="$1" url="$2" base="http://127.0.0.1:$port"
  # One wrk client is one address: the per-IP rate limits (100/s) would turn the run into
  # a measurement of 429s (scripts/bench-hardening.sh measures those).
  (cd "$work" && exec env APP__SERVER__BIND="127.0.0.1:$port" APP__LOG__LEVEL=warn \
    APP__RATE_LIMIT__ENABLED="${APP__RATE_LIMIT__ENABLED:-false}" \
    DATABASE_URL="$url" "$bin" >"$work/$name.log" 2>&1) &
  pid=$!
  wait_ready "$base/readyz"
  for i in $(seq 0 $((users - 1))); do
    curl -fs -o /dev/null -H 'Content-Type: application/json' "$base/api/v1/auth/register" \
      -d "{\"username\":\"bencher$i\",\"email\":\"bencher$i@example.test\",\"password\":\"$password\"}"
  done
  local token
  token="$(curl -fs -D - -o /dev/null -H 'Content-Type: application/json' "$base/api/v1/auth/login" \
    -d "{\"identifier\":\"bencher0\",\"password\":\"$password\"}" |
    sed -n 's/^set-cookie: __Host-session=\([^;]*\).*/\1/ip' | tr -d '\r')"
  [ -n "$token" ] || { echo "no session token" >&2; exit 1; }
  local cookie="Cookie: __Host-session=$token"

  echo "#### $name ($duration per run, $connections connections, 1 wrk thread)"
  if [ "${BENCH_ONLY_FLOOD:-0}" != 1 ]; then
    load "bare actix-web GET /" "http://127.0.0.1:$hello_port/" -c"$connections" -d"$duration"
    load "$name GET /healthz" "$base/healthz" -c"$connections" -d"$duration"
    load "$name GET /api/v1/me (authenticated)" "$base/api/v1/me" -c"$connections" -d"$duration" -H "$cookie"
  fi
  load "$name GET /api/v1/me, 8 connections, unloaded" "$base/api/v1/me" -c8 -d"$duration" -H "$cookie"
  if [ "${BENCH_ONLY_FLOOD:-0}" != 1 ]; then
    load "$name POST /api/v1/auth/login, 1 connection" "$base/api/v1/auth/login" -c1 -d"$duration" -s "$work/login.lua"
  fi
  load "$name POST /api/v1/auth/login, $flood_connections connections" "$base/api/v1/auth/login" \
    -c"$flood_connections" -d"$duration" -s "$work/login.lua"
  # The flood runs 2 s longer than the measurement on both sides.
  wrk -t1 -c"$flood_connections" -d"$(( ${duration%s} + 4 ))s" -s "$work/login.lua" \
    "$base/api/v1/auth/login" >"$work/flood.txt" &
  local flood=$!
  sleep 2
  load "$name GET /api/v1/me, 8 connections, during a login flood" "$base/api/v1/me" -c8 -d"$duration" -H "$cookie"
  wait "$flood"
  echo "== $name login flood ($flood_connections connections) during that run"
  grep -E 'Requests/sec|Non-2xx' "$work/flood.txt"
  kill -TERM "$pid"
  wait "$pid"
}

run_backend sqlite "sqlite://$work/bench.db"
if [ -n "${BENCH_DATABASE_URL:-}" ]; then
  db="bench_auth_$$"
  psql "$BENCH_DATABASE_URL" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
  run_backend postgres "${BENCH_DATABASE_URL%/*}/$db"
  psql "$BENCH_DATABASE_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"
fi
