// Package openapi embeds Tally's OpenAPI 3 document.
//
// openapi.json is the machine-readable form of docs/api.md and the single
// source the dashboard's typed client is generated from (dashboard: npm run
// gen:api). The ingestor and the query API serve Spec unchanged at
// GET /openapi.json. Change docs/api.md and this document together.
package openapi

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
)

// Spec is the OpenAPI 3.0.3 document as JSON, exactly as stored in openapi.json.
//
//go:embed openapi.json
var Spec []byte

// methods are the operation keys of an OpenAPI path item.
var methods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// For returns the document restricted to the operations tagged service
// ("ingestor", "queryapi", "processor"): paths without one are dropped, the
// servers, components and tag list stay. It fails for a service no
// operation names.
func For(service string) ([]byte, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(Spec, &doc); err != nil {
		return nil, fmt.Errorf("openapi.json: %w", err)
	}
	var paths map[string]map[string]json.RawMessage
	if err := json.Unmarshal(doc["paths"], &paths); err != nil {
		return nil, fmt.Errorf("openapi.json paths: %w", err)
	}
	kept := map[string]map[string]json.RawMessage{}
	for path, item := range paths {
		out := map[string]json.RawMessage{}
		for key, raw := range item {
			if !slices.Contains(methods, key) {
				continue // path-level parameters, summary: kept below if any operation stays
			}
			var op struct {
				Tags []string `json:"tags"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				return nil, fmt.Errorf("openapi.json %s %s: %w", key, path, err)
			}
			if slices.Contains(op.Tags, service) {
				out[key] = raw
			}
		}
		if len(out) == 0 {
			continue
		}
		for key, raw := range item {
			if !slices.Contains(methods, key) {
				out[key] = raw
			}
		}
		kept[path] = out
	}
	if len(kept) == 0 {
		return nil, fmt.Errorf("openapi.json has no operation tagged %q", service)
	}
	b, err := json.Marshal(kept)
	if err != nil {
		return nil, err
	}
	doc["paths"] = b
	return json.MarshalIndent(doc, "", "  ")
}
