package httpapi_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkIngestSingle posts one event per request through the whole
// handler path (split, normalize, produce with acks=all to kfake, respond).
func BenchmarkIngestSingle(b *testing.B) {
	h := newHarness(b, defaultOptions())
	b.ReportAllocs()
	b.SetParallelism(64) // many concurrent clients: each request waits for its ack
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			ev := fmt.Sprintf(`{"clientId":"c","metric":"m","amount":%d,"timestamp":"2024-01-01T00:00:00Z"}`, i)
			req := httptest.NewRequest(http.MethodPost, "/v1/events", strings.NewReader(ev))
			req.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			h.handler.ServeHTTP(w, req)
			if w.Code != http.StatusAccepted {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
		}
	})
}

// BenchmarkIngestBatch posts arrays of 100 events; events/s is reported.
func BenchmarkIngestBatch(b *testing.B) {
	opts := defaultOptions()
	opts.limits.MaxBodyBytes = 8 << 20
	opts.limits.MaxEvents = 10000
	h := newHarness(b, opts)
	const n = 100
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i := range n {
		if i > 0 {
			buf.WriteByte(',')
		}
		fmt.Fprintf(&buf, `{"clientId":"c%d","metric":"m","amount":"%d.5","timestamp":"2024-01-01T00:00:%02dZ"}`, i%7, i, i%60)
	}
	buf.WriteByte(']')
	payload := buf.Bytes()
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	b.SetParallelism(64) // many concurrent clients: each request waits for its ack
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodPost, "/v1/events", bytes.NewReader(payload))
			req.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			h.handler.ServeHTTP(w, req)
			if w.Code != http.StatusAccepted {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
		}
	})
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
}
