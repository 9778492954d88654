#!/usr/bin/env bash
# Validates every deploy manifest offline (issue 9): YAML lint, the Dockerfile (hadolint),
# the Compose file (compose-spec schema, hardening policy), the Kubernetes kustomizations
# (build, schema, Pod Security Standards "restricted", checkov), and the systemd unit
# (systemd-analyze verify and its exposure score). Exits non-zero on the first failing check.
#
# Usage: scripts/deploy-check.sh [--deploy-dir DIR]
#   --deploy-dir DIR   check a copy of deploy/ instead (used to prove that a broken copy fails)
#
# The validators are installed on first use into a virtualenv under
# ${DEPLOY_CHECK_CACHE:-$XDG_CACHE_HOME/server-deploy-check} from PyPI, with the versions pinned
# in deploy/check/; later runs reuse it and need no network. Kustomize comes from `kustomize`
# or `kubectl kustomize` (v4 or later). Docker Compose and systemd-analyze are used when present.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
deploy="$repo/deploy"
while [ $# -gt 0 ]; do
  case "$1" in
    --deploy-dir) deploy="$(cd "$2" && pwd)"; shift 2 ;;
    -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "deploy-check: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

started=$SECONDS
checks=0
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

step() { printf '==> %s\n' "$*"; }
ok() { checks=$((checks + 1)); printf '    ok: %s\n' "$*"; }
fail() { printf 'deploy-check: FAILED: %s\n' "$*" >&2; exit 1; }

# --- validators -------------------------------------------------------------------------------

cache="${DEPLOY_CHECK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/server-deploy-check}"
pins="$(cat "$repo/deploy/check/requirements.txt" "$repo/deploy/check/constraints.txt" | sha256sum | cut -c1-16)"
venv="$cache/venv-$pins"
if [ ! -f "$venv/.installed" ]; then
  step "installing the validators into $venv (once; pinned in deploy/check/)"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    -r "$repo/deploy/check/requirements.txt" -c "$repo/deploy/check/constraints.txt"
  touch "$venv/.installed"
fi
bin="$venv/bin"

if command -v kustomize >/dev/null; then
  kustomize_build() { kustomize build "$1"; }
elif command -v kubectl >/dev/null && kubectl version --client 2>/dev/null | grep -q 'Kustomize Version: v[4-9]'; then
  kustomize_build() { kubectl kustomize "$1"; }
else
  fail "needs kustomize v4+ (the kustomize binary, or kubectl 1.21+ for 'kubectl kustomize')"
fi

# --- YAML and shell ---------------------------------------------------------------------------

step "YAML lint (deploy/.yamllint.yaml)"
"$bin/yamllint" --strict -c "$deploy/.yamllint.yaml" "$deploy" || fail "yamllint"
ok "yamllint: every YAML file under deploy/"

step "shellcheck"
"$bin/shellcheck" "$repo/scripts/deploy-check.sh" || fail "shellcheck"
ok "shellcheck: scripts/deploy-check.sh"

# --- Dockerfile -------------------------------------------------------------------------------

step "Dockerfile"
"$bin/hadolint" --no-color --config "$deploy/docker/.hadolint.yaml" "$deploy/docker/Dockerfile" \
  || fail "hadolint"
ok "hadolint: deploy/docker/Dockerfile"

# --- Compose ----------------------------------------------------------------------------------

step "Compose"
compose="$deploy/compose/compose.yaml"
"$bin/check-jsonschema" --builtin-schema vendor.compose-spec "$compose" >/dev/null \
  || fail "compose.yaml does not match the compose-spec schema"
ok "compose-spec schema: deploy/compose/compose.yaml"
expect_rules() { # checker, bad file, expected ids: the checker must report exactly those ids
  local out
  if out="$("$bin/python" "$1" "$2" 2>/dev/null)"; then fail "$(basename "$1") passed $2"; fi
  diff <(cut -d' ' -f1 <<<"$out" | LC_ALL=C sort -u) <(LC_ALL=C sort -u "${2%.yaml}.expected") >/dev/null \
    || fail "$(basename "$1") on $2 reported other rule ids than ${2%.yaml}.expected"
}
expect_rules "$deploy/check/compose_hardening.py" "$deploy/check/testdata/compose-violations.yaml"
"$bin/python" "$deploy/check/compose_hardening.py" "$compose" >"$work/compose.log" 2>&1 \
  || { cat "$work/compose.log" >&2; fail "compose hardening policy"; }
ok "compose hardening policy (each rule fires on testdata/compose-violations.yaml)"
if docker compose version >/dev/null 2>&1; then
  # `config` wants the secret files to exist; empty stand-ins in a scratch copy will do.
  cp -r "$deploy/compose" "$work/compose"
  mkdir -p "$work/compose/secrets"
  touch "$work/compose/secrets/"{master.key,audit.key,mfa.keys,pgpass,postgres_password}
  docker compose -f "$work/compose/compose.yaml" config --quiet || fail "docker compose config"
  ok "docker compose config"
else
  echo "    skipped: docker compose config (no Docker Compose plugin here; the schema check stands in)"
fi

# --- Kubernetes -------------------------------------------------------------------------------

step "Kubernetes"
for overlay in base overlays/production; do
  out="$work/$(basename "$overlay").yaml"
  kustomize_build "$deploy/k8s/$overlay" >"$out" || fail "kustomize build deploy/k8s/$overlay"
  ok "kustomize build deploy/k8s/$overlay ($(grep -c '^kind:' "$out") objects)"
  # The oldest version the manifests support (preStop sleep needs 1.30) and the newest known.
  for version in 1.30.0 1.37.0; do
    "$bin/kubernetes-validate" --strict --quiet -k "$version" "$out" \
      || fail "deploy/k8s/$overlay does not match the Kubernetes $version schemas"
  done
  ok "kubernetes-validate --strict, Kubernetes 1.30 and 1.37: deploy/k8s/$overlay"
done
expect_rules "$deploy/check/pss_restricted.py" "$deploy/check/testdata/pss-violations.yaml"
"$bin/python" "$deploy/check/pss_restricted.py" "$work/base.yaml" "$work/production.yaml" \
  >"$work/pss.log" 2>&1 || { cat "$work/pss.log" >&2; fail "Pod Security Standards (restricted)"; }
ok "Pod Security Standards restricted: every pod template (each rule fires on testdata/pss-violations.yaml)"

# checkov reads a folder; it gets the rendered production overlay and the Dockerfile.
mkdir -p "$work/checkov"
cp "$work/production.yaml" "$deploy/docker/Dockerfile" "$work/checkov/"
(cd "$work/checkov" && "$bin/checkov" --config-file "$deploy/check/checkov.yaml" -d . >"$work/checkov.log" 2>&1) \
  || { cat "$work/checkov.log" >&2; fail "checkov (skips and their reasons: deploy/check/checkov.yaml)"; }
ok "checkov: production overlay, Dockerfile, secrets ($(grep -o 'Passed checks: [0-9]*' "$work/checkov.log" \
  | awk '{s += $3} END {print s}') checks passed; any skip is explained in deploy/check/checkov.yaml)"

# --- systemd ----------------------------------------------------------------------------------

step "systemd"
if command -v systemd-analyze >/dev/null && [ -d /usr/lib/systemd/system ]; then
  # A scratch root holding the unit, the system's own units it depends on, and a stand-in for
  # the binary (verify checks that ExecStart= is executable): no build is needed.
  root="$work/root"
  mkdir -p "$root/etc/systemd/system" "$root/usr/local/bin" "$root/usr/lib/systemd"
  cp -r /usr/lib/systemd/system "$root/usr/lib/systemd/"
  cp "$deploy/systemd/server.service" "$root/etc/systemd/system/"
  printf '#!/bin/sh\nexit 0\n' >"$root/usr/local/bin/server"
  chmod 0755 "$root/usr/local/bin/server"
  # verify exits 0 on unknown keys and bad values; any message is a finding.
  messages="$(systemd-analyze verify --man=no --root="$root" /etc/systemd/system/server.service 2>&1)" \
    || fail "systemd-analyze verify: $messages"
  [ -z "$messages" ] || fail "systemd-analyze verify: $messages"
  ok "systemd-analyze verify: deploy/systemd/server.service"
  # The exposure score (0 = fully sandboxed, 10 = not at all); docs/deploy.md records it.
  score="$(systemd-analyze security --offline=yes --root="$root" --threshold=15 \
    /etc/systemd/system/server.service 2>&1 | grep 'Overall exposure level')" \
    || fail "systemd-analyze security: exposure above 1.5"
  ok "systemd-analyze security: ${score#→ }"
else
  echo "    skipped: systemd-analyze (not installed here)"
fi

printf 'deploy-check: %d checks passed in %ds\n' "$checks" "$((SECONDS - started))"
