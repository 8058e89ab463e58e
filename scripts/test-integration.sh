#!/usr/bin/env bash
# test-integration.sh — the integration tier of `make test`.
#
# Starts a private stack (real Kafka, Redis, ClickHouse, the services and the
# dashboard) under .stack-test/ on ports shifted by 20000, runs every Go
# module's integration tests (build tag `integration`) against it, the
# dashboard's browser end-to-end tests, and the short chaos profile, then
# stops everything it started — also when a step fails.
#
#   scripts/test-integration.sh          integration + e2e + chaos (short)
#   scripts/test-integration.sh chaos    only the chaos suite (CHAOS_PROFILE=short|long)
#
# TEST_STACK_DIR and TEST_PORT_BASE move the stack; TOPOLOGY=cluster runs it
# as a cluster (the chaos suite then adds its cluster cases: make chaos-cluster).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
what="${1:-all}"

export STACK_DIR="${TEST_STACK_DIR:-$ROOT/.stack-test}"
export PORT_BASE="${TEST_PORT_BASE:-20000}"
export PROCESSORS="${TEST_PROCESSORS:-3}"
export TALLY_FAULT_INJECTION=true
export WITH_DASHBOARD=1
[ "$what" = chaos ] && export WITH_DASHBOARD=0
# The chaos suite measures faults, not rate limits: its loads (the recovery
# goal offers up to 10,000 events/s and calibrates at full tilt) must not
# meet the default per-key limit (10,000 events/s). Rate limits have their
# own integration tests, with keys that carry their own rate.
[ "$what" = chaos ] && export TALLY_RATE_LIMIT_EVENTS_PER_SECOND="${TALLY_RATE_LIMIT_EVENTS_PER_SECOND:-1000000}"

cleanup() {
	local rc=$?
	scripts/stack.sh down || true
	# The event module's cluster test runs its own ZooKeeper and ClickHouse
	# replicas; it stops them itself unless it was killed.
	STACK_DIR="$ROOT/.stack-test-cluster" scripts/stack.sh down || true
	if [ $rc -ne 0 ] && [ -d "$STACK_DIR/log" ]; then
		echo "---- last lines of each log under $STACK_DIR/log ----" >&2
		for f in "$STACK_DIR"/log/*.log; do
			echo "== $f" >&2
			tail -n 15 "$f" >&2 || true
		done
	fi
	exit $rc
}
trap cleanup EXIT INT TERM

# Start from empty data so every run is independent of the last.
scripts/stack.sh down || true
rm -rf "$STACK_DIR/data"
scripts/stack.sh up
eval "$(scripts/stack.sh env)"

export TALLY_TEST_KAFKA_BROKERS="$TALLY_KAFKA_BROKERS"
export TALLY_TEST_REDIS_ADDR="$TALLY_REDIS_ADDR"
export TALLY_TEST_CLICKHOUSE_ADDR="$TALLY_CLICKHOUSE_ADDR"
export TALLY_TEST_INGESTOR_URL="http://127.0.0.1:$((8080 + PORT_BASE))"
export TALLY_TEST_QUERYAPI_URL="http://127.0.0.1:$((8081 + PORT_BASE))"
export TALLY_TEST_PROCESSOR_URL="http://127.0.0.1:$((8082 + PORT_BASE))"
export TALLY_TEST_STACK_DIR="$STACK_DIR"

if [ "$what" = all ]; then
	for m in event ingestor processor queryapi; do
		echo "== integration: $m"
		(cd "$m" && go test -race -count=1 -tags integration ./...)
	done
	if [ -f dashboard/package.json ]; then
		echo "== e2e: dashboard in Chromium"
		command -v chromium >/dev/null || WITH_CHROMIUM=1 scripts/stack.sh install
		(cd dashboard && DASHBOARD_URL="http://127.0.0.1:$((3000 + PORT_BASE))" npm run e2e)
	fi
fi

echo "== chaos (${CHAOS_PROFILE:-short} profile)"
(cd processor && CHAOS_PROFILE="${CHAOS_PROFILE:-short}" go test -count=1 -tags chaos -timeout 100m -v ./internal/chaos/ 2>&1 | grep -v '^=== \(RUN\|PAUSE\|CONT\)')
