#!/usr/bin/env bash
# lint-deploy.sh validates every deployment artifact without a cluster or a Docker engine:
#   1. helm lint --strict on charts/tally with the default and the production values;
#   2. helm template for both and for every optional object switched on (monitoring, KEDA),
#      written to $OUT (default .cache/deploy) and decoded strictly by the Go tests
#      (TALLY_RENDERED_MANIFESTS);
#   3. the chart's PrometheusRule and every Grafana panel query through `promtool check rules`,
#      and the alert unit tests (deploy/testdata/prometheus) through `promtool test rules`;
#   4. the GitHub Actions workflows (.github/workflows) through actionlint;
#   5. the deploy/ Go tests: Helm SDK renders decoded against the Kubernetes API types, the
#      prometheus-operator types and strict mirrors of KEDA's types, compose/compose.yaml through compose-go, every Dockerfile
#      through BuildKit's parser, the release workflow against the chart and the Dockerfiles.
# Every tool comes from the Go module proxy at a pinned version: Helm as `go tool helm` from the
# tools module, promtool and actionlint with `go run module@version` (the go command caches
# the build).
set -euo pipefail

# github.com/prometheus/prometheus v0.316.0 is Prometheus 3.16.0.
PROMTOOL_MODULE=github.com/prometheus/prometheus/cmd/promtool@v0.316.0
ACTIONLINT_MODULE=github.com/rhysd/actionlint/cmd/actionlint@v1.7.12

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${OUT:-$root/.cache/deploy}"
chart="$root/charts/tally"
export GOWORK=off
mkdir -p "$out"

helm() { (cd "$root/tools" && go tool helm "$@"); }
# remove_all_sd leaves Prometheus's cloud service discoveries out of the build: promtool's
# rule checks do not need them, and they are most of its compile time.
promtool() { go run -tags remove_all_sd "$PROMTOOL_MODULE" "$@"; }
promextract() { (cd "$root/deploy" && go run ./cmd/promextract "$@"); }

step() { printf '\n== %s\n' "$*"; }

step "helm lint --strict (default values)"
helm lint --strict "$chart"
step "helm lint --strict (values-production.yaml)"
helm lint --strict "$chart" -f "$chart/values-production.yaml"

step "helm template (default values) -> $out/default.yaml"
helm template tally "$chart" --namespace tally >"$out/default.yaml"
step "helm template (values-production.yaml) -> $out/production.yaml"
helm template tally "$chart" --namespace tally -f "$chart/values-production.yaml" >"$out/production.yaml"
step "helm template (every optional object on: monitoring, KEDA) -> $out/options.yaml"
helm template tally "$chart" --namespace tally --set metrics.serviceMonitor.enabled=true \
	--set metrics.prometheusRule.enabled=true --set metrics.grafanaDashboard.enabled=true \
	--set processor.keda.enabled=true --set kafka.sasl.enabled=true --set kafka.sasl.username=tally \
	>"$out/options.yaml"

prom="$out/prometheus"
mkdir -p "$prom"
step "promtool check rules: the chart's PrometheusRule and the Grafana dashboard's queries"
helm template tally "$chart" --namespace tally --set metrics.prometheusRule.enabled=true \
	--show-only templates/prometheusrule.yaml >"$prom/prometheusrule.yaml"
promextract rules "$prom/prometheusrule.yaml" >"$prom/rules.yaml"
promextract dashboard "$chart/dashboards/tally.json" >"$prom/dashboard-queries.yaml"
promtool check rules "$prom/rules.yaml" "$prom/dashboard-queries.yaml"
step "promtool test rules (deploy/testdata/prometheus)"
cp "$root"/deploy/testdata/prometheus/*_test.yaml "$prom/"
promtool test rules "$prom"/*_test.yaml

step "actionlint (.github/workflows)"
# actionlint also runs shellcheck on run: scripts when shellcheck is installed.
(cd "$root" && go run "$ACTIONLINT_MODULE" -no-color)

step "go test ./... in deploy/"
cd "$root/deploy"
TALLY_RENDERED_MANIFESTS="$out/default.yaml:$out/production.yaml:$out/options.yaml" go test -count=1 ./...
