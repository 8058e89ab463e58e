package openapi

import (
	"encoding/json"
	"testing"
)

// TestSpecDescribesEveryRoute guards against the document drifting from
// docs/api.md: every documented route must be present with its method.
func TestSpecDescribesEveryRoute(t *testing.T) {
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(Spec, &doc); err != nil {
		t.Fatalf("openapi.json does not parse: %v", err)
	}
	if doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi = %q, want 3.0.3", doc.OpenAPI)
	}
	routes := []struct{ method, path string }{
		{"post", "/v1/events"}, {"post", "/v1/track"}, {"post", "/v1/batch"}, {"post", "/api/events"},
		{"get", "/v1/aggregations"}, {"get", "/v1/events"}, {"get", "/v1/events/{id}"},
		{"get", "/v1/stats"}, {"get", "/v1/stream"},
		{"get", "/api/events"}, {"get", "/api/aggregation"}, {"get", "/api/aggregations"}, {"get", "/api/health"},
		{"get", "/v1/status"}, {"get", "/v1/faults"}, {"put", "/v1/faults"}, {"delete", "/v1/faults"},
		{"get", "/healthz"}, {"get", "/readyz"}, {"get", "/metrics"}, {"get", "/openapi.json"},
	}
	for _, r := range routes {
		if _, ok := doc.Paths[r.path][r.method]; !ok {
			t.Errorf("missing %s %s", r.method, r.path)
		}
	}
}
