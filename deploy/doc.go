// Package deploy validates Tally's deployment artifacts without a cluster or a Docker
// engine: the Helm chart (charts/tally) is rendered with the Helm SDK and every manifest is
// decoded strictly against the Kubernetes API types, so a misspelled or misplaced field is
// an error rather than something the API server would silently drop; compose/compose.yaml
// is loaded with compose-go, which validates it against the Compose specification; every
// Dockerfile is parsed with BuildKit's own parser.
//
// It is a separate module (run with GOWORK=off) so the services never inherit the Helm and
// Kubernetes dependency tree. scripts/lint-deploy.sh runs it after `helm lint --strict`.
package deploy
