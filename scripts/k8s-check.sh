#!/usr/bin/env bash
# The Helm chart deploy/helm/cxr-gate checked offline, as CI does (a stage of scripts/test.sh):
# helm lint --strict, helm template for every ci/*-values.yaml compared with deploy/k8s/, the
# chart's refusals, what NOTES.txt says, kubernetes-validate --strict against several Kubernetes versions.
# No cluster is involved. The checks themselves are in scripts/k8s-check.py.
#
#   bash scripts/k8s-check.sh            # check
#   bash scripts/k8s-check.sh --write    # after editing the chart: rewrite deploy/k8s/*.yaml
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup-container.sh python
exec target/venv-k8s/bin/python scripts/k8s-check.py "$@"
