{{/* Whether the chart renders the in-tree policies (native-policies.yaml). */}}
{{- define "meshgate.nativePolicies" -}}
{{- if and .Values.nativePolicies.enabled (.Capabilities.APIVersions.Has "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy") (.Capabilities.APIVersions.Has "admissionregistration.k8s.io/v1/MutatingAdmissionPolicy") }}true{{ end }}
{{- end }}

{{/*
meshgate.handOffRules narrows a webhook's rules (list . rules): with the in-tree
policies rendered and nativePolicies.webhook handOff, the resources they cover
completely (generated/native-policies.yaml handOff, webhook.HandOff in Go) are
left to the API server; rules left without resources are dropped. Renders the
rules as YAML.
*/}}
{{- define "meshgate.handOffRules" -}}
{{- $ := index . 0 }}
{{- $rules := index . 1 }}
{{- if and (include "meshgate.nativePolicies" $) (eq $.Values.nativePolicies.webhook "handOff") }}
{{- $handOff := ($.Files.Get "generated/native-policies.yaml" | fromYaml).handOff }}
{{- $out := list }}
{{- range $rules }}
{{- $rule := deepCopy . }}
{{- $res := list }}
{{- range $rule.resources }}
{{- $r := . }}
{{- $covered := false }}
{{- range $handOff }}{{ if and (eq .resource $r) (has .apiGroup $rule.apiGroups) }}{{ $covered = true }}{{ end }}{{ end }}
{{- if not $covered }}{{ $res = append $res $r }}{{ end }}
{{- end }}
{{- if $res }}{{ $_ := set $rule "resources" $res }}{{ $out = append $out $rule }}{{ end }}
{{- end }}
{{- toYaml $out }}
{{- else }}
{{- toYaml $rules }}
{{- end }}
{{- end }}
