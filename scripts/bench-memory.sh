#!/usr/bin/env bash
# Memory under a login and registration flood, checked against the bound in
# docs/performance.md ("Memory under a login flood"):
#
#   peak RSS (VmHWM) <= idle RSS + slots x auth.argon2_memory_kib + fixed overhead (+ margin)
#
# For each backend: start the server (per-IP rate limit off, standing for a flood from many
# addresses), register 32 accounts, then flood login (rotating over them) and registration
# (new names) with 64 and 256 connections for BENCH_SECONDS each, twice. Fails when VmHWM
# exceeds the bound plus BENCH_MARGIN_MIB, or when the second round ends higher than the first
# (memory must be reused, not grow run over run), or when the process has more threads than
# the blocking-thread bound allows (see threads_bound). 127.0.0.1 only, bounded in time.
#
#   scripts/bench-memory.sh                                   # SQLite, debug build
#   BENCH_PROFILE=release BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
#     scripts/bench-memory.sh                                 # and PostgreSQL, release build
#   BENCH_BIN=/path/to/server scripts/bench-memory.sh        # a binary built elsewhere
#   BENCH_ENFORCE=0 ...                                       # report only (old binaries)
#   BENCH_LEGACY=1 ...            # a binary from before auth.hash_queue (the old design): it
#                                 # refuses that setting and the connection cap's, so neither is set
#
# Needs curl and wrk (installed with apt-get when missing and running as root), psql for
# PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${BENCH_SECONDS:-5}"
port="${BENCH_PORT:-18190}"
slots="${BENCH_SLOTS:-2}"                # auth.hash_concurrency for the run
m_cost_kib="${BENCH_M_COST_KIB:-19456}"  # auth.argon2_memory_kib
overhead_mib="${BENCH_OVERHEAD_MIB:-48}" # the formula's fixed overhead (docs/performance.md)
margin_mib="${BENCH_MARGIN_MIB:-64}"     # allowed above the formula
growth_mib="${BENCH_GROWTH_MIB:-16}"     # allowed growth from the first round to the second
workers=2 pool=10 queue=64               # server.workers, database.pool_max_size, auth.hash_queue
# The flood stands for many addresses (the rate limit is off for the same reason), so the
# per-address connection cap is lifted too: from one address, a flood that starts while the
# previous one's requests are still queued is refused at the cap and wrk reconnects in a loop,
# which measures that loop (docs/performance.md, "The per-address cap under a flood"), not
# the hashing design.
new_env=(APP__AUTH__HASH_QUEUE="$queue" APP__LIMITS__MAX_CONNECTIONS_PER_ADDRESS=100000)
if [ "${BENCH_LEGACY:-0}" = 1 ]; then
  new_env=()
fi
# Threads: each worker starts at most pool + slots + queue blocking threads (startup.rs), plus
# the pool's database threads (db/executor.rs), the workers, the hashing threads and a fixed
# few (runtime, housekeeping, audit, accept loop).
threads_bound=$(( workers * (pool + slots + queue) + pool + workers + slots + 16 ))
enforce="${BENCH_ENFORCE:-1}"
profile="${BENCH_PROFILE:-dev}"

need() { command -v "$1" >/dev/null 2>&1; }
if ! need wrk; then
  if [ "$(id -u)" = 0 ] && need apt-get; then
    echo "installing wrk (apt-get)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
  fi
fi
for tool in wrk curl; do
  need "$tool" || { echo "bench-memory: $tool is required (Debian: apt-get install $tool)" >&2; exit 2; }
done
if [ -n "${BENCH_DATABASE_URL:-}" ] && ! need psql; then
  echo "bench-memory: psql is required for PostgreSQL (Debian: apt-get install postgresql-client)" >&2
  exit 2
fi

if [ -n "${BENCH_BIN:-}" ]; then
  bin="$BENCH_BIN"
else
  cargo build --locked --profile "$profile" -p server --bin server
  dir="$profile"
  [ "$profile" = dev ] && dir=debug
  bin="${CARGO_TARGET_DIR:-$PWD/target}/$dir/server"
fi

work="$(mktemp -d)"
pid=
trap 'if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi; rm -rf "$work"' EXIT

password="bench-otter-lantern-meadow-42-quartz"
users=32
cat >"$work/login.lua" <<LUA
local n = 0
request = function()
  n = n + 1
  local body = '{"identifier":"bencher' .. (n % $users) .. '","password":"$password"}'
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
LUA
# New names each request; a thread id and the run's tag keep them unique across threads and
# runs (a taken name is a 409 that costs no hash).
cat >"$work/register.lua" <<'LUA'
local counter = 0
local threads = {}
setup = function(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
request = function()
  counter = counter + 1
  local name = string.format("f%st%dn%d", os.getenv("RUN_TAG"), tid or 0, counter)
  local body = '{"username":"' .. name .. '","email":"' .. name .. '@example.test",' ..
    '"password":"bench-otter-lantern-meadow-42-quartz"}'
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
LUA

kib() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$pid/status"; }
mib() { echo $(( $1 / 1024 )); }

wait_ready() {
  for _ in $(seq 1 300); do
    curl -fs "$1" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "not ready: $1" >&2
  exit 1
}

status=0
flood() { # label path lua connections
  local out
  out="$(RUN_TAG="$tag" wrk -t2 -c"$4" -d"${seconds}s" --latency -s "$work/$3" "$base$2" 2>&1)"
  printf '  %-28s %8s req/s  p99 %8s  non-2xx %6s  RSS %4d MiB  peak %4d MiB  threads %s\n' "$1" \
    "$(awk '/Requests\/sec/ { print $2 }' <<<"$out")" \
    "$(awk '$1 == "99%" { print $2 }' <<<"$out")" \
    "$(awk '/Non-2xx/ { print $NF }' <<<"$out" | grep . || echo 0)" \
    "$(mib "$(kib VmRSS)")" "$(mib "$(kib VmHWM)")" "$(kib Threads)"
  # Blocking threads stay parked for a while after a flood, so the count now is its peak.
  local threads
  threads="$(kib Threads)"
  if [ "$threads" -gt "$threads_bound" ]; then
    echo " FAIL: $threads threads, above the bound of $threads_bound" >&2
    status=1
  fi
}

run_backend() {
  local name="$1" url="$2"
  base="http://127.0.0.1:$port"
  (cd "$work" && exec env APP__SERVER__BIND="127.0.0.1:$port" APP__LOG__LEVEL=error \
    APP__RATE_LIMIT__ENABLED=false APP__AUTH__HASH_CONCURRENCY="$slots" \
    APP__SERVER__WORKERS="$workers" APP__DATABASE__POOL_MAX_SIZE="$pool" \
    "${new_env[@]}" \
    APP__AUTH__ARGON2_MEMORY_KIB="$m_cost_kib" DATABASE_URL="$url" "$bin" >"$work/$name.log" 2>&1) &
  pid=$!
  wait_ready "$base/readyz"
  sleep 1
  local idle
  idle="$(kib VmRSS)"
  for i in $(seq 0 $((users - 1))); do
    curl -fs -o /dev/null -H 'Content-Type: application/json' "$base/api/v1/auth/register" \
      -d "{\"username\":\"bencher$i\",\"email\":\"bencher$i@example.test\",\"password\":\"$password\"}"
  done
  local bound_kib=$(( idle + slots * m_cost_kib + overhead_mib * 1024 ))
  echo "#### $name: idle RSS $(mib "$idle") MiB, $slots slots x $(( m_cost_kib / 1024 )) MiB;" \
    "bound $(mib "$bound_kib") MiB, fails above $(( $(mib "$bound_kib") + margin_mib )) MiB"
  local round hwm=() rss=()
  for round in 1 2; do
    tag="$name$round$$"
    echo " round $round"
    flood "login, 64 connections" /api/v1/auth/login login.lua 64
    flood "login, 256 connections" /api/v1/auth/login login.lua 256
    flood "register, 64 connections" /api/v1/auth/register register.lua 64
    flood "register, 256 connections" /api/v1/auth/register register.lua 256
    hwm+=("$(kib VmHWM)")
    rss+=("$(kib VmRSS)")
  done
  echo " peak RSS (VmHWM) $(mib "${hwm[1]}") MiB (after round 1: $(mib "${hwm[0]}") MiB);" \
    "RSS after round 1 $(mib "${rss[0]}") MiB, after round 2 $(mib "${rss[1]}") MiB"
  if [ "${hwm[1]}" -gt $(( bound_kib + margin_mib * 1024 )) ]; then
    echo " FAIL: peak RSS $(mib "${hwm[1]}") MiB is above the bound + ${margin_mib} MiB" >&2
    status=1
  fi
  if [ "${hwm[1]}" -gt $(( hwm[0] + growth_mib * 1024 )) ] ||
    [ "${rss[1]}" -gt $(( rss[0] + growth_mib * 1024 )) ]; then
    echo " FAIL: memory grew by more than ${growth_mib} MiB from round 1 to round 2" >&2
    status=1
  fi
  kill -TERM "$pid"
  wait "$pid" || true
  pid=
}

run_backend sqlite "sqlite://$work/bench.db"
if [ -n "${BENCH_DATABASE_URL:-}" ]; then
  db="bench_memory_$$"
  psql "$BENCH_DATABASE_URL" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
  run_backend postgres "${BENCH_DATABASE_URL%/*}/$db"
  psql "$BENCH_DATABASE_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"
fi

if [ "$enforce" = 1 ]; then
  exit "$status"
fi
