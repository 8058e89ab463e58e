#!/usr/bin/env bash
# bench.sh — Tally's benchmarks on the local stack (`make bench`).
#
#   BENCH_PROFILE=quick scripts/bench.sh    CI-sized: a few minutes of load (plus stack start-up)
#   scripts/bench.sh                        the full profile (default; alias scale): 10M stored events
#   BENCH_MICRO=1 scripts/bench.sh          also run the Go micro-benchmarks (first, on the idle machine)
#   BENCH_SCALE_EVENTS=3000000 scripts/bench.sh   the full profile at a smaller scale
#   BENCH_STEPS=processor,query scripts/bench.sh   only those steps (for working on one; the report says so)
#   (also BENCH_PREFILL_EVENTS: events per drain run; BENCH_RUNS: runs per step;
#   BENCH_CEILING_RECORDS: records per Kafka ceiling and sink run;
#   BENCH_CPUPROFILE_DIR: a CPU profile of the benchmark process per HTTP load)
#
# Starts its own stack (STACK_DIR=.stack-bench, PORT_BASE=16000, no dashboard)
# so it never collides with `make up` or the test stack, runs the steps in
# bench/cmd/tallybench with the stack's API keys (admin.key, default.key),
# writes bench/results/latest.{json,md,svg} and a dated copy under
# docs/benchmarks/ (BENCH_DOCS= to skip it, or another directory), and stops
# the stack again (BENCH_KEEP_STACK=1 leaves it running).
#
# Exits non-zero when any step failed (an error, a 5xx, a timeout, books that
# do not balance, counts that are not exact); the report names the reason.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export STACK_DIR="${STACK_DIR:-$ROOT/.stack-bench}"
export PORT_BASE="${PORT_BASE:-16000}"
export WITH_DASHBOARD=0
export PROCESSORS="${PROCESSORS:-1}"
export TALLY_FAULT_INJECTION="${TALLY_FAULT_INJECTION:-false}"
# The driver sends with the stack's default.key; its keys have no rateLimit
# of their own, so the ingestor's default applies. Raise it far above what
# this machine can offer so the limiter runs (and costs what it costs) but
# never throttles a scenario.
export TALLY_RATE_LIMIT_EVENTS_PER_SECOND="${TALLY_RATE_LIMIT_EVENTS_PER_SECOND:-1000000}"
PROFILE="${BENCH_PROFILE:-full}"
OUT="${BENCH_OUT:-$ROOT/bench/results}"
DOCS="${BENCH_DOCS-$ROOT/docs/benchmarks}"

say() { printf '\033[1m[bench]\033[0m %s\n' "$*" >&2; }

if [ "${BENCH_KEEP_DATA:-0}" != 1 ]; then
	say "removing data left by earlier benchmark runs (BENCH_KEEP_DATA=1 keeps it)"
	scripts/stack.sh clean
fi
say "building the load generator and benchmark driver"
mkdir -p "$STACK_DIR/bin" "$OUT"
(cd bench && GOWORK=off go build -o "$STACK_DIR/bin/loadgen" ./cmd/loadgen &&
	GOWORK=off go build -o "$STACK_DIR/bin/tallybench" ./cmd/tallybench)

# Micro-benchmarks run before the stack starts: on this machine a running
# stack (ClickHouse merging, Kafka idling) moves a 1 µs benchmark by 10-40%.
if [ "${BENCH_MICRO:-0}" = 1 ]; then
	say "micro-benchmarks on the idle machine (benchstat-comparable: $OUT/micro.txt)"
	{
		(cd event && go test -run '^$' -bench 'BenchmarkNormalize$' -benchmem -count "${BENCH_COUNT:-6}" ./normalize/)
		(cd processor && go test -run '^$' -bench . -benchmem -count "${BENCH_COUNT:-6}" \
			./internal/pipeline/ ./internal/seen/ ./internal/eventstore/)
	} | tee "$OUT/micro.txt"
fi

cleanup() {
	if [ "${BENCH_KEEP_STACK:-0}" != 1 ]; then
		say "stopping the benchmark stack"
		scripts/stack.sh down || true
	fi
}
trap cleanup EXIT

say "starting the stack under $STACK_DIR (PORT_BASE=$PORT_BASE)"
# A loaded machine sometimes fails the first start (a topic just created is
# not served yet when the keys are bootstrapped); `up` is idempotent, so try
# again before giving up.
for attempt in 1 2 3; do
	if scripts/stack.sh up; then break; fi
	if [ "$attempt" = 3 ]; then
		say "the stack did not start (3 attempts)"
		exit 1
	fi
	say "the stack did not start; trying again ($attempt/3)"
	sleep 5
done
eval "$(scripts/stack.sh env)"

commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if ! git diff --quiet HEAD -- . ':!docs/benchmarks' 2>/dev/null; then commit="$commit+uncommitted changes"; fi
# The command that reproduces this run, overrides included.
repro="BENCH_PROFILE=$PROFILE"
for v in BENCH_STEPS BENCH_SCALE_EVENTS BENCH_PREFILL_EVENTS BENCH_RUNS BENCH_CEILING_RECORDS; do
	if [ -n "${!v:-}" ]; then repro="$repro $v=${!v}"; fi
done
repro="$repro make bench"
rc=0
"$STACK_DIR/bin/tallybench" -profile "$PROFILE" \
	-ingestor "http://127.0.0.1:$((8080 + PORT_BASE))" \
	-queryapi "http://127.0.0.1:$((8081 + PORT_BASE))" \
	-brokers "$TALLY_KAFKA_BROKERS" -topic "$TALLY_RAW_TOPIC" \
	-clickhouse "$TALLY_CLICKHOUSE_ADDR" -database "$TALLY_CLICKHOUSE_DATABASE" \
	-redis "$TALLY_REDIS_ADDR" \
	-stack-dir "$STACK_DIR" -out "$OUT" -docs "$DOCS" \
	-scale-events "${BENCH_SCALE_EVENTS:--1}" -prefill-events "${BENCH_PREFILL_EVENTS:--1}" -runs "${BENCH_RUNS:--1}" \
	-ceiling-records "${BENCH_CEILING_RECORDS:--1}" -steps "${BENCH_STEPS:-}" \
	-cpuprofile-dir "${BENCH_CPUPROFILE_DIR:-}" \
	-command "$repro" -commit "$commit" || rc=$?

say "results: $OUT/latest.json, $OUT/latest.md, $OUT/latest.svg${DOCS:+ (dated copy in $DOCS)}"
[ -f "$OUT/latest.md" ] && cat "$OUT/latest.md"
if [ "$rc" != 0 ]; then
	say "FAILED (exit $rc): see the reasons above and in $OUT/latest.md"
fi
exit "$rc"
