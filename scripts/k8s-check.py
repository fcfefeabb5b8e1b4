#!/usr/bin/env python3
"""The Helm chart deploy/helm/cxr-gate, checked offline (no cluster): a stage of scripts/test.sh,
run through scripts/k8s-check.sh, which makes the venv with helm-python-sdk and kubernetes-validate.

1. `helm lint --strict` (Helm's own Go code through helm-python-sdk) with the default values and
   with each ci/<name>-values.yaml.
2. `helm template cxr-gate deploy/helm/cxr-gate -f ci/<name>-values.yaml` (Helm's client-only dry-run
   install, which is what `helm template` runs) compared with deploy/k8s/<name>.yaml, so the plain
   manifests cannot drift from the chart. `--write` rewrites them instead.
3. What the issue asks of every rendering: non-root, read-only root filesystem, every capability
   dropped, liveness and readiness probes, resource requests; per-runtime on hostNetwork without a
   Service, shared behind a LoadBalancer or NodePort Service; the certificate from a TLS Secret or a
   PersistentVolumeClaim.
4. Values that cannot work are refused with the chart's own message.
5. What `helm install` prints (NOTES.txt) about the generated CA: a new CA at every pod without
   persistence, and how a public name added later is taken in (`--rotate-ca`).
6. `kubernetes-validate --strict` on every deploy/k8s/*.yaml against several Kubernetes versions.
"""

import argparse
import difflib
import os
import subprocess
import sys
from pathlib import Path

import helm_python as helm
import yaml

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "deploy" / "helm" / "cxr-gate"
PLAIN = ROOT / "deploy" / "k8s"
RELEASE = "cxr-gate"
# Current Kubernetes minor versions among those kubernetes-validate bundles (1.25-1.37).
KUBE_VERSIONS = ["1.32.0", "1.33.0", "1.34.0", "1.35.0", "1.36.0", "1.37.0"]
# Any accidental cluster contact would stay on loopback (a dry run contacts none).
KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "https://127.0.0.1:1"}}]
contexts: [{name: none, context: {cluster: none, user: none}}]
users: [{name: none, user: {}}]
current-context: none
"""

failures = []


def fail(what):
    failures.append(what)
    print(f"FAIL: {what}")


def header(name):
    return (
        f"# Generated from the Helm chart deploy/helm/cxr-gate with ci/{name}-values.yaml, i.e.\n"
        f"#   helm template {RELEASE} deploy/helm/cxr-gate -f deploy/helm/cxr-gate/ci/{name}-values.yaml\n"
        "# by `bash scripts/k8s-check.sh --write`. Edit the chart, not this file: CI fails when the two\n"
        "# differ. Apply with: kubectl apply -n <namespace> -f <this file>\n"
    )


def template(cfg, values):
    """`helm template`: Helm's install action as a client-only dry run, kept in memory."""
    with helm.Chart.load(str(CHART)) as chart:
        release = cfg.install(chart, RELEASE, values, dry_run="client", namespace="default")
    return release["manifest"]


def notes(cfg, values):
    """What `helm install` prints (templates/NOTES.txt) for these values."""
    with helm.Chart.load(str(CHART)) as chart:
        release = cfg.install(chart, RELEASE, values, dry_run="client", namespace="default")
    return release["notes"]


# What NOTES.txt must say (and not say) about the generated CA, per values.
NOTES_SAY = [
    ({"certificate": {"persistence": {"enabled": False}}}, ["every new pod", "makes a new CA", "--rotate-ca"], []),
    ({"topology": "shared", "certificate": {"hostnames": ["192.168.10.20"]}}, ["--rotate-ca", "after the helm upgrade"], ["emptyDir"]),
    ({"certificate": {"source": "secret", "secretName": "gate-tls"}}, [], ["--rotate-ca", "emptyDir"]),
]


def lint(values, label):
    report = helm.lint(str(CHART), values, strict=True)
    problems = [m for m in report["messages"] if m["severity"] >= 2] + [{"error": e} for e in report["errors"]]
    for m in report["messages"]:
        print(f"  lint {label}: [{['unknown', 'INFO', 'WARNING', 'ERROR'][m['severity']]}] {m['path']}: {m['error']}")
    if problems:
        fail(f"helm lint --strict {label}: {problems}")
    else:
        print(f"  helm lint --strict {label}: 0 warnings, 0 errors")


def docs(manifest):
    return [d for d in yaml.safe_load_all(manifest) if d]


def check_rendering(name, values, objects):
    """What the issue requires of the manifests, per topology and certificate source."""
    by_kind = {}
    for o in objects:
        by_kind.setdefault(o["kind"], []).append(o)
    workloads = by_kind.get("Deployment", []) + by_kind.get("DaemonSet", [])
    if len(workloads) != 1:
        return fail(f"{name}: expected one Deployment or DaemonSet, got {[o['kind'] for o in objects]}")
    w = workloads[0]
    pod = w["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    psc, sc = pod.get("securityContext", {}), c.get("securityContext", {})
    checks = {
        "runs as non-root (pod and container)": psc.get("runAsNonRoot") is True and sc.get("runAsNonRoot") is True,
        "a numeric non-root user": isinstance(psc.get("runAsUser"), int) and psc["runAsUser"] > 0,
        "read-only root filesystem": sc.get("readOnlyRootFilesystem") is True,
        "all capabilities dropped": sc.get("capabilities", {}).get("drop") == ["ALL"] and not sc["capabilities"].get("add"),
        "no privilege escalation": sc.get("allowPrivilegeEscalation") is False,
        "the runtime's default seccomp profile": psc.get("seccompProfile", {}).get("type") == "RuntimeDefault",
        "liveness probe: HTTPS /health": c.get("livenessProbe", {}).get("httpGet", {}).get("path") == "/health"
        and c["livenessProbe"]["httpGet"].get("scheme") == "HTTPS",
        "readiness probe: HTTPS": c.get("readinessProbe", {}).get("httpGet", {}).get("scheme") == "HTTPS",
        "memory and cpu requests": {"memory", "cpu"} <= set(c.get("resources", {}).get("requests", {})),
        "a memory limit": "memory" in c.get("resources", {}).get("limits", {}),
        "/data mounted": any(m["mountPath"] == "/data" for m in c.get("volumeMounts", [])),
    }
    env = {e["name"]: e.get("value") for e in c.get("env", [])}
    for var in ["BACKEND_HOST", "BACKEND_PORT", "PROXY_PORT", "HEALTH_CHECK_INTERVAL", "HEALTH_CHECK_RISE", "HEALTH_CHECK_FALL"]:
        checks[f"the HAProxy container's {var}"] = var in env
    topology = values.get("topology", "per-runtime")
    services = by_kind.get("Service", [])
    ready_path = c["readinessProbe"]["httpGet"]["path"]
    if topology == "per-runtime":
        checks["per-runtime: hostNetwork"] = pod.get("hostNetwork") is True
        checks["per-runtime: no Service"] = not services
        checks["per-runtime: ready when the runtime is UP"] = ready_path == "/health?ready=1"
        checks["per-runtime: backend on the node itself"] = env["BACKEND_HOST"] == values.get("backend", {}).get("host", "127.0.0.1")
    else:
        checks["shared: pod network"] = not pod.get("hostNetwork")
        checks["shared: one LoadBalancer or NodePort Service"] = len(services) == 1 and services[0]["spec"]["type"] in ("LoadBalancer", "NodePort")
        checks["shared: ready when the gate answers"] = ready_path == "/health"
        checks["shared: routing allowlist"] = env.get("ALLOWED_BACKENDS") == ",".join(values.get("allowedBackends", []))
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    source = values.get("certificate", {}).get("source", "generate")
    if source == "secret":
        secret = volumes.get("tls", {}).get("secret", {})
        checks["certificate from the TLS Secret's tls.crt/tls.key"] = (
            secret.get("secretName") == values["certificate"]["secretName"]
            and {i["key"] for i in secret.get("items", [])} == {"tls.crt", "tls.key"}
            and c["args"][c["args"].index("--cert") + 1] == "/etc/cxr-gate/tls/tls.crt"
            and c["args"][c["args"].index("--key") + 1] == "/etc/cxr-gate/tls/tls.key"
        )
    else:
        claim = volumes.get("data", {}).get("persistentVolumeClaim", {}).get("claimName")
        pvcs = [o["metadata"]["name"] for o in by_kind.get("PersistentVolumeClaim", [])]
        checks["generated certificate in a PersistentVolumeClaim"] = claim is not None and claim in pvcs
    bad = [k for k, ok in checks.items() if not ok]
    if bad:
        fail(f"{name}: {', '.join(bad)}")
    else:
        print(f"  {name}: {len(checks)} requirements hold (objects: {', '.join(sorted(by_kind))})")


# Values that render but could not run, and the words the chart's refusal must contain.
REFUSED = [
    ({"topology": "edge"}, "topology must be per-runtime or shared"),
    ({"topology": "shared", "workload": "DaemonSet"}, "workload DaemonSet is for topology per-runtime"),
    ({"workload": "DaemonSet"}, "cannot share one claim"),
    ({"certificate": {"source": "secret"}}, "needs certificate.secretName"),
    ({"certificate": {"source": "acme"}}, "certificate.source must be generate or secret"),
    ({"topology": "shared", "replicas": 2}, "more than one replica must serve one certificate"),
    ({"topology": "shared", "service": {"type": "ClusterIP"}}, "service.type must be LoadBalancer or NodePort"),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="rewrite deploy/k8s/*.yaml from the chart")
    args = ap.parse_args()
    print(f"helm-python-sdk {helm.__version__} (Helm {helm.helm_sdk_version()})")

    variants = sorted(p for p in (CHART / "ci").glob("*-values.yaml"))
    if not variants:
        sys.exit("no ci/*-values.yaml in the chart")

    print("== helm lint --strict")
    lint(None, "(default values)")
    for path in variants:
        lint(yaml.safe_load(path.read_text()), path.name)

    print("== helm template, compared with deploy/k8s/")
    written = []
    with helm.Config(kubeconfig_content=KUBECONFIG, storage_driver="memory", namespace="default") as cfg:
        for path in variants:
            name = path.name.removesuffix("-values.yaml")
            values = yaml.safe_load(path.read_text()) or {}
            text = header(name) + template(cfg, values)
            target = PLAIN / f"{name}.yaml"
            if args.write:
                target.write_text(text)
                print(f"  wrote {target.relative_to(ROOT)}")
            elif not target.exists():
                fail(f"{target.relative_to(ROOT)} is missing: run bash scripts/k8s-check.sh --write")
            elif target.read_text() != text:
                diff = difflib.unified_diff(
                    target.read_text().splitlines(), text.splitlines(), str(target.relative_to(ROOT)), "helm template", lineterm=""
                )
                print("\n".join(list(diff)[:60]))
                fail(f"{target.relative_to(ROOT)} differs from helm template: edit the chart, then run bash scripts/k8s-check.sh --write")
            else:
                print(f"  {target.relative_to(ROOT)}: identical to helm template -f ci/{path.name}")
            written.append(target)
            check_rendering(name, values, docs(text))
        stale = sorted(set(PLAIN.glob("*.yaml")) - set(written))
        if stale:
            fail(f"deploy/k8s has files no ci/*-values.yaml renders: {[p.name for p in stale]}")

        print("== values the chart refuses")
        for values, words in REFUSED:
            try:
                template(cfg, values)
                fail(f"the chart rendered {values}, which cannot work")
            except helm.HelmError as e:
                if words in str(e):
                    print(f"  {values}: refused ({words} ...)")
                else:
                    fail(f"{values}: refused, but not with {words!r}: {e}")

        print("== what helm install prints (NOTES.txt)")
        for values, said, unsaid in NOTES_SAY:
            text = notes(cfg, values)
            missing = [w for w in said if w not in text]
            wrong = [w for w in unsaid if w in text]
            if missing or wrong:
                fail(f"NOTES for {values}: missing {missing}, should not say {wrong}:\n{text}")
            else:
                print(f"  {values}: says {said}, not {unsaid}")

    print(f"== kubernetes-validate --strict, Kubernetes {', '.join(KUBE_VERSIONS)}")
    bindir = Path(sys.executable).parent
    for version in KUBE_VERSIONS:
        cmd = [str(bindir / "kubernetes-validate"), "--strict", "--quiet", "-k", version] + [str(p) for p in written]
        r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        if r.returncode != 0:
            print(r.stdout + r.stderr)
            fail(f"kubernetes-validate --strict -k {version} rejected the manifests")
        else:
            objects = sum(len(docs(p.read_text())) for p in written)
            print(f"  {version}: {objects} objects in {len(written)} files valid")

    if failures:
        print(f"\n{len(failures)} chart check(s) failed")
        sys.exit(1)
    print("\nchart checks passed")


if __name__ == "__main__":
    main()
