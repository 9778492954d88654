#!/usr/bin/env python3
"""Writes report.md and report.svg from one run of scripts/bench-http.sh.

    python3 scripts/bench_report.py target/bench

Reads results.tsv (one row per wrk line) and facts.txt (key=value: machine, build, hashing and
memory facts) from that directory. Standard library only. Every ratio is computed within the
run: numbers from two runs, or two machines, are not compared here.
"""

import csv
import math
import sys
from pathlib import Path
from xml.sax.saxutils import escape

BACKENDS = {"bare": "bare actix-web", "sqlite": "SQLite", "postgres": "PostgreSQL"}
COLOURS = {"bare": "#6b7280", "sqlite": "#2563eb", "postgres": "#c2410c"}
MIB = 1024
# Goals (docs/performance.md). Per backend where a value is given per backend.
ME_RATIO = {"sqlite": 0.40, "postgres": 0.20}
ME_P99_MS = {"sqlite": 5.0, "postgres": 10.0}
HEALTHZ_RATIO = 0.70
LOGIN_SHARE = 0.90
FLOOD_P99_FACTOR = 5.0
RSS_PER_SLOT_MIB = 20
RSS_FIXED_MIB = 32
# A line during which other processes used this share of the machine's CPU (percent) is flagged.
OTHER_CPU_WARN = 10
STEAL_WARN = 5
# Lines whose every response must be 2xx; the login lines may see 503 busy, reported.
LOGIN_IDS = {"login", "flood"}


def read_facts(path):
    facts = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            facts[key.strip()] = value.strip()
    return facts


def read_rows(path):
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    for r in rows:
        r["connections"] = int(r["connections"])
        for k in ("rps", "p50_ms", "p99_ms"):
            r[k] = float(r[k])
        r["non2xx"] = int(r["non2xx"])
        r["errors"] = int(r["errors"])
    return rows


def parse_statuses(text):
    """'200:1234 503:5' -> {200: 1234, 503: 5}."""
    out = {}
    for item in (text or "").split():
        code, _, count = item.partition(":")
        if code.isdigit() and count.isdigit():
            out[int(code)] = int(count)
    return out


def fnum(x, digits=None):
    """A number as a reader wants it: 3 significant figures, thousands separated."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if digits is not None:
        return f"{x:,.{digits}f}"
    ax = abs(x)
    if ax >= 100:
        return f"{x:,.0f}"
    if ax >= 10:
        return f"{x:,.1f}"
    if ax >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"


class Run:
    def __init__(self, rows, facts):
        self.rows = rows
        self.facts = facts
        self.by_key = {(r["scenario"], r["backend"]): r for r in rows}
        self.backends = [b for b in ("sqlite", "postgres") if any(r["backend"] == b for r in rows)]
        self.duration = float(facts.get("duration_s", "0") or 0)
        self.slots = int(facts.get("hash_slots", "1") or 1)
        self.bare = self.get("bare", "bare")

    def get(self, scenario, backend):
        return self.by_key.get((scenario, backend))

    def ratio(self, row):
        if row is None or self.bare is None or self.bare["rps"] <= 0:
            return None
        return row["rps"] / self.bare["rps"]

    def statuses(self, row):
        return parse_statuses(self.facts.get(f"statuses.{row['backend']}.{row['scenario']}"))

    def problem(self, row):
        """Why a line is not a measurement, or None. 503 busy on a login line is not a problem
        of the measurement (it is what a full hashing queue answers) and is reported apart."""
        if row is None:
            return "line missing"
        if row["scenario"] in LOGIN_IDS:
            other = {c: n for c, n in self.statuses(row).items() if c != 503 and c >= 400}
            if other:
                return "non-2xx other than 503: " + ", ".join(f"{n} × {c}" for c, n in sorted(other.items()))
            if row["non2xx"] and not self.statuses(row):
                return f"{row['non2xx']} non-2xx (status codes unknown)"
            return None
        if row["non2xx"]:
            return f"{row['non2xx']} non-2xx responses"
        if row["errors"]:
            return f"{row['errors']} socket errors"
        return None

    def busy(self, row):
        return self.statuses(row).get(503, 0) if row else 0

    def ok_rps(self, row):
        """Requests per second that were answered 2xx (wrk counts the others in its rate)."""
        if row is None:
            return None
        if self.duration <= 0:
            return row["rps"]
        return max(0.0, row["rps"] - row["non2xx"] / self.duration)

    def hash_bound(self, backend):
        """(median hash ms, logins/s the hashing slots allow), NaN when unknown."""
        try:
            hash_ms = float(self.facts.get(f"hash_time_ms.{backend}", "nan"))
        except ValueError:
            hash_ms = float("nan")
        bound = self.slots / (hash_ms / 1000) if hash_ms > 0 else float("nan")
        return hash_ms, bound

    def other_cpu(self, row):
        """Percent of the machine's CPU that processes other than the benchmark's used during
        the line, or None when not recorded."""
        v = self.facts.get(f"other_cpu_pct.{row['backend']}.{row['scenario']}", "")
        return int(v) if v.isdigit() else None

    def steal(self, row):
        v = self.facts.get(f"steal_pct.{row['backend']}.{row['scenario']}", "")
        return int(v) if v.isdigit() else None

    def server_hash_ms(self, backend):
        """CPU milliseconds the server's hashing threads spent per 2xx login during the login
        line, or None."""
        row = self.get("login", backend)
        ticks = self.facts.get(f"server_hash_ticks.{backend}", "")
        hz = self.facts.get("clock_ticks_per_s", "100")
        ok = self.statuses(row).get(200) if row else None
        if not (ticks.isdigit() and hz.isdigit() and ok):
            return None
        return int(ticks) * 1000 / int(hz) / ok

    def hash_after(self, backend):
        try:
            return float(self.facts.get(f"hash_time_after_ms.{backend}", "nan"))
        except ValueError:
            return float("nan")

    def kib(self, key, backend):
        v = self.facts.get(f"{key}.{backend}", "")
        return int(v) if v.isdigit() else None


def login_share(run, backend):
    """The login line's 2xx rate over the hashing bound, or None."""
    got = run.ok_rps(run.get("login", backend))
    _, bound = run.hash_bound(backend)
    return got / bound if got is not None and bound > 0 else None


def goals(run):
    """(goal, backend, measured text, goal text, status) for every goal of the run."""
    out = []

    def status(ok, *rows, cpu_bound=True):
        problems = [run.problem(r) for r in rows]
        problems = [p for p in problems if p]
        if problems:
            return "INVALID (" + "; ".join(problems) + ")"
        if ok is None:
            return "n/a"
        verdict = "met" if ok else "MISSED"
        shared = [run.other_cpu(r) or 0 for r in rows if r is not None]
        if cpu_bound and shared and max(shared) >= OTHER_CPU_WARN:
            verdict += f" (shared CPU: up to {max(shared)} % other)"
        return verdict

    for b in run.backends:
        name = BACKENDS[b]
        me, healthz = run.get("me", b), run.get("healthz", b)
        r = run.ratio(me)
        out.append((f"GET /api/v1/me, {me['connections'] if me else 32} connections, vs bare", name,
                    f"{r:.2f}×" if r is not None else "n/a", f"≥ {ME_RATIO[b]:.2f}×",
                    status(None if r is None else r >= ME_RATIO[b], me, run.bare)))
        p99 = me["p99_ms"] if me else None
        out.append(("GET /api/v1/me p99, 32 connections", name, f"{fnum(p99)} ms" if me else "n/a",
                    f"≤ {ME_P99_MS[b]:g} ms", status(None if p99 is None else p99 <= ME_P99_MS[b], me)))
        r = run.ratio(healthz)
        out.append(("GET /healthz vs bare", name, f"{r:.2f}×" if r is not None else "n/a",
                    f"≥ {HEALTHZ_RATIO:.2f}×",
                    status(None if r is None else r >= HEALTHZ_RATIO, healthz, run.bare)))
        login = run.get("login", b)
        hash_ms, bound = run.hash_bound(b)
        got = run.ok_rps(login)
        share = login_share(run, b)
        out.append(("login throughput (2xx/s) vs hashing bound", name,
                    f"{fnum(got)}/s = {share:.0%} of {fnum(bound)}/s" if share is not None else "n/a",
                    f"≥ {LOGIN_SHARE:.0%} of {run.slots} slot{'s' if run.slots != 1 else ''} / {fnum(hash_ms)} ms",
                    status(None if share is None else share >= LOGIN_SHARE, login)))
        quiet, loud = run.get("me8", b), run.get("me8_flood", b)
        factor = loud["p99_ms"] / quiet["p99_ms"] if quiet and loud and quiet["p99_ms"] > 0 else None
        out.append(("GET /api/v1/me p99, 8 connections, during a login flood", name,
                    f"{fnum(loud['p99_ms'])} ms = {factor:.1f}× unloaded {fnum(quiet['p99_ms'])} ms"
                    if factor is not None else "n/a",
                    f"≤ {FLOOD_P99_FACTOR:g}× unloaded",
                    status(None if factor is None else factor <= FLOOD_P99_FACTOR, quiet, loud,
                           run.get("flood", b))))
        idle, peak = run.kib("rss_idle_kib", b), run.kib("rss_peak_kib", b)
        if idle is not None and peak is not None:
            limit = idle + (run.slots * RSS_PER_SLOT_MIB + RSS_FIXED_MIB) * MIB
            out.append(("peak RSS during the login flood", name,
                        f"{peak / MIB:.0f} MiB (idle {idle / MIB:.0f} MiB)",
                        f"≤ idle + {run.slots} × {RSS_PER_SLOT_MIB} + {RSS_FIXED_MIB} = {limit / MIB:.0f} MiB",
                        status(peak <= limit, run.get("flood", b), cpu_bound=False)))
        else:
            out.append(("peak RSS during the login flood", name, "n/a", "", "n/a"))
    return out


def warnings(run):
    """Loud notes: anything that makes a number less than a measurement."""
    out = []
    for r in run.rows:
        p = run.problem(r)
        if p:
            out.append(f"**NOT A MEASUREMENT**: {BACKENDS.get(r['backend'], r['backend'])} "
                       f"`{r['label']}` ({r['connections']} connections): {p}.")
        elif r["scenario"] in LOGIN_IDS and r["non2xx"]:
            left_out = "; they are left out of the login throughput" if r["scenario"] == "login" else ""
            out.append(f"{BACKENDS.get(r['backend'], r['backend'])} `{r['label']}`: "
                       f"{run.busy(r)} of its {r['non2xx']} non-2xx responses were 503 busy "
                       f"(hashing queue full, or no slot within auth.hash_wait_ms){left_out}.")
        if r["scenario"] in LOGIN_IDS and r["errors"]:
            out.append(f"{BACKENDS.get(r['backend'], r['backend'])} `{r['label']}`: "
                       f"{r['errors']} socket errors (wrk's own output in raw/ says which kind).")
    shared = [(r, run.other_cpu(r)) for r in run.rows if (run.other_cpu(r) or 0) >= OTHER_CPU_WARN]
    if shared:
        worst = max(v for _, v in shared)
        out.append(f"**Shared CPU**: during {len(shared)} of {len(run.rows)} lines, other processes "
                   f"used {OTHER_CPU_WARN}% or more of the machine's CPU (up to {worst}%, column "
                   "'other CPU'). Those lines measured the code on part of the machine: slower, "
                   "and their ratios to the baseline are skewed by however the sharing differed.")
    stolen = [run.steal(r) for r in run.rows if (run.steal(r) or 0) >= STEAL_WARN]
    if stolen:
        out.append(f"The hypervisor stole {STEAL_WARN}% or more of the CPU during {len(stolen)} "
                   f"lines (up to {max(stolen)}%).")
    end = run.get("bare_end", "bare")
    if run.bare and end:
        drift = end["rps"] / run.bare["rps"] - 1
        if abs(drift) > 0.10:
            out.append(f"The bare baseline moved by {drift:+.0%} between the start and the end of "
                       "the run: the machine's capacity changed under the run, and the ratios to "
                       "the baseline are uncertain by about that much.")
    busy = run.facts.get("cpu_busy_before_pct", "")
    if busy.isdigit() and int(busy) >= OTHER_CPU_WARN:
        out.append(f"The machine was {busy} % busy in the 2 s before the run "
                   "(BENCH_WAIT_QUIET=seconds waits for it to calm down).")
    # The load average lags by minutes and counts the benchmark's own threads: it speaks only
    # when the direct measures above (busy sample, other CPU per line) are missing.
    direct = busy.isdigit() or any(run.other_cpu(r) is not None for r in run.rows)
    cores = int(run.facts.get("nproc", "1") or 1)
    before = (run.facts.get("load_before") or "0").split()[0]
    if not direct and float(before) > 0.5 * cores:
        out.append(f"The 1-minute load average was {before} on {cores} cores before the run: "
                   "something else was using the machine, and every line shares the CPU with it.")
    # The run itself keeps about 2 cores busy (server, wrk, PostgreSQL); more than that is
    # someone else.
    after = (run.facts.get("load_after") or "0").split()[0]
    if not direct and float(after) > cores + 2:
        out.append(f"The 1-minute load average was {after} on {cores} cores at the end of the run, "
                   "more than the benchmark accounts for: something else ran during it.")
    for b in run.backends:
        share = login_share(run, b)
        before, after = run.hash_bound(b)[0], run.hash_after(b)
        if share is not None and share > 1.05:
            out.append(f"{BACKENDS[b]}: login throughput is {share:.0%} of the hashing bound, which "
                       "it cannot exceed: hash_time measured a longer hash than the server's (the "
                       "machine's speed changed between them), so this bound is unreliable.")
        if before > 0 and after > 0 and abs(after / before - 1) > 0.20:
            out.append(f"{BACKENDS[b]}: the median verification took {fnum(before)} ms before the "
                       f"login line and {fnum(after)} ms after it: the machine's speed drifted by "
                       f"{after / before - 1:+.0%} around that line, and the bound is that uncertain.")
        if run.facts.get(f"peak_scope.{b}") not in (None, "flood"):
            out.append(f"{BACKENDS[b]}: the kernel did not allow resetting VmHWM, so the peak RSS "
                       "is the peak since the server started (registration and the login line "
                       "included).")
    extra = run.facts.get("extra_settings", "").strip()
    if extra:
        out.append(f"Server settings from the caller's environment also applied: `{extra}`.")
    return out


def checks(run):
    """What the run checked about itself, stated whether or not it passed."""
    out = []
    bad = [r for r in run.rows if run.problem(r)]
    out.append(f"{len(run.rows) - len(bad)} of {len(run.rows)} lines are measurements (2xx only, or "
               "503 busy on login lines; no socket errors on the others).")
    others = [run.other_cpu(r) for r in run.rows if run.other_cpu(r) is not None]
    if others:
        out.append(f"other processes used at most {max(others)} % of the machine's CPU during a "
                   f"line (flagged from {OTHER_CPU_WARN} %).")
    end = run.get("bare_end", "bare")
    if run.bare and end:
        out.append(f"the bare baseline gave {fnum(run.bare['rps'])} req/s at the start and "
                   f"{fnum(end['rps'])} at the end ({end['rps'] / run.bare['rps'] - 1:+.0%}).")
    for b in run.backends:
        before, after = run.hash_bound(b)[0], run.hash_after(b)
        server = run.server_hash_ms(b)
        if before > 0:
            out.append(f"{BACKENDS[b]}: one verification took {fnum(before)} ms before the login "
                       f"line, {fnum(after)} ms after it, and {fnum(server)} ms of the server's "
                       "hashing CPU per login during it.")
    return out


def md_table(header, rows, align):
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join(":---" if a == "l" else "---:" for a in align) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |")
    return "\n".join(lines)


def machine_line(f):
    return (f"{f.get('nproc', '?')} cores, {f.get('cpu_model', 'unknown CPU')}, {f.get('kernel', '')}; "
            f"{f.get('rustc', '')}")


def write_markdown(run, path):
    f = run.facts
    dirty = " (uncommitted changes)" if f.get("git_dirty") == "yes" else ""
    out = ["# HTTP benchmark report", "",
           f"One run of `scripts/bench-http.sh` on {f.get('date_utc', 'an unknown date')}, on a shared "
           "machine: every number below comes from this single run, and every ratio is computed "
           "within it. Take them as one sample, not as a property of the code; compare two builds "
           "by running both through the script on the same machine, one after the other.", ""]
    warns = warnings(run)
    out += ["## Validity", ""]
    if any(w.startswith("**NOT") for w in warns):
        out += ["> **Some lines are not measurements** (see below): the goals that depend on them "
                "are marked INVALID.", ""]
    out += [f"- {w}" for w in warns]
    out += [f"- Checked: {c}" for c in checks(run)]
    out.append("")

    out += ["## Machine and run", ""]
    facts_rows = [
        ("machine", machine_line(f)),
        ("date", f.get("date_utc", "")),
        ("commit", f"{f.get('git_commit', '?')}{dirty}"),
        ("binaries", f.get("binaries", "")),
        ("load average (1, 5, 15 min)", f"before {f.get('load_before', '?')}; after {f.get('load_after', '?')}"),
        ("CPU busy just before the run", f"{f.get('cpu_busy_before_pct', '?')} % of the machine (2 s sample"
                                         f"{', after waiting ' + f.get('quiet_waited_s') + ' s' if f.get('quiet_waited_s', '0') != '0' else ''})"),
        ("wrk", f"{f.get('wrk', 'wrk')}, 1 thread, {f.get('duration_s', '?')} s per line, --latency, 127.0.0.1"),
        ("server", f"{f.get('workers', '?')} workers, log level warn, rate limit off, per-address "
                   f"connection cap lifted, auth.hash_concurrency = {f.get('hash_slots', '?')}"),
        ("login flood", f"16 connections over 32 accounts, started {f.get('flood_lead_s', '?')} s before "
                        "the /me line and ending as long after it"),
        ("whole run", f"{f.get('total_s', '?')} s"),
    ]
    out += [md_table(["", ""], facts_rows, "ll"), ""]

    out += ["## Every line", ""]
    table = []
    for r in run.rows:
        ratio = run.ratio(r)
        non2xx = str(r["non2xx"])
        failed = {c: n for c, n in run.statuses(r).items() if c >= 400}
        if failed:
            non2xx += " (" + ", ".join(f"{n} × {c}" for c, n in sorted(failed.items())) + ")"
        if r["errors"]:
            non2xx += f"; {r['errors']} socket errors"
        if run.problem(r):
            non2xx = f"**{non2xx}**"
        other = run.other_cpu(r)
        other = "" if other is None else f"{other} %"
        if (run.other_cpu(r) or 0) >= OTHER_CPU_WARN:
            other = f"**{other}**"
        table.append((BACKENDS.get(r["backend"], r["backend"]), r["label"], r["connections"],
                      fnum(r["rps"]), fnum(r["p50_ms"]), fnum(r["p99_ms"]),
                      f"{ratio:.3f}" if ratio is not None and r["scenario"] not in LOGIN_IDS else "",
                      non2xx, other))
    out += [md_table(["backend", "scenario", "conn.", "req/s", "p50 ms", "p99 ms", "× bare", "non-2xx",
                      "other CPU"], table, "llrrrrrrr"), ""]
    out += ["Other CPU is the share of the whole machine's CPU time that processes outside the "
            "benchmark used during the line (all busy time in /proc/stat less that of this script, "
            "wrk, the servers and PostgreSQL); on a quiet machine it stays within a few percent. "
            "× bare is the line's requests/s over the bare actix-web line at the start of the run. "
            "The `the flood` lines are the background login flood, measured over its whole length "
            "(the /me line during it plus the lead before and the tail after).", ""]

    out += ["## Goals", ""]
    out += [md_table(["goal", "backend", "measured", "goal", "status"], goals(run), "lllll"), ""]

    out += ["## Hashing and memory", ""]
    hm = []
    for b in run.backends:
        hash_ms, bound = run.hash_bound(b)
        hash_ms, bound = fnum(hash_ms), fnum(bound)
        after, server = fnum(run.hash_after(b)), fnum(run.server_hash_ms(b))
        idle, before, peak = (run.kib(k, b) for k in ("rss_idle_kib", "rss_before_flood_kib", "rss_peak_kib"))
        mib = lambda v: f"{v / MIB:.0f}" if v is not None else "n/a"  # noqa: E731
        hm.append((BACKENDS[b], f.get("hash_slots", "?"), hash_ms, after, server, bound, mib(idle),
                   mib(before), mib(peak), f.get(f"peak_scope.{b}", "?"),
                   f.get(f"threads_after_flood.{b}", "?")))
    out += [md_table(["backend", "slots", "verify ms, before", "verify ms, after",
                      "server hash CPU ms per login", "bound logins/s", "idle RSS MiB",
                      "RSS before flood MiB", "peak RSS MiB", "peak over", "threads after flood"],
                     hm, "lrrrrrrrrll"), ""]
    out += [f"The median verification time is `hash_time` ({f.get('hash_runs', '?')} verifications of "
            "the right password at the default Argon2id parameters, through a one-slot hashing pool "
            "as the server's logins go), run while the "
            "server was idle, just before its login line; the bound uses that one. It runs again "
            "just after the line, to show how far the machine's speed drifted. Server hash CPU is "
            "the CPU time of the server's `password-hash` threads during the login line over its "
            "2xx logins: what one login's hash cost inside the server. Idle RSS is read once the "
            "server is ready, before any account exists; the peak is VmHWM read after the flood.", "",
            "Raw wrk output for every line is in `raw/`; the numbers above are in `results.tsv` "
            "and `facts.txt`.", ""]
    path.write_text("\n".join(out), encoding="utf-8")


def log_axis(values):
    lo = min(v for v in values if v > 0)
    hi = max(values)
    return 10 ** math.floor(math.log10(lo)), 10 ** math.ceil(math.log10(hi) + 1e-9)


def tick_text(v):
    if v >= 1000:
        return f"{v / 1000:g}k"
    return f"{v:g}"


def write_svg(run, path):
    rows = run.rows
    f = run.facts
    # Columns: backend, scenario, connections | requests/s panel | p99 panel | non-2xx.
    width = 1390
    x_backend, x_scenario, x_conn = 16, 112, 440
    p1_x, p1_w = 462, 300
    p2_x, p2_w = 862, 250
    x_other = width - 110
    x_non2xx = width - 14
    row_h, bar_h, top = 28, 16, 90
    plot_h = row_h * len(rows)
    height = top + plot_h + 34 + 5 * 18 + 12
    rps_lo, rps_hi = log_axis([r["rps"] for r in rows])
    lat_lo, lat_hi = log_axis([r["p99_ms"] for r in rows])

    def sx(v, lo, hi, x0, w):
        v = max(v, lo)
        return x0 + w * (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))

    def text(x, y, body, **attrs):
        extra = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in attrs.items())
        return f'<text x="{x:.1f}" y="{y:.1f}"{extra}>{escape(str(body))}</text>'

    s = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
         f'viewBox="0 0 {width} {height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" '
         'font-size="13">',
         f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
         text(16, 30, "HTTP benchmark: requests/s and p99 latency, one run "
              f'(wrk -t1, {f.get("duration_s", "?")} s per line, 127.0.0.1)',
              font_size=18, font_weight="bold")]
    head_y = top - 14
    s += [text(x_backend, head_y, "backend", font_weight="bold"),
          text(x_scenario, head_y, "scenario", font_weight="bold"),
          text(x_conn, head_y, "conn.", font_weight="bold", text_anchor="end"),
          text(p1_x, head_y, "requests/s (log scale, longer is better)", font_weight="bold"),
          text(p2_x, head_y, "p99 ms (log scale, shorter is better)", font_weight="bold"),
          text(x_other, head_y, "other CPU", font_weight="bold", text_anchor="end"),
          text(x_non2xx, head_y, "non-2xx", font_weight="bold", text_anchor="end")]
    # Row bands first, then the decade grid over them, then the bars.
    for i, r in enumerate(rows):
        y = top + i * row_h
        if i % 2 == 0:
            s.append(f'<rect x="8" y="{y}" width="{width - 16}" height="{row_h}" fill="#f3f4f6"/>')
        if i and r["backend"] != rows[i - 1]["backend"]:
            s.append(f'<line x1="8" y1="{y}" x2="{width - 8}" y2="{y}" stroke="#9ca3af"/>')
    for lo, hi, x0, w in ((rps_lo, rps_hi, p1_x, p1_w), (lat_lo, lat_hi, p2_x, p2_w)):
        d = lo
        while d <= hi * 1.0001:
            x = sx(d, lo, hi, x0, w)
            s.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + plot_h}" stroke="#d1d5db"/>')
            s.append(text(x, top + plot_h + 16, tick_text(d), text_anchor="middle", fill="#374151"))
            d *= 10
    for i, r in enumerate(rows):
        y = top + i * row_h
        ty = y + row_h / 2 + 4.5
        b = r["backend"]
        colour = COLOURS.get(b, "#111827")
        problem = run.problem(r)
        s.append(text(x_backend, ty, "baseline" if b == "bare" else BACKENDS.get(b, b),
                      fill=colour, font_weight="bold"))
        s.append(text(x_scenario, ty, r["label"], fill="#111827"))
        s.append(text(x_conn, ty, r["connections"], fill="#111827", text_anchor="end"))
        by = y + (row_h - bar_h) / 2
        outline = ' stroke="#dc2626" stroke-width="2.5"' if problem else ""
        for value, lo, hi, x0, w, label in (
                (r["rps"], rps_lo, rps_hi, p1_x, p1_w, fnum(r["rps"])),
                (r["p99_ms"], lat_lo, lat_hi, p2_x, p2_w, fnum(r["p99_ms"]))):
            x1 = sx(value, lo, hi, x0, w)
            s.append(f'<rect x="{x0}" y="{by:.1f}" width="{max(x1 - x0, 1):.1f}" height="{bar_h}" '
                     f'fill="{colour}" fill-opacity="0.85"{outline}/>')
            s.append(text(x1 + 5, ty, label, fill="#111827"))
        other = run.other_cpu(r)
        if other is not None:
            loud = other >= OTHER_CPU_WARN
            s.append(text(x_other, ty, f"{other} %", fill="#b45309" if loud else "#6b7280",
                          font_weight="bold" if loud else "normal", text_anchor="end"))
        if problem:
            s.append(text(x_non2xx, ty, f'{r["non2xx"]} ✗' if r["non2xx"] else "✗", fill="#dc2626",
                          font_weight="bold", text_anchor="end"))
        elif r["non2xx"]:
            s.append(text(x_non2xx, ty, f'{run.busy(r)} × 503', fill="#b45309", text_anchor="end"))
        else:
            s.append(text(x_non2xx, ty, "0", fill="#6b7280", text_anchor="end"))
    cy = top + plot_h + 40
    dirty = ", uncommitted changes" if f.get("git_dirty") == "yes" else ""
    captions = [
        f"Machine: {machine_line(f)}.",
        f"{f.get('date_utc', '')}; commit {f.get('git_commit', '?')}{dirty}; load average before "
        f"{f.get('load_before', '?')}, after {f.get('load_after', '?')}; server {f.get('workers', '?')} "
        f"workers, {f.get('hash_slots', '?')} hashing slot(s).",
        "One run on a shared machine: ratios hold within this run only. Outlined in red (✗): lines "
        "that are not measurements (non-2xx other than 503 busy, or socket errors).",
        f"Other CPU: share of the machine's CPU used by processes outside the benchmark during the "
        f"line; at {OTHER_CPU_WARN} % or more (orange) the line ran on a shared CPU.",
    ]
    outcomes = [x[4].split(" (")[0] for x in goals(run)]
    captions.append(f"Goals (report.md): {outcomes.count('met')} of {len(outcomes)} met, "
                    f"{outcomes.count('MISSED')} missed, {outcomes.count('INVALID')} invalid.")
    for j, c in enumerate(captions):
        s.append(text(16, cy + j * 18, c, fill="#374151", font_size=12))
    s.append("</svg>")
    path.write_text("\n".join(s) + "\n", encoding="utf-8")


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    out = Path(argv[1])
    rows = read_rows(out / "results.tsv")
    if not rows:
        print("bench_report: results.tsv has no rows", file=sys.stderr)
        return 1
    run = Run(rows, read_facts(out / "facts.txt"))
    write_markdown(run, out / "report.md")
    write_svg(run, out / "report.svg")
    print(f"bench_report: wrote {out / 'report.md'} and {out / 'report.svg'}")
    g = goals(run)
    missed = [x for x in g if not x[4].startswith("met")]
    print(f"bench_report: {len(g) - len(missed)} of {len(g)} goals met", end="")
    print("; not met: " + "; ".join(f"{x[0]} ({x[1]}): {x[4]}" for x in missed) if missed else "")
    invalid = [r for r in rows if run.problem(r)]
    if invalid:
        print(f"bench_report: {len(invalid)} line(s) are NOT MEASUREMENTS (non-2xx other than 503, "
              "or socket errors): see the report's Validity section", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
