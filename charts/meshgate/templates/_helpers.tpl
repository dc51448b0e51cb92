{{/* The chart's name. */}}
{{- define "meshgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The full name: the release name, plus the chart's name unless it already holds it. */}}
{{- define "meshgate.fullname" -}}
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

{{- define "meshgate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "meshgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "meshgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "meshgate.labels" -}}
helm.sh/chart: {{ include "meshgate.chart" . }}
{{ include "meshgate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: admission-webhook
{{- end }}

{{- define "meshgate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "meshgate.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "meshgate.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The MutatingWebhookConfiguration's name. The API server calls mutating webhook
configurations in name order, so it must sort before Istio's
(istio-revision-tag-*, istio-sidecar-injector*): meshgate then runs first and
Istio's injector sees meshgate's wiring (reinvocationPolicy IfNeeded covers
the rest).
*/}}
{{- define "meshgate.mutatingName" -}}
{{- $name := default (printf "0-%s" (include "meshgate.fullname" .)) .Values.webhook.mutating.name | trunc 63 | trimSuffix "-" }}
{{- if not (lt $name "istio") }}
{{- fail (printf "webhook.mutating.name %q must sort before \"istio\" (the API server runs mutating webhook configurations in name order and meshgate must run before istio-sidecar-injector)" $name) }}
{{- end }}
{{- $name }}
{{- end }}

{{- define "meshgate.validatingName" -}}
{{- default (include "meshgate.fullname" .) .Values.webhook.validating.name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The webhook Service and the Secret holding the serving certificate. */}}
{{- define "meshgate.serviceName" -}}
{{- include "meshgate.fullname" . }}
{{- end }}

{{- define "meshgate.tlsSecretName" -}}
{{- if and (not .Values.certManager.enabled) .Values.tls.existingSecret }}
{{- .Values.tls.existingSecret }}
{{- else }}
{{- printf "%s-tls" (include "meshgate.fullname" .) }}
{{- end }}
{{- end }}

{{/* cert-manager objects. */}}
{{- define "meshgate.servingCertificateName" -}}
{{- printf "%s-serving" (include "meshgate.fullname" .) }}
{{- end }}

{{/* The DNS names of the webhook Service, as a list. */}}
{{- define "meshgate.dnsNames" -}}
{{- $svc := include "meshgate.serviceName" . }}
{{- $ns := .Release.Namespace }}
- {{ $svc }}
- {{ $svc }}.{{ $ns }}
- {{ $svc }}.{{ $ns }}.svc
- {{ $svc }}.{{ $ns }}.svc.cluster.local
{{- end }}

{{/*
meshgate.generatedTLS fills .Values.__meshgateGeneratedTLS once per render
with the CA and serving certificate used without cert-manager, from the
Secrets a previous release wrote (lookup) while they are not near expiry
(their meshgate.io/not-after annotation, Unix seconds), else new ones:
- the CA (Secret <fullname>-webhook-ca, never mounted) is kept until
  tls.caRenewDaysBefore before it expires; a new CA is put into the
  caBundle before the previous one (kept until it is replaced again), so the
  API server trusts the pods' old certificate until they read the new one;
- the serving certificate is kept until tls.renewDaysBefore before it
  expires, and re-issued with the CA whenever the CA is new.
The Secrets and both webhook configurations read the same value.
*/}}
{{- define "meshgate.generatedTLS" -}}
{{- if not (hasKey .Values "__meshgateGeneratedTLS") }}
{{- $now := now | unixEpoch | int64 }}
{{- $fullname := include "meshgate.fullname" . }}
{{- $tlsSecret := lookup "v1" "Secret" .Release.Namespace (include "meshgate.tlsSecretName" .) | default dict }}
{{- $caSecret := lookup "v1" "Secret" .Release.Namespace (printf "%s-webhook-ca" $fullname) | default dict }}
{{- $tlsData := $tlsSecret.data | default dict }}
{{- $caData := $caSecret.data | default dict }}
{{- $notAfter := dig "metadata" "annotations" "meshgate.io/not-after" "0" $tlsSecret | int64 }}
{{- $caNotAfter := dig "metadata" "annotations" "meshgate.io/not-after" "0" $caSecret | int64 }}
{{- $out := dict }}
{{- $ca := dict }}
{{- $newCA := false }}
{{- if and (index $caData "tls.crt") (index $caData "tls.key") (gt $caNotAfter (add $now (mul (int .Values.tls.caRenewDaysBefore) 86400))) }}
{{- $ca = buildCustomCert (index $caData "tls.crt") (index $caData "tls.key") }}
{{- $_ := set $out "caNotAfter" $caNotAfter }}
{{- else }}
{{- $ca = genCA (printf "%s-ca" $fullname) (int .Values.tls.caValidityDays) }}
{{- $_ := set $out "caNotAfter" (add $now (mul (int .Values.tls.caValidityDays) 86400)) }}
{{- $newCA = true }}
{{- end }}
{{- $_ := set $out "caCrt" ($ca.Cert | b64enc) }}
{{- $_ := set $out "caKey" ($ca.Key | b64enc) }}
{{- if and (not $newCA) (index $tlsData "tls.crt") (index $tlsData "tls.key") (index $tlsData "ca.crt") (gt $notAfter (add $now (mul (int .Values.tls.renewDaysBefore) 86400))) }}
{{- $_ := set $out "crt" (index $tlsData "tls.crt") }}
{{- $_ := set $out "key" (index $tlsData "tls.key") }}
{{- $_ := set $out "ca" (index $tlsData "ca.crt") }}
{{- $_ := set $out "notAfter" $notAfter }}
{{- else }}
{{- $days := int .Values.tls.validityDays }}
{{- $svc := include "meshgate.serviceName" . }}
{{- $dns := include "meshgate.dnsNames" . | fromYamlArray }}
{{- $cert := genSignedCert (printf "%s.%s.svc" $svc .Release.Namespace) nil $dns $days $ca }}
{{- $_ := set $out "crt" ($cert.Cert | b64enc) }}
{{- $_ := set $out "key" ($cert.Key | b64enc) }}
{{- $_ := set $out "notAfter" (add $now (mul $days 86400)) }}
{{- /* The caBundle: this CA, then the previous one while it may still sign a pod's certificate. */}}
{{- $bundle := $ca.Cert }}
{{- with index $tlsData "ca.crt" }}
{{- $previous := regexFind "(?s)-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----" (b64dec .) }}
{{- if and $newCA $previous (ne (trim $previous) (trim $ca.Cert)) }}
{{- $bundle = printf "%s\n%s\n" (trim $ca.Cert) $previous }}
{{- end }}
{{- end }}
{{- $_ := set $out "ca" ($bundle | b64enc) }}
{{- end }}
{{- $_ := set .Values "__meshgateGeneratedTLS" $out }}
{{- end }}
{{- end }}

{{/* The webhooks' caBundle without cert-manager (base64 PEM). */}}
{{- define "meshgate.caBundle" -}}
{{- if .Values.tls.existingSecret }}
{{- required "tls.caBundle (base64 PEM of the CA that signed tls.existingSecret) is required when tls.existingSecret is set" .Values.tls.caBundle }}
{{- else }}
{{- include "meshgate.generatedTLS" . }}
{{- .Values.__meshgateGeneratedTLS.ca }}
{{- end }}
{{- end }}

{{/* The namespaces neither webhook ever sees. */}}
{{- define "meshgate.excludedNamespaces" -}}
{{- $ns := list "kube-system" "kube-node-lease" .Release.Namespace }}
{{- range .Values.webhook.excludeNamespaces }}
{{- $ns = append $ns . }}
{{- end }}
{{- toYaml (uniq $ns) }}
{{- end }}

{{/*
meshgate.setting renders, as JSON, a setting of meshgate's configuration
(list . name default): the value at the name's path in .Values.config (keys
joined with "."), else, when absent, null or "", its default, as meshgate
reads its configuration.
*/}}
{{- define "meshgate.setting" -}}
{{- $v := (index . 0).Values.config }}
{{- range splitList "." (index . 1) }}{{ $v = index ($v | default dict) . }}{{ end }}
{{- if or (kindIs "invalid" $v) (eq (toString $v) "") }}{{ $v = index . 2 }}{{ end }}
{{- toJson $v }}
{{- end }}

{{/*
meshgate.webhooks renders the webhooks of one configuration from
generated/rules.yaml (webhook.Chart: every webhook the configuration can
hold, as webhook.Configurations builds it) as a YAML list: those whose
settings (.when) have the config's values, with their rules after HandOff when
the in-tree policies take over, and what the values give: client config,
outage settings, excluded namespaces, object selector, edge-proxy condition.
*/}}
{{- define "meshgate.webhooks" -}}
{{- $root := .root }}
{{- $gen := .generated }}
{{- $handOff := include "meshgate.handOff" $root }}
{{- $out := list }}
{{- range .webhooks }}
{{- $held := true }}
{{- range $name, $value := .when }}
{{- if ne (include "meshgate.setting" (list $root $name (index $gen.settings $name))) (toJson $value) }}{{ $held = false }}{{ end }}
{{- end }}
{{- if and $held (or (not $handOff) .handOffRules) }}
{{- $w := deepCopy .webhook }}
{{- if $handOff }}{{ $_ := set $w "rules" .handOffRules }}{{ end }}
{{- $_ := set $w "clientConfig" (include "meshgate.clientConfig" (list $root $.path) | fromYaml) }}
{{- $_ := set $w "failurePolicy" ($.failurePolicy | default $root.Values.webhook.failurePolicy | default $w.failurePolicy) }}
{{- $_ := set $w "timeoutSeconds" ($root.Values.webhook.timeoutSeconds | default $w.timeoutSeconds) }}
{{- $excluded := dict "key" "kubernetes.io/metadata.name" "operator" "NotIn" "values" (include "meshgate.excludedNamespaces" $root | fromYamlArray) }}
{{- $_ := set $w "namespaceSelector" (dict "matchExpressions" (prepend (.namespaces | default list) $excluded)) }}
{{- $_ := set $w "objectSelector" $root.Values.webhook.objectSelector }}
{{- if .edgeProxy }}
{{- $_ := set $w "matchConditions" (prepend ($w.matchConditions | default list) (dict "name" $gen.edgeProxyCondition.name "expression" (include "meshgate.edgeProxyCondition" (list $root $gen)))) }}
{{- end }}
{{- $out = append $out $w }}
{{- end }}
{{- end }}
{{- toYaml $out }}
{{- end }}

{{/*
The edge-proxy match condition (policy.Config.EdgeProxyCondition): the opt-in
annotation, or every label of one of config.edgeProxy.selectors (meshgate's
default selectors when the config does not set them).
*/}}
{{- define "meshgate.edgeProxyCondition" -}}
{{- $root := index . 0 }}
{{- $cel := (index . 1).edgeProxyCondition }}
{{- $parts := list $cel.annotation }}
{{- range include "meshgate.setting" (list $root "edgeProxy.selectors" $cel.selectors) | fromJsonArray }}
{{- $terms := list }}
{{- range $key, $value := . }}
{{- /* Quoted (toJson, a CEL string literal): no value can change the expression. */}}
{{- $terms = append $terms (printf $cel.label (toJson (toString $key)) (toJson (toString $value))) }}
{{- end }}
{{- $parts = append $parts (printf $cel.selector (join " && " $terms)) }}
{{- end }}
{{- join " || " $parts }}
{{- end }}

{{- define "meshgate.clientConfig" -}}
{{- $root := index . 0 }}
{{- $path := index . 1 }}
service:
  name: {{ include "meshgate.serviceName" $root }}
  namespace: {{ $root.Release.Namespace }}
  path: {{ $path }}
  port: 443
{{- if not $root.Values.certManager.enabled }}
caBundle: {{ include "meshgate.caBundle" $root }}
{{- end }}
{{- end }}

{{- define "meshgate.webhookAnnotations" -}}
{{- if .Values.certManager.enabled }}
annotations:
  cert-manager.io/inject-ca-from: {{ .Release.Namespace }}/{{ include "meshgate.servingCertificateName" . }}
{{- end }}
{{- end }}

{{/*
meshgate.auditEnabled is "true" when audit.interval is set and not zero.
*/}}
{{- define "meshgate.auditEnabled" -}}
{{- $i := toString .Values.audit.interval -}}
{{- if and $i (not (has $i (list "0" "0s" "0m" "0h"))) -}}true{{- end -}}
{{- end }}

{{/*
The metrics endpoint's scheme: https when metrics.secure is true (serve
--metrics-secure).
*/}}
{{- define "meshgate.metricsScheme" -}}
{{- if eq (toString .Values.metrics.secure) "true" }}https{{ else }}http{{ end }}
{{- end }}

{{/* Whether the priority class is one of the built-in critical ones. */}}
{{- define "meshgate.criticalPriority" -}}
{{- if has .Values.priorityClassName (list "system-cluster-critical" "system-node-critical") }}true{{ end }}
{{- end }}
