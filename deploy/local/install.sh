#!/usr/bin/env bash
# Installs everything the local stack and the tests need. Idempotent; downloads are
# cached (npm's cache, Maven's ~/.m2, and $CACHE_DIR for unpacked servers).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

# Node dependencies: reinstall only when the lock file or a patch (patches/, applied by
# patch-package after every install) changed.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ] ||
  [ -n "$(find patches -newer node_modules/.package-lock.json 2>/dev/null)" ]; then
  log "installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error >&2
fi

if ! command -v redis-server >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || die "redis-server is missing: install Debian's redis-server package"
  log "installing redis-server from Debian's packages"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server) >&2
  # Debian's package starts a system-wide server on 6379; the stack runs its own.
  (systemctl disable --now redis-server 2>/dev/null || service redis-server stop 2>/dev/null || true) >/dev/null 2>&1
fi

if ! command -v luacheck >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || die "luacheck is missing: install Debian's lua-check package (it lints the Redis scripts)"
  log "installing lua-check from Debian's packages"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq lua-check) >&2
fi

if ! command -v chromium >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || die "chromium is missing: install Debian's chromium package (the API page's browser test drives it)"
  log "installing chromium from Debian's packages (the API page's browser test drives it)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >&2
fi

command -v java >/dev/null || die "java is missing (Java 17+ is needed for Kafka and the SMSC simulator)"
command -v mvn >/dev/null || die "mvn is missing (Maven fetches Kafka, jSMPP and Apicurio from Maven Central)"
find_java21 >/dev/null || die "Apicurio Registry $APICURIO_VERSION needs Java 21 or newer; set JAVA21_HOME"

mkdir -p "$CACHE_DIR"
POM="$ROOT/deploy/local/jvm/pom.xml"

if [ ! -f "$KAFKA_HOME/.complete" ]; then
  log "fetching Apache Kafka $KAFKA_VERSION from Maven Central"
  rm -rf "$KAFKA_HOME"
  mvn -q -f "$POM" -Pkafka -Dkafka.version="$KAFKA_VERSION" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$KAFKA_HOME/lib" >&2
  touch "$KAFKA_HOME/.complete"
fi

if [ ! -f "$APICURIO_HOME/.complete" ]; then
  log "fetching Apicurio Registry $APICURIO_VERSION from Maven Central"
  rm -rf "$APICURIO_HOME" && mkdir -p "$APICURIO_HOME"
  tmp=$(mktemp -d)
  mvn -q -f "$POM" dependency:copy \
    -Dartifact="io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all" -DoutputDirectory="$tmp" >&2
  tar xzf "$tmp"/apicurio-registry-app-*.tar.gz -C "$APICURIO_HOME"
  rm -rf "$tmp"
  touch "$APICURIO_HOME/.complete"
fi

if [ ! -f "$SMSC_HOME/.complete" ]; then
  log "fetching jSMPP $JSMPP_VERSION from Maven Central"
  rm -rf "$SMSC_HOME"
  mvn -q -f "$POM" -Psmsc -Djsmpp.version="$JSMPP_VERSION" dependency:copy-dependencies \
    -DoutputDirectory="$SMSC_HOME/lib" >&2
  touch "$SMSC_HOME/.complete"
fi

# The simulator's classes are cached by the hash of its source.
SMSC_CLASSES=$(smsc_classes)
if [ ! -f "$SMSC_CLASSES/SmscSimulator.class" ]; then
  log "compiling the SMSC simulator"
  rm -rf "$SMSC_CLASSES" && mkdir -p "$SMSC_CLASSES"
  javac -nowarn -d "$SMSC_CLASSES" -cp "$SMSC_HOME/lib/*" "$ROOT/deploy/local/smsc/SmscSimulator.java" >&2
fi
# The example outside producer (Python, confluent-kafka), run by the test suite: a venv per
# hash of its requirements, in the cache.
PY_PRODUCER_VENV=$(py_producer_venv)
if [ ! -f "$PY_PRODUCER_VENV/.complete" ]; then
  command -v python3 >/dev/null || die "python3 is missing (the example direct producer needs Python 3.9+)"
  log "installing the example Python producer's packages from PyPI"
  rm -rf "$PY_PRODUCER_VENV"
  python3 -m venv "$PY_PRODUCER_VENV" >&2
  "$PY_PRODUCER_VENV/bin/pip" install -q --disable-pip-version-check -r "$ROOT/examples/python-producer/requirements.txt" >&2
  touch "$PY_PRODUCER_VENV/.complete"
fi

# What checks the deploy artifacts (see lib.sh): built or fetched once, cached by version or hash.
command -v go >/dev/null || die "go is missing (helm, the operators' CRDs and compose-go come from the Go module proxy)"
export GOPATH="$GO_CACHE" GOFLAGS=-modcacherw GOTOOLCHAIN=local
if [ ! -x "$HELM_BIN" ]; then
  log "building helm $HELM_VERSION from the Go module proxy (about 2 minutes, once)"
  GOBIN="$(dirname "$HELM_BIN")" go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2
fi
for crd in $(deploy_crds | tr ':' ' '); do
  if [ ! -f "$crd" ]; then
    log "fetching the KEDA and Prometheus Operator modules (their CRDs) from the Go module proxy"
    (cd "$ROOT/deploy/tools/compose-check" &&
      go mod download "github.com/kedacore/keda/v2@$KEDA_VERSION" \
        "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION") >&2
    break
  fi
done
IMAGE_NODE=$(image_node_bin)
if [ ! -x "$IMAGE_NODE" ] || ! "$IMAGE_NODE" -v >/dev/null 2>&1; then
  log "installing Node $IMAGE_NODE_MAJOR, the container image's, from the npm registry ($(image_node_package))"
  rm -rf "$IMAGE_NODE_DIR"
  mkdir -p "$IMAGE_NODE_DIR"
  (cd "$IMAGE_NODE_DIR" && npm install --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
    "$(image_node_package)@$IMAGE_NODE_MAJOR") >&2
  "$IMAGE_NODE" -v >/dev/null || die "the image's Node did not install to $IMAGE_NODE"
fi
COMPOSE_CHECK=$(compose_check_bin)
if [ ! -x "$COMPOSE_CHECK" ]; then
  log "building the Compose file checker (compose-go) from the Go module proxy"
  (cd "$ROOT/deploy/tools/compose-check" && go build -o "$COMPOSE_CHECK" .) >&2
fi
PY_TOOLS=$(tools_venv)
if [ ! -f "$PY_TOOLS/.complete" ]; then
  log "installing kubernetes-validate, promql-parser and pyarrow from PyPI"
  rm -rf "$PY_TOOLS"
  python3 -m venv "$PY_TOOLS" >&2
  "$PY_TOOLS/bin/pip" install -q --disable-pip-version-check -r "$ROOT/deploy/tools/requirements.txt" >&2
  touch "$PY_TOOLS/.complete"
fi
log "install complete"
