package httpapi_test

import (
	"bytes"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tally-dev/tally/event"
	"github.com/tally-dev/tally/event/auth"
)

var hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

const (
	evA         = `{"clientId": "c1", "metric": "purchase", "amount": "12.50", "timestamp": "2024-01-01T00:00:00Z"}`
	evB         = `{"source":"client_A","payload":{"metric":"purchase","amount":"1200","timestamp":"2024/01/01"}}`
	evC         = `{"client_id":"client_B","event_type":"click","value":500,"date":"2024-01-15T10:30:00Z"}`
	evBadAmount = `{"clientId":"c1","metric":"m","amount":"lots","timestamp":"2024-01-01T00:00:00Z"}`
)

func TestIngestObject(t *testing.T) {
	h := newHarness(t, defaultOptions())
	w := h.do(request{path: "/v1/events", body: []byte(evA),
		header: map[string]string{"Idempotency-Key": "k1", "X-Request-Id": "req-1"}})
	if w.Code != http.StatusAccepted {
		t.Fatalf("status = %d, body %s", w.Code, w.Body)
	}
	if got := w.Header().Get("X-Request-Id"); got != "req-1" {
		t.Errorf("X-Request-Id = %q, want req-1", got)
	}
	resp := decode[v1Response](t, w)
	if resp.Accepted != 1 || resp.Rejected != 0 || len(resp.Results) != 1 {
		t.Fatalf("response = %+v", resp)
	}
	r := resp.Results[0]
	// Without Redis the duplicate hint is unknown, so it is absent.
	if r.Status != "accepted" || !hex64.MatchString(r.EventID) || r.Duplicate != nil || r.Error != nil ||
		r.IdempotencyKey != "k1" || r.IDSource != "key" {
		t.Fatalf("result = %+v", r)
	}
	recs := h.records(1, 5*time.Second)
	if len(recs) != 1 {
		t.Fatalf("got %d records, want 1", len(recs))
	}
	rec := recs[0]
	if string(rec.Value) != evA {
		t.Errorf("value = %q, want the exact body %q", rec.Value, evA)
	}
	if string(rec.Key) != "c1" {
		t.Errorf("key = %q, want the client id c1 (every copy and every event of a client go to its owner partition)", rec.Key)
	}
	want := map[string]string{
		event.HeaderReceivedAt:     "2025-03-04T05:06:07.891Z",
		event.HeaderRequestID:      "req-1",
		event.HeaderIdempotencyKey: "k1",
		event.HeaderSource:         "http",
		event.HeaderEventID:        r.EventID,
		// The key's tenant, signed for the processor (tenancy.Resolver).
		event.HeaderTenant:          event.DefaultTenant,
		event.HeaderTenantSignature: string(auth.TenantSignature(tenantSecret, event.DefaultTenant, rec.Value)),
	}
	if got := headerMap(rec); !mapsEqual(got, want) {
		t.Errorf("headers = %v, want %v", got, want)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestIngestArrayProducesEveryEvent(t *testing.T) {
	h := newHarness(t, defaultOptions())
	elems := []string{evA, evBadAmount, evA, `42`}
	body := "[\n  " + strings.Join(elems, " ,\n  ") + "\n]"
	w := h.do(request{path: "/v1/events", body: []byte(body), header: map[string]string{"X-Request-Id": "req-arr"}})
	if w.Code != http.StatusAccepted {
		t.Fatalf("status = %d, body %s", w.Code, w.Body)
	}
	resp := decode[v1Response](t, w)
	if resp.Accepted != 2 || resp.Rejected != 2 || len(resp.Results) != 4 {
		t.Fatalf("response = %s", w.Body)
	}
	r := resp.Results
	if r[0].Status != "accepted" || r[0].Duplicate != nil {
		t.Errorf("result 0 = %+v", r[0])
	}
	if r[1].Status != "rejected" || r[1].Error == nil || r[1].Error.Code != "amount_invalid" || r[1].Error.Field != "amount" || r[1].EventID != "" {
		t.Errorf("result 1 = %s", w.Body)
	}
	// The same logical event twice in one request: the second is a
	// duplicate, which is known without Redis.
	if r[2].Status != "accepted" || r[2].EventID != r[0].EventID || r[2].Duplicate == nil || !*r[2].Duplicate {
		t.Errorf("result 2 = %+v", r[2])
	}
	if r[3].Status != "rejected" || r[3].Error.Code != "not_object" {
		t.Errorf("result 3 = %+v", r[3])
	}

	recs := h.records(4, 5*time.Second)
	if len(recs) != 4 {
		t.Fatalf("got %d records, want all 4 (rejected ones too)", len(recs))
	}
	byValue := map[string][]string{}
	for _, rec := range recs {
		byValue[string(rec.Value)] = append(byValue[string(rec.Value)], string(rec.Key))
	}
	if keys := byValue[evA]; len(keys) != 2 || keys[0] != "c1" || keys[1] != "c1" {
		t.Errorf("records of evA keyed %v, want the client id twice", keys)
	}
	if keys := byValue[evBadAmount]; len(keys) != 1 || keys[0] != "req-arr:1" {
		t.Errorf("rejected record keyed %v, want req-arr:1", keys)
	}
	if keys := byValue[`42`]; len(keys) != 1 || keys[0] != "req-arr:3" {
		t.Errorf("not-object record keyed %v, want req-arr:3", keys)
	}
}

func TestIngestArrayIdempotencyKeys(t *testing.T) {
	h := newHarness(t, defaultOptions())
	w := h.do(request{path: "/v1/events", body: []byte("[" + evA + "," + evA + "]"), header: map[string]string{"Idempotency-Key": "batch-7"}})
	if w.Code != http.StatusAccepted {
		t.Fatalf("status = %d, body %s", w.Code, w.Body)
	}
	resp := decode[v1Response](t, w)
	// Element keys differ, so the two copies are distinct logical events.
	if resp.Results[0].EventID == resp.Results[1].EventID || resp.Results[1].Duplicate != nil ||
		resp.Results[0].IdempotencyKey != "batch-7:0" || resp.Results[1].IdempotencyKey != "batch-7:1" {
		t.Errorf("results = %s", w.Body)
	}
	// "<key>:<index>" travels as the fallback, which an element's own key
	// beats, never as the winning tally-idempotency-key header.
	keys := map[string]bool{}
	for _, rec := range h.records(2, 5*time.Second) {
		keys[headerMap(rec)[event.HeaderFallbackIdempotencyKey]] = true
		if k, ok := headerMap(rec)[event.HeaderIdempotencyKey]; ok {
			t.Errorf("array element carries the winning key header %q", k)
		}
	}
	if !keys["batch-7:0"] || !keys["batch-7:1"] {
		t.Errorf("fallback key headers = %v, want batch-7:0 and batch-7:1", keys)
	}
}

func TestIngestNDJSON(t *testing.T) {
	h := newHarness(t, defaultOptions())
	body := evA + "\r\n\n" + evC + "\n{\"broken\":\n"
	w := h.do(request{path: "/v1/events", body: []byte(body), header: map[string]string{"Content-Type": "application/x-ndjson"}})
	if w.Code != http.StatusAccepted {
		t.Fatalf("status = %d, body %s", w.Code, w.Body)
	}
	resp := decode[v1Response](t, w)
	if resp.Accepted != 2 || resp.Rejected != 1 || resp.Results[2].Error.Code != "invalid_json" {
		t.Fatalf("response = %s", w.Body)
	}
	values := map[string]bool{}
	for _, rec := range h.records(3, 5*time.Second) {
		values[string(rec.Value)] = true
	}
	for _, v := range []string{evA, evC, `{"broken":`} {
		if !values[v] {
			t.Errorf("record %q missing; got %v", v, values)
		}
	}
}

func TestIngestGzip(t *testing.T) {
	h := newHarness(t, defaultOptions())
	plain := "[" + evA + "," + evC + "]"
	w := h.do(request{path: "/v1/events", body: gzipBytes(t, []byte(plain)), header: map[string]string{"Content-Encoding": "gzip"}})
	if w.Code != http.StatusAccepted {
		t.Fatalf("status = %d, body %s", w.Code, w.Body)
	}
	if resp := decode[v1Response](t, w); resp.Accepted != 2 {
		t.Fatalf("response = %s", w.Body)
	}
	recs := h.records(2, 5*time.Second)
	if len(recs) != 2 {
		t.Fatalf("got %d records", len(recs))
	}
	for _, rec := range recs {
		if v := string(rec.Value); v != evA && v != evC {
			t.Errorf("value %q is not an element of the decompressed body", v)
		}
	}
}

func TestIngestSeedRoute(t *testing.T) {
	h := newHarness(t, defaultOptions())
	w := h.do(request{path: "/api/events", body: []byte(evB)})
	if w.Code != http.StatusOK {
		t.Fatalf("status = %d, body %s", w.Code, w.Body)
	}
	type seedResp struct {
		Success   bool `json:"success"`
		Processed int  `json:"processed"`
		Failed    int  `json:"failed"`
		Results   []struct {
			Success     bool    `json:"success"`
			EventID     *string `json:"eventId"`
			IsDuplicate bool    `json:"isDuplicate"`
			Error       *string `json:"error"`
		} `json:"results"`
	}
	resp := decode[seedResp](t, w)
	if !resp.Success || resp.Processed != 1 || resp.Failed != 0 || len(resp.Results) != 1 ||
		!resp.Results[0].Success || resp.Results[0].EventID == nil || !hex64.MatchString(*resp.Results[0].EventID) || resp.Results[0].Error != nil {
		t.Fatalf("response = %s", w.Body)
	}
	// Every key of the seed shape is present, null included.
	for _, k := range []string{`"eventId":`, `"isDuplicate":false`, `"error":null`} {
		if !strings.Contains(w.Body.String(), k) {
			t.Errorf("response %s lacks %s", w.Body, k)
		}
	}

	w = h.do(request{path: "/api/events", body: []byte("[" + evB + "," + evBadAmount + "]")})
	resp = decode[seedResp](t, w)
	if w.Code != http.StatusOK || resp.Success || resp.Processed != 1 || resp.Failed != 1 {
		t.Fatalf("mixed batch: %d %s", w.Code, w.Body)
	}
	if r := resp.Results[1]; r.Success || r.EventID != nil || r.Error == nil || !strings.HasPrefix(*r.Error, "amount_invalid: ") {
		t.Errorf("rejected seed result = %s", w.Body)
	}
}

func TestSimulateFailure(t *testing.T) {
	t.Run("forbidden without fault injection", func(t *testing.T) {
		h := newHarness(t, defaultOptions())
		for _, path := range []string{"/v1/events?simulateFailure=true", "/api/events?simulateFailure=true"} {
			w := h.do(request{path: path, body: []byte(evA)})
			if w.Code != http.StatusForbidden || decode[errorResponse](t, w).Error.Code != "fault_injection_disabled" {
				t.Errorf("%s: %d %s", path, w.Code, w.Body)
			}
		}
		if recs := h.records(1, 300*time.Millisecond); len(recs) != 0 {
			t.Errorf("a forbidden request produced %d records", len(recs))
		}
	})
	t.Run("allowed with fault injection", func(t *testing.T) {
		opts := defaultOptions()
		opts.faultInjection = true
		h := newHarness(t, opts)
		w := h.do(request{path: "/api/events?simulateFailure=true", body: []byte(evA)})
		if w.Code != http.StatusOK {
			t.Fatalf("status = %d, body %s", w.Code, w.Body)
		}
		recs := h.records(1, 5*time.Second)
		if len(recs) != 1 || headerMap(recs[0])[event.HeaderSimulateFailure] != "true" {
			t.Fatalf("records = %v", recs)
		}
		w = h.do(request{path: "/v1/events?simulateFailure=false", body: []byte(evC)})
		if w.Code != http.StatusAccepted {
			t.Fatalf("simulateFailure=false: %d", w.Code)
		}
		for _, rec := range h.records(2, 5*time.Second) {
			if string(rec.Value) == evC {
				if _, ok := headerMap(rec)[event.HeaderSimulateFailure]; ok {
					t.Errorf("simulateFailure=false still set the header")
				}
			}
		}
	})
}

// TestBadBodies: every whole-body error is a 4xx JSON error and produces nothing.
func TestBadBodies(t *testing.T) {
	h := newHarness(t, defaultOptions()) // 64 KiB body, 50 events, 4 KiB per event
	big := `{"clientId":"c","metric":"m","amount":1,"pad":"` + strings.Repeat("x", 5000) + `"}`
	bomb := gzipBytes(t, bytes.Repeat([]byte(" "), 10<<20)) // ~10 KB on the wire, 10 MB inflated
	manyEvents := "[" + strings.TrimSuffix(strings.Repeat(evA+",", 51), ",") + "]"
	tests := []struct {
		name   string
		body   []byte
		header map[string]string
		path   string
		status int
		code   string
	}{
		{name: "body too large", body: bytes.Repeat([]byte(" "), 70<<10), status: 413, code: "body_too_large"},
		{name: "gzip bomb", body: bomb, header: map[string]string{"Content-Encoding": "gzip"}, status: 413, code: "body_too_large"},
		{name: "invalid gzip", body: []byte(evA), header: map[string]string{"Content-Encoding": "gzip"}, status: 400, code: "invalid_gzip"},
		{name: "unsupported encoding", body: []byte(evA), header: map[string]string{"Content-Encoding": "br"}, status: 415, code: "unsupported_encoding"},
		{name: "unsupported content type", body: []byte(evA), header: map[string]string{"Content-Type": "text/plain"}, status: 415, code: "unsupported_media_type"},
		{name: "form content type", body: []byte(evA), header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, status: 415, code: "unsupported_media_type"},
		{name: "empty body", body: nil, status: 400, code: "empty_body"},
		{name: "empty array", body: []byte(" [ ] "), status: 400, code: "empty_array"},
		{name: "trailing data", body: []byte(evA + ` {"x":1}`), status: 400, code: "trailing_data"},
		{name: "trailing garbage after array", body: []byte("[" + evA + "]garbage"), status: 400, code: "trailing_data"},
		{name: "invalid json", body: []byte(`{"clientId": "c",}`), status: 400, code: "invalid_json"},
		{name: "truncated array", body: []byte("[" + evA), status: 400, code: "invalid_json"},
		{name: "scalar body", body: []byte(`"hello"`), status: 400, code: "invalid_body"},
		{name: "too many events", body: []byte(manyEvents), status: 413, code: "too_many_events"},
		{name: "event too large", body: []byte(big), status: 413, code: "event_too_large"},
		{name: "idempotency key too long", body: []byte(evA), header: map[string]string{"Idempotency-Key": strings.Repeat("k", 257)}, status: 400, code: "invalid_idempotency_key"},
		{name: "bad simulateFailure", body: []byte(evA), path: "/v1/events?simulateFailure=maybe", status: 400, code: "invalid_parameter"},
		{name: "seed route too", body: []byte(" [] "), path: "/api/events", status: 400, code: "empty_array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.path
			if path == "" {
				path = "/v1/events"
			}
			w := h.do(request{path: path, body: tt.body, header: tt.header})
			if w.Code != tt.status {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tt.status, w.Body)
			}
			e := decode[errorResponse](t, w)
			if e.Error.Code != tt.code || e.Error.Message == "" {
				t.Errorf("error = %+v, want code %s", e.Error, tt.code)
			}
		})
	}
	if recs := h.records(1, 500*time.Millisecond); len(recs) != 0 {
		t.Errorf("rejected bodies produced %d records", len(recs))
	}
}

// TestPerEventRejections: problems inside one event reject that event (with
// the engine's code) and still produce it for the audit trail.
func TestPerEventRejections(t *testing.T) {
	h := newHarness(t, defaultOptions())
	deep := strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40)
	elems := []string{
		`{"clientId":"c","metric":"m","amount":1,"amount":2}`,
		"{\"clientId\":\"c\xff\",\"metric\":\"m\",\"amount\":1}",
		deep,
		`[1,2]`,
		evA,
	}
	w := h.do(request{path: "/v1/events", body: []byte("[" + strings.Join(elems, ",") + "]")})
	if w.Code != http.StatusAccepted {
		t.Fatalf("status = %d, body %s", w.Code, w.Body)
	}
	resp := decode[v1Response](t, w)
	wantCodes := []string{"duplicate_key", "invalid_utf8", "too_deep", "not_object", ""}
	for i, want := range wantCodes {
		r := resp.Results[i]
		got := ""
		if r.Error != nil {
			got = r.Error.Code
		}
		if got != want {
			t.Errorf("result %d code = %q, want %q (%s)", i, got, want, w.Body)
		}
	}
	recs := h.records(len(elems), 5*time.Second)
	if len(recs) != len(elems) {
		t.Fatalf("got %d records, want %d", len(recs), len(elems))
	}
	values := map[string]bool{}
	for _, rec := range recs {
		values[string(rec.Value)] = true
	}
	for _, e := range elems {
		if !values[e] {
			t.Errorf("record with exact bytes %q missing", e)
		}
	}
}
