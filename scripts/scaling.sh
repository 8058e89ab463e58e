#!/usr/bin/env bash
# scaling.sh — what one event costs each component, and how the processors
# scale, measured on a running local stack (docs/scaling.md).
#
#   STACK_DIR=.stack-cluster PORT_BASE=12000 scripts/scaling.sh
#
# 1. CPU per event: the CPU seconds (utime + stime from /proc) every node of
#    the stack spends while LOAD_SECONDS of batch load is ingested and
#    processed, divided by the events that load made "received" in /v1/stats.
# 2. Processor scaling: with the processors stopped, LOAD_SECONDS of load
#    fills the raw topic; then 1, 2, … PROCESSORS processors drain it, and
#    the drain rate is the records they took from the topic per second, from
#    the moment they were ready until nothing was pending.
# Both need an otherwise idle stack: other traffic is counted too.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
LOAD_SECONDS="${LOAD_SECONDS:-20}"
PROCESSORS="${PROCESSORS:-3}"
say() { printf '\033[1m[scaling]\033[0m %s\n' "$*" >&2; }

eval "$(scripts/stack.sh env)"
dir="${STACK_DIR:-$ROOT/.stack}"
base="${PORT_BASE:-0}"
ingest="http://127.0.0.1:$((8080 + base))"
query="http://127.0.0.1:$((8081 + base))"
admin="$(cat "$dir/admin.key")"
ingest_key="$(cat "$dir/default.key")"

mkdir -p "$dir/bin"
(cd bench && GOWORK=off go build -o "$dir/bin/loadgen" ./cmd/loadgen)

stats() { curl -fsS -H "Authorization: Bearer $admin" "$query/v1/stats?tenant=default"; }
field() { stats | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
drained() { stats | python3 -c "import json,sys; d=json.load(sys.stdin); sys.exit(0 if d['pending']==0 and d['inFlight']==0 else 1)"; }
wait_drained() {
	local deadline=$((SECONDS + ${1:-600}))
	until drained; do
		[ $SECONDS -lt $deadline ] || { say "not drained after ${1:-600}s"; return 1; }
		sleep 0.5
	done
}
# cpu prints "<node> <clock ticks>" for every running node.
cpu() {
	scripts/stack.sh status | while read -r node _ _ pid; do
		pid="${pid%)}"
		[ -r "/proc/$pid/stat" ] || continue
		# Children too: a node may be a wrapper around its process.
		local t=0
		for p in $pid $(pgrep -P "$pid" || true); do
			t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
		done
		echo "${node%:} $t"
	done
}
# load offers LOAD_SECONDS of batch load; its summary goes to stderr.
load() {
	{ "$dir/bin/loadgen" -target "$ingest" -mode batch -batch 500 -concurrency 4 -duration "${LOAD_SECONDS}s" \
		-api-key "$ingest_key" 2>/dev/null || "$dir/bin/loadgen" -target "$ingest" -mode batch -batch 500 \
		-concurrency 4 -duration "${LOAD_SECONDS}s"; } >&2
}

say "1. CPU per event ($LOAD_SECONDS s of batch load, then drain)"
wait_drained
r0="$(field received)"
cpu > /tmp/scaling-cpu0.$$
load
wait_drained
cpu > /tmp/scaling-cpu1.$$
r1="$(field received)"
events=$((r1 - r0))
hz="$(getconf CLK_TCK)"
# CPU seconds per million events is also the cores a component needs per
# million events per second.
printf '| component | CPU ms per 1,000 events (= cores per 1M events/s) |\n|---|---|\n'
join <(sort /tmp/scaling-cpu0.$$) <(sort /tmp/scaling-cpu1.$$) | awk -v n="$events" -v hz="$hz" \
	'{ ms = ($3 - $2) * 1000 / hz; printf "| %s | %.1f |\n", $1, ms * 1000 / n }'
rm -f /tmp/scaling-cpu0.$$ /tmp/scaling-cpu1.$$
say "events: $events (load average $(cut -d' ' -f1-3 /proc/loadavg))"

say "2. processor drain rate with 1..$PROCESSORS processors"
printf '| processors | records | drain s | records/s | load average |\n|---|---|---|---|---|\n'
for k in $(seq 1 "$PROCESSORS"); do
	for i in $(seq 1 "$PROCESSORS"); do scripts/stack.sh stop "processor-$i" >/dev/null; done
	r0="$(field received)"
	load
	r1="$(field received)"
	start=$(date +%s.%N)
	for i in $(seq 1 "$k"); do scripts/stack.sh start "processor-$i" >/dev/null; done
	ready=$(date +%s.%N)
	wait_drained 1200
	end=$(date +%s.%N)
	python3 - "$k" "$start" "$ready" "$end" "$((r1 - r0))" "$(cut -d' ' -f1 /proc/loadavg)" <<'EOF'
import sys
k, start, ready, end, n, load = sys.argv[1], *map(float, sys.argv[2:5]), int(sys.argv[5]), sys.argv[6]
print(f"| {k} | {n} | {end - ready:.1f} | {n / (end - ready):.0f} | {load} |")
EOF
done
for i in $(seq 1 "$PROCESSORS"); do scripts/stack.sh start "processor-$i" >/dev/null; done
