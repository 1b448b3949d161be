#!/usr/bin/env bash
# The local stack: every part a real server on 127.0.0.1.
#   stack.sh up      install (cached), start what is not running, await readiness
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

# await NAME SECONDS CHECK...: poll CHECK until it succeeds; fail if the process died
await() {
  local name=$1 limit=$2; shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    running "$name" || die "$name exited during start-up; see $LOG_DIR/$name.log"
    [ $SECONDS -lt $deadline ] || die "$name not ready after ${limit}s; see $LOG_DIR/$name.log"
    sleep 0.2
  done
  log "$name ready"
}

tcp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
http_ok() { curl -fsS -o /dev/null --max-time 2 "$1"; }

kafka_up() {
  if running kafka; then log "kafka already running (pid $(pid_of kafka))"; return 0; fi
  local dir="$STACK_DIR/kafka" props="$STACK_DIR/kafka/server.properties"
  mkdir -p "$dir"
  cat >"$props" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir/data
num.partitions=3
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=12
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=12
group.initial.rebalance.delay.ms=0
log.retention.hours=168
PROPS
  cat >"$dir/log4j.properties" <<'L4J'
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
L4J
  local java_opts=(-Xms256m -Xmx512m -XX:+UseG1GC "-Dlog4j.configuration=file:$dir/log4j.properties")
  if [ ! -f "$dir/data/meta.properties" ]; then
    local cluster_id
    cluster_id=$(java -cp "$KAFKA_HOME/lib/*" "${java_opts[@]}" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1)
    java -cp "$KAFKA_HOME/lib/*" "${java_opts[@]}" kafka.tools.StorageTool format -t "$cluster_id" -c "$props" \
      >>"$LOG_DIR/kafka.log" 2>&1 || die "formatting Kafka storage failed; see $LOG_DIR/kafka.log"
  fi
  # Readiness reads only what this start writes to the log.
  KAFKA_LOG_FROM=1
  [ -f "$LOG_DIR/kafka.log" ] && KAFKA_LOG_FROM=$(($(wc -l <"$LOG_DIR/kafka.log") + 1))
  start kafka java "${java_opts[@]}" -cp "$KAFKA_HOME/lib/*" kafka.Kafka "$props"
}

# The broker says so once its KRaft controller and broker are both serving.
kafka_started() {
  tcp_open "$KAFKA_PORT" && tail -n "+${KAFKA_LOG_FROM:-1}" "$LOG_DIR/kafka.log" | grep -q 'Kafka Server started'
}

registry_up() {
  local java21
  java21=$(find_java21) || die "Apicurio Registry needs Java 21+; set JAVA21_HOME"
  start schema-registry "$java21" -Xms128m -Xmx512m \
    -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$SCHEMA_REGISTRY_PORT" \
    -Dquarkus.management.host=127.0.0.1 -Dquarkus.management.port="$SCHEMA_REGISTRY_MANAGEMENT_PORT" \
    -Dapicurio.storage.kind=sql -Dapicurio.storage.sql.kind=h2 \
    -jar "$APICURIO_HOME/quarkus-run.jar"
}

up() {
  "$ROOT/deploy/local/install.sh"
  cd "$ROOT"
  kafka_up
  registry_up
  # Every write reaches disk before Redis answers: the schedule holds orders whose Kafka offsets
  # are already committed, so losing a second of writes would lose acknowledged orders.
  start redis redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$STACK_DIR" \
    --appendonly yes --appendfsync always --save "" --daemonize no
  # maildev, plus delivery reports to the gateway's webhook as a provider would send them
  start mail "$ROOT/node_modules/.bin/tsx" "$ROOT/deploy/local/mail-sink/main.ts" --smtp "$SMTP_PORT" --web "$MAIL_WEB_PORT" \
    --reports "http://127.0.0.1:$GATEWAY_PORT/notifications/email/api/v1/reports?accesskey=$EMAIL_REPORT_ACCESS_KEY"
  start smsc java -Xmx128m -cp "$(smsc_classes):$SMSC_HOME/lib/*" SmscSimulator \
    --port "$SMSC_PORT" --control-port "$SMSC_CONTROL_PORT"
  start registry-sim "$ROOT/node_modules/.bin/tsx" "$ROOT/deploy/local/registry-sim/main.ts" \
    --port "$REGISTRY_SIM_PORT" --seed "${REGISTRY_SEED:-$ROOT/deploy/local/registry-sim/seed.json}"

  await redis 20 redis-cli -p "$REDIS_PORT" ping
  await mail 30 http_ok "http://127.0.0.1:$MAIL_WEB_PORT/email"
  await mail 30 tcp_open "$SMTP_PORT"
  await smsc 30 http_ok "http://127.0.0.1:$SMSC_CONTROL_PORT/health"
  await registry-sim 30 http_ok "http://127.0.0.1:$REGISTRY_SIM_PORT/health"
  await schema-registry 90 http_ok "http://127.0.0.1:$SCHEMA_REGISTRY_PORT/apis/ccompat/v7/subjects"
  # Apicurio's default compatibility is NONE; Confluent's, which clients assume, is BACKWARD.
  curl -fsS -o /dev/null -X PUT -H 'content-type: application/json' \
    -d '{"compatibility":"BACKWARD"}' "http://127.0.0.1:$SCHEMA_REGISTRY_PORT/apis/ccompat/v7/config" ||
    die "could not set the schema registry's default compatibility"
  if [ -n "${KAFKA_LOG_FROM:-}" ]; then await kafka "${KAFKA_READY_TIMEOUT_S:-300}" kafka_started; else await kafka "${KAFKA_READY_TIMEOUT_S:-300}" tcp_open "$KAFKA_PORT"; fi
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
  stack_env >"$STACK_DIR/env"
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

down() {
  local name
  for name in gateway stages registry-sim smsc mail redis schema-registry kafka; do stop_one "$name"; done
}

status() {
  local name
  for name in kafka schema-registry redis mail smsc registry-sim stages gateway; do
    if running "$name"; then printf '%-16s running (pid %s)\n' "$name" "$(pid_of "$name")"
    else printf '%-16s stopped\n' "$name"; fi
  done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  env) stack_env ;;
  *) echo "usage: $0 up|down|status|env" >&2; exit 2 ;;
esac
