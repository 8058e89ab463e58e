# Tally — every workflow is one target. See README.md.
SHELL := /bin/bash
GO_MODULES := event ingestor processor queryapi
# The integration/e2e stack runs on shifted ports and its own state directory,
# so it never collides with a running `make up`.
TEST_STACK := STACK_DIR=$(CURDIR)/.stack-test PORT_BASE=20000 TALLY_CONSUMER_GROUP=tally-processor

.PHONY: up down clean dev status logs build test test-unit test-integration test-e2e test-dashboard test-clickhouse-compat \
        lint lint-go lint-dashboard lint-deploy chaos chaos-cluster bench fmt tidy

up: ## start the whole local stack (idempotent)
	@scripts/stack.sh up

down: ## stop everything the stack started
	@scripts/stack.sh down

clean: ## stop and remove all local state
	@scripts/stack.sh clean

dev: up ## start the stack, then follow the logs
	@tail -n 5 -F .stack/log/*.log

status:
	@scripts/stack.sh status

build:
	@mkdir -p bin && for m in ingestor processor queryapi; do go build -o bin/$$m ./$$m/cmd/$$m || exit 1; done

# ---------------------------------------------------------------- tests
test: test-unit test-dashboard test-integration ## every tier CI runs

test-unit: ## Go unit tests (kfake, miniredis, fakes), with the race detector; the compat check's own tests
	@for m in $(GO_MODULES); do echo "== unit: $$m"; (cd $$m && go test -race -count=1 ./...) || exit 1; done
	@echo "== unit: bench (its own module, outside go.work)" && cd bench && GOWORK=off go test -race -count=1 ./...
	@echo "== unit: scripts/clickhouse-compat" && PYTHONDONTWRITEBYTECODE=1 python3 -m unittest discover -s scripts/clickhouse-compat

test-dashboard:
	@if [ -f dashboard/package.json ]; then cd dashboard && ([ -d node_modules ] || npm ci --no-audit --no-fund) && npm test; fi

test-integration: ## real Kafka, Redis, ClickHouse and the services, then the browser e2e
	@scripts/test-integration.sh

# Not part of `test`: it reruns the ClickHouse integration tests on a private
# 18.16 and installs ClickHouse 26.9 (chdb, ~900 MB) — minutes, not seconds.
test-clickhouse-compat: ## the SQL the tests send, replayed on ClickHouse 26.9 (chdb) against 18.16's data
	@scripts/clickhouse-compat.sh

# ---------------------------------------------------------------- lint
lint: lint-go lint-dashboard

lint-go:
	@scripts/lint-go.sh

lint-dashboard:
	@if [ -f dashboard/package.json ]; then cd dashboard && ([ -d node_modules ] || npm ci --no-audit --no-fund) && npm run lint && npm run check:api; fi

lint-deploy:
	@scripts/lint-deploy.sh

fmt:
	@gofmt -w $(GO_MODULES)

tidy:
	@for m in $(GO_MODULES); do (cd $$m && go mod tidy) || exit 1; done

chaos: ## the long fault-tolerance profile; writes docs/reliability.md
	@CHAOS_PROFILE=long CHAOS_REPORT=$(CURDIR)/docs/reliability.md scripts/test-integration.sh chaos

chaos-cluster: ## the chaos suite on the cluster topology (three brokers, two ClickHouse replicas)
	@TOPOLOGY=cluster TEST_STACK_DIR=$(CURDIR)/.stack-chaos-cluster TEST_PORT_BASE=12000 scripts/test-integration.sh chaos

bench: ## benchmarks on the local stack (BENCH_PROFILE=quick|full)
	@scripts/bench.sh
