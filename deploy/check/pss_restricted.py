#!/usr/bin/env python3
"""Checks rendered Kubernetes manifests against the Pod Security Standards "restricted" profile.

The namespace label makes the API server enforce the same profile at admission; this check
finds a violation in review instead of at deploy time, and without a cluster. It reads every
pod template (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job,
CronJob, PodTemplate) in the YAML files given and asserts each control of the profile
(https://kubernetes.io/docs/concepts/security/pod-security-standards/, baseline and restricted
controls as of Kubernetes 1.33), on the pod and on every container, init container and
ephemeral container. It also asserts that every Namespace enforces the restricted profile.

Usage: pss_restricted.py FILE...    exit 0: no finding; 1: findings (one per line); 2: bad input

Each finding starts with a rule id; deploy/check/testdata/pss-violations.yaml breaks every
rule, and scripts/deploy-check.sh asserts that each id is reported for it, so a rule that
stops firing is noticed.
"""

import sys

import yaml

# Capabilities the baseline profile allows to be added; restricted allows only the last one.
RESTRICTED_ADDABLE_CAPABILITIES = {"NET_BIND_SERVICE"}

# Volume types the restricted profile allows.
ALLOWED_VOLUME_TYPES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "image",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
# Keys of a volume that are not its type.
VOLUME_NON_TYPE_KEYS = {"name"}

SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}

ALLOWED_SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
ALLOWED_SECCOMP_TYPES = {"RuntimeDefault", "Localhost"}
ALLOWED_APPARMOR_TYPES = {"RuntimeDefault", "Localhost"}


def pod_specs(doc):
    """Yields (pod metadata, pod spec) for every pod template in a manifest."""
    kind = doc.get("kind")
    spec = doc.get("spec") or {}
    if kind == "Pod":
        yield doc.get("metadata") or {}, spec
    elif kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job"}:
        template = spec.get("template") or {}
        yield template.get("metadata") or {}, template.get("spec") or {}
    elif kind == "CronJob":
        template = ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}
        yield template.get("metadata") or {}, template.get("spec") or {}
    elif kind == "PodTemplate":
        template = doc.get("template") or {}
        yield template.get("metadata") or {}, template.get("spec") or {}


def containers(spec):
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for c in spec.get(field) or []:
            yield field, c


def check_pod(where, meta, spec):
    findings = []

    def add(rule, message):
        findings.append(f"{rule} {where}: {message}")

    pod_sc = spec.get("securityContext") or {}

    # Baseline: host namespaces, host process, host paths and ports.
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            add("PSS-host-namespaces", f"spec.{field} must be unset or false")
    if (pod_sc.get("windowsOptions") or {}).get("hostProcess"):
        add("PSS-host-process", "spec.securityContext.windowsOptions.hostProcess must not be true")
    for volume in spec.get("volumes") or []:
        types = set(volume) - VOLUME_NON_TYPE_KEYS
        if "hostPath" in types:
            add("PSS-host-path", f"volume {volume.get('name')!r} is a hostPath")
        elif not types <= ALLOWED_VOLUME_TYPES:
            add("PSS-volume-types", f"volume {volume.get('name')!r} has a type outside the restricted list: {sorted(types)}")

    # Baseline: sysctls, SELinux, AppArmor (annotations and fields), seccomp.
    for sysctl in pod_sc.get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            add("PSS-sysctls", f"sysctl {sysctl.get('name')!r} is not in the safe set")
    annotations = meta.get("annotations") or {}
    for key, value in annotations.items():
        if key.startswith("container.apparmor.security.beta.kubernetes.io/"):
            if value != "runtime/default" and not str(value).startswith("localhost/"):
                add("PSS-apparmor", f"annotation {key}={value!r} must be runtime/default or localhost/*")

    def check_security_context(sc, path):
        selinux = sc.get("seLinuxOptions") or {}
        if selinux.get("type", "") not in ALLOWED_SELINUX_TYPES:
            add("PSS-selinux", f"{path}.seLinuxOptions.type {selinux.get('type')!r} is not allowed")
        if selinux.get("user") or selinux.get("role"):
            add("PSS-selinux", f"{path}.seLinuxOptions.user/role must be unset")
        apparmor = sc.get("appArmorProfile")
        if apparmor and apparmor.get("type") not in ALLOWED_APPARMOR_TYPES:
            add("PSS-apparmor", f"{path}.appArmorProfile.type must be RuntimeDefault or Localhost")
        seccomp = sc.get("seccompProfile")
        if seccomp and seccomp.get("type") not in ALLOWED_SECCOMP_TYPES:
            add("PSS-seccomp", f"{path}.seccompProfile.type must be RuntimeDefault or Localhost")
        if sc.get("runAsUser") == 0:
            add("PSS-run-as-user", f"{path}.runAsUser must not be 0")

    check_security_context(pod_sc, "spec.securityContext")

    for field, c in containers(spec):
        path = f"{field}[{c.get('name')}]"
        sc = c.get("securityContext") or {}
        check_security_context(sc, f"{path}.securityContext")
        if sc.get("privileged"):
            add("PSS-privileged", f"{path}.securityContext.privileged must not be true")
        if (sc.get("windowsOptions") or {}).get("hostProcess"):
            add("PSS-host-process", f"{path}.securityContext.windowsOptions.hostProcess must not be true")
        if sc.get("procMount", "Default") != "Default":
            add("PSS-proc-mount", f"{path}.securityContext.procMount must be Default")
        for port in c.get("ports") or []:
            if port.get("hostPort"):
                add("PSS-host-ports", f"{path} port {port.get('containerPort')} has a hostPort")
        # Restricted: no privilege escalation, non-root, seccomp, capabilities.
        if sc.get("allowPrivilegeEscalation") is not False:
            add("PSS-privilege-escalation", f"{path}.securityContext.allowPrivilegeEscalation must be false")
        # A container's own setting wins over the pod's; either may provide it.
        if sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is not True:
            add("PSS-run-as-non-root", f"{path}: runAsNonRoot must be true (pod or container)")
        seccomp = sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}
        if seccomp.get("type") not in ALLOWED_SECCOMP_TYPES:
            add("PSS-seccomp", f"{path}: seccompProfile must be RuntimeDefault or Localhost (pod or container)")
        capabilities = sc.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            add("PSS-capabilities", f"{path}.securityContext.capabilities.drop must include ALL")
        added = set(capabilities.get("add") or []) - RESTRICTED_ADDABLE_CAPABILITIES
        if added:
            add("PSS-capabilities", f"{path}.securityContext.capabilities.add has {sorted(added)}")
    return findings


def check_namespace(where, doc):
    labels = (doc.get("metadata") or {}).get("labels") or {}
    if labels.get("pod-security.kubernetes.io/enforce") != "restricted":
        return [f"PSS-namespace-label {where}: label pod-security.kubernetes.io/enforce must be restricted"]
    return []


def main(paths):
    if not paths:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        return 2
    findings = []
    pods = 0
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                docs = [d for d in yaml.safe_load_all(f) if d]
        except (OSError, yaml.YAMLError) as e:
            print(f"{path}: cannot read: {e}", file=sys.stderr)
            return 2
        for doc in docs:
            if not isinstance(doc, dict):
                continue
            meta = doc.get("metadata") or {}
            where = f"{path}: {doc.get('kind')}/{meta.get('namespace', '-')}/{meta.get('name')}"
            if doc.get("kind") == "Namespace":
                findings += check_namespace(where, doc)
            for pod_meta, spec in pod_specs(doc):
                pods += 1
                findings += check_pod(where, pod_meta, spec)
    if pods == 0:
        # An empty render (a broken kustomization, a wrong path) must not pass as compliant.
        findings.append(f"PSS-no-pods {' '.join(paths)}: no pod template found")
    for line in findings:
        print(line)
    if findings:
        print(f"pss-restricted: {len(findings)} finding(s) in {pods} pod template(s)", file=sys.stderr)
        return 1
    print(f"pss-restricted: {pods} pod template(s) meet the restricted profile")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
