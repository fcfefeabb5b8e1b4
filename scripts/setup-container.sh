#!/usr/bin/env bash
# Installs what the container image and the Helm chart checks need on a fresh Debian 12 machine:
# podman, buildah and runc (apt), and a Python venv at target/venv-k8s with helm-python-sdk (Helm's
# own Go code as a library: lint and render without a helm binary) and kubernetes-validate (the
# Kubernetes OpenAPI schemas, offline), both from PyPI at pinned versions.
# Idempotent: what is already there is skipped.
#
#   bash scripts/setup-container.sh            # both
#   bash scripts/setup-container.sh podman     # only the container tools
#   bash scripts/setup-container.sh python     # only the venv (prints its path last)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/common.sh
. scripts/common.sh

what="${1:-all}"
VENV="target/venv-k8s"
PY_PACKAGES=(helm-python-sdk==0.2.2 kubernetes-validate==1.37.0)

if [ "$what" = all ] || [ "$what" = podman ]; then
  missing=()
  for p in podman buildah runc file; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    echo "setup-container: installing ${missing[*]}"
    apt_get update -q
    apt_get install -y -q --no-install-recommends "${missing[@]}"
  fi
fi

if [ "$what" = all ] || [ "$what" = python ]; then
  if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    echo "setup-container: installing python3-venv"
    apt_get update -q
    apt_get install -y -q --no-install-recommends python3 python3-venv
  fi
  stamp="$VENV/.installed"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "${PY_PACKAGES[*]}" ]; then
    echo "setup-container: creating $VENV with ${PY_PACKAGES[*]}"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "${PY_PACKAGES[@]}"
    printf '%s' "${PY_PACKAGES[*]}" >"$stamp"
  fi
fi
