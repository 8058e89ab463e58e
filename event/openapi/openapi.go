// Package openapi embeds Tally's OpenAPI 3 document.
//
// openapi.json is the machine-readable form of docs/api.md and the single
// source the dashboard's typed client is generated from (dashboard: npm run
// gen:api). The ingestor and the query API serve Spec unchanged at
// GET /openapi.json. Change docs/api.md and this document together.
package openapi

import _ "embed"

// Spec is the OpenAPI 3.0.3 document as JSON, exactly as stored in openapi.json.
//
//go:embed openapi.json
var Spec []byte
