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

	"github.com/tally-dev/tally/event"
	"github.com/tally-dev/tally/event/auth"
	"github.com/tally-dev/tally/event/control"
	"github.com/tally-dev/tally/event/normalize"
	"github.com/tally-dev/tally/event/openapi"
	"github.com/tally-dev/tally/ingestor/internal/body"
	"github.com/tally-dev/tally/ingestor/internal/httpapi"
	"github.com/tally-dev/tally/ingestor/internal/ingest"
	"github.com/tally-dev/tally/ingestor/internal/publish"
	"github.com/tally-dev/tally/ingestor/internal/ratelimit"
	"github.com/tally-dev/tally/ingestor/internal/seen"
)

const (
	topic        = "events.raw"
	controlTopic = control.DefaultTopic
)

// tenantSecret signs the harness's tenants.
var tenantSecret = []byte("harness-tenant-secret-0123456789")

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

	// Authentication is on unless authDisabled. Keys live in a control
	// topic on controlBrokers (nil: the harness's kfake cluster, or a
	// fresh one when brokers are given); key is the key every request
	// sends unless it sets its own credential ("": a new ingest key of the
	// default tenant).
	authDisabled   bool
	controlBrokers []string
	key            string
	// controlReady overrides the registry's readiness (nil: wait for it).
	controlReady <-chan struct{}
	limiter      httpapi.Admitter
	policy       ratelimit.Policy
	// instantAcks replaces Kafka with a producer that acks every record at
	// once (benchmarks of the ingestor's own work).
	instantAcks bool
	// logs receives the handler's log lines at logLevel (nil: discarded).
	logs     io.Writer
	logLevel slog.Level
}

// instantProducer acks every record as soon as it is handed over.
type instantProducer struct{}

func (instantProducer) Produce(_ context.Context, r *kgo.Record, promise func(*kgo.Record, error)) {
	promise(r, nil)
}

type harness struct {
	t        testing.TB
	handler  http.Handler
	brokers  []string
	topic    string
	cluster  *kfake.Cluster
	registry *prometheus.Registry
	// plane holds the API keys (nil with authentication disabled); key is
	// the credential requests send by default.
	plane control.Plane
	key   string
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
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topic), kfake.SeedTopics(1, controlTopic),
			kfake.BrokerConfigs(opts.brokerConfigs))
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
	logger := testLogger(opts)
	h.registry = prometheus.NewRegistry()
	im, err := ingest.NewMetrics(h.registry)
	if err != nil {
		t.Fatal(err)
	}
	var producer ingest.Producer = cl
	if opts.instantAcks {
		producer = instantProducer{}
	}
	icfg := ingest.Config{Normalizer: engine, Producer: producer, ProduceTimeout: opts.produceTimeout, Logger: logger, Metrics: im,
		SignTenant: auth.NewTenantKey(tenantSecret).Sign}
	checker := &auth.Checker{}
	ready := opts.controlReady
	if opts.authDisabled {
		icfg.SignTenant = nil
	} else {
		h.startControl(opts)
		checker.Auth = httpapi.NewKeyCache(h.plane.Registry, 100)
		if ready == nil {
			ready = h.plane.Ready()
		}
	}
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
		Now: func() time.Time { return fixedNow }, Auth: checker, ControlReady: ready, Limiter: opts.limiter,
		DefaultPolicy: opts.policy,
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// startControl follows a control topic and makes the default key.
func (h *harness) startControl(opts options) {
	t := h.t
	t.Helper()
	brokers := opts.controlBrokers
	if brokers == nil {
		if h.cluster == nil {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, controlTopic))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(c.Close)
			brokers = c.ListenAddrs()
		} else {
			brokers = h.brokers
		}
	}
	reg, err := control.NewRegistry([]kgo.Opt{kgo.SeedBrokers(brokers...)}, controlTopic, nil)
	if err != nil {
		t.Fatal(err)
	}
	wcl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = reg.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		reg.Close()
		wcl.Close()
	})
	h.plane = control.Plane{Registry: reg, W: control.NewWriter(wcl, controlTopic)}
	wait, stop := context.WithTimeout(context.Background(), 20*time.Second)
	defer stop()
	if err := reg.WaitReady(wait); err != nil {
		t.Fatal(err)
	}
	h.key = opts.key
	if h.key == "" {
		h.key = h.newKey(event.DefaultTenant, []string{control.ScopeIngest}, nil)
	}
}

// newKey stores a key of tenant with scopes (edit adjusts it before it is
// stored) and returns its text once every replica would authenticate it.
func (h *harness) newKey(tenant string, scopes []string, edit func(*control.Key)) string {
	h.t.Helper()
	text, k, err := control.NewKey(tenant, scopes, time.Now())
	if err != nil {
		h.t.Fatal(err)
	}
	if edit != nil {
		edit(&k)
	}
	h.putKey(k)
	return text
}

func (h *harness) putKey(k control.Key) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := h.plane.PutKey(ctx, k); err != nil {
		h.t.Fatal(err)
	}
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
	if h.key != "" {
		req.Header.Set("Authorization", "Bearer "+h.key)
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

// exactly reads the topic and fails unless it holds exactly n records:
// first it waits (long, for a loaded machine) until n are there, then it
// looks briefly for one more.
func (h *harness) exactly(n int) []*kgo.Record {
	h.t.Helper()
	recs := h.records(n, 30*time.Second)
	if len(recs) < n {
		h.t.Fatalf("%d records, want %d", len(recs), n)
	}
	if more := h.records(n+1, 2*time.Second); len(more) > n {
		h.t.Fatalf("%d records, want exactly %d (nothing of a refused request may be produced)", len(more), n)
		return more
	}
	return recs
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
		Conflict       bool   `json:"conflict"`
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

func testLogger(opts options) *slog.Logger {
	if opts.logs == nil {
		return slog.New(slog.NewJSONHandler(io.Discard, nil))
	}
	return slog.New(slog.NewJSONHandler(opts.logs, &slog.HandlerOptions{Level: opts.logLevel}))
}
