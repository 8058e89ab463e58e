#!/usr/bin/env bash
# lint-deploy.sh validates every deployment artifact without a cluster or a Docker engine:
#   1. helm lint --strict on charts/tally with the default and the production values;
#   2. helm template for both, written to $OUT (default .cache/deploy) and decoded strictly
#      by the Go tests (TALLY_RENDERED_MANIFESTS);
#   3. the deploy/ Go tests: Helm SDK renders decoded against the Kubernetes API types,
#      compose/compose.yaml through compose-go, every Dockerfile through BuildKit's parser.
# Helm runs as `go tool helm` from the tools module, so everything comes from the Go proxy.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${OUT:-$root/.cache/deploy}"
chart="$root/charts/tally"
export GOWORK=off
mkdir -p "$out"

helm() { (cd "$root/tools" && go tool helm "$@"); }

step() { printf '\n== %s\n' "$*"; }

step "helm lint --strict (default values)"
helm lint --strict "$chart"
step "helm lint --strict (values-production.yaml)"
helm lint --strict "$chart" -f "$chart/values-production.yaml"

step "helm template (default values) -> $out/default.yaml"
helm template tally "$chart" --namespace tally >"$out/default.yaml"
step "helm template (values-production.yaml) -> $out/production.yaml"
helm template tally "$chart" --namespace tally -f "$chart/values-production.yaml" >"$out/production.yaml"

step "go test ./... in deploy/"
cd "$root/deploy"
TALLY_RENDERED_MANIFESTS="$out/default.yaml:$out/production.yaml" go test -count=1 ./...
