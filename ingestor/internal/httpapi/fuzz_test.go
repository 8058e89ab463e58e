package httpapi_test

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
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"pgregory.net/rapid"

	"github.com/tally-dev/tally/event/openapi"
)

// bodies are what producers send, well-formed or not, per route family.
var (
	eventBodies = []string{
		evA, "[" + evA + "," + evBadAmount + "," + evC + "]", evA + "\n" + evC + "\n",
		`{"clientId":42,"metric":"m","amount":1}`, `{"clientId":"c","metric":"m","amount":"1","timestamp":"13/01/2024"}`,
		`{}`, `[]`, `[1,2]`, `null`, `"x"`, `{"clientId":`, "\xff\xfe", strings.Repeat("[", 100) + strings.Repeat("]", 100),
		`{"clientId":"c","metric":"m","amount":"1e400"}`, "",
	}
	segmentBodies = []string{
		`{"type":"track","userId":"u","event":"purchase","messageId":"m1","properties":{"revenue":"9.99"},"timestamp":"2025-01-02T03:04:05Z"}`,
		`{"batch":[{"type":"track","userId":"u","event":"e","messageId":"m2"},{"type":"identify","userId":"u"}],"sentAt":"2025-01-02T03:04:05Z"}`,
		`{"batch":[]}`, `{"batch":"x"}`, `{"event":"e"}`, `[{"event":"e"}]`, `{`, `null`, "",
	}
	contentTypes = []string{"application/json", "application/x-ndjson", "application/cloudevents+json",
		"application/cloudevents-batch+json", "text/plain", "", "application/json; charset=utf-8"}
)

// TestOpenAPIFuzz sends every operation of the ingestor's own OpenAPI
// document requests drawn from what producers send — valid and broken
// bodies, content types, CloudEvents headers, keys, query flags — and
// requires what a client generated from the document relies on: never a
// 5xx, only documented status codes, every response body valid against its
// documented schema.
func TestOpenAPIFuzz(t *testing.T) {
	spec, err := openapi.For("ingestor")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the ingestor's document is invalid: %v", err)
	}
	doc.Servers = nil
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, defaultOptions())
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
	if len(ops) < 6 {
		t.Fatalf("only %d operations in the ingestor's document", len(ops))
	}
	for _, o := range ops {
		t.Run(o.method+" "+o.path, func(t *testing.T) {
			seen := map[int]int{}
			defer func() {
				t.Logf("statuses seen: %v", seen)
				// The POST routes must have been driven both to acceptance and
				// to refusal, or the generator is not reaching them.
				if o.method == "post" && !t.Failed() {
					ok, refused := 0, 0
					for code, n := range seen {
						if code < 300 {
							ok += n
						} else {
							refused += n
						}
					}
					if ok == 0 || refused == 0 {
						t.Errorf("only accepted or only refused requests: %v", seen)
					}
				}
			}()
			rapid.Check(t, func(rt *rapid.T) {
				r := request{method: strings.ToUpper(o.method), path: o.path, header: map[string]string{}}
				if r.method == http.MethodPost {
					bodies := eventBodies
					if o.path == "/v1/track" || o.path == "/v1/batch" {
						bodies = segmentBodies
					}
					r.body = []byte(rapid.SampledFrom(bodies).Draw(rt, "body"))
					if ct := rapid.SampledFrom(contentTypes).Draw(rt, "content-type"); ct != "" {
						r.header["Content-Type"] = ct
					}
					if rapid.Bool().Draw(rt, "binary cloudevent") {
						r.header["ce-specversion"] = rapid.SampledFrom([]string{"1.0", "0.3", "%zz"}).Draw(rt, "ce-specversion")
						r.header["ce-id"] = rapid.StringMatching(`[a-z0-9%]{0,6}`).Draw(rt, "ce-id")
						r.header["ce-source"] = rapid.SampledFrom([]string{"/shop", "", "%E2%82"}).Draw(rt, "ce-source")
						r.header["ce-type"] = "order.paid"
					}
					if rapid.Bool().Draw(rt, "key") {
						r.header["Idempotency-Key"] = rapid.StringMatching(`[ -~]{1,40}`).Draw(rt, "idempotency key")
					}
					switch rapid.IntRange(0, 3).Draw(rt, "query") {
					case 1:
						r.path += "?simulateFailure=" + rapid.SampledFrom([]string{"true", "false", "x"}).Draw(rt, "simulateFailure")
					case 2:
						r.path += "?tenant=" + rapid.SampledFrom([]string{"default", "globex", ""}).Draw(rt, "tenant")
					}
				}
				w := h.do(r)
				seen[w.Code]++
				if w.Code >= 500 {
					rt.Fatalf("%s %s -> %d: %s", r.method, r.path, w.Code, w.Body)
				}
				if o.op.Responses.Value(strconv.Itoa(w.Code)) == nil && o.op.Responses.Default() == nil {
					rt.Fatalf("%s %s -> %d, a status the document does not list: %s", r.method, r.path, w.Code, w.Body)
				}
				req := httptest.NewRequest(r.method, r.path, nil)
				validate(rt, router, req, w)
			})
		})
	}
}

// validate checks a response against its documented schema.
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
