#!/usr/bin/env bash
# The HTTP benchmark: one run on loopback with wrk in a second process, written up as a report
# with goals and a plot (docs/performance.md). In one run, side by side:
#
#   a bare actix-web handler (apps/server/examples/bare_hello.rs), GET /, 32 connections;
#   per backend (SQLite always, PostgreSQL when BENCH_DATABASE_URL is set), the full server:
#     GET /healthz and an authenticated GET /api/v1/me, 32 connections;
#     GET /api/v1/me, 8 connections, unloaded;
#     login throughput (POST /api/v1/auth/login, 16 connections over 32 accounts), next to the
#       hashing bound: slots / median hash time (crates/sec-core/examples/hash_time.rs);
#     GET /api/v1/me, 8 connections, during a 16-connection login flood (2 s lead and tail),
#       and the server's idle and peak RSS (VmRSS, VmHWM);
#   the bare handler again at the end, to show how much the machine drifted during the run.
#
# Every line also records how much of the CPU processes outside the benchmark took during it
# (a shared machine's other work makes a line slower without any error), and the report marks
# a line that saw non-2xx other than 503 busy as not a measurement.
#
# Output in target/bench/: results.tsv (one row per wrk line), facts.txt (machine, build, hash
# and memory facts), raw/ (wrk's own output), then report.md and report.svg from
# scripts/bench_report.py. 127.0.0.1 only; under three minutes at the default duration.
#
#   scripts/bench-http.sh                                     # SQLite only
#   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres scripts/bench-http.sh
#
# Settings (environment):
#   BENCH_BIN, BENCH_BARE_BIN   prebuilt server and bare_hello: nothing is built for them (a
#                               before/after comparison runs two builds through one script)
#   BENCH_HASH_TIME_BIN         prebuilt hash_time example (else built: sec-core alone)
#   BENCH_DURATION (6s)         per wrk line, whole seconds
#   BENCH_SLOTS (nproc - 1, at least 1)  auth.hash_concurrency, set explicitly so the bound is known
#   BENCH_HASH_RUNS (25)        verifications timed by hash_time
#   BENCH_PORT (18090)          the server's port; the bare handler uses BENCH_PORT + 9
#   BENCH_OUT (target/bench)    output directory
#   BENCH_WAIT_QUIET (0)        wait up to this many seconds for the machine to be under 10 % busy
# Other APP__* variables in the environment reach the server too; the report lists them.
#
# Needs wrk (installed with apt-get when missing and running as root), curl, python3, and psql
# for PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."

started_at=$SECONDS
duration="${BENCH_DURATION:-6s}"
if ! [[ "$duration" =~ ^[1-9][0-9]*s?$ ]]; then
  echo "bench-http: BENCH_DURATION must be whole seconds, like 6s (got '$duration')" >&2
  exit 2
fi
secs="${duration%s}"
cores="$(nproc)"
slots="${BENCH_SLOTS:-$(( cores > 1 ? cores - 1 : 1 ))}"
hash_runs="${BENCH_HASH_RUNS:-25}"
port="${BENCH_PORT:-18090}"
bare_port=$(( port + 9 ))
out="${BENCH_OUT:-target/bench}"
workers=2       # server.workers, and the bare handler's workers
connections=32  # the side-by-side lines
light=8         # /me while unloaded and during the flood
flood=16        # login throughput and the flood
lead=2          # the flood starts this long before the /me line and ends this long after it
users=32        # accounts the logins rotate over
# A login may wait auth.hash_wait_ms (5 s) for a hashing slot before its 503: wrk's default
# timeout (2 s) would drop the slow ones from the latencies and count them as socket errors.
login_timeout=10s
password="bench-otter-lantern-meadow-42-quartz"

need() { command -v "$1" >/dev/null 2>&1; }
if ! need wrk && [ "$(id -u)" = 0 ] && need apt-get; then
  echo "bench-http: installing wrk (apt-get)" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
fi
tools=(wrk curl python3)
[ -n "${BENCH_DATABASE_URL:-}" ] && tools+=(psql)
for tool in "${tools[@]}"; do
  if ! need "$tool"; then
    echo "bench-http: $tool is required (Debian: apt-get install $tool; psql is in" \
      "postgresql-client). wrk is installed automatically only when running as root." >&2
    exit 2
  fi
done

# Builds: only what no prebuilt binary stands for.
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
build_args=()
[ -z "${BENCH_BIN:-}" ] && build_args+=(--bin server)
[ -z "${BENCH_BARE_BIN:-}" ] && build_args+=(--example bare_hello)
if [ "${#build_args[@]}" -gt 0 ]; then
  cargo build --release --locked -p server "${build_args[@]}"
fi
if [ -z "${BENCH_HASH_TIME_BIN:-}" ]; then
  cargo build --release --locked -p sec-core --example hash_time
fi
bin="${BENCH_BIN:-$target_dir/release/server}"
bare_bin="${BENCH_BARE_BIN:-$target_dir/release/examples/bare_hello}"
hash_time_bin="${BENCH_HASH_TIME_BIN:-$target_dir/release/examples/hash_time}"
# The servers start from a scratch folder: a path given relative to the checkout must not
# depend on that.
for var in bin bare_bin hash_time_bin; do
  [ -e "${!var}" ] && printf -v "$var" '%s' "$(realpath "${!var}")"
done
for b in "$bin" "$bare_bin" "$hash_time_bin"; do
  [ -x "$b" ] || { echo "bench-http: not an executable: $b" >&2; exit 2; }
done

# Everything the run starts is remembered here and stopped on any exit, Ctrl-C included.
work="$(mktemp -d)"
server_pid='' bare_pid='' load_pid='' flood_pid='' db=''
stop() { # pid: TERM, up to 10 s for a graceful stop, then KILL
  local pid="$1"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop "$load_pid"
  stop "$flood_pid"
  stop "$server_pid"
  stop "$bare_pid"
  if [ -n "$db" ]; then
    psql "$BENCH_DATABASE_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 ||
      echo "bench-http: could not drop the database $db" >&2
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

die() { echo "bench-http: $*" >&2; exit 1; }

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port_free "$port" || die "port $port is in use; set BENCH_PORT"
port_free "$bare_port" || die "port $bare_port is in use; set BENCH_PORT"

# How busy the machine is before the run (nothing of the benchmark runs yet): 2 s of /proc/stat.
# BENCH_WAIT_QUIET=seconds waits up to that long for it to fall under 10 %.
busy_pct() {
  local a b
  a="$(head -n1 /proc/stat)"
  sleep 2
  b="$(head -n1 /proc/stat)"
  awk -v a="$a" -v b="$b" 'BEGIN {
    split(a, x, " "); split(b, y, " ")
    for (i = 2; i <= 9; i++) { d = y[i] - x[i]; all += d; if (i != 5 && i != 6) busy += d }
    printf "%.0f\n", (all > 0 ? 100 * busy / all : 0) }'
}
busy="$(busy_pct)"
waited=0
while [ "$busy" -ge 10 ] && [ "$waited" -lt "${BENCH_WAIT_QUIET:-0}" ]; do
  echo "bench-http: the machine is ${busy}% busy; waiting for it to calm down" >&2
  sleep 8
  busy="$(busy_pct)"
  waited=$(( waited + 10 ))
done

mkdir -p "$out/raw"
rm -f "$out/raw/"*.txt "$out/results.tsv" "$out/facts.txt" "$out/report.md" "$out/report.svg"
results="$out/results.tsv"
facts="$out/facts.txt"
printf 'scenario\tbackend\tlabel\tconnections\trps\tp50_ms\tp99_ms\tnon2xx\terrors\n' >"$results"
fact() { printf '%s=%s\n' "$1" "$(printf '%s' "$2" | tr '\n\t' '  ')" >>"$facts"; }

fact date_utc "$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
fact nproc "$cores"
fact cpu_model "$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo | grep . || echo unknown)"
fact kernel "$(uname -srm)"
fact rustc "$(rustc --version 2>/dev/null || echo unknown)"
fact wrk "$(wrk -v 2>&1 | head -n1 | awk '{ print $1, $2 }')"
fact load_before "$(cut -d' ' -f1-3 /proc/loadavg)"
fact cpu_busy_before_pct "$busy"
fact quiet_waited_s "$waited"
fact git_commit "$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  fact git_dirty yes
else
  fact git_dirty no
fi
if [ -n "${BENCH_BIN:-}${BENCH_BARE_BIN:-}" ]; then
  fact binaries "prebuilt (BENCH_BIN/BENCH_BARE_BIN), not necessarily this commit"
else
  fact binaries "built from this checkout (release)"
fi
fact workers "$workers"
fact hash_slots "$slots"
fact hash_runs "$hash_runs"
fact duration_s "$secs"
fact flood_lead_s "$lead"
# APP__* variables of the caller that reach the server (names only: values may be secrets).
set_here='^APP__(SERVER__(BIND|WORKERS)|LOG__LEVEL|RATE_LIMIT__ENABLED|LIMITS__MAX_CONNECTIONS_PER_ADDRESS|AUTH__HASH_CONCURRENCY)='
fact extra_settings "$(env | grep -E '^APP__' | grep -vE "$set_here" | cut -d= -f1 | tr '\n' ' ' || true)"

# Logins rotate over the accounts, as a crowd of users would (one account hammered from one
# address is throttled by design). The authenticated /me lines use an account of their own:
# logins past auth.max_sessions_per_account end that account's oldest sessions. Every status
# is counted, so that 503 busy (a full hashing queue) can be told from 401 or 429.
cat >"$work/login.lua" <<LUA
local n = 0
local threads = {}
statuses = {}
setup = function(thread) table.insert(threads, thread) end
request = function()
  n = n + 1
  local body = '{"identifier":"bencher' .. (n % $users) .. '","password":"$password"}'
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
response = function(status) statuses[status] = (statuses[status] or 0) + 1 end
done = function()
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      io.write(string.format("status %d %d\n", status, count))
    end
  end
end
LUA

# How shared the machine was during a line: the CPU time everything else used, that is all
# busy time (/proc/stat) less the benchmark's own (this script and all it has waited for, the
# servers, a wrk still running, PostgreSQL's processes), and the time the hypervisor stole.
ticks() { # pid [1: with reaped children]: CPU ticks, 0 for no such process
  awk -v kids="${2:-0}" '{ sub(/^.*\) /, ""); print $12 + $13 + (kids ? $14 + $15 : 0) }' \
    "/proc/${1:-none}/stat" 2>/dev/null || echo 0
}
cpu_snapshot() { # prints: all-ticks busy-ticks steal-ticks benchmark-ticks
  local user nice system idle iowait irq softirq steal ours
  read -r _ user nice system idle iowait irq softirq steal _ </proc/stat
  ours=$(( $(ticks $$ 1) + $(ticks "$server_pid") + $(ticks "$bare_pid") + $(ticks "$load_pid") +
    $(ticks "$flood_pid") ))
  ours=$(( ours + $(cat /proc/[0-9]*/stat 2>/dev/null |
    awk '$2 == "(postgres)" { t += $14 + $15 } END { print t + 0 }') ))
  echo "$(( user + nice + system + idle + iowait + irq + softirq + steal ))" \
    "$(( user + nice + system + irq + softirq ))" "$steal" "$ours"
}
cpu_facts() { # backend id snapshot-before: other_cpu_pct and steal_pct for the line
  local now other steal
  now="$(cpu_snapshot)"
  read -r other steal < <(awk -v a="$3" -v b="$now" 'BEGIN {
    split(a, x, " "); split(b, y, " "); all = y[1] - x[1]
    if (all <= 0) { print "0 0"; exit }
    other = (y[2] - x[2]) - (y[4] - x[4]); if (other < 0) other = 0
    printf "%.0f %.0f\n", 100 * other / all, 100 * (y[3] - x[3]) / all }')
  fact "other_cpu_pct.$1.$2" "$other"
  fact "steal_pct.$1.$2" "$steal"
}

# One wrk line: run (in the background, so that a signal stops it at once), keep the raw
# output, append a row to results.tsv.
measure() { # id backend label connections url [wrk args...]
  local id="$1" backend="$2" label="$3" conns="$4" url="$5"
  shift 5
  local raw="$out/raw/$backend-$id.txt" before
  printf '== %-9s %-44s %3s connections  ' "$backend" "$label" "$conns" >&2
  before="$(cpu_snapshot)"
  wrk -t1 -c"$conns" -d"${secs}s" --latency "$@" "$url" >"$raw" 2>&1 &
  load_pid=$!
  wait "$load_pid" || { load_pid=; cat "$raw" >&2; die "wrk failed: $label"; }
  load_pid=
  cpu_facts "$backend" "$id" "$before"
  row "$id" "$backend" "$label" "$conns" "$raw"
}
row() { # id backend label connections raw-file
  local line
  line="$(awk -v id="$1" -v backend="$2" -v label="$3" -v conns="$4" '
    function ms(v) {
      if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0
      if (v ~ /s$/) return v * 1000; if (v ~ /m$/) return v * 60000; return -1
    }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    /^Requests\/sec:/ { rps = $2 }
    /Non-2xx or 3xx responses:/ { non2xx = $NF }
    /Socket errors:/ { errors = $4 + $6 + $8 + $10 }
    END {
      if (rps == "" || p99 == "") exit 1
      printf "%s\t%s\t%s\t%s\t%.2f\t%.3f\t%.3f\t%d\t%d\n", \
        id, backend, label, conns, rps, p50, p99, non2xx, errors
    }' "$5")" || { cat "$5" >&2; die "no numbers in wrk's output for: $3"; }
  printf '%s\n' "$line" >>"$results"
  local other
  other="$(awk -F= -v k="other_cpu_pct.$2.$1" '$1 == k { v = $2 } END { print v }' "$facts")"
  awk -F'\t' -v other="$other" '{
    printf "%10.1f req/s  p99 %8.2f ms  non-2xx %s  errors %s  other CPU %s%%\n", $5, $7, $8, $9, other
  }' <<<"$line" >&2
  local statuses
  statuses="$(awk '$1 == "status" { printf "%s:%s ", $2, $3 }' "$5")"
  [ -z "$statuses" ] || fact "statuses.$2.$1" "$statuses"
}

wait_ready() { # url pid log
  for _ in $(seq 1 300); do
    kill -0 "$2" 2>/dev/null || { tail -n 20 "$3" >&2; die "the process exited before it was ready"; }
    curl -fs -o /dev/null "$1" && return 0
    sleep 0.1
  done
  die "not ready after 30 s: $1"
}
kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
# CPU ticks of the server's hashing threads (named password-hash by sec-core's pool).
hashing_ticks() {
  local t total=0
  for t in "/proc/$server_pid/task/"*; do
    [ "$(cat "$t/comm" 2>/dev/null)" = password-hash ] || continue
    total=$(( total + $(ticks "$server_pid/task/${t##*/}") ))
  done
  echo "$total"
}

"$bare_bin" "127.0.0.1:$bare_port" "$workers" >"$work/bare.log" 2>&1 &
bare_pid=$!
wait_ready "http://127.0.0.1:$bare_port/" "$bare_pid" "$work/bare.log"
measure bare bare "bare actix-web GET /" "$connections" "http://127.0.0.1:$bare_port/"

run_backend() { # name database-url
  local name="$1" url="$2" base="http://127.0.0.1:$port"
  # exec: $! is then the server process itself, whose /proc status is sampled below.
  (cd "$work" && exec env APP__SERVER__BIND="127.0.0.1:$port" APP__SERVER__WORKERS="$workers" \
    APP__LOG__LEVEL=warn APP__RATE_LIMIT__ENABLED=false \
    APP__LIMITS__MAX_CONNECTIONS_PER_ADDRESS=100000 APP__AUTH__HASH_CONCURRENCY="$slots" \
    DATABASE_URL="$url" "$bin" >"$work/$name.log" 2>&1) &
  server_pid=$!
  wait_ready "$base/readyz" "$server_pid" "$work/$name.log"
  local exe
  exe="$(readlink "/proc/$server_pid/exe" || true)"
  [ "${exe% (deleted)}" = "$(readlink -f "$bin")" ] ||
    die "pid $server_pid is $exe, not the server: its memory would be misread"
  sleep 1
  fact "rss_idle_kib.$name" "$(kib "$server_pid" VmRSS)"

  local i
  for i in $(seq 0 $((users - 1))) me; do
    curl -fsS -o /dev/null -H 'Content-Type: application/json' "$base/api/v1/auth/register" \
      -d "{\"username\":\"bencher$i\",\"email\":\"bencher$i@example.test\",\"password\":\"$password\"}" ||
      die "registering bencher$i failed ($name)"
  done
  local token
  token="$(curl -fsS -D - -o /dev/null -H 'Content-Type: application/json' "$base/api/v1/auth/login" \
    -d "{\"identifier\":\"bencherme\",\"password\":\"$password\"}" |
    sed -n 's/^set-cookie: __Host-session=\([^;]*\).*/\1/ip' | tr -d '\r')"
  [ -n "$token" ] || die "no session token from the login ($name)"
  local cookie="Cookie: __Host-session=$token"
  curl -fsS -o /dev/null -H "$cookie" "$base/api/v1/me" || die "the session is not accepted ($name)"

  measure healthz "$name" "GET /healthz" "$connections" "$base/healthz"
  measure me "$name" "GET /api/v1/me" "$connections" "$base/api/v1/me" -H "$cookie"
  measure me8 "$name" "GET /api/v1/me, unloaded" "$light" "$base/api/v1/me" -H "$cookie"

  # The hashing bound, measured on this machine while the server is idle, right before the
  # login line; again right after it, since a shared machine's speed drifts. The server's own
  # hashing threads' CPU time per login is a third view of the same cost.
  local hash_ms hash_ticks
  hash_ms="$("$hash_time_bin" "$hash_runs")" || die "hash_time failed"
  fact "hash_time_ms.$name" "$hash_ms"
  echo "== $name median verification ${hash_ms} ms; bound $slots slot(s) / that" >&2
  hash_ticks="$(hashing_ticks)"
  measure login "$name" "POST /api/v1/auth/login" "$flood" "$base/api/v1/auth/login" \
    -s "$work/login.lua" --timeout "$login_timeout"
  fact "server_hash_ticks.$name" "$(( $(hashing_ticks) - hash_ticks ))"
  fact "clock_ticks_per_s" "$(getconf CLK_TCK)"
  hash_ms="$("$hash_time_bin" "$hash_runs")" || die "hash_time failed"
  fact "hash_time_after_ms.$name" "$hash_ms"

  # Peak memory during the flood: VmHWM reset first where the kernel allows it (clear_refs 5),
  # else it is the peak since the server started.
  fact "rss_before_flood_kib.$name" "$(kib "$server_pid" VmRSS)"
  if { echo 5 >"/proc/$server_pid/clear_refs"; } 2>/dev/null; then
    fact "peak_scope.$name" "flood"
  else
    fact "peak_scope.$name" "since start"
  fi
  local flood_before
  flood_before="$(cpu_snapshot)"
  wrk -t1 -c"$flood" -d"$(( secs + 2 * lead ))s" --latency -s "$work/login.lua" \
    --timeout "$login_timeout" "$base/api/v1/auth/login" >"$out/raw/$name-flood.txt" 2>&1 &
  flood_pid=$!
  sleep "$lead"
  measure me8_flood "$name" "GET /api/v1/me, during a login flood" "$light" "$base/api/v1/me" \
    -H "$cookie"
  wait "$flood_pid" || { flood_pid=; die "the flood's wrk failed"; }
  flood_pid=
  cpu_facts "$name" flood "$flood_before"
  fact "rss_peak_kib.$name" "$(kib "$server_pid" VmHWM)"
  fact "threads_after_flood.$name" "$(kib "$server_pid" Threads)"
  printf '== %-9s %-44s %3s connections  ' "$name" "(the flood itself)" "$flood" >&2
  row flood "$name" "POST /api/v1/auth/login, the flood" "$flood" "$out/raw/$name-flood.txt"

  stop "$server_pid"
  server_pid=
}

run_backend sqlite "sqlite://$work/bench.db"
if [ -n "${BENCH_DATABASE_URL:-}" ]; then
  db="bench_http_$$"
  psql "$BENCH_DATABASE_URL" -q -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" \
    -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
  run_backend postgres "${BENCH_DATABASE_URL%/*}/$db"
  psql "$BENCH_DATABASE_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
  db=
fi

measure bare_end bare "bare actix-web GET /, again at the end" "$connections" \
  "http://127.0.0.1:$bare_port/"
stop "$bare_pid"
bare_pid=

fact load_after "$(cut -d' ' -f1-3 /proc/loadavg)"
fact total_s "$(( SECONDS - started_at ))"
python3 scripts/bench_report.py "$out"
