{{/*
The prefix of every object's name: the release name when it already says lastcall (the usual
`helm install lastcall ...` gives the same names as config/default), else <release>-lastcall.
*/}}
{{- define "lastcall.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 54 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 54 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "lastcall.operatorName" -}}
{{- printf "%s-operator" (include "lastcall.fullname" .) -}}
{{- end -}}

{{/* The operator's pod selector: the same labels as config/manager (a Deployment selector is immutable). */}}
{{- define "lastcall.selectorLabels" -}}
app.kubernetes.io/name: lastcall
app.kubernetes.io/component: operator
{{- end -}}

{{/* Labels on every object: config/'s, plus Helm's. */}}
{{- define "lastcall.labels" -}}
{{ include "lastcall.selectorLabels" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "lastcall.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
