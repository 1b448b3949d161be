# Shared settings for the local stack scripts (sourced, not run).
# Every value can be overridden from the environment.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE_DIR="${NOTIFICATIONS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/altinn-notifications}"
STACK_DIR="${STACK_DIR:-$ROOT/.local/stack}"
# absolute, so the paths in its env file hold from any working directory
STACK_DIR="$(realpath -m "$STACK_DIR")"
LOG_DIR="$STACK_DIR/logs"
PID_DIR="$STACK_DIR/pids"

KAFKA_VERSION="3.9.1"
APICURIO_VERSION="3.3.3"
JSMPP_VERSION="3.0.1"

# Kafka nodes: 1, or a cluster (STACK_BROKERS=3); a stack started as a cluster stays one.
BROKERS="${STACK_BROKERS:-$(cat "$STACK_DIR/brokers" 2>/dev/null || echo 1)}"

# Secured (STACK_SECURE=1): Kafka clients on SASL_SSL (SCRAM-SHA-512 over TLS) and Redis on TLS
# with a password, certificates from a CA of the stack's own. A cluster stack is secured unless
# STACK_SECURE=0; a one-node stack is not unless STACK_SECURE=1. A stack stays as it started.
# (a folder started before stacks could be secured has a `brokers` file and no `secure`: plain)
stack_secure_default() {
  if [ -f "$STACK_DIR/secure" ]; then cat "$STACK_DIR/secure"
  elif [ -f "$STACK_DIR/brokers" ] || [ "$BROKERS" -le 1 ]; then echo 0
  else echo 1; fi
}
SECURE="${STACK_SECURE:-$(stack_secure_default)}"
TLS_DIR="$STACK_DIR/tls"
SECRETS_DIR="$STACK_DIR/secrets"
secure() { [ "$SECURE" = 1 ]; }
secret() { cat "$SECRETS_DIR/$1"; }
# the user the pipeline connects to Kafka as (the brokers talk to each other as `admin`)
KAFKA_APP_USER=notifications

# Ports: one base, each service at a fixed offset, each one overridable.
PORT_BASE="${STACK_PORT_BASE:-19000}"
KAFKA_PORT="${KAFKA_PORT:-$((PORT_BASE + 92))}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((PORT_BASE + 93))}"
SCHEMA_REGISTRY_PORT="${SCHEMA_REGISTRY_PORT:-$((PORT_BASE + 81))}"
SCHEMA_REGISTRY_MANAGEMENT_PORT="${SCHEMA_REGISTRY_MANAGEMENT_PORT:-$((PORT_BASE + 82))}"
REDIS_PORT="${REDIS_PORT:-$((PORT_BASE + 79))}"
REDIS_REPLICA_PORT="${REDIS_REPLICA_PORT:-$((PORT_BASE + 78))}"
SMTP_PORT="${SMTP_PORT:-$((PORT_BASE + 25))}"
MAIL_WEB_PORT="${MAIL_WEB_PORT:-$((PORT_BASE + 80))}"
SMSC_PORT="${SMSC_PORT:-$((PORT_BASE + 75))}"
SMSC_CONTROL_PORT="${SMSC_CONTROL_PORT:-$((PORT_BASE + 76))}"
REGISTRY_SIM_PORT="${REGISTRY_SIM_PORT:-$((PORT_BASE + 90))}"
GATEWAY_PORT="${GATEWAY_PORT:-$((PORT_BASE + 88))}"
BLOB_STORE_PORT="${BLOB_STORE_PORT:-$((PORT_BASE + 43))}"
BLOB_STORE_CONTROL_PORT="${BLOB_STORE_CONTROL_PORT:-$((PORT_BASE + 44))}"
# the key the gateway's email report webhook wants, and the local mail sink's reports carry
EMAIL_REPORT_ACCESS_KEY="${EMAIL_REPORT_ACCESS_KEY:-local-email-reports-key}"
# the X-API-Key of the gateway's monthly metrics page (README, "Monthly metrics")
METRICS_API_KEY="${METRICS_API_KEY:-local-metrics-api-key}"

KAFKA_HOME="$CACHE_DIR/kafka-$KAFKA_VERSION"
APICURIO_HOME="$CACHE_DIR/apicurio-registry-$APICURIO_VERSION"
SMSC_HOME="$CACHE_DIR/smsc-jsmpp-$JSMPP_VERSION"

smsc_classes() {
  echo "$CACHE_DIR/smsc-classes-$(sha256sum "$ROOT/deploy/local/smsc/SmscSimulator.java" | cut -c1-16)"
}

# The example Python producer's venv, by the hash of its requirements.
py_producer_venv() {
  echo "$CACHE_DIR/py-producer-$(sha256sum "$ROOT/examples/python-producer/requirements.txt" | cut -c1-16)"
}

# Tools that check the deploy artifacts (test/deploy/helm.test.ts, compose.test.ts): helm and the
# operators' CRDs from the Go module proxy, compose-go's loader built from deploy/tools/compose-check,
# and a venv of deploy/tools/requirements.txt (TOOLS_PYTHON: kubernetes-validate, promql-parser, and
# pyarrow, which reads the daily exports' Parquet files back in test/support/parquet.ts).
HELM_VERSION="v3.16.3"
KEDA_VERSION="v2.16.1"
PROMETHEUS_OPERATOR_VERSION="v0.85.0"
GO_CACHE="$CACHE_DIR/go"
HELM_BIN="$CACHE_DIR/helm-$HELM_VERSION/helm"
# The container image's Node (the major of deploy/container/Dockerfile's FROM), this platform's
# build from the npm registry (node-<os>-<arch>, the binaries the `node` package installs), so
# test/deploy/container.test.ts installs and runs the image's folder on the Node the image has.
IMAGE_NODE_MAJOR=$(sed -n 's/^FROM node:\([0-9][0-9]*\).*/\1/p' "$ROOT/deploy/container/Dockerfile" | head -1)
image_node_package() {
  local os arch
  case "$(uname -s)" in Linux) os=linux ;; Darwin) os=darwin ;; *) os=$(uname -s | tr 'A-Z' 'a-z') ;; esac
  case "$(uname -m)" in x86_64 | amd64) arch=x64 ;; aarch64 | arm64) arch=arm64 ;; *) arch=$(uname -m) ;; esac
  echo "node-$os-$arch"
}
IMAGE_NODE_DIR="$CACHE_DIR/node-$IMAGE_NODE_MAJOR"
image_node_bin() { echo "$IMAGE_NODE_DIR/node_modules/$(image_node_package)/bin/node"; }
go_mod_dir() { echo "$GO_CACHE/pkg/mod/$1@$2"; }
deploy_crds() {
  local keda prom
  keda=$(go_mod_dir github.com/kedacore/keda/v2 "$KEDA_VERSION")/config/crd/bases
  prom=$(go_mod_dir github.com/prometheus-operator/prometheus-operator "$PROMETHEUS_OPERATOR_VERSION")/example/prometheus-operator-crd
  echo "$keda/keda.sh_scaledobjects.yaml:$prom/monitoring.coreos.com_podmonitors.yaml:$prom/monitoring.coreos.com_servicemonitors.yaml:$prom/monitoring.coreos.com_prometheusrules.yaml"
}
compose_check_bin() {
  echo "$CACHE_DIR/compose-check-$(cat "$ROOT"/deploy/tools/compose-check/{main.go,go.mod,go.sum} | sha256sum | cut -c1-16)/compose-check"
}
tools_venv() {
  echo "$CACHE_DIR/py-tools-$(sha256sum "$ROOT/deploy/tools/requirements.txt" | cut -c1-16)"
}

log() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] error: %s\n' "$*" >&2; exit 1; }

# Apicurio Registry 3.3 is built for Java 21+; Kafka and the SMSC run on 17.
find_java21() {
  local candidates=()
  [ -n "${JAVA21_HOME:-}" ] && candidates+=("$JAVA21_HOME/bin/java")
  [ -n "${JAVA_HOME:-}" ] && candidates+=("$JAVA_HOME/bin/java")
  candidates+=(/usr/lib/jvm/*/bin/java "$(command -v java 2>/dev/null || true)")
  local j major
  for j in "${candidates[@]}"; do
    [ -x "$j" ] || continue
    major=$("$j" -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ {print $2}')
    if [ -n "$major" ] && [ "${major%%.*}" -ge 21 ] 2>/dev/null; then echo "$j"; return 0; fi
  done
  return 1
}

# the bootstrap list: every node
kafka_bootstrap() {
  local i list=""
  for i in $(seq 1 "$BROKERS"); do list="$list${list:+,}127.0.0.1:$((KAFKA_PORT + 10 * (i - 1)))"; done
  echo "$list"
}

# the cluster stack runs Redis with a replica, as production does, and the writes a failover must
# not lose (claims, scheduled items, cancellations, idempotency claims, delivery references, view
# writes) wait for it (REDIS_WAIT_REPLICAS)
redis_replicated() { [ "$BROKERS" -gt 1 ]; }

stack_env() {
  redis_replicated && printf '%s\n' "export REDIS_WAIT_REPLICAS=1"
  if secure; then
    cat <<ENV
export KAFKA_SECURITY_PROTOCOL=SASL_SSL
export KAFKA_SASL_MECHANISM=scram-sha-512
export KAFKA_SASL_USERNAME=$KAFKA_APP_USER
export KAFKA_SASL_PASSWORD=$(secret kafka-app.password)
export KAFKA_SSL_CA_FILE=$TLS_DIR/ca.pem
export REDIS_URL=rediss://:$(secret redis.password)@127.0.0.1:$REDIS_PORT
export REDIS_TLS_CA_FILE=$TLS_DIR/ca.pem
ENV
  else
    echo "export REDIS_URL=redis://127.0.0.1:$REDIS_PORT"
  fi
  cat <<ENV
export KAFKA_BROKERS=$(kafka_bootstrap)
export TOPIC_REPLICATION_FACTOR=$((BROKERS < 3 ? BROKERS : 3))
export SCHEMA_REGISTRY_URL=http://127.0.0.1:$SCHEMA_REGISTRY_PORT/apis/ccompat/v7
export SMTP_HOST=127.0.0.1
export SMTP_PORT=$SMTP_PORT
export MAIL_WEB_URL=http://127.0.0.1:$MAIL_WEB_PORT
export SMSC_HOST=127.0.0.1
export SMSC_PORT=$SMSC_PORT
export SMSC_CONTROL_URL=http://127.0.0.1:$SMSC_CONTROL_PORT
export SMSC_SIMULATOR_CLASSPATH='$(smsc_classes):$SMSC_HOME/lib/*'
export KAFKA_CLASSPATH='$KAFKA_HOME/lib/*'
export REGISTRY_URL=http://127.0.0.1:$REGISTRY_SIM_PORT
export BLOB_STORE_URL=https://127.0.0.1:$BLOB_STORE_PORT/devstoreaccount1
export BLOB_STORE_CONTROL_URL=http://127.0.0.1:$BLOB_STORE_CONTROL_PORT
export BLOB_STORE_CA_FILE=$STACK_DIR/blob-store/tls/ca.pem
export GATEWAY_PORT=$GATEWAY_PORT
export GATEWAY_URL=http://127.0.0.1:$GATEWAY_PORT
export AUTH_PUBLIC_KEY_FILE=$STACK_DIR/auth/public.pem
export AUTH_PRIVATE_KEY_FILE=$STACK_DIR/auth/private.pem
export ACCESS_TOKEN_ISSUERS_DIR=$STACK_DIR/auth/access-token-issuers
export EMAIL_REPORT_ACCESS_KEY=$EMAIL_REPORT_ACCESS_KEY
export METRICS_API_KEY=$METRICS_API_KEY
export PY_PRODUCER_PYTHON=$(py_producer_venv)/bin/python
export HELM_BIN=$HELM_BIN
export IMAGE_NODE_BIN=$(image_node_bin)
export COMPOSE_CHECK_BIN=$(compose_check_bin)
export TOOLS_PYTHON=$(tools_venv)/bin/python
export DEPLOY_CRDS=$(deploy_crds)
ENV
}
