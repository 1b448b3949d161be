#!/usr/bin/env bash
# The local stack: every part a real server on 127.0.0.1.
#   stack.sh up      install (cached), start what is not running, await readiness
#                    (STACK_SKIP_INSTALL=1: no install step, for bringing back a killed server)
#   stack.sh down    stop only the processes this script started (by pid)
#   stack.sh status  show what runs
#   stack.sh env     print the environment that points clients at this stack
# STACK_DIR (state, logs, pids) and STACK_PORT_BASE (or each *_PORT) select an instance.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

mkdir -p "$LOG_DIR" "$PID_DIR"

pid_of() { cat "$PID_DIR/$1.pid" 2>/dev/null || true; }
running() { local p; p=$(pid_of "$1"); [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

# start NAME CMD...: run detached in its own process group, output to logs/NAME.log
start() {
  local name=$1; shift
  if running "$name"; then log "$name already running (pid $(pid_of "$name"))"; return 0; fi
  setsid "$@" >>"$LOG_DIR/$name.log" 2>&1 < /dev/null &
  echo $! >"$PID_DIR/$name.pid"
}

# the end of NAME's log on stderr (a CI run's stack directory is gone when someone reads why)
log_tail() {
  echo "---- last 40 lines of $LOG_DIR/$1.log ----" >&2
  tail -n 40 "$LOG_DIR/$1.log" 2>/dev/null | cut -c1-400 >&2 || true
  echo "---- end of $1.log ----" >&2
}

# await NAME SECONDS CHECK...: poll CHECK until it succeeds; fail if the process died
await() {
  local name=$1 limit=$2; shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    running "$name" || { log_tail "$name"; die "$name exited during start-up; see $LOG_DIR/$name.log"; }
    [ $SECONDS -lt $deadline ] || { log_tail "$name"; die "$name not ready after ${limit}s; see $LOG_DIR/$name.log"; }
    sleep 0.2
  done
  log "$name ready"
}

# STACK_SERVICES=containers: Kafka, the schema registry and Redis in containers (see up)
containers_mode() { [ "${STACK_SERVICES:-processes}" = containers ]; }
log_says() { grep -F "$2" "$LOG_DIR/$1.log" >/dev/null; }

# redis_ping [PORT]: the Redis on PORT (default the stack's) answers
redis_ping() {
  local port=${1:-$REDIS_PORT}
  if secure; then
    REDISCLI_AUTH="$(secret redis.password)" redis-cli --tls --cacert "$TLS_DIR/ca.pem" -p "$port" ping | grep PONG >/dev/null
  else
    redis-cli -p "$port" ping | grep PONG >/dev/null
  fi
}

tcp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
http_ok() { curl -fsS -o /dev/null --max-time 2 "$1"; }

# A secured stack's certificates and passwords, made once per stack directory: a CA, a server
# certificate for 127.0.0.1 signed by it (PEM for Redis, PKCS#12 for Kafka), a trust store with
# the CA for the Java clients, and random passwords (files readable by this user only).
tls_material() {
  [ -f "$TLS_DIR/done" ] && return 0
  mkdir -p "$TLS_DIR" "$SECRETS_DIR"
  chmod 700 "$SECRETS_DIR"
  local name
  for name in store kafka-admin kafka-app redis; do
    [ -f "$SECRETS_DIR/$name.password" ] || (umask 077; openssl rand -hex 16 >"$SECRETS_DIR/$name.password")
  done
  (
    cd "$TLS_DIR"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 3650 \
      -subj "/CN=altinn-notifications local stack CA" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=127.0.0.1" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 3650 \
      -extfile server.ext 2>/dev/null
    openssl pkcs12 -export -in server.pem -inkey server.key -certfile ca.pem -name kafka \
      -out kafka.keystore.p12 -passout "pass:$(secret store.password)"
    keytool -importcert -noprompt -alias ca -file ca.pem -keystore truststore.p12 -storetype PKCS12 \
      -storepass "$(secret store.password)" >/dev/null 2>&1
    chmod 600 ca.key server.key kafka.keystore.p12
  ) || die "making the stack's TLS certificates failed (openssl and keytool are needed)"
  touch "$TLS_DIR/done"
}

# Kafka: one node (STACK_BROKERS=1, the default) named "kafka", or a cluster of STACK_BROKERS
# nodes named kafka-1 … kafka-N, each broker and controller of one KRaft quorum, node i on the
# broker and controller ports + 10·(i-1). A cluster replicates everything 3 ways (or N, if fewer),
# with min.insync.replicas 2 and no unclean leader election.
kafka_name() { if [ "$BROKERS" -gt 1 ]; then echo "kafka-$1"; else echo kafka; fi; }
kafka_port() { echo $((KAFKA_PORT + 10 * ($1 - 1))); }
kafka_controller_port() { echo $((KAFKA_CONTROLLER_PORT + 10 * ($1 - 1))); }
kafka_replication_port() { echo $((KAFKA_CONTROLLER_PORT + 1 + 10 * ($1 - 1))); }

kafka_node_up() {
  local i=$1 name dir props rf isr voters="" j
  name=$(kafka_name "$i")
  if running "$name"; then log "$name already running (pid $(pid_of "$name"))"; return 0; fi
  dir="$STACK_DIR/$name"
  props="$dir/server.properties"
  mkdir -p "$dir"
  rf=$((BROKERS < 3 ? BROKERS : 3))
  isr=$((rf < 2 ? 1 : 2))
  for j in $(seq 1 "$BROKERS"); do voters="$voters${voters:+,}$j@127.0.0.1:$(kafka_controller_port "$j")"; done
  local listeners advertised broker_listener=PLAINTEXT protocols=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
  listeners="PLAINTEXT://127.0.0.1:$(kafka_port "$i"),CONTROLLER://127.0.0.1:$(kafka_controller_port "$i")"
  advertised="PLAINTEXT://127.0.0.1:$(kafka_port "$i")"
  if secure; then
    # clients on SASL_SSL; the brokers replicate to each other on a listener of their own, also
    # SASL_SSL (as user admin). Measured here: no more broker CPU per record than plain text.
    listeners="SASL_SSL://127.0.0.1:$(kafka_port "$i"),REPLICATION://127.0.0.1:$(kafka_replication_port "$i"),CONTROLLER://127.0.0.1:$(kafka_controller_port "$i")"
    advertised="SASL_SSL://127.0.0.1:$(kafka_port "$i"),REPLICATION://127.0.0.1:$(kafka_replication_port "$i")"
    broker_listener=REPLICATION
    protocols="SASL_SSL:SASL_SSL,REPLICATION:SASL_SSL,CONTROLLER:PLAINTEXT"
  fi
  cat >"$props" <<PROPS
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$voters
listeners=$listeners
advertised.listeners=$advertised
controller.listener.names=CONTROLLER
inter.broker.listener.name=$broker_listener
listener.security.protocol.map=$protocols
log.dirs=$dir/data
num.partitions=3
auto.create.topics.enable=false
default.replication.factor=$rf
min.insync.replicas=$isr
unclean.leader.election.enable=false
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=12
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
transaction.state.log.num.partitions=12
group.initial.rebalance.delay.ms=0
log.retention.hours=168
PROPS
  # Secured: clients and brokers authenticate with SCRAM-SHA-512 over TLS (the users are made when
  # the storage is formatted, below); the controller quorum stays on the loopback in plain text.
  if secure; then
    chmod 600 "$props"
    cat >>"$props" <<PROPS
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.replication.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$(secret kafka-admin.password)";
ssl.keystore.type=PKCS12
ssl.keystore.location=$TLS_DIR/kafka.keystore.p12
ssl.keystore.password=$(secret store.password)
ssl.truststore.type=PKCS12
ssl.truststore.location=$TLS_DIR/truststore.p12
ssl.truststore.password=$(secret store.password)
PROPS
  fi
  cat >"$dir/log4j.properties" <<'L4J'
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
L4J
  # KAFKA_DEBUG_LOGGERS=kafka.coordinator.transaction,kafka.coordinator.group: those at DEBUG
  local logger
  for logger in ${KAFKA_DEBUG_LOGGERS:+${KAFKA_DEBUG_LOGGERS//,/ }}; do echo "log4j.logger.$logger=DEBUG" >>"$dir/log4j.properties"; done
  local heap=512m
  [ "$BROKERS" -gt 1 ] && heap=384m
  local java_opts=(-Xms256m "-Xmx$heap" -XX:+UseG1GC "-Dlog4j.configuration=file:$dir/log4j.properties")
  if [ ! -f "$dir/data/meta.properties" ]; then
    # every node of a cluster is formatted with the one cluster id
    if [ ! -f "$STACK_DIR/kafka-cluster-id" ]; then
      java -cp "$KAFKA_HOME/lib/*" "${java_opts[@]}" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1 \
        >"$STACK_DIR/kafka-cluster-id"
    fi
    local scram=()
    if secure; then
      scram=(--add-scram "SCRAM-SHA-512=[name=admin,password=$(secret kafka-admin.password)]"
        --add-scram "SCRAM-SHA-512=[name=$KAFKA_APP_USER,password=$(secret kafka-app.password)]")
    fi
    java -cp "$KAFKA_HOME/lib/*" "${java_opts[@]}" kafka.tools.StorageTool format \
      -t "$(cat "$STACK_DIR/kafka-cluster-id")" -c "$props" "${scram[@]}" \
      >>"$LOG_DIR/$name.log" 2>&1 || die "formatting Kafka storage failed; see $LOG_DIR/$name.log"
  fi
  # Readiness reads only what this start writes to the log.
  local from=1
  [ -f "$LOG_DIR/$name.log" ] && from=$(($(wc -l <"$LOG_DIR/$name.log") + 1))
  echo "$from" >"$STACK_DIR/$name.log-from"
  start "$name" java "${java_opts[@]}" -cp "$KAFKA_HOME/lib/*" kafka.Kafka "$props"
}

kafka_up() {
  local i
  for i in $(seq 1 "$BROKERS"); do kafka_node_up "$i"; done
}

# A node says so once its KRaft controller and broker are both serving.
kafka_node_started() {
  local i=$1 name
  name=$(kafka_name "$i")
  tcp_open "$(kafka_port "$i")" &&
    tail -n "+$(cat "$STACK_DIR/$name.log-from" 2>/dev/null || echo 1)" "$LOG_DIR/$name.log" |
    grep 'Kafka Server started' >/dev/null # not -q: tail must not die of SIGPIPE under pipefail
}

# Where the schema registry keeps its schemas: `kafkasql` (a journal topic on the stack's Kafka,
# replicated like every topic, so schemas and their ids survive a restart of the registry: the
# cluster stack's default) or `sql` (in-memory H2: lost on restart; the one-broker stack's default,
# which starts faster). SCHEMA_REGISTRY_STORAGE chooses.
registry_storage() {
  if [ -n "${SCHEMA_REGISTRY_STORAGE:-}" ]; then echo "$SCHEMA_REGISTRY_STORAGE"
  elif [ "$BROKERS" -gt 1 ]; then echo kafkasql
  else echo sql; fi
}

registry_up() {
  local java21 storage
  java21=$(find_java21) || die "Apicurio Registry needs Java 21+; set JAVA21_HOME"
  storage=(-Dapicurio.storage.kind=sql -Dapicurio.storage.sql.kind=h2)
  if [ "$(registry_storage)" = kafkasql ]; then
    # one partition: the journal is replayed in order, and the registry's start-up marker is read
    # only after everything written before it (on several partitions it can overtake them)
    storage=(-Dapicurio.storage.kind=kafkasql "-Dapicurio.kafkasql.bootstrap.servers=$(kafka_bootstrap)"
      -Dapicurio.kafkasql.topic.partitions=1 -Dapicurio.kafkasql.snapshots.topic.partitions=1)
    if secure; then
      # its Kafka clients' security, in a file only this user reads (not on the command line)
      (umask 077; cat >"$SECRETS_DIR/registry.properties" <<PROPS
apicurio.kafka.common.security.protocol=SASL_SSL
apicurio.kafka.common.sasl.mechanism=SCRAM-SHA-512
apicurio.kafka.common.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="$KAFKA_APP_USER" password="$(secret kafka-app.password)";
apicurio.kafka.common.ssl.truststore.type=PKCS12
apicurio.kafka.common.ssl.truststore.location=$TLS_DIR/truststore.p12
apicurio.kafka.common.ssl.truststore.password=$(secret store.password)
PROPS
      )
      storage+=("-Dquarkus.config.locations=file:$SECRETS_DIR/registry.properties")
    fi
  fi
  start schema-registry "$java21" -Xms128m -Xmx512m \
    -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$SCHEMA_REGISTRY_PORT" \
    -Dquarkus.management.host=127.0.0.1 -Dquarkus.management.port="$SCHEMA_REGISTRY_MANAGEMENT_PORT" \
    "${storage[@]}" -jar "$APICURIO_HOME/quarkus-run.jar"
}

up() {
  # STACK_SKIP_INSTALL=1: only start what is not running (a killed server brought back while our
  # processes run: a reinstall of node_modules under them, after a change to patches/, breaks them)
  [ "${STACK_SKIP_INSTALL:-0}" = 1 ] || "$ROOT/deploy/local/install.sh"
  cd "$ROOT"
  echo "$BROKERS" >"$STACK_DIR/brokers"
  echo "$SECURE" >"$STACK_DIR/secure"
  if secure; then
    containers_mode && die "STACK_SECURE=1 runs on local processes only (leave STACK_SERVICES unset)"
    tls_material
  fi
  if containers_mode; then
    # Kafka, the schema registry and Redis from compose.yaml's images (deploy/containers/stack.ts),
    # on this stack's ports; it fails at once, saying why, when no container runtime answers
    [ "$BROKERS" = 1 ] || die "STACK_SERVICES=containers runs one Kafka node (leave STACK_BROKERS unset)"
    node --import tsx "$ROOT/deploy/containers/stack.ts" --check || die "no container runtime (see above)"
    start containers node --import tsx "$ROOT/deploy/containers/stack.ts" --kafka-port "$KAFKA_PORT" \
      --registry-port "$SCHEMA_REGISTRY_PORT" --redis-port "$REDIS_PORT"
  else
    kafka_up
    # on Kafka storage the registry starts once Kafka answers (below)
    [ "$(registry_storage)" = kafkasql ] || registry_up
    # Every write reaches disk before Redis answers: the schedule holds orders whose Kafka offsets
    # are already committed, so losing a second of writes would lose acknowledged orders.
    # Hashes with values up to 1 KiB stay in the compact listpack encoding (an order's view is one
    # such hash): about a third less memory per order, measured by ./dev bench --suite e2e.
    local redis_net=(--port "$REDIS_PORT")
    if secure; then
      # TLS only, and a password (in a config file this user alone reads)
      (umask 077; echo "requirepass $(secret redis.password)" >"$SECRETS_DIR/redis.conf")
      redis_net=("$SECRETS_DIR/redis.conf" --port 0 --tls-port "$REDIS_PORT" --tls-cert-file "$TLS_DIR/server.pem"
        --tls-key-file "$TLS_DIR/server.key" --tls-ca-cert-file "$TLS_DIR/ca.pem" --tls-auth-clients no)
    fi
    start redis redis-server "${redis_net[@]}" --bind 127.0.0.1 --dir "$STACK_DIR" \
      --appendonly yes --appendfsync always --save "" --daemonize no --hash-max-listpack-value 1024
    if redis_replicated; then
      # its replica (lib.sh: redis_replicated), with the primary's password and TLS
      mkdir -p "$STACK_DIR/redis-replica"
      local replica_net=(--port "$REDIS_REPLICA_PORT")
      if secure; then
        (umask 077; printf 'requirepass %s\nmasterauth %s\n' "$(secret redis.password)" "$(secret redis.password)" \
          >"$SECRETS_DIR/redis-replica.conf")
        replica_net=("$SECRETS_DIR/redis-replica.conf" --port 0 --tls-port "$REDIS_REPLICA_PORT"
          --tls-cert-file "$TLS_DIR/server.pem" --tls-key-file "$TLS_DIR/server.key" --tls-ca-cert-file "$TLS_DIR/ca.pem"
          --tls-auth-clients no --tls-replication yes)
      fi
      start redis-replica redis-server "${replica_net[@]}" --bind 127.0.0.1 --dir "$STACK_DIR/redis-replica" \
        --replicaof 127.0.0.1 "$REDIS_PORT" --appendonly yes --appendfsync always --save "" --daemonize no \
        --hash-max-listpack-value 1024
    fi
  fi
  # maildev, plus delivery reports to the gateway's webhook as a provider would send them
  start mail "$ROOT/node_modules/.bin/tsx" "$ROOT/deploy/local/mail-sink/main.ts" --smtp "$SMTP_PORT" --web "$MAIL_WEB_PORT" \
    --reports "http://127.0.0.1:$GATEWAY_PORT/notifications/email/api/v1/reports?accesskey=$EMAIL_REPORT_ACCESS_KEY"
  start smsc java -Xmx128m -cp "$(smsc_classes):$SMSC_HOME/lib/*" SmscSimulator \
    --port "$SMSC_PORT" --control-port "$SMSC_CONTROL_PORT"
  start registry-sim "$ROOT/node_modules/.bin/tsx" "$ROOT/deploy/local/registry-sim/main.ts" \
    --port "$REGISTRY_SIM_PORT" --seed "${REGISTRY_SEED:-$ROOT/deploy/local/registry-sim/seed.json}"
  # the storage composed emails' files are fetched from (HTTPS, a CA of its own in blob-store/tls)
  start blob-store "$ROOT/node_modules/.bin/tsx" "$ROOT/deploy/local/blob-store/main.ts" \
    --port "$BLOB_STORE_PORT" --control-port "$BLOB_STORE_CONTROL_PORT" --dir "$STACK_DIR/blob-store"

  if containers_mode; then
    await containers "${CONTAINERS_READY_TIMEOUT_S:-600}" log_says containers 'containers ready'
  fi
  local r=redis
  containers_mode && r=containers
  await "$r" 20 redis_ping
  if redis_replicated; then await redis-replica 20 redis_ping "$REDIS_REPLICA_PORT"; fi
  # (healthz: /email lists every message kept, 80 MB after a few chaos runs, too slow under load)
  await mail 30 http_ok "http://127.0.0.1:$MAIL_WEB_PORT/healthz"
  await mail 30 tcp_open "$SMTP_PORT"
  await smsc 30 http_ok "http://127.0.0.1:$SMSC_CONTROL_PORT/health"
  await registry-sim 30 http_ok "http://127.0.0.1:$REGISTRY_SIM_PORT/health"
  await blob-store 30 http_ok "http://127.0.0.1:$BLOB_STORE_CONTROL_PORT/health"
  local i
  if ! containers_mode; then
    for i in $(seq 1 "$BROKERS"); do await "$(kafka_name "$i")" "${KAFKA_READY_TIMEOUT_S:-300}" kafka_node_started "$i"; done
    if [ "$(registry_storage)" = kafkasql ]; then registry_up; fi
  fi
  local sr=schema-registry
  containers_mode && sr=containers
  await "$sr" "${REGISTRY_READY_TIMEOUT_S:-300}" http_ok "http://127.0.0.1:$SCHEMA_REGISTRY_PORT/apis/ccompat/v7/subjects"
  # Apicurio's default compatibility is NONE; Confluent's, which clients assume, is BACKWARD.
  curl -fsS -o /dev/null -X PUT -H 'content-type: application/json' \
    -d '{"compatibility":"BACKWARD"}' "http://127.0.0.1:$SCHEMA_REGISTRY_PORT/apis/ccompat/v7/config" ||
    die "could not set the schema registry's default compatibility"
  # The local token issuer's key pair: the gateway verifies with the public half, and
  # scripts/mint-token.ts signs with the private half (local runs and tests only).
  if [ ! -f "$STACK_DIR/auth/public.pem" ]; then
    mkdir -p "$STACK_DIR/auth"
    node -e '
      const { generateKeyPairSync } = require("node:crypto");
      const fs = require("node:fs");
      const k = generateKeyPairSync("rsa", { modulusLength: 2048 });
      fs.writeFileSync(process.argv[1] + "/private.pem", k.privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
      fs.writeFileSync(process.argv[1] + "/public.pem", k.publicKey.export({ type: "spki", format: "pem" }));
    ' "$STACK_DIR/auth"
  fi
  # Platform Access Token issuers the local gateway trusts: the same key, for a few orgs
  mkdir -p "$STACK_DIR/auth/access-token-issuers"
  for issuer in ttd digdir platform; do
    cp "$STACK_DIR/auth/public.pem" "$STACK_DIR/auth/access-token-issuers/$issuer.pem"
  done
  (umask 077; stack_env >"$STACK_DIR/env") # secrets, on a secured stack
  log "stack up; environment in $STACK_DIR/env"
}

stop_one() {
  local name=$1 p
  p=$(pid_of "$name")
  [ -n "$p" ] || return 0
  if kill -0 "$p" 2>/dev/null; then
    # Each service runs in its own session (setsid): signal its whole process group.
    kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null || true
    local deadline=$((SECONDS + 30))
    while kill -0 "$p" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
    kill -KILL -- "-$p" 2>/dev/null || true
    log "$name stopped"
  fi
  rm -f "$PID_DIR/$name.pid"
}

# every Kafka node this stack has a pid for
kafka_names() {
  local f
  for f in "$PID_DIR"/kafka*.pid; do [ -e "$f" ] && basename "$f" .pid; done
}

# the project's own processes `./dev up` started: gateway(s) and stage process(es), in either layout
app_names() {
  local f
  for f in "$PID_DIR"/gateway*.pid "$PID_DIR"/stages.pid "$PID_DIR"/stage-*.pid; do
    [ -e "$f" ] && basename "$f" .pid
  done
}

down() {
  local name
  # The gateways and stages first (each drains on SIGTERM), then the services, then Kafka; each
  # step's processes side by side. Kafka's nodes together: a node stopped alone hands its
  # partitions to the others and, once the quorum's majority is gone, the last waited the whole
  # 30 s for a controller (50 s for three nodes one by one, about 8 s together, every node's
  # shutdown still a controlled one, granted by the controller at once).
  for name in $(app_names); do stop_one "$name" & done
  wait
  for name in blob-store registry-sim smsc mail redis-replica redis schema-registry containers; do stop_one "$name" & done
  wait
  for name in $(kafka_names); do stop_one "$name" & done
  wait
}

status() {
  local name
  for name in $(kafka_names) schema-registry redis redis-replica containers mail smsc registry-sim blob-store $(app_names); do
    if running "$name"; then printf '%-32s running (pid %s)\n' "$name" "$(pid_of "$name")"
    else printf '%-32s stopped\n' "$name"; fi
  done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  env) stack_env ;;
  *) echo "usage: $0 up|down|status|env" >&2; exit 2 ;;
esac
