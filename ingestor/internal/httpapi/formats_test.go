package httpapi_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tally-dev/tally/event"
)

// keyedID is the documented id of an event with an idempotency key
// (event/normalize, "Event id": kind 'K', client id, key), computed here
// independently of the engine.
func keyedID(client, key string) string {
	b := append([]byte("tally-id-v1"), 0, 'K')
	for _, f := range []string{client, key} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

const ceStructured = `{"specversion":"1.0","id":"A234-1234-1234","source":"/shop/orders","type":"com.example.order.paid",` +
	`"time":"2024-01-02T15:04:05Z","datacontenttype":"application/json","data":{"amount":"12.50"}}`

func ceBinaryHeaders(extra map[string]string) map[string]string {
	h := map[string]string{
		"Ce-Specversion": "1.0", "Ce-Id": "A234-1234-1234", "Ce-Source": "%2Fshop%2Forders",
		"Ce-Type": "com.example.order.paid", "Ce-Time": "2024-01-02T15:04:05Z", "Content-Type": "application/json",
	}
	for k, v := range extra {
		h[k] = v
	}
	return h
}

type wantResult struct {
	status, eventID, code string
}

func TestCloudEventsRoutes(t *testing.T) {
	id := keyedID("/shop/orders", "A234-1234-1234")
	for _, c := range []struct {
		name    string
		header  map[string]string
		body    string
		status  int
		code    string       // whole-request error
		results []wantResult // per event
		headers []map[string]string
	}{
		{
			name: "structured", header: map[string]string{"Content-Type": "application/cloudevents+json; charset=utf-8"},
			body: ceStructured, status: http.StatusAccepted, results: []wantResult{{"accepted", id, ""}},
			headers: []map[string]string{{event.HeaderFormat: "cloudevents", event.HeaderContentType: "application/cloudevents+json"}},
		},
		{
			name: "batch", header: map[string]string{"Content-Type": "application/cloudevents-batch+json"},
			body: "[" + ceStructured + `,{"specversion":"0.3","id":"x","source":"s","type":"t"}, 7]`, status: http.StatusAccepted,
			results: []wantResult{{"accepted", id, ""}, {"rejected", "", "unsupported_event"}, {"rejected", "", "not_object"}},
			headers: []map[string]string{
				{event.HeaderFormat: "cloudevents", event.HeaderContentType: "application/cloudevents+json"},
				{event.HeaderFormat: "cloudevents", event.HeaderContentType: "application/cloudevents+json"},
				{event.HeaderFormat: "cloudevents", event.HeaderContentType: "application/cloudevents+json"},
			},
		},
		{
			name: "binary", header: ceBinaryHeaders(map[string]string{"Ce-Tenantref": "caf%C3%A9"}),
			body: `{"amount":"12.50"}`, status: http.StatusAccepted, results: []wantResult{{"accepted", id, ""}},
			headers: []map[string]string{{
				event.HeaderFormat: "cloudevents-binary", "ce_specversion": "1.0", "ce_id": "A234-1234-1234",
				"ce_source": "/shop/orders", "ce_type": "com.example.order.paid", "ce_time": "2024-01-02T15:04:05Z",
				"ce_tenantref": "café", "content-type": "application/json",
			}},
		},
		{
			name: "binary without data", header: ceBinaryHeaders(map[string]string{"Content-Type": ""}),
			status: http.StatusAccepted, results: []wantResult{{"accepted", id, ""}},
			headers: []map[string]string{{
				event.HeaderFormat: "cloudevents-binary", "ce_specversion": "1.0", "ce_id": "A234-1234-1234",
				"ce_source": "/shop/orders", "ce_type": "com.example.order.paid", "ce_time": "2024-01-02T15:04:05Z",
			}},
		},
		{
			name: "binary data that is not JSON", header: ceBinaryHeaders(map[string]string{"Content-Type": "text/plain"}),
			body: "twelve", status: http.StatusAccepted, results: []wantResult{{"accepted", id, ""}},
			headers: []map[string]string{{
				event.HeaderFormat: "cloudevents-binary", "ce_specversion": "1.0", "ce_id": "A234-1234-1234",
				"ce_source": "/shop/orders", "ce_type": "com.example.order.paid", "ce_time": "2024-01-02T15:04:05Z",
				"content-type": "text/plain",
			}},
		},
		{
			name: "binary with bad JSON data", header: ceBinaryHeaders(nil), body: `{"amount":`,
			status: http.StatusAccepted, results: []wantResult{{"rejected", "", "invalid_json"}},
		},
		{
			name: "binary without source", header: ceBinaryHeaders(map[string]string{"Ce-Source": ""}), body: `{}`,
			status: http.StatusAccepted, results: []wantResult{{"rejected", "", "client_missing"}},
		},
		{
			name: "binary header not percent-encoded", header: ceBinaryHeaders(map[string]string{"Ce-Source": "%zz"}),
			body: `{}`, status: http.StatusBadRequest, code: "invalid_cloudevent_header",
		},
		{
			name: "binary header not an attribute name", header: ceBinaryHeaders(map[string]string{"Ce-Bad_Name": "x"}),
			body: `{}`, status: http.StatusBadRequest, code: "invalid_cloudevent_header",
		},
		{
			name: "binary data too large", header: ceBinaryHeaders(nil), body: `{"amount":"` + strings.Repeat("1", 5000) + `"}`,
			status: http.StatusRequestEntityTooLarge, code: "event_too_large",
		},
		{
			name: "structured array", header: map[string]string{"Content-Type": "application/cloudevents+json"},
			body: "[" + ceStructured + "]", status: http.StatusBadRequest, code: "invalid_body",
		},
		{
			name: "batch object", header: map[string]string{"Content-Type": "application/cloudevents-batch+json"},
			body: ceStructured, status: http.StatusBadRequest, code: "invalid_body",
		},
		{
			name: "structured invalid JSON", header: map[string]string{"Content-Type": "application/cloudevents+json"},
			body: `{"specversion":`, status: http.StatusBadRequest, code: "invalid_json",
		},
		{
			name: "batch empty", header: map[string]string{"Content-Type": "application/cloudevents-batch+json"},
			body: `[]`, status: http.StatusBadRequest, code: "empty_array",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, defaultOptions())
			w := h.do(request{path: "/v1/events", body: []byte(c.body), header: c.header})
			if w.Code != c.status {
				t.Fatalf("status = %d, want %d; body %s", w.Code, c.status, w.Body)
			}
			if c.code != "" {
				if got := decode[errorResponse](t, w).Error.Code; got != c.code {
					t.Fatalf("code = %q, want %q; body %s", got, c.code, w.Body)
				}
				return
			}
			checkResults(t, decode[v1Response](t, w), c.results)
			if c.headers == nil {
				return
			}
			recs := h.records(len(c.results), 10*time.Second)
			if len(recs) != len(c.results) {
				t.Fatalf("got %d records, want %d", len(recs), len(c.results))
			}
			for i, rec := range recs {
				got := layoutHeaders(rec)
				if !mapsEqual(got, c.headers[i]) {
					t.Errorf("record %d layout headers = %v, want %v", i, got, c.headers[i])
				}
			}
		})
	}
}

func checkResults(t *testing.T, resp v1Response, want []wantResult) {
	t.Helper()
	if len(resp.Results) != len(want) {
		t.Fatalf("results = %+v, want %d", resp.Results, len(want))
	}
	accepted := 0
	for i, r := range resp.Results {
		w := want[i]
		code := ""
		if r.Error != nil {
			code = r.Error.Code
		}
		if r.Status != w.status || r.EventID != w.eventID || code != w.code {
			t.Errorf("result %d = %s %s %s, want %s %s %s", i, r.Status, r.EventID, code, w.status, w.eventID, w.code)
		}
		if w.status == "accepted" {
			accepted++
		}
	}
	if resp.Accepted != accepted || resp.Rejected != len(want)-accepted {
		t.Errorf("accepted %d rejected %d, want %d and %d", resp.Accepted, resp.Rejected, accepted, len(want)-accepted)
	}
}

// layoutHeaders are a record's headers that say how its value is laid out.
func layoutHeaders(r *kgo.Record) map[string]string {
	m := map[string]string{}
	for _, h := range r.Headers {
		if h.Key == event.HeaderFormat || h.Key == event.HeaderSentAt || h.Key == event.HeaderContentType ||
			strings.HasPrefix(h.Key, event.HeaderCloudEventPrefix) {
			m[h.Key] = string(h.Value)
		}
	}
	return m
}

// The CloudEvents Go SDK, as a producer would use it, sends one event in
// binary mode (its default) and in structured mode; both are the same
// logical event with the same id.
func TestCloudEventsSDK(t *testing.T) {
	h := newHarness(t, defaultOptions())
	srv := httptest.NewServer(h.handler)
	defer srv.Close()
	// The SDK's HTTP client sends the ingest key as a Bearer header.
	client, err := cloudevents.NewClientHTTP(cehttp.WithHeader("Authorization", "Bearer "+h.key))
	if err != nil {
		t.Fatal(err)
	}
	ev := cloudevents.NewEvent()
	ev.SetID("order-77")
	ev.SetSource("/shop/eu")
	ev.SetType("com.example.order.paid")
	ev.SetTime(time.Date(2025, 3, 4, 5, 6, 0, 0, time.UTC))
	if err := ev.SetData(cloudevents.ApplicationJSON, map[string]any{"amount": "3.25"}); err != nil {
		t.Fatal(err)
	}
	ctx := cloudevents.ContextWithTarget(context.Background(), srv.URL+"/v1/events")
	for _, mode := range []struct {
		name string
		ctx  context.Context
	}{{"binary", ctx}, {"structured", binding.WithForceStructured(ctx)}} {
		if res := client.Send(mode.ctx, ev); !cloudevents.IsACK(res) {
			t.Fatalf("%s: not acknowledged: %v", mode.name, res)
		}
	}
	recs := h.records(2, 10*time.Second)
	if len(recs) != 2 {
		t.Fatalf("got %d records, want 2", len(recs))
	}
	want := keyedID("/shop/eu", "order-77")
	formats := map[string]bool{}
	for _, rec := range recs {
		hm := headerMap(rec)
		formats[hm[event.HeaderFormat]] = true
		if hm[event.HeaderEventID] != want {
			t.Errorf("%s record: event id %q, want %q", hm[event.HeaderFormat], hm[event.HeaderEventID], want)
		}
	}
	if !formats["cloudevents"] || !formats["cloudevents-binary"] {
		t.Errorf("formats = %v, want one structured and one binary record", formats)
	}
}

type segmentResponse struct {
	Success bool `json:"success"`
	v1Response
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "segment", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Recorded payloads in the shapes Segment's libraries send (analytics-go's
// batch envelope with its library context; @segment/analytics-node's batch
// with null userId, writeKey and _metadata; a mobile track call with
// originalTimestamp and sentAt), sent the way the libraries send them:
// application/json with the write key as the HTTP basic user.
func TestSegmentRoutes(t *testing.T) {
	for _, c := range []struct {
		name, path, fixture, body string
		header                    map[string]string
		status                    int
		code                      string
		results                   []wantResult
		sentAt                    string
	}{
		{
			name: "analytics-go batch", path: "/v1/batch", fixture: "analytics-go-batch.json", status: http.StatusOK,
			results: []wantResult{
				{"accepted", keyedID("user-1001", "0a4b8c5e-8f0c-4d7a-b5f2-0c1e2d3f4a5b"), ""},
				{"accepted", keyedID("507f191e810c19729de860ea", "2c9f7a61-1b9e-4a5d-8c3e-7d6f5e4c3b2a"), ""},
				{"rejected", "", "unsupported_event"}, // identify is not counted
			},
			sentAt: "2025-03-04T05:06:07.5Z",
		},
		{
			name: "analytics-node batch", path: "/v1/batch", fixture: "analytics-node-batch.json", status: http.StatusOK,
			results: []wantResult{
				{"accepted", keyedID("anon-7f3c", "node-next-1741064764123-8c1f2e0a-77b4-4a8e-9b0d-3e6a1c2f4d5e"), ""},
				{"accepted", keyedID("user-2002", "node-next-1741064764200-1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"), ""},
			},
			sentAt: "2025-03-04T05:06:05.000Z",
		},
		{
			name: "mobile track", path: "/v1/track", fixture: "mobile-track.json", status: http.StatusOK,
			results: []wantResult{{"accepted", keyedID("device-user-9", "ios-6F1D2C3B-4A5E-4F60-8172-93A4B5C6D7E8"), ""}},
		},
		{
			name: "track without user", path: "/v1/track", body: `{"event":"e","messageId":"m"}`, status: http.StatusOK,
			results: []wantResult{{"rejected", "", "client_missing"}},
		},
		{
			name: "batch message not an object", path: "/v1/batch", body: `{"batch":[1,{"type":"track","userId":"u","event":"e","messageId":"m"}]}`,
			status: http.StatusOK, results: []wantResult{{"rejected", "", "not_object"}, {"accepted", keyedID("u", "m"), ""}},
		},
		{name: "track array", path: "/v1/track", body: `[{"event":"e"}]`, status: http.StatusBadRequest, code: "invalid_body"},
		{name: "track invalid JSON", path: "/v1/track", body: `{"event":`, status: http.StatusBadRequest, code: "invalid_json"},
		{name: "batch invalid JSON", path: "/v1/batch", body: `{"batch":[`, status: http.StatusBadRequest, code: "invalid_json"},
		{name: "batch without batch", path: "/v1/batch", body: `{"sentAt":"2025-01-01T00:00:00Z"}`, status: http.StatusBadRequest, code: "invalid_json"},
		{name: "batch empty", path: "/v1/batch", body: `{"batch":[]}`, status: http.StatusBadRequest, code: "empty_array"},
		{name: "batch too many", path: "/v1/batch", body: `{"batch":[` + strings.Repeat(`{},`, 50) + `{}]}`,
			status: http.StatusRequestEntityTooLarge, code: "too_many_events"},
		{name: "batch message too large", path: "/v1/batch", body: `{"batch":[{"event":"` + strings.Repeat("x", 5000) + `"}]}`,
			status: http.StatusRequestEntityTooLarge, code: "event_too_large"},
		{name: "not JSON", path: "/v1/track", body: `{}`, header: map[string]string{"Content-Type": "text/plain"},
			status: http.StatusUnsupportedMediaType, code: "unsupported_media_type"},
		{name: "NDJSON", path: "/v1/batch", body: `{}`, header: map[string]string{"Content-Type": "application/x-ndjson"},
			status: http.StatusUnsupportedMediaType, code: "unsupported_media_type"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, defaultOptions())
			body := []byte(c.body)
			if c.fixture != "" {
				body = readFixture(t, c.fixture)
			}
			// The write key is the harness's ingest key, as Segment's
			// libraries send it: the HTTP basic user, no password.
			basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(h.key+":"))
			header := map[string]string{"Authorization": basic, "User-Agent": "analytics-go (version: 3.3.0)"}
			for k, v := range c.header {
				header[k] = v
			}
			w := h.do(request{path: c.path, body: body, header: header})
			if w.Code != c.status {
				t.Fatalf("status = %d, want %d; body %s", w.Code, c.status, w.Body)
			}
			if c.code != "" {
				if got := decode[errorResponse](t, w).Error.Code; got != c.code {
					t.Fatalf("code = %q, want %q; body %s", got, c.code, w.Body)
				}
				return
			}
			resp := decode[segmentResponse](t, w)
			if !resp.Success {
				t.Errorf("success = false, want true (Segment's libraries expect it): %s", w.Body)
			}
			checkResults(t, resp.v1Response, c.results)
			recs := h.records(len(c.results), 10*time.Second)
			if len(recs) != len(c.results) {
				t.Fatalf("got %d records, want %d", len(recs), len(c.results))
			}
			want := map[string]string{event.HeaderFormat: "segment"}
			if c.sentAt != "" {
				want[event.HeaderSentAt] = c.sentAt
			}
			// Records are keyed by client, so they spread over partitions:
			// compare the ids they carry as a set.
			ids := map[string]int{}
			for _, r := range c.results {
				ids[r.eventID]++
			}
			for i, rec := range recs {
				if got := layoutHeaders(rec); !mapsEqual(got, want) {
					t.Errorf("record %d layout headers = %v, want %v", i, got, want)
				}
				ids[headerMap(rec)[event.HeaderEventID]]--
			}
			for id, n := range ids {
				if n != 0 {
					t.Errorf("event id %q: %d more records than results", id, -n)
				}
			}
		})
	}
}
