{{/*
Names, labels, and the checks that stop a values combination that cannot work.
*/}}

{{- define "cxr-gate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "cxr-gate.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "cxr-gate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "cxr-gate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cxr-gate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "cxr-gate.labels" -}}
helm.sh/chart: {{ include "cxr-gate.chart" . }}
{{ include "cxr-gate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: gateway
app.kubernetes.io/part-of: cxr-gate
app.kubernetes.io/managed-by: {{ .Release.Service }}
cxr-gate/topology: {{ .Values.topology }}
{{- end }}

{{/* per-runtime or shared, checked. */}}
{{- define "cxr-gate.perRuntime" -}}
{{- if eq .Values.topology "per-runtime" }}true{{ else if eq .Values.topology "shared" }}{{ else }}
{{- fail (printf "topology must be per-runtime or shared, not %q" .Values.topology) }}
{{- end }}
{{- end }}

{{/* The workload kind: a DaemonSet only for per-runtime. */}}
{{- define "cxr-gate.kind" -}}
{{- if and (include "cxr-gate.perRuntime" .) (eq .Values.workload "DaemonSet") }}DaemonSet
{{- else if eq .Values.workload "Deployment" }}Deployment
{{- else if eq .Values.workload "DaemonSet" }}
{{- fail "workload DaemonSet is for topology per-runtime; shared runs a Deployment behind its Service" }}
{{- else }}
{{- fail (printf "workload must be Deployment or DaemonSet, not %q" .Values.workload) }}
{{- end }}
{{- end }}

{{/* The claim holding a generated certificate, or nothing (secret, or persistence off). */}}
{{- define "cxr-gate.claimName" -}}
{{- if and (eq .Values.certificate.source "generate") .Values.certificate.persistence.enabled }}
{{- default (printf "%s-data" (include "cxr-gate.fullname" .)) .Values.certificate.persistence.existingClaim }}
{{- end }}
{{- end }}

{{/* Every combination that renders but could not run fails here, saying what to change. */}}
{{- define "cxr-gate.validate" -}}
{{- $kind := include "cxr-gate.kind" . }}
{{- $src := .Values.certificate.source }}
{{- if not (has $src (list "generate" "secret")) }}
{{- fail (printf "certificate.source must be generate or secret, not %q" $src) }}
{{- end }}
{{- if and (eq $src "secret") (not .Values.certificate.secretName) }}
{{- fail "certificate.source secret needs certificate.secretName: a kubernetes.io/tls Secret with tls.crt and tls.key (e.g. cert-manager's)" }}
{{- end }}
{{- if and (eq $kind "DaemonSet") (include "cxr-gate.claimName" .) }}
{{- fail "a DaemonSet's pods on different nodes cannot share one claim for the generated certificate: use certificate.source secret, or certificate.persistence.enabled false (a new certificate per pod)" }}
{{- end }}
{{- if and (not (include "cxr-gate.perRuntime" .)) (gt (int .Values.replicas) 1) (eq $src "generate") }}
{{- fail "more than one replica must serve one certificate: use certificate.source secret" }}
{{- end }}
{{- if not (has .Values.service.type (list "LoadBalancer" "NodePort")) }}
{{- fail (printf "service.type must be LoadBalancer or NodePort, not %q" .Values.service.type) }}
{{- end }}
{{- if not (has (toString .Values.probes.readiness.requireRuntime) (list "auto" "true" "false")) }}
{{- fail "probes.readiness.requireRuntime must be auto, true or false" }}
{{- end }}
{{- end }}

{{/* The readiness path: /health?ready=1 (503 unless the runtime is UP) or /health. */}}
{{- define "cxr-gate.readinessPath" -}}
{{- $req := toString .Values.probes.readiness.requireRuntime }}
{{- if or (eq $req "true") (and (eq $req "auto") (include "cxr-gate.perRuntime" .)) }}/health?ready=1{{ else }}/health{{ end }}
{{- end }}
