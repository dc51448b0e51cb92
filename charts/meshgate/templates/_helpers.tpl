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
meshgate.webhooks renders the webhooks of one group of generated/rules.yaml
(its kinds and admission scope) as list items, as webhook.Webhooks does: one
webhook named after the configuration (mutate.meshgate.io) for the group
without a scope, else one per webhook of the scope's variant for the config's
setting, named "<scope>[-<name>].<base>", with the scope's namespace
requirements after the excluded namespaces and its match conditions.
*/}}
{{- define "meshgate.webhooks" -}}
{{- $root := .root }}
{{- $generated := .generated }}
{{- $group := .group }}
{{- $hooks := list dict }}
{{- if $group.scope }}
{{- $scope := index $generated.scopes $group.scope }}
{{- $value := "" }}
{{- if $scope.setting }}
{{- $value = index (include "meshgate.admissionSettings" (list $root $generated) | fromYaml) $scope.setting }}
{{- end }}
{{- $hooks = index $scope.variants $value }}
{{- end }}
{{- range $hooks }}
{{- $name := $.base }}
{{- if $group.scope }}
{{- $name = printf "%s.%s" $group.scope $.base }}
{{- if .name }}
{{- $name = printf "%s-%s.%s" $group.scope .name $.base }}
{{- end }}
{{- end }}
- name: {{ $name }}
  {{- include "meshgate.clientConfig" (list $root $.path) | nindent 2 }}
  rules:
    {{- toYaml $group.rules | nindent 4 }}
  {{- /* The direction's value, else the chart-wide one, else the webhook's own (webhook.OutageDefaults). */}}
  failurePolicy: {{ $.failurePolicy | default $root.Values.webhook.failurePolicy | default $group.failurePolicy }}
  matchPolicy: Equivalent
  namespaceSelector:
    matchExpressions:
      - key: kubernetes.io/metadata.name
        operator: NotIn
        values:
          {{- include "meshgate.excludedNamespaces" $root | nindent 10 }}
      {{- with .namespaces }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
  objectSelector:
    {{- toYaml $root.Values.webhook.objectSelector | nindent 4 }}
  {{- $conditions := list }}
  {{- if .edgeProxy }}
  {{- $conditions = append $conditions (dict "name" $generated.edgeProxyCondition.name "expression" (include "meshgate.edgeProxyCondition" (list $root $generated))) }}
  {{- end }}
  {{- $conditions = concat $conditions (.conditions | default list) }}
  {{- with $conditions }}
  matchConditions:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  sideEffects: None
  timeoutSeconds: {{ $root.Values.webhook.timeoutSeconds | default $group.timeoutSeconds }}
  admissionReviewVersions: ["v1"]
  {{- if eq $.path "/mutate" }}
  # Run again if a later webhook (Istio's injector) changed the object.
  reinvocationPolicy: IfNeeded
  {{- end }}
{{- end }}
{{- end }}

{{/*
The values of the settings the admission scopes switch on, from the config
block (the server's configuration), else meshgate's defaults.
*/}}
{{- define "meshgate.admissionSettings" -}}
{{- $root := index . 0 }}
{{- $defaults := (index . 1).defaults }}
{{- $config := $root.Values.config | default dict }}
{{- $edge := $config.edgeProxy | default dict }}
{{- $ports := $config.servicePorts | default dict }}
edgeProxy.certMode: {{ $edge.certMode | default $defaults.edgeProxy.certMode | quote }}
servicePorts.scope: {{ $ports.scope | default $defaults.servicePorts.scope | quote }}
{{- end }}

{{/*
The edge-proxy match condition (policy.Config.EdgeProxyCondition): the opt-in
annotation, or every label of one of config.edgeProxy.selectors (meshgate's
default selectors when the config does not set them).
*/}}
{{- define "meshgate.edgeProxyCondition" -}}
{{- $root := index . 0 }}
{{- $generated := index . 1 }}
{{- $cel := $generated.edgeProxyCondition }}
{{- $edge := ($root.Values.config | default dict).edgeProxy | default dict }}
{{- $selectors := $generated.defaults.edgeProxy.selectors }}
{{- if not (kindIs "invalid" $edge.selectors) }}
{{- $selectors = $edge.selectors }}
{{- end }}
{{- $parts := list $cel.annotation }}
{{- range $selectors }}
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
clientConfig:
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
