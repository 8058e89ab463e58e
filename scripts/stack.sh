#!/usr/bin/env bash
# stack.sh — Tally's local stack on real Kafka, Redis and ClickHouse, no Docker.
# A thin wrapper: the supervisor is Go (event/cmd/stack, package
# event/localstack); docs/local-stack.md describes both topologies.
#
#   scripts/stack.sh install            apt packages and Kafka (and ZooKeeper) jars (idempotent)
#   scripts/stack.sh up [infra|all]     start what is not running, wait until ready
#   scripts/stack.sh down               stop everything this stack started
#   scripts/stack.sh clean              down, then remove data and logs
#   scripts/stack.sh status             one "<node>: running (pid N)" line per process
#   scripts/stack.sh env                the addresses, as shell assignments
#   scripts/stack.sh nodes              every node and its ports
#   scripts/stack.sh start|stop|restart|kill|pause|resume|wait NODE...
#
# Settings: STACK_DIR (default .stack/), PORT_BASE, TOPOLOGY=single|cluster,
# PROCESSORS, PARTITIONS, BROKER=kafka|embedded, WITH_DASHBOARD,
# TALLY_FAULT_INJECTION, WITH_CHROMIUM=1 (install), one override per port.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Relative paths keep meaning the caller's directory.
if [ -n "${STACK_DIR:-}" ]; then export STACK_DIR="$(realpath -m -- "$STACK_DIR")"; fi
if [ -n "${TALLY_CACHE_DIR:-}" ]; then export TALLY_CACHE_DIR="$(realpath -m -- "$TALLY_CACHE_DIR")"; fi
export TALLY_STACK_ROOT="$ROOT"
cd "$ROOT"
# go run keeps the built command in Go's build cache: after the first run
# this starts in a fraction of a second.
exec go run ./event/cmd/stack "$@"
