package openapi

import (
	"encoding/json"
	"slices"
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
		{"post", "/v1/events"}, {"post", "/api/events"},
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

// TestForServesOnlyTheServicesRoutes: each service's document holds exactly
// the operations tagged with it, and together they hold every operation.
func TestForServesOnlyTheServicesRoutes(t *testing.T) {
	type ops map[string]map[string]struct {
		Tags []string `json:"tags"`
	}
	var full struct {
		Paths ops `json:"paths"`
	}
	if err := json.Unmarshal(Spec, &full); err != nil {
		t.Fatal(err)
	}
	covered := map[string]bool{}
	for _, svc := range []string{"ingestor", "queryapi", "processor"} {
		b, err := For(svc)
		if err != nil {
			t.Fatalf("For(%s): %v", svc, err)
		}
		var doc struct {
			OpenAPI    string          `json:"openapi"`
			Components json.RawMessage `json:"components"`
			Paths      ops             `json:"paths"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("For(%s) is not JSON: %v", svc, err)
		}
		if doc.OpenAPI != "3.0.3" || len(doc.Components) == 0 {
			t.Errorf("For(%s) lost the version or the components", svc)
		}
		for path, item := range full.Paths {
			for method, op := range item {
				if !slices.Contains(methods, method) {
					continue
				}
				_, served := doc.Paths[path][method]
				if tagged := slices.Contains(op.Tags, svc); served != tagged {
					t.Errorf("For(%s): %s %s served=%v, tagged=%v", svc, method, path, served, tagged)
				}
				if served {
					covered[method+" "+path] = true
				}
			}
		}
	}
	for path, item := range full.Paths {
		for method := range item {
			if slices.Contains(methods, method) && !covered[method+" "+path] {
				t.Errorf("%s %s is tagged with no service", method, path)
			}
		}
	}
	if _, err := For("nobody"); err == nil {
		t.Error("For of an unknown service: no error")
	}
	// The ingestor's document: its POST routes, not the query API's reads.
	b, _ := For("ingestor")
	var ing struct{ Paths ops }
	_ = json.Unmarshal(b, &ing)
	if _, ok := ing.Paths["/v1/events"]["post"]; !ok {
		t.Error("the ingestor's document lacks POST /v1/events")
	}
	if _, ok := ing.Paths["/v1/events"]["get"]; ok {
		t.Error("the ingestor's document has GET /v1/events, which only the query API serves")
	}
}
