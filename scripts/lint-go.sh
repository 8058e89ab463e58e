#!/usr/bin/env bash
# lint-go.sh — gofmt, go vet, golangci-lint (pinned in tools/, run with
# `go tool`), and a `go mod tidy` drift check, for every Go module.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
modules=(event ingestor processor queryapi)
status=0

unformatted="$(gofmt -l "${modules[@]}")"
if [ -n "$unformatted" ]; then
	echo "gofmt: these files need formatting:" >&2
	echo "$unformatted" >&2
	status=1
fi

for m in "${modules[@]}"; do
	echo "== vet + tidy: $m"
	(cd "$m" && go vet ./... && go vet -tags integration ./... ) || status=1
	cp "$m/go.mod" "/tmp/tally-go.mod.$$"
	[ -f "$m/go.sum" ] && cp "$m/go.sum" "/tmp/tally-go.sum.$$" || : >"/tmp/tally-go.sum.$$"
	(cd "$m" && go mod tidy)
	if ! git diff --quiet -- "$m/go.mod" "$m/go.sum" 2>/dev/null; then
		echo "$m: go.mod/go.sum are not tidy (run 'make tidy'):" >&2
		git --no-pager diff --stat -- "$m/go.mod" "$m/go.sum" >&2
		status=1
	fi
	cp "/tmp/tally-go.mod.$$" "$m/go.mod"
	cp "/tmp/tally-go.sum.$$" "$m/go.sum"
	rm -f "/tmp/tally-go.mod.$$" "/tmp/tally-go.sum.$$"
done

if [ -f tools/go.mod ]; then
	cfg="$ROOT/.golangci.yml"
	# `go tool -n` builds the pinned linter once (cached) and prints its path.
	lint="$(cd tools && GOWORK=off go tool -n golangci-lint)"
	for m in "${modules[@]}"; do
		echo "== golangci-lint: $m"
		(cd "$m" && "$lint" run --allow-serial-runners --config "$cfg" ./...) || status=1
	done
fi
exit $status
