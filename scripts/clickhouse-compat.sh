#!/usr/bin/env bash
# clickhouse-compat.sh — does the SQL Tally sends to ClickHouse run, and
# answer the same, on current ClickHouse as on the local 18.16? (issue #13)
#
#   1. Starts a private ClickHouse 18.16 (its own STACK_DIR, ports shifted by
#      COMPAT_PORT_BASE) that logs every query (CH_LOG_QUERIES=1).
#   2. Runs the integration tests that talk to ClickHouse alone — every
#      queryapi package, the processor's store and upgrade tests — with
#      TALLY_TEST_KEEP_DATABASES=1, so their databases outlive them.
#   3. scripts/clickhouse-compat/compat.py reads the statements they sent
#      from system.query_log and checks them on ClickHouse 26.9 in process
#      (chdb, pinned in scripts/clickhouse-compat/requirements.txt, installed
#      into a venv under the cache directory): every CREATE is accepted, every
#      other write parses, every SELECT returns the same rows on the same data.
#   4. Stops the server it started, whatever happened.
#
# Exit status 0: everything same (or a documented known difference); 1: a
# statement failed or differed on current ClickHouse, or a step failed.
# The report: $COMPAT_STACK_DIR/report.md. docs/clickhouse-compat.md says more.
#
# Settings: COMPAT_STACK_DIR (.stack-compat), COMPAT_PORT_BASE (23000),
# TALLY_CACHE_DIR (.cache; the venv is its chdb-venv/).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
start=$SECONDS
step() { printf '\n==> %s (t=%ds)\n' "$*" "$((SECONDS - start))"; }

export STACK_DIR="${COMPAT_STACK_DIR:-$ROOT/.stack-compat}"
export PORT_BASE="${COMPAT_PORT_BASE:-23000}"
export CH_LOG_QUERIES=1
CACHE="${TALLY_CACHE_DIR:-$ROOT/.cache}"
VENV="$CACHE/chdb-venv"
REQUIREMENTS="$ROOT/scripts/clickhouse-compat/requirements.txt"

step "chdb (current ClickHouse, in process) in $VENV"
# The venv is rebuilt whenever the pinned requirements change; a copy of the
# file it was built from marks it complete.
if ! cmp -s "$REQUIREMENTS" "$VENV/requirements.txt"; then
	rm -rf "$VENV"
	if ! python3 -m venv "$VENV" ||
		! "$VENV/bin/pip" install --disable-pip-version-check --quiet -r "$REQUIREMENTS"; then
		echo "clickhouse-compat: FAIL: cannot install chdb from $REQUIREMENTS; the check cannot run" >&2
		exit 1
	fi
	cp "$REQUIREMENTS" "$VENV/requirements.txt"
fi
"$VENV/bin/python" -c 'import chdb; print("chdb", chdb.__version__, "is ClickHouse", chdb.query("SELECT version()", "TSV").bytes().decode().strip())'

cleanup() {
	local rc=$?
	scripts/stack.sh down || true
	exit $rc
}
trap cleanup EXIT INT TERM

step "a private ClickHouse 18.16 that logs every query ($STACK_DIR)"
# Empty data: only this run's statements and databases are read back.
scripts/stack.sh down >/dev/null 2>&1 || true
rm -rf "$STACK_DIR/data" "$STACK_DIR/chdb"
scripts/stack.sh start clickhouse-1
eval "$(scripts/stack.sh env | grep '^export TALLY_CLICKHOUSE_ADDR=')"
http_port="$(scripts/stack.sh nodes | sed -n 's/^clickhouse-1 .* http=\([0-9]*\).*/\1/p')"
[ -n "$http_port" ] || { echo "clickhouse-compat: no HTTP port for clickhouse-1" >&2; exit 1; }

# The tests run without -race and one package at a time: this run is for the
# SQL they send (make test-integration runs them with the race detector), on
# a machine whose two cores may be busy with other work.
export TALLY_TESTENV=stack TALLY_TEST_CLICKHOUSE_ADDR="$TALLY_CLICKHOUSE_ADDR" TALLY_TEST_KEEP_DATABASES=1
step "queryapi integration tests against 18.16"
(cd queryapi && go test -p 1 -count=1 -tags integration ./...)
step "processor store and upgrade integration tests against 18.16"
# TestClusterQuorumWrites starts a cluster of its own; its SQL is the same.
(cd processor && go test -p 1 -count=1 -tags integration -skip TestClusterQuorumWrites ./internal/eventstore/ ./internal/migrate/)

step "replay on current ClickHouse"
"$VENV/bin/python" scripts/clickhouse-compat/compat.py --clickhouse "http://127.0.0.1:$http_port" \
	--work "$STACK_DIR/chdb" --report "$STACK_DIR/report.md"
step "done"
