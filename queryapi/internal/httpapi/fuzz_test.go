package httpapi

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"pgregory.net/rapid"

	"github.com/tally-dev/tally/event/openapi"
	"github.com/tally-dev/tally/queryapi/internal/instant"
	"github.com/tally-dev/tally/queryapi/internal/stats"
)

// notFuzzed are operations the fuzzer leaves to their own tests, each for a
// reason: the live stream never ends (stream_test.go reads its events).
var notFuzzed = map[string]string{
	"GET /v1/stream": "an endless SSE response; stream_test.go checks its events against the document",
}

// TestOpenAPIFuzz drives every operation of the query API's own OpenAPI
// document with requests generated from it — parameters drawn from their
// schemas (valid values, edge values and garbage), path ids valid or not —
// and requires what a client generated from the document relies on: never a
// 5xx, only documented status codes, and every response body valid against
// its documented schema. Authentication is off here (auth_test.go covers
// it), so every route reaches its handler.
func TestOpenAPIFuzz(t *testing.T) {
	spec, err := openapi.For("queryapi")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(spec)
	if err != nil {
		t.Fatal(err)
	}
	router := specRouter(t)
	type op struct {
		method, path string
		op           *openapi3.Operation
		params       openapi3.Parameters
	}
	var ops []op
	for _, path := range doc.Paths.InMatchingOrder() {
		item := doc.Paths.Value(path)
		for method, o := range item.Operations() {
			if _, skip := notFuzzed[method+" "+path]; skip {
				continue
			}
			ops = append(ops, op{method, path, o, append(slices.Clone(item.Parameters), o.Parameters...)})
		}
	}
	slices.SortFunc(ops, func(a, b op) int { return strings.Compare(a.method+a.path, b.method+b.path) })
	if len(ops) < 10 {
		t.Fatalf("only %d operations found in the document", len(ops))
	}
	// Empty answers, as the real sources give them when nothing is stored.
	store := &fakeStore{snap: stats.Snapshot{Lag: []stats.PartitionLag{}, RejectedByReason: []stats.ReasonCount{},
		Reconciled: true, Throughput: stats.Throughput{WindowSeconds: 10}, AsOf: instant.Of(fixedNow)}}
	srv, _ := newTestServer(t, store)
	for _, o := range ops {
		t.Run(o.method+" "+o.path, func(t *testing.T) {
			rapid.Check(t, func(rt *rapid.T) {
				target := o.path
				q := url.Values{}
				for _, pr := range o.params {
					p := pr.Value
					if p == nil || p.In == "header" {
						continue
					}
					if p.In == "path" {
						// An empty segment is another path (/v1/events/), not this operation.
						v := drawValue(rt, p.Name, p.Schema)
						if strings.TrimSpace(v) == "" {
							v = "x"
						}
						target = strings.ReplaceAll(target, "{"+p.Name+"}", url.PathEscape(v))
						continue
					}
					if p.In != "query" || !p.Required && !rapid.Bool().Draw(rt, "with "+p.Name) {
						continue
					}
					n := 1
					if p.Schema != nil && p.Schema.Value != nil && p.Schema.Value.Type.Is("array") {
						n = rapid.IntRange(1, 3).Draw(rt, "count "+p.Name)
					}
					for range n {
						q.Add(p.Name, drawValue(rt, p.Name, p.Schema))
					}
				}
				if len(q) > 0 {
					target += "?" + q.Encode()
				}
				req := httptest.NewRequest(strings.ToUpper(o.method), target, nil)
				ctx, cancel := context.WithTimeout(req.Context(), 5*time.Second)
				defer cancel()
				req = req.WithContext(ctx)
				rec := httptest.NewRecorder()
				srv.Handler().ServeHTTP(rec, req)
				if rec.Code >= 500 {
					rt.Fatalf("%s %s -> %d: %s", req.Method, target, rec.Code, rec.Body)
				}
				if o.op.Responses.Value(strconv.Itoa(rec.Code)) == nil && o.op.Responses.Default() == nil {
					rt.Fatalf("%s %s -> %d, a status the document does not list", req.Method, target, rec.Code)
				}
				validate(rt, router, req, rec)
			})
		})
	}
}

// validate is checkSpec for rapid: the response against its documented
// schema.
func validate(rt *rapid.T, router routers.Router, req *http.Request, rec *httptest.ResponseRecorder) {
	route, pathParams, err := router.FindRoute(req)
	if err != nil {
		rt.Fatalf("%s %s: not in the document: %v", req.Method, req.URL, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: pathParams, Route: route,
		Options: &openapi3filter.Options{ExcludeRequestBody: true, ExcludeRequestQueryParams: true, MultiError: true}}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: rec.Code, Header: rec.Header(),
		Body: io.NopCloser(bytes.NewReader(rec.Body.Bytes())), Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		rt.Fatalf("%s %s -> %d does not match the document: %v\nbody: %s", req.Method, req.URL, rec.Code, err, rec.Body)
	}
}

// drawValue draws a parameter value from its schema: mostly valid (enum
// members, integers in range, instants, booleans), sometimes an edge or
// plain garbage, which must be a 4xx, never a 5xx.
func drawValue(rt *rapid.T, name string, ref *openapi3.SchemaRef) string {
	if rapid.IntRange(0, 9).Draw(rt, "garbage? "+name) == 0 {
		return rapid.SampledFrom([]string{"", " ", "x", "-1", "1e999", "9223372036854775808", "null", "%00", "😀",
			"2024-13-45T99:99:99Z", strings.Repeat("a", 300), "'; DROP TABLE events; --"}).Draw(rt, "garbage "+name)
	}
	s := &openapi3.Schema{}
	if ref != nil && ref.Value != nil {
		s = ref.Value
	}
	if s.Type.Is("array") && s.Items != nil {
		return drawValue(rt, name, s.Items)
	}
	if len(s.Enum) > 0 {
		return fmt.Sprint(rapid.SampledFrom(s.Enum).Draw(rt, name))
	}
	switch {
	case s.Type.Is("integer"):
		lo, hi := int64(-5), int64(20_000)
		if s.Min != nil {
			lo = int64(*s.Min)
		}
		if s.Max != nil {
			hi = int64(*s.Max)
		}
		return strconv.FormatInt(rapid.Int64Range(lo, hi).Draw(rt, name), 10)
	case s.Type.Is("boolean"):
		return strconv.FormatBool(rapid.Bool().Draw(rt, name))
	case s.Format == "date-time":
		base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
		at := base.Add(time.Duration(rapid.Int64Range(-400*24, 400*24).Draw(rt, name)) * time.Hour)
		return at.Format(rapid.SampledFrom([]string{time.RFC3339, time.RFC3339Nano, "2006-01-02T15:04:05.000Z07:00"}).Draw(rt, "layout "+name))
	}
	if name == "id" {
		return rapid.SampledFrom([]string{strings.Repeat("ab", 32), "not-an-id", strings.Repeat("0", 64)}).Draw(rt, name)
	}
	return rapid.StringMatching(`[a-z0-9_.:-]{1,12}`).Draw(rt, name)
}
