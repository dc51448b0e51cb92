{{/*
meshgate.inTreeValues: the inTree values as a dict. A key given under
nativePolicies (its name in chart 0.1.0, deprecated) wins over inTree's.
*/}}
{{- define "meshgate.inTreeValues" -}}
{{- $v := deepCopy .Values.inTree }}
{{- range $k, $old := .Values.nativePolicies | default dict }}{{ $_ := set $v $k $old }}{{ end }}
{{- toYaml $v }}
{{- end }}

{{/* Whether the chart renders the in-tree policies (in-tree.yaml). */}}
{{- define "meshgate.inTree" -}}
{{- if and (include "meshgate.inTreeValues" . | fromYaml).enabled (.Capabilities.APIVersions.Has "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy") (.Capabilities.APIVersions.Has "admissionregistration.k8s.io/v1/MutatingAdmissionPolicy") }}true{{ end }}
{{- end }}

{{/*
Whether the webhooks hand the kinds the in-tree policies cover completely
over to the API server (inTree.webhook handOff, with the policies rendered).
*/}}
{{- define "meshgate.handOff" -}}
{{- if and (include "meshgate.inTree" .) (eq (include "meshgate.inTreeValues" . | fromYaml).webhook "handOff") }}true{{ end }}
{{- end }}
