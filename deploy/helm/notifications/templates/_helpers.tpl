{{- define "notifications.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "notifications.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | quote }}
app.kubernetes.io/part-of: notifications
app.kubernetes.io/instance: {{ .Release.Name | quote }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
{{- end -}}

{{/* the labels a workload adds to notifications.labels: (dict "root" $ "component" "send-email") */}}
{{- define "notifications.componentLabels" -}}
app.kubernetes.io/name: notifications
app.kubernetes.io/component: {{ .component | quote }}
{{- end -}}

{{/* selector labels of one workload: (dict "root" $ "component" "send-email") */}}
{{- define "notifications.selector" -}}
app.kubernetes.io/name: notifications
app.kubernetes.io/instance: {{ .root.Release.Name | quote }}
app.kubernetes.io/component: {{ .component | quote }}
{{- end -}}

{{- define "notifications.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "notifications.secretName" -}}
{{- default (printf "%s-secrets" (include "notifications.fullname" .)) .Values.secrets.existingSecret -}}
{{- end -}}

{{/* a config setting as a string, or the fallback when it is unset */}}
{{- define "notifications.setting" -}}
{{- $v := index .root.Values.config .name -}}
{{- if kindIs "invalid" $v -}}{{ .fallback }}{{- else -}}{{ $v }}{{- end -}}
{{- end -}}

{{- define "notifications.shutdownSeconds" -}}
{{- $ms := include "notifications.setting" (dict "root" . "name" "SHUTDOWN_TIMEOUT_MS" "fallback" "30000") | int -}}
{{- add (div (add $ms 999) 1000) .Values.terminationGraceExtraSeconds -}}
{{- end -}}

{{/* what every pod of the release shares: config, secrets, auth files, /tmp, security */}}
{{- define "notifications.podCommon" -}}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .root.Values.podSecurityContext | nindent 2 }}
terminationGracePeriodSeconds: {{ include "notifications.shutdownSeconds" .root }}
{{- with .root.Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .root.Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .root.Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if .root.Values.topologySpread.enabled }}
topologySpreadConstraints:
  {{- range list "topology.kubernetes.io/zone" "kubernetes.io/hostname" }}
  - maxSkew: {{ $.root.Values.topologySpread.maxSkew }}
    topologyKey: {{ . }}
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "notifications.selector" (dict "root" $.root "component" $.component) | nindent 8 }}
  {{- end }}
{{- end }}
volumes:
  - name: tmp
    emptyDir: {{ if .root.Values.tmpSizeLimit }}{ sizeLimit: {{ .root.Values.tmpSizeLimit | quote }} }{{ else }}{}{{ end }}
  {{- if or .root.Values.auth.publicKeyPem .root.Values.auth.accessTokenIssuers }}
  - name: auth
    configMap:
      name: {{ include "notifications.fullname" .root }}-auth
      items:
        {{- if .root.Values.auth.publicKeyPem }}
        - key: public.pem
          path: public.pem
        {{- end }}
        {{- range $name, $_ := .root.Values.auth.accessTokenIssuers }}
        - key: issuer.{{ $name }}.pem
          path: issuers/{{ $name }}.pem
        {{- end }}
  {{- end }}
  {{- if .root.Values.trust.caBundlePem }}
  - name: trust
    configMap:
      name: {{ include "notifications.fullname" .root }}-trust
  {{- end }}
{{- end -}}

{{- define "notifications.containerCommon" -}}
image: {{ include "notifications.image" .root | quote }}
imagePullPolicy: {{ .root.Values.image.pullPolicy }}
securityContext:
  {{- toYaml .root.Values.securityContext | nindent 2 }}
envFrom:
  - configMapRef:
      name: {{ include "notifications.fullname" .root }}-config
  - secretRef:
      name: {{ include "notifications.secretName" .root }}
{{- if or .env .root.Values.auth.publicKeyPem .root.Values.auth.accessTokenIssuers }}
env:
  {{- if .root.Values.auth.publicKeyPem }}
  - name: AUTH_PUBLIC_KEY_FILE
    value: /etc/notifications/auth/public.pem
  {{- end }}
  {{- if .root.Values.auth.accessTokenIssuers }}
  - name: ACCESS_TOKEN_ISSUERS_DIR
    value: /etc/notifications/auth/issuers
  {{- end }}
  {{- range $k, $v := .env }}
  - name: {{ $k }}
    value: {{ $v | toString | quote }}
  {{- end }}
{{- end }}
resources:
  {{- toYaml .resources | nindent 2 }}
volumeMounts:
  - name: tmp
    mountPath: /tmp
  {{- if or .root.Values.auth.publicKeyPem .root.Values.auth.accessTokenIssuers }}
  - name: auth
    mountPath: /etc/notifications/auth
    readOnly: true
  {{- end }}
  {{- if .root.Values.trust.caBundlePem }}
  - name: trust
    mountPath: /etc/notifications/trust
    readOnly: true
  {{- end }}
{{- end -}}

{{/* the egress rules for a list of called peers, with DNS */}}
{{- define "notifications.egress" -}}
- to:
    {{- toYaml .root.Values.networkPolicy.dns.to | nindent 4 }}
  ports:
    {{- toYaml .root.Values.networkPolicy.dns.ports | nindent 4 }}
{{- range .calls }}
{{- $peer := index $.root.Values.networkPolicy.peers . }}
{{- if not $peer }}{{ fail (printf "networkPolicy.peers has no %q" .) }}{{ end }}
- to:
    {{- toYaml $peer.to | nindent 4 }}
  ports:
    {{- toYaml $peer.ports | nindent 4 }}
{{- end }}
{{- end -}}
