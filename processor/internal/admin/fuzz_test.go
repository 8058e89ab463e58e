package admin

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/prometheus/client_golang/prometheus"
	"pgregory.net/rapid"

	"github.com/tally-dev/tally/event/auth"
	"github.com/tally-dev/tally/event/control"
	"github.com/tally-dev/tally/event/openapi"
	"github.com/tally-dev/tally/processor/internal/faults"
)

// TestOpenAPIFuzz drives every operation of the processor's part of the
// OpenAPI document (the admin server) with generated requests — keys of
// every kind, switchboard bodies valid and broken — and requires no 5xx,
// documented statuses only, and bodies valid against their schemas.
func TestOpenAPIFuzz(t *testing.T) {
	spec, err := openapi.For("processor")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(spec)
	if err != nil {
		t.Fatal(err)
	}
	doc.Servers = nil
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	h := Handler(Options{Gatherer: prometheus.NewRegistry(), Ready: func() bool { return true },
		Status: func() Status { return Status{Instance: "p-1", Ready: true, AssignedPartitions: []int32{}} },
		Faults: faults.NewBoard(), Auth: &auth.Checker{Auth: keys{
			"adm": {ID: "a", Tenant: "default", Scopes: []string{control.ScopeAdmin}},
			"ing": {ID: "i", Tenant: "default", Scopes: []string{control.ScopeIngest}},
		}}})
	type op struct {
		method, path string
		op           *openapi3.Operation
	}
	var ops []op
	for _, path := range doc.Paths.InMatchingOrder() {
		for method, o := range doc.Paths.Value(path).Operations() {
			ops = append(ops, op{method, path, o})
		}
	}
	slices.SortFunc(ops, func(a, b op) int { return strings.Compare(a.method+a.path, b.method+b.path) })
	bodies := []string{`{"target":"redis","mode":"fail"}`, `{"target":"clickhouse","mode":"fail","durationSeconds":5}`,
		`{"target":"clickhouse","mode":"slow","delayMs":10}`, `{"target":"nope"}`, `{}`, `{`, `null`, "", `{"target":"redis","mode":"fail","durationSeconds":-1}`}
	for _, o := range ops {
		t.Run(o.method+" "+o.path, func(t *testing.T) {
			rapid.Check(t, func(rt *rapid.T) {
				method := strings.ToUpper(o.method)
				var body string
				if method == http.MethodPut {
					body = rapid.SampledFrom(bodies).Draw(rt, "body")
				}
				req := httptest.NewRequest(method, o.path, strings.NewReader(body))
				if key := rapid.SampledFrom([]string{"", "adm", "ing", "unknown"}).Draw(rt, "key"); key != "" {
					req.Header.Set("Authorization", "Bearer "+key)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code >= 500 {
					rt.Fatalf("%s %s -> %d: %s", method, o.path, rec.Code, rec.Body)
				}
				if o.op.Responses.Value(strconv.Itoa(rec.Code)) == nil && o.op.Responses.Default() == nil {
					rt.Fatalf("%s %s -> %d, a status the document does not list: %s", method, o.path, rec.Code, rec.Body)
				}
				route, params, err := router.FindRoute(req)
				if err != nil {
					rt.Fatalf("%s %s: not in the document: %v", method, o.path, err)
				}
				in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
					Options: &openapi3filter.Options{ExcludeRequestBody: true, ExcludeRequestQueryParams: true}}
				if err := openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
					RequestValidationInput: in, Status: rec.Code, Header: rec.Header(), Body: io.NopCloser(bytes.NewReader(rec.Body.Bytes())),
					Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}}); err != nil {
					rt.Fatalf("%s %s -> %d does not match the document: %v\nbody: %s", method, o.path, rec.Code, err, rec.Body)
				}
			})
		})
	}
}
