#!/usr/bin/env bash
# stack.sh — Tally's local stack on real Kafka, Redis and ClickHouse, no Docker.
#
#   scripts/stack.sh install            apt packages and Kafka jars (idempotent)
#   scripts/stack.sh up [infra|all]     start what is not running, wait until healthy
#   scripts/stack.sh down               stop everything this stack started
#   scripts/stack.sh clean              down, then remove data and logs
#   scripts/stack.sh status             one line per process
#   scripts/stack.sh env                the addresses, as shell assignments
#   scripts/stack.sh restart NAME       restart one process (kafka, processor-2, …)
#
# State lives under $STACK_DIR (default .stack/): run/<name>.pid, log/<name>.log,
# data/<name>/. Every port is overridable; PORT_BASE shifts them all at once so
# a test stack never collides with a running `make up`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STACK_DIR="${STACK_DIR:-$ROOT/.stack}"
CACHE_DIR="${TALLY_CACHE_DIR:-$ROOT/.cache}"
KAFKA_VERSION="${KAFKA_VERSION:-4.3.1}"
BROKER="${BROKER:-kafka}"            # kafka (real JVM broker) | embedded (franz-go kfake)
PROCESSORS="${PROCESSORS:-1}"        # processor processes in the consumer group
PARTITIONS="${PARTITIONS:-8}"
WITH_DASHBOARD="${WITH_DASHBOARD:-1}"
FAULT_INJECTION="${TALLY_FAULT_INJECTION:-true}"

PORT_BASE="${PORT_BASE:-0}"
p() { echo $(($1 + PORT_BASE)); }
KAFKA_PORT="${KAFKA_PORT:-$(p 9092)}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$(p 9093)}"
REDIS_PORT="${REDIS_PORT:-$(p 6379)}"
CH_PORT="${CH_PORT:-$(p 9000)}"
CH_HTTP_PORT="${CH_HTTP_PORT:-$(p 8123)}"
CH_INTERSERVER_PORT="${CH_INTERSERVER_PORT:-$(p 9009)}"
INGESTOR_PORT="${INGESTOR_PORT:-$(p 8080)}"
QUERYAPI_PORT="${QUERYAPI_PORT:-$(p 8081)}"
PROCESSOR_PORT="${PROCESSOR_PORT:-$(p 8082)}"
DASHBOARD_PORT="${DASHBOARD_PORT:-$((3000 + PORT_BASE))}"

RUN="$STACK_DIR/run"
LOG="$STACK_DIR/log"
DATA="$STACK_DIR/data"
BIN="$STACK_DIR/bin"
KAFKA_HOME="$CACHE_DIR/kafka-$KAFKA_VERSION"

say() { printf '\033[1m[stack]\033[0m %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# processor admin port for instance i (1-based): 8082, 8182, 8282, …
processor_port() { echo $((PROCESSOR_PORT + 100 * ($1 - 1))); }
processor_name() { if [ "$1" = 1 ]; then echo processor; else echo "processor-$1"; fi; }

export_env() {
	export TALLY_KAFKA_BROKERS="127.0.0.1:$KAFKA_PORT"
	export TALLY_REDIS_ADDR="127.0.0.1:$REDIS_PORT"
	export TALLY_CLICKHOUSE_ADDR="127.0.0.1:$CH_PORT"
	export TALLY_CLICKHOUSE_DATABASE="${TALLY_CLICKHOUSE_DATABASE:-tally}"
	export TALLY_RAW_TOPIC="${TALLY_RAW_TOPIC:-events.raw}"
	export TALLY_DLQ_TOPIC="${TALLY_DLQ_TOPIC:-events.dlq}"
	export TALLY_CONSUMER_GROUP="${TALLY_CONSUMER_GROUP:-tally-processor}"
	export TALLY_FAULT_INJECTION="$FAULT_INJECTION"
	export TALLY_PARTITIONS="$PARTITIONS"
}

# ---------------------------------------------------------------- install
need_apt=()
check_cmd() { command -v "$1" >/dev/null 2>&1 || need_apt+=("$2"); }

install() {
	check_cmd redis-server redis-server
	check_cmd clickhouse-server clickhouse-server
	check_cmd clickhouse-client clickhouse-client
	check_cmd kcat kcat
	check_cmd redis-cli redis-tools
	check_cmd curl curl
	if [ "${WITH_CHROMIUM:-0}" = 1 ]; then check_cmd chromium chromium; fi
	if [ "${#need_apt[@]}" -gt 0 ]; then
		say "installing from apt: ${need_apt[*]}"
		local sudo=""
		[ "$(id -u)" = 0 ] || sudo="sudo"
		$sudo apt-get update -qq
		DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
	fi
	if [ "$BROKER" = kafka ] && [ ! -f "$KAFKA_HOME/.complete" ]; then
		command -v java >/dev/null || die "java is required for BROKER=kafka (or use BROKER=embedded)"
		command -v mvn >/dev/null || die "maven is required to fetch Kafka jars (or use BROKER=embedded)"
		say "fetching Apache Kafka $KAFKA_VERSION jars from Maven Central"
		rm -rf "$KAFKA_HOME"
		mkdir -p "$KAFKA_HOME/libs"
		mvn -q -B -f "$ROOT/scripts/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
			dependency:copy-dependencies -DoutputDirectory="$KAFKA_HOME/libs" -DincludeScope=runtime
		touch "$KAFKA_HOME/.complete"
	fi
}

# ---------------------------------------------------------------- processes
pidfile() { echo "$RUN/$1.pid"; }
running() {
	local f
	f="$(pidfile "$1")"
	[ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null
}

# spawn NAME CMD... — start CMD in its own session, record its pid, log to log/NAME.log
spawn() {
	local name="$1"
	shift
	mkdir -p "$RUN" "$LOG"
	setsid "$@" >>"$LOG/$name.log" 2>&1 </dev/null &
	echo $! >"$(pidfile "$name")"
}

wait_for() { # wait_for NAME SECONDS CHECK...
	local name="$1" secs="$2"
	shift 2
	local deadline=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		if ! running "$name"; then
			tail -n 30 "$LOG/$name.log" >&2 || true
			die "$name exited during start-up (log: $LOG/$name.log)"
		fi
		if [ $SECONDS -ge $deadline ]; then
			tail -n 30 "$LOG/$name.log" >&2 || true
			die "$name not healthy after ${secs}s (log: $LOG/$name.log)"
		fi
		sleep 0.3
	done
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
http_ok() { curl -fsS -m 2 -o /dev/null "$1"; }

stop_one() {
	local name="$1" f pid
	f="$(pidfile "$name")"
	[ -f "$f" ] || return 0
	pid="$(cat "$f")"
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 1 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			say "$name did not stop in 10s; killing"
			kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	rm -f "$f"
}

# ---------------------------------------------------------------- components
start_redis() {
	running redis && return 0
	mkdir -p "$DATA/redis"
	say "starting redis on :$REDIS_PORT"
	spawn redis redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$DATA/redis" \
		--save "" --appendonly no --protected-mode no --daemonize no
	wait_for redis 20 redis-cli -p "$REDIS_PORT" ping
}

start_clickhouse() {
	running clickhouse && return 0
	local d="$DATA/clickhouse"
	mkdir -p "$d/data" "$d/tmp" "$d/user_files" "$d/format_schemas" "$LOG"
	say "starting clickhouse on :$CH_PORT (http :$CH_HTTP_PORT)"
	spawn clickhouse clickhouse-server --config-file=/etc/clickhouse-server/config.xml -- \
		--path="$d/data/" --tmp_path="$d/tmp/" --user_files_path="$d/user_files/" \
		--format_schema_path="$d/format_schemas/" \
		--logger.log="$LOG/clickhouse-server.log" --logger.errorlog="$LOG/clickhouse-server.err.log" \
		--logger.level=warning \
		--tcp_port="$CH_PORT" --http_port="$CH_HTTP_PORT" --interserver_http_port="$CH_INTERSERVER_PORT" \
		--listen_host=127.0.0.1
	wait_for clickhouse 60 clickhouse-client --port "$CH_PORT" -q "SELECT 1"
}

start_kafka() {
	running kafka && return 0
	if [ "$BROKER" = embedded ]; then
		say "starting embedded broker (kfake) on :$KAFKA_PORT"
		build_bins
		spawn kafka "$BIN/devbroker" -port "$KAFKA_PORT" -partitions "$PARTITIONS"
		wait_for kafka 30 port_open "$KAFKA_PORT"
		return 0
	fi
	[ -f "$KAFKA_HOME/.complete" ] || install
	local d="$DATA/kafka" conf="$STACK_DIR/kafka.properties"
	mkdir -p "$d" "$LOG"
	cat >"$conf" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$d
num.partitions=$PARTITIONS
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
min.insync.replicas=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.retention.hours=168
EOF
	local cp="$KAFKA_HOME/libs/*"
	local jvm=(java -Xms256m -Xmx768m -XX:+UseG1GC -XX:MaxGCPauseMillis=20
		-Djava.awt.headless=true
		-Dlog4j.configuration="file:$ROOT/scripts/kafka/log4j.properties"
		-Dlog4j2.configurationFile="$ROOT/scripts/kafka/log4j2.yaml"
		-cp "$cp")
	if [ ! -f "$d/meta.properties" ]; then
		say "formatting kafka storage"
		"${jvm[@]}" kafka.tools.StorageTool format -t "tally-local-$(date +%s)" -c "$conf" \
			>>"$LOG/kafka.log" 2>&1 || die "kafka storage format failed (log: $LOG/kafka.log)"
	fi
	say "starting kafka $KAFKA_VERSION on :$KAFKA_PORT"
	spawn kafka "${jvm[@]}" kafka.Kafka "$conf"
	wait_for kafka 90 port_open "$KAFKA_PORT"
}

build_bins() {
	mkdir -p "$BIN"
	# Go's build cache makes this a no-op when nothing changed.
	(cd "$ROOT" && go build -o "$BIN/ingestor" ./ingestor/cmd/ingestor &&
		go build -o "$BIN/processor" ./processor/cmd/processor &&
		go build -o "$BIN/devbroker" ./processor/cmd/devbroker &&
		go build -o "$BIN/queryapi" ./queryapi/cmd/queryapi)
}

migrate() {
	export_env
	say "applying ClickHouse schema and Kafka topics ($PARTITIONS partitions)"
	"$BIN/processor" migrate >>"$LOG/migrate.log" 2>&1 || {
		tail -n 20 "$LOG/migrate.log" >&2
		die "migrate failed"
	}
}

start_services() {
	export_env
	if ! running ingestor; then
		say "starting ingestor on :$INGESTOR_PORT"
		TALLY_HTTP_ADDR="127.0.0.1:$INGESTOR_PORT" spawn ingestor "$BIN/ingestor"
	fi
	local i name port
	for i in $(seq 1 "$PROCESSORS"); do
		name="$(processor_name "$i")"
		port="$(processor_port "$i")"
		if ! running "$name"; then
			say "starting $name (admin :$port)"
			TALLY_HTTP_ADDR="127.0.0.1:$port" TALLY_INSTANCE="$name" TALLY_GROUP_INSTANCE_ID="$name" spawn "$name" "$BIN/processor" run
		fi
	done
	if ! running queryapi; then
		say "starting queryapi on :$QUERYAPI_PORT"
		TALLY_HTTP_ADDR="127.0.0.1:$QUERYAPI_PORT" spawn queryapi "$BIN/queryapi"
	fi
	wait_for ingestor 30 http_ok "http://127.0.0.1:$INGESTOR_PORT/readyz"
	for i in $(seq 1 "$PROCESSORS"); do
		wait_for "$(processor_name "$i")" 30 http_ok "http://127.0.0.1:$(processor_port "$i")/healthz"
	done
	wait_for queryapi 30 http_ok "http://127.0.0.1:$QUERYAPI_PORT/readyz"
}

start_dashboard() {
	[ "$WITH_DASHBOARD" = 1 ] || return 0
	[ -f "$ROOT/dashboard/package.json" ] || return 0
	running dashboard && return 0
	local dir="$ROOT/dashboard"
	if [ ! -d "$dir/node_modules" ]; then
		say "installing dashboard packages (npm ci)"
		(cd "$dir" && npm ci --no-audit --no-fund >>"$LOG/dashboard-build.log" 2>&1) || die "npm ci failed (log: $LOG/dashboard-build.log)"
	fi
	say "building dashboard"
	(cd "$dir" && npm run build >>"$LOG/dashboard-build.log" 2>&1) || die "dashboard build failed (log: $LOG/dashboard-build.log)"
	say "serving dashboard on :$DASHBOARD_PORT"
	(cd "$dir" && TALLY_INGESTOR_URL="http://127.0.0.1:$INGESTOR_PORT" \
		TALLY_QUERYAPI_URL="http://127.0.0.1:$QUERYAPI_PORT" \
		TALLY_PROCESSOR_ADMIN_URL="http://127.0.0.1:$PROCESSOR_PORT" \
		spawn dashboard ./node_modules/.bin/vite preview --host 127.0.0.1 --port "$DASHBOARD_PORT" --strictPort)
	wait_for dashboard 30 http_ok "http://127.0.0.1:$DASHBOARD_PORT/"
}

up() {
	local what="${1:-all}"
	mkdir -p "$RUN" "$LOG" "$DATA"
	install
	build_bins
	start_redis
	start_clickhouse
	start_kafka
	migrate
	if [ "$what" = all ]; then
		start_services
		start_dashboard
		say "ready:"
		say "  ingestor   http://127.0.0.1:$INGESTOR_PORT   (POST /v1/events)"
		say "  queryapi   http://127.0.0.1:$QUERYAPI_PORT   (GET /v1/aggregations, /v1/stats)"
		say "  processor  http://127.0.0.1:$PROCESSOR_PORT   (admin: /v1/status, /v1/faults)"
		[ "$WITH_DASHBOARD" = 1 ] && say "  dashboard  http://127.0.0.1:$DASHBOARD_PORT"
	fi
	say "logs in $LOG; stop with 'make down'"
}

all_names() {
	[ -d "$RUN" ] || return 0
	# services first (they depend on the infrastructure), then the infrastructure
	local n
	for n in dashboard queryapi ingestor; do echo "$n"; done
	ls "$RUN" 2>/dev/null | sed -n 's/^\(processor.*\)\.pid$/\1/p'
	for n in kafka clickhouse redis; do echo "$n"; done
}

down() {
	local n
	for n in $(all_names); do
		if [ -f "$(pidfile "$n")" ]; then
			say "stopping $n"
			stop_one "$n"
		fi
	done
}

status() {
	local n f
	for f in "$RUN"/*.pid; do
		[ -e "$f" ] || { say "nothing running under $STACK_DIR"; return 0; }
		n="$(basename "$f" .pid)"
		if running "$n"; then echo "$n: running (pid $(cat "$f"))"; else echo "$n: stopped"; fi
	done
}

restart() {
	local n="$1"
	stop_one "$n"
	case "$n" in
	redis) start_redis ;;
	clickhouse) start_clickhouse ;;
	kafka) start_kafka ;;
	dashboard) start_dashboard ;;
	*) start_services ;;
	esac
}

cmd="${1:-up}"
shift || true
case "$cmd" in
install) install ;;
up) up "$@" ;;
down) down ;;
clean) down && rm -rf "$STACK_DIR" && say "removed $STACK_DIR" ;;
status) status ;;
build) build_bins ;;
migrate) migrate ;;
restart) restart "$@" ;;
env)
	export_env
	env | grep '^TALLY_' | sort | sed 's/^/export /'
	;;
*) die "unknown command $cmd" ;;
esac
