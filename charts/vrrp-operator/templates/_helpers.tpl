{{/*
Object names are fixed, not derived from the release name: the chart installs cluster-scoped objects
(the CRD, ClusterRoles) and one agent per node, so one release per cluster is the only sensible
number, and the names match config/ (kubectl apply -k config/default).
*/}}
{{- define "vrrp-operator.name" -}}vrrp-operator{{- end }}
{{- define "vrrp-operator.agentName" -}}vrrp-operator-agent{{- end }}
{{- define "vrrp-operator.controllerName" -}}vrrp-operator-controller{{- end }}
{{- define "vrrp-operator.hooksConfigMapName" -}}vrrp-operator-hooks{{- end }}

{{- define "vrrp-operator.chart" -}}
{{ .Chart.Name }}-{{ .Chart.Version | replace "+" "_" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "vrrp-operator.labels" -}}
helm.sh/chart: {{ include "vrrp-operator.chart" . }}
app.kubernetes.io/name: {{ include "vrrp-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selector labels of a component: call with (dict "root" $ "component" "agent"). */}}
{{- define "vrrp-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vrrp-operator.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Labels of a component's objects: call with (dict "root" $ "component" "agent"). */}}
{{- define "vrrp-operator.componentLabels" -}}
{{ include "vrrp-operator.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "vrrp-operator.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}
{{- end }}

{{/*
The rules of a generated ClusterRole (config/rbac/<component>/role.yaml, copied into files/ by
`make manifests`): the chart grants exactly what the code's RBAC markers ask for.
*/}}
{{- define "vrrp-operator.generatedRules" -}}
{{- $path := printf "files/rbac/%s/role.yaml" .component }}
{{- $role := .root.Files.Get $path | fromYaml }}
{{- if or (not $role) (hasKey $role "Error") (not $role.rules) }}
{{- fail (printf "%s: not a ClusterRole with rules (run make manifests)" $path) }}
{{- end }}
{{- toYaml $role.rules }}
{{- end }}

{{/* The name of the hook ConfigMap, or "" for an empty hook directory. */}}
{{- define "vrrp-operator.hooksConfigMap" -}}
{{- if and .Values.hookScripts .Values.hooks.configMap }}
{{- fail "set hookScripts or hooks.configMap, not both: hookScripts renders the ConfigMap vrrp-operator-hooks" }}
{{- end }}
{{- if .Values.hookScripts }}
{{- include "vrrp-operator.hooksConfigMapName" . }}
{{- else }}
{{- .Values.hooks.configMap }}
{{- end }}
{{- end }}
