{{/*
Chart name, truncated to the 63 characters a DNS label allows.
*/}}
{{- define "tally.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Release-qualified name used as the prefix of every resource.
*/}}
{{- define "tally.fullname" -}}
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

{{- define "tally.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels on every resource.
*/}}
{{- define "tally.labels" -}}
helm.sh/chart: {{ include "tally.chart" . }}
app.kubernetes.io/name: {{ include "tally.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tally
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Selector labels of one component. Call with (dict "ctx" $ "component" "ingestor").
*/}}
{{- define "tally.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tally.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
All labels of one component. Call with (dict "ctx" $ "component" "ingestor").
*/}}
{{- define "tally.componentLabels" -}}
{{ include "tally.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "tally.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tally.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Image reference of one component. Call with (dict "ctx" $ "repository" "tally-ingestor").
*/}}
{{- define "tally.image" -}}
{{- $registry := .ctx.Values.image.registry -}}
{{- $tag := default .ctx.Chart.AppVersion .ctx.Values.image.tag -}}
{{- if $registry -}}
{{- printf "%s/%s:%s" $registry .repository $tag -}}
{{- else -}}
{{- printf "%s:%s" .repository $tag -}}
{{- end -}}
{{- end }}

{{/*
Name of the Secret holding the credentials.
*/}}
{{- define "tally.secretName" -}}
{{- default (include "tally.fullname" .) .Values.existingSecret }}
{{- end }}

{{/*
Secret the migration hook reads. Hooks run before the release's own resources exist, so
the chart renders a hook-scoped copy of its Secret unless an existing Secret is used.
*/}}
{{- define "tally.hookSecretName" -}}
{{- if .Values.existingSecret }}
{{- .Values.existingSecret }}
{{- else }}
{{- printf "%s-hook" (include "tally.fullname" .) }}
{{- end }}
{{- end }}

{{/*
Secret holding the tenant-signing secret: auth.existingSecret, or the chart's own.
*/}}
{{- define "tally.authSecretName" -}}
{{- default (printf "%s-auth" (include "tally.fullname" .)) .Values.auth.existingSecret }}
{{- end }}

{{- define "tally.authSecretKey" -}}
{{- if .Values.auth.existingSecret }}
{{- .Values.auth.existingSecretKey }}
{{- else }}
{{- "tenant-secret" }}
{{- end }}
{{- end }}

{{/*
Secret the migration hook reads the tenant secret from (`processor migrate` validates it like
every processor command). As with the credentials, hooks run before the release's own Secret
exists, so the chart renders a hook-scoped copy unless auth.existingSecret is set.
*/}}
{{- define "tally.authHookSecretName" -}}
{{- if .Values.auth.existingSecret }}
{{- .Values.auth.existingSecret }}
{{- else }}
{{- printf "%s-auth-hook" (include "tally.fullname" .) }}
{{- end }}
{{- end }}

{{/*
The chart-made tenant secret: the value already in the release's Secret (read back with lookup,
so upgrades keep it), else 48 random characters. Computed once per render and remembered in
.Values.auth (the values every template of this chart shares), so the Secret, its hook copy and
the pods' checksum all carry the same value.
*/}}
{{- define "tally.tenantSecret" -}}
{{- if not (hasKey .Values.auth "generatedTenantSecret") }}
{{- $value := "" }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (printf "%s-auth" (include "tally.fullname" .)) }}
{{- if and $existing (hasKey ($existing.data | default dict) "tenant-secret") }}
{{- $value = index $existing.data "tenant-secret" | b64dec }}
{{- else }}
{{- $value = randAlphaNum 48 }}
{{- end }}
{{- $_ := set .Values.auth "generatedTenantSecret" $value }}
{{- end }}
{{- index .Values.auth "generatedTenantSecret" }}
{{- end }}

{{/*
Where the ingestor and processor containers find the tenant secret (TALLY_TENANT_SECRET_FILE).
*/}}
{{- define "tally.tenantSecretDir" -}}
/etc/tally/auth
{{- end }}

{{/*
The tenant secret's volume, its mount and the variable that names the file. Call the volume
with (dict "ctx" $ "secretName" ...): the hook reads a different Secret than the pods.
*/}}
{{- define "tally.tenantSecretVolume" -}}
- name: tenant-secret
  secret:
    secretName: {{ .secretName }}
    # Readable by the container's user whatever podSecurityContext says (the file is root's).
    defaultMode: 0444
    items:
      - key: {{ include "tally.authSecretKey" .ctx }}
        path: tenant.secret
{{- end }}

{{- define "tally.tenantSecretMount" -}}
- name: tenant-secret
  mountPath: {{ include "tally.tenantSecretDir" . }}
  readOnly: true
{{- end }}

{{- define "tally.tenantSecretEnv" -}}
- name: TALLY_TENANT_SECRET_FILE
  value: {{ printf "%s/tenant.secret" (include "tally.tenantSecretDir" .) | quote }}
{{- end }}

{{- define "tally.normalizeConfigMapName" -}}
{{- printf "%s-normalize" (include "tally.fullname" .) }}
{{- end }}

{{/*
Fail rendering when values contradict each other. Included by every workload template.
*/}}
{{- define "tally.validate" -}}
{{- $p := .Values.processor -}}
{{- if lt (int .Values.kafka.partitions) 1 }}
{{- fail "kafka.partitions must be at least 1" }}
{{- end }}
{{- if gt (int $p.replicaCount) (int .Values.kafka.partitions) }}
{{- fail (printf "processor.replicaCount (%d) must not exceed kafka.partitions (%d): extra consumer group members get no partition" (int $p.replicaCount) (int .Values.kafka.partitions)) }}
{{- end }}
{{- if le (int $p.terminationGracePeriodSeconds) (int $p.batchTimeoutSeconds) }}
{{- fail (printf "processor.terminationGracePeriodSeconds (%d) must be greater than processor.batchTimeoutSeconds (%d) so a stopping processor can finish and commit its batch" (int $p.terminationGracePeriodSeconds) (int $p.batchTimeoutSeconds)) }}
{{- end }}
{{- if and .Values.clickhouse.cluster.enabled (not .Values.clickhouse.cluster.name) }}
{{- fail "clickhouse.cluster.name is required when clickhouse.cluster.enabled is true" }}
{{- end }}
{{- range $dep := list "redis" "clickhouse" }}
{{- $t := (index $.Values $dep).tls }}
{{- if and $t.existingSecret (not $t.enabled) }}
{{- fail (printf "%s.tls.existingSecret is set but %s.tls.enabled is false" $dep $dep) }}
{{- end }}
{{- if and $t.clientCertificate (not $t.existingSecret) }}
{{- fail (printf "%s.tls.clientCertificate needs %s.tls.existingSecret (a Secret with ca.crt, tls.crt and tls.key)" $dep $dep) }}
{{- end }}
{{- end }}
{{- if and .Values.kafka.sasl.enabled (not .Values.kafka.sasl.username) }}
{{- fail "kafka.sasl.username is required when kafka.sasl.enabled is true" }}
{{- end }}
{{- if and .Values.kafka.sasl.enabled (not (has .Values.kafka.sasl.mechanism (list "PLAIN" "SCRAM-SHA-256" "SCRAM-SHA-512"))) }}
{{- fail (printf "kafka.sasl.mechanism must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, not %q" .Values.kafka.sasl.mechanism) }}
{{- end }}
{{- if empty .Values.kafka.brokers }}
{{- fail "kafka.brokers must list at least one broker" }}
{{- end }}
{{- if .Values.kafka.topics.create }}
{{- $isr := include "tally.minInsyncReplicas" . | int }}
{{- if gt $isr (int .Values.kafka.replicationFactor) }}
{{- fail (printf "kafka.topics.minInsyncReplicas (%d) must not exceed kafka.replicationFactor (%d): acks=all could never be satisfied" $isr (int .Values.kafka.replicationFactor)) }}
{{- end }}
{{- end }}
{{- if $p.keda.enabled }}
{{- $max := include "tally.processorMaxReplicas" . | int }}
{{- if gt $max (int .Values.kafka.partitions) }}
{{- fail (printf "processor.keda.maxReplicaCount (%d) must not exceed kafka.partitions (%d): extra consumer group members get no partition" $max (int .Values.kafka.partitions)) }}
{{- end }}
{{- if gt (int $p.keda.minReplicaCount) $max }}
{{- fail (printf "processor.keda.minReplicaCount (%d) must not exceed the maximum (%d)" (int $p.keda.minReplicaCount) $max) }}
{{- end }}
{{- end }}
{{- if and .Values.ingestor.autoscaling.enabled (gt (int .Values.ingestor.autoscaling.minReplicas) (int .Values.ingestor.autoscaling.maxReplicas)) }}
{{- fail "ingestor.autoscaling.minReplicas must not exceed maxReplicas" }}
{{- end }}
{{- if and .Values.production .Values.faultInjection.enabled }}
{{- fail "faultInjection.enabled must be false when production is true: the fault switchboard makes the pipeline fail on purpose and is for development only" }}
{{- end }}
{{- range $component := list "ingestor" "processor" "queryapi" "dashboard" }}
{{- range (index $.Values $component).extraEnv }}
{{- $name := "" }}
{{- if kindIs "map" . }}
{{- $name = .name | default "" | toString }}
{{- end }}
{{- if eq $name "TALLY_AUTH" }}
{{- fail (printf "%s.extraEnv must not set TALLY_AUTH: authentication is always on in the chart (TALLY_AUTH=disabled is for tests on loopback only)" $component) }}
{{- end }}
{{- if eq $name "TALLY_FAULT_INJECTION" }}
{{- fail (printf "%s.extraEnv must not set TALLY_FAULT_INJECTION: use faultInjection.enabled, which production refuses" $component) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Environment shared by every Tally container: Kafka, Redis, ClickHouse, topics, credentials.
Call with the root context.
*/}}
{{- define "tally.commonEnv" -}}
{{- $v := .ctx.Values }}
{{- $secret := .secretName -}}
- name: TALLY_KAFKA_BROKERS
  value: {{ join "," $v.kafka.brokers | quote }}
- name: TALLY_RAW_TOPIC
  value: {{ $v.kafka.rawTopic | quote }}
- name: TALLY_DLQ_TOPIC
  value: {{ $v.kafka.dlqTopic | quote }}
- name: TALLY_CONSUMER_GROUP
  value: {{ $v.kafka.consumerGroup | quote }}
- name: TALLY_PARTITIONS
  value: {{ int $v.kafka.partitions | quote }}
{{- if $v.kafka.tls.enabled }}
- name: TALLY_KAFKA_TLS
  value: "true"
{{- end }}
{{- if $v.kafka.sasl.enabled }}
- name: TALLY_KAFKA_SASL_MECHANISM
  value: {{ $v.kafka.sasl.mechanism | quote }}
- name: TALLY_KAFKA_SASL_USER
  value: {{ $v.kafka.sasl.username | quote }}
- name: TALLY_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: kafka-sasl-password
{{- end }}
- name: TALLY_REDIS_ADDR
  value: {{ $v.redis.addr | quote }}
- name: TALLY_REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: redis-password
      optional: true
- name: TALLY_CLICKHOUSE_ADDR
  value: {{ $v.clickhouse.addr | quote }}
- name: TALLY_CLICKHOUSE_DATABASE
  value: {{ $v.clickhouse.database | quote }}
- name: TALLY_CLICKHOUSE_USER
  value: {{ $v.clickhouse.user | quote }}
- name: TALLY_CLICKHOUSE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: clickhouse-password
{{- if $v.clickhouse.cluster.enabled }}
- name: TALLY_CLICKHOUSE_CLUSTER
  value: {{ $v.clickhouse.cluster.name | quote }}
- name: TALLY_CLICKHOUSE_INSERT_QUORUM
  value: {{ $v.clickhouse.cluster.insertQuorum | int | quote }}
{{- end }}
# Always on: no value turns authentication off.
- name: TALLY_AUTH
  value: "enabled"
- name: TALLY_CONTROL_TOPIC
  value: {{ $v.auth.controlTopic | quote }}
- name: TALLY_FAULT_INJECTION
  value: {{ $v.faultInjection.enabled | quote }}
- name: TALLY_LOG_LEVEL
  value: {{ $v.logLevel | quote }}
{{- if $v.normalize.config }}
- name: TALLY_NORMALIZE_CONFIG
  value: {{ $v.normalize.mountPath | quote }}
{{- end }}
{{- end }}

{{/*
Checksum annotations that roll pods when their config or credentials change.
*/}}
{{- define "tally.checksums" -}}
checksum/secret: {{ include (print .Template.BasePath "/secret.yaml") . | sha256sum }}
{{- if not .Values.auth.existingSecret }}
checksum/tenant-secret: {{ include "tally.tenantSecret" . | sha256sum }}
{{- end }}
{{- if .Values.normalize.config }}
checksum/normalize: {{ .Values.normalize.config | sha256sum }}
{{- end }}
{{- end }}

{{/*
Normalization config volume and mount; callers include them only when normalize.config is set.
*/}}
{{- define "tally.normalizeVolume" -}}
- name: normalize
  configMap:
    name: {{ include "tally.normalizeConfigMapName" . }}
{{- end }}

{{- define "tally.normalizeMount" -}}
- name: normalize
  mountPath: {{ .Values.normalize.mountPath }}
  subPath: normalize.yaml
  readOnly: true
{{- end }}

{{/*
Most processors KEDA may run: processor.keda.maxReplicaCount, or kafka.partitions when 0.
*/}}
{{- define "tally.processorMaxReplicas" -}}
{{- if gt (int .Values.processor.keda.maxReplicaCount) 0 }}
{{- int .Values.processor.keda.maxReplicaCount }}
{{- else }}
{{- int .Values.kafka.partitions }}
{{- end }}
{{- end }}

{{/*
min.insync.replicas of the topics: kafka.topics.minInsyncReplicas, or 2 when the topics are
replicated and 1 when not.
*/}}
{{- define "tally.minInsyncReplicas" -}}
{{- if gt (int .Values.kafka.topics.minInsyncReplicas) 0 }}
{{- int .Values.kafka.topics.minInsyncReplicas }}
{{- else if gt (int .Values.kafka.replicationFactor) 1 }}
{{- 2 }}
{{- else }}
{{- 1 }}
{{- end }}
{{- end }}

{{/*
TLS to Redis and ClickHouse. Call each with (dict "ctx" $ "deps" (list "redis" "clickhouse")),
naming the dependencies the container connects to. tally.tlsEnv sets TALLY_<DEP>_TLS_*; the
files come from <dep>.tls.existingSecret, mounted by tally.tlsVolumes and tally.tlsMounts.
*/}}
{{- define "tally.tlsEnv" -}}
{{- $ctx := .ctx }}
{{- range $dep := .deps }}
{{- $t := (index $ctx.Values $dep).tls }}
{{- if $t.enabled }}
{{- $prefix := printf "TALLY_%s_TLS" (upper $dep) }}
{{- $dir := printf "/etc/tally/tls/%s" $dep }}
- name: {{ $prefix }}
  value: "true"
{{- if $t.existingSecret }}
- name: {{ $prefix }}_CA_FILE
  value: {{ printf "%s/ca.crt" $dir | quote }}
{{- if $t.clientCertificate }}
- name: {{ $prefix }}_CERT_FILE
  value: {{ printf "%s/tls.crt" $dir | quote }}
- name: {{ $prefix }}_KEY_FILE
  value: {{ printf "%s/tls.key" $dir | quote }}
{{- end }}
{{- end }}
{{- with $t.serverName }}
- name: {{ $prefix }}_SERVER_NAME
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{- define "tally.tlsVolumes" -}}
{{- $ctx := .ctx }}
{{- range $dep := .deps }}
{{- $t := (index $ctx.Values $dep).tls }}
{{- if and $t.enabled $t.existingSecret }}
- name: {{ $dep }}-tls
  secret:
    secretName: {{ $t.existingSecret }}
    # Readable by the container's user whatever podSecurityContext says (the files are root's).
    defaultMode: 0444
    items:
      - key: ca.crt
        path: ca.crt
{{- if $t.clientCertificate }}
      - key: tls.crt
        path: tls.crt
      - key: tls.key
        path: tls.key
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{- define "tally.tlsMounts" -}}
{{- $ctx := .ctx }}
{{- range $dep := .deps }}
{{- $t := (index $ctx.Values $dep).tls }}
{{- if and $t.enabled $t.existingSecret }}
- name: {{ $dep }}-tls
  mountPath: {{ printf "/etc/tally/tls/%s" $dep }}
  readOnly: true
{{- end }}
{{- end }}
{{- end }}
