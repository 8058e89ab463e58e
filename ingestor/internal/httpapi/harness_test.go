package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tally-dev/tally/event/normalize"
	"github.com/tally-dev/tally/event/openapi"
	"github.com/tally-dev/tally/ingestor/internal/body"
	"github.com/tally-dev/tally/ingestor/internal/httpapi"
	"github.com/tally-dev/tally/ingestor/internal/ingest"
	"github.com/tally-dev/tally/ingestor/internal/publish"
	"github.com/tally-dev/tally/ingestor/internal/seen"
)

const topic = "events.raw"

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	os.Exit(m.Run())
}

// fixedNow is the server clock in tests, so received-at headers are exact.
var fixedNow = time.Date(2025, 3, 4, 5, 6, 7, 891_234_567, time.UTC)

type options struct {
	limits         body.Limits
	faultInjection bool
	produceTimeout time.Duration
	brokers        []string      // nil: a fresh kfake cluster
	topic          string        // "": events.raw
	redisAddr      string        // "": no duplicate hint
	redisTimeout   time.Duration // 0: 100ms
	brokerConfigs  map[string]string
}

type harness struct {
	t        testing.TB
	handler  http.Handler
	brokers  []string
	topic    string
	cluster  *kfake.Cluster
	registry *prometheus.Registry
}

func defaultOptions() options {
	return options{
		limits:         body.Limits{MaxBodyBytes: 64 << 10, MaxEvents: 50, MaxEventBytes: 4 << 10, MaxDepth: 32},
		produceTimeout: 5 * time.Second,
	}
}

func newHarness(t testing.TB, opts options) *harness {
	t.Helper()
	h := &harness{t: t, brokers: opts.brokers, topic: opts.topic}
	if h.topic == "" {
		h.topic = topic
	}
	if h.brokers == nil {
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topic), kfake.BrokerConfigs(opts.brokerConfigs))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		h.cluster = c
		h.brokers = c.ListenAddrs()
	}
	cl, err := publish.NewClient(publish.ClientConfig{
		Brokers: h.brokers, Topic: h.topic, ProduceTimeout: opts.produceTimeout, Linger: time.Millisecond,
		MaxBufferedRecords: 10000, MaxRecordBytes: opts.limits.MaxEventBytes,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	engine, err := normalize.New(normalize.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	h.registry = prometheus.NewRegistry()
	im, err := ingest.NewMetrics(h.registry)
	if err != nil {
		t.Fatal(err)
	}
	icfg := ingest.Config{Normalizer: engine, Producer: cl, ProduceTimeout: opts.produceTimeout, Logger: logger, Metrics: im}
	if opts.redisAddr != "" {
		timeout := opts.redisTimeout
		if timeout == 0 {
			timeout = 100 * time.Millisecond
		}
		rdb := redis.NewClient(&redis.Options{Addr: opts.redisAddr, MaxRetries: -1, DialTimeout: timeout})
		t.Cleanup(func() { rdb.Close() })
		icfg.Seen = seen.NewRedis(rdb, timeout)
	}
	svc, err := ingest.New(icfg)
	if err != nil {
		t.Fatal(err)
	}
	h.handler, err = httpapi.New(httpapi.Config{
		Ingester: svc, Ready: publish.NewReadiness(cl, 500*time.Millisecond, time.Second),
		Registerer: h.registry, Gatherer: h.registry, Logger: logger, Limits: opts.limits,
		FaultInjection: opts.faultInjection, OpenAPISpec: openapi.Spec, RetryAfter: time.Second,
		Now: func() time.Time { return fixedNow },
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

type request struct {
	method, path string
	body         []byte
	header       map[string]string
}

func (h *harness) do(r request) *httptest.ResponseRecorder {
	h.t.Helper()
	if r.method == "" {
		r.method = http.MethodPost
	}
	req := httptest.NewRequest(r.method, r.path, bytes.NewReader(r.body))
	if r.method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range r.header {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.handler.ServeHTTP(w, req)
	return w
}

// records reads the topic from the start until want records arrived or the
// wait ran out, and returns what it found.
func (h *harness) records(want int, wait time.Duration) []*kgo.Record {
	h.t.Helper()
	// Read from the start with a fresh client per attempt: under a loaded
	// CI machine a kfake consumer has been seen to stall on its first
	// fetch, and a new client (new metadata, new fetch session) recovers.
	deadline := time.Now().Add(wait)
	var out []*kgo.Record
	for len(out) < want && time.Now().Before(deadline) {
		out = h.readOnce(want, min(2*time.Second, time.Until(deadline)))
	}
	return out
}

func (h *harness) readOnce(want int, wait time.Duration) []*kgo.Record {
	h.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(h.brokers...), kgo.ConsumeTopics(h.topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		h.t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var out []*kgo.Record
	for len(out) < want && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

func headerMap(r *kgo.Record) map[string]string {
	m := map[string]string{}
	for _, h := range r.Headers {
		m[h.Key] = string(h.Value)
	}
	return m
}

func decode[T any](t testing.TB, w *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("decode %q: %v", w.Body.String(), err)
	}
	return v
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func newMiniredis(t testing.TB) *miniredis.Miniredis {
	t.Helper()
	return miniredis.RunT(t)
}

type v1Response struct {
	Accepted int `json:"accepted"`
	Rejected int `json:"rejected"`
	Failed   int `json:"failed"`
	Results  []struct {
		Index          int    `json:"index"`
		EventID        string `json:"eventId"`
		IdempotencyKey string `json:"idempotencyKey"`
		IDSource       string `json:"idSource"`
		CoarseID       bool   `json:"coarseId"`
		Status         string `json:"status"`
		Duplicate      *bool  `json:"duplicate"`
		Error          *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Field   string `json:"field"`
		} `json:"error"`
	} `json:"results"`
}

type errorResponse struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}
