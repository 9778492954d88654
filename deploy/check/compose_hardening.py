#!/usr/bin/env python3
"""Checks that every service of a Compose file keeps the hardening deploy/compose promises.

The compose-spec schema says whether a file is well formed, not whether it is safe: this
asserts, for every service, a read-only root file system, a tmpfs /tmp, all capabilities
dropped, no-new-privileges, CPU/memory/PID limits, no privileged mode or host namespaces,
ports published on an explicit host address only, no secret written into `environment`,
and a health check on every service another one waits for with `service_healthy`.

Usage: compose_hardening.py FILE...   exit 0: no finding; 1: findings (one per line); 2: bad input

Each finding starts with a rule id; deploy/check/testdata/compose-violations.yaml breaks every
rule, and scripts/deploy-check.sh asserts that each id is reported for it.
"""

import re
import sys

import yaml

# Variable names that hold a secret when given a literal value (the *_FILE forms point at a
# file and are what this stack uses).
SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|MASTER_KEY|PRIVATE_KEY)$", re.IGNORECASE)
# A URL with a password in it: scheme://user:password@host.
URL_WITH_PASSWORD = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@:]+:[^/@]+@", re.IGNORECASE)


def environment_items(env):
    if isinstance(env, dict):
        return [(str(k), "" if v is None else str(v)) for k, v in env.items()]
    items = []
    for entry in env or []:
        name, _, value = str(entry).partition("=")
        items.append((name, value))
    return items


def check_service(where, name, svc, healthy_targets):
    findings = []

    def add(rule, message):
        findings.append(f"{rule} {where}: service {name}: {message}")

    if svc.get("read_only") is not True:
        add("COMPOSE-read-only", "read_only must be true")
    tmpfs = svc.get("tmpfs") or []
    tmpfs = [tmpfs] if isinstance(tmpfs, str) else tmpfs
    if not any(str(t).split(":", 1)[0] == "/tmp" for t in tmpfs):
        add("COMPOSE-tmpfs", "needs a tmpfs at /tmp (the root file system is read-only)")
    if "ALL" not in (svc.get("cap_drop") or []):
        add("COMPOSE-cap-drop", "cap_drop must include ALL")
    if svc.get("cap_add"):
        add("COMPOSE-cap-drop", f"cap_add {svc.get('cap_add')} is not allowed")
    security_opt = [str(o).replace("=", ":") for o in svc.get("security_opt") or []]
    if "no-new-privileges:true" not in security_opt:
        add("COMPOSE-no-new-privileges", "security_opt must include no-new-privileges:true")
    if svc.get("privileged"):
        add("COMPOSE-privileged", "privileged must not be true")
    for field in ("network_mode", "pid", "ipc", "uts", "userns_mode"):
        if str(svc.get(field, "")) == "host":
            add("COMPOSE-host-namespaces", f"{field}: host is not allowed")
    limits = ((svc.get("deploy") or {}).get("resources") or {}).get("limits") or {}
    for limit in ("cpus", "memory", "pids"):
        if limit not in limits:
            add("COMPOSE-limits", f"deploy.resources.limits.{limit} must be set")
    for port in svc.get("ports") or []:
        published_on_ip = (
            isinstance(port, dict) and port.get("host_ip")
        ) or (isinstance(port, str) and port.count(":") >= 2)
        if not published_on_ip:
            add("COMPOSE-ports", f"port {port!r} must name the host address it is published on")
    for key, value in environment_items(svc.get("environment")):
        if value and (SECRET_NAME.search(key) or URL_WITH_PASSWORD.match(value)):
            add("COMPOSE-secret-in-environment", f"environment {key} holds a secret; use a secrets file")
    if name in healthy_targets and not (svc.get("healthcheck") or {}).get("test"):
        add("COMPOSE-healthcheck", "others wait for it to be healthy, so it needs a healthcheck")
    return findings


def main(paths):
    if not paths:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        return 2
    findings = []
    services_seen = 0
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                doc = yaml.safe_load(f) or {}
        except (OSError, yaml.YAMLError) as e:
            print(f"{path}: cannot read: {e}", file=sys.stderr)
            return 2
        services = doc.get("services") or {}
        healthy_targets = set()
        for svc in services.values():
            depends_on = (svc or {}).get("depends_on")
            if isinstance(depends_on, dict):
                healthy_targets |= {
                    target
                    for target, cond in depends_on.items()
                    if (cond or {}).get("condition") == "service_healthy"
                }
        for name, svc in services.items():
            services_seen += 1
            findings += check_service(path, name, svc or {}, healthy_targets)
    if services_seen == 0:
        findings.append(f"COMPOSE-no-services {' '.join(paths)}: no service found")
    for line in findings:
        print(line)
    if findings:
        print(f"compose-hardening: {len(findings)} finding(s) in {services_seen} service(s)", file=sys.stderr)
        return 1
    print(f"compose-hardening: {services_seen} service(s) keep the hardening")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
