package httpapi_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tally-dev/tally/event/testenv"
	"github.com/tally-dev/tally/ingestor/internal/ratelimit"
)

// BenchmarkIngestSingle posts one event per request through the whole
// handler path (authenticate, split, normalize, produce with acks=all to
// kfake, respond).
func BenchmarkIngestSingle(b *testing.B) {
	benchSingle(b, newHarness(b, defaultOptions()))
}

// BenchmarkIngestSingleAuth is the same request with authentication off
// (TALLY_AUTH=disabled), and on with the per-key rate limit (one Redis
// round trip) and with the rate limit and a daily quota (two). Redis is
// TALLY_TEST_REDIS_ADDR when set (a real redis-server), else miniredis in
// this process — whose Lua interpreter then runs on the benchmark's own
// CPUs and dominates, so only the real-Redis numbers say what production
// pays. docs/benchmarks/ingest-auth.md has the numbers and how to
// reproduce them.
func BenchmarkIngestSingleAuth(b *testing.B) {
	authVariants(b, false)
}

// BenchmarkIngestSingleAuthInstantAcks is the same without Kafka: the
// producer acks at once, so what is measured is the ingestor's own work
// per request — the denominator auth and limits add to in production,
// where Kafka runs elsewhere.
func BenchmarkIngestSingleAuthInstantAcks(b *testing.B) {
	authVariants(b, true)
}

func authVariants(b *testing.B, instantAcks bool) {
	redisAddr := os.Getenv(testenv.RedisEnv)
	if redisAddr == "" {
		redisAddr = newMiniredis(b).Addr()
	}
	opts := func() options {
		o := defaultOptions()
		o.instantAcks = instantAcks
		return o
	}
	b.Run("auth=off", func(b *testing.B) {
		o := opts()
		o.authDisabled = true
		benchSingle(b, newHarness(b, o))
	})
	b.Run("auth=on", func(b *testing.B) {
		benchSingle(b, newHarness(b, opts()))
	})
	for _, v := range []struct {
		name   string
		policy ratelimit.Policy
	}{
		{"auth=on,rate", ratelimit.Policy{EventsPerSecond: 1e9}},
		{"auth=on,rate+quota", ratelimit.Policy{EventsPerSecond: 1e9, QuotaPerDay: 1e15}},
	} {
		b.Run(v.name, func(b *testing.B) {
			o := opts()
			o.limiter = newLimiter(b, redisAddr)
			o.policy = v.policy
			benchSingle(b, newHarness(b, o))
		})
	}
}

func benchSingle(b *testing.B, h *harness) {
	auth := ""
	if h.key != "" {
		auth = "Bearer " + h.key
	}
	b.ReportAllocs()
	b.SetParallelism(64) // many concurrent clients: each request waits for its ack
	b.ResetTimer()
	cpu := processCPU()
	defer func() {
		// CPU time of this process per request (kfake and miniredis
		// included, a real Redis not): unlike ns/op it barely moves when
		// other processes compete for the machine.
		b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
	}()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			ev := fmt.Sprintf(`{"clientId":"c","metric":"m","amount":%d,"timestamp":"2024-01-01T00:00:00Z"}`, i)
			req := httptest.NewRequest(http.MethodPost, "/v1/events", strings.NewReader(ev))
			req.Header.Set("Content-Type", "application/json")
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			w := httptest.NewRecorder()
			h.handler.ServeHTTP(w, req)
			if w.Code != http.StatusAccepted {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
		}
	})
}

// processCPU is the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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
			req.Header.Set("Authorization", "Bearer "+h.key)
			w := httptest.NewRecorder()
			h.handler.ServeHTTP(w, req)
			if w.Code != http.StatusAccepted {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
		}
	})
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
}
