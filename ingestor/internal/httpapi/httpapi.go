// Package httpapi is the ingestor's HTTP surface (docs/api.md): the ingest
// routes, health, readiness, metrics and the OpenAPI document.
//
// Rules every handler keeps: bad input gets a 4xx with
// {"error":{"code","message"}} and never a 5xx; a dependency that is down
// gets 503 with Retry-After; every response carries X-Request-Id (the
// client's, when it sent a sane one).
package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tally-dev/tally/event/auth"
	"github.com/tally-dev/tally/event/control"
	"github.com/tally-dev/tally/event/telemetry"
	"github.com/tally-dev/tally/ingestor/internal/body"
	"github.com/tally-dev/tally/ingestor/internal/ingest"
	"github.com/tally-dev/tally/ingestor/internal/ratelimit"
)

// Ingester runs one request's events; *ingest.Service satisfies it.
type Ingester interface {
	Ingest(ctx context.Context, req ingest.Request) (ingest.Outcome, error)
}

// ReadyChecker reports whether Kafka is reachable; *publish.Readiness satisfies it.
type ReadyChecker interface {
	Check(ctx context.Context) error
}

// Config wires the handler. Every field is required except OpenAPISpec
// (served as 404 when nil), Now, ControlReady, Limiter and DefaultPolicy.
type Config struct {
	// Middleware runs first on every request (main adds tracing when trace
	// export is configured).
	Middleware []gin.HandlerFunc
	// Auth authenticates every ingest route for the ingest scope
	// (auth.Checker with a nil Auth: authentication disabled, tests only).
	Auth *auth.Checker
	// ControlReady closes once the API keys are loaded; until then ingest
	// routes answer 503 and /readyz is not ready (nil: ready from the start).
	ControlReady <-chan struct{}
	// Limiter applies per-key rate limits and daily quotas (nil: none).
	Limiter Admitter
	// DefaultPolicy is the rate and quota of keys that set none.
	DefaultPolicy ratelimit.Policy

	Ingester       Ingester
	Ready          ReadyChecker
	Registerer     prometheus.Registerer
	Gatherer       prometheus.Gatherer
	Logger         *slog.Logger
	Limits         body.Limits
	FaultInjection bool
	OpenAPISpec    []byte
	// RetryAfter is sent with every 503; at least one second.
	RetryAfter time.Duration
	Now        func() time.Time
}

type handler struct {
	cfg        Config
	retryAfter string
	metrics    *httpMetrics
	// policyText is the RateLimit header text of the last policy seen
	// (most keys share one): built once, not on every request.
	policyText atomic.Pointer[policyText]
	// responseBuffers are reused to encode the /v1 answers (v1json.go).
	responseBuffers bufferPool
}

// New returns the ingestor's routes.
func New(cfg Config) (http.Handler, error) {
	switch {
	case cfg.Ingester == nil, cfg.Ready == nil, cfg.Registerer == nil, cfg.Gatherer == nil, cfg.Logger == nil, cfg.Auth == nil:
		return nil, errors.New("httpapi: Ingester, Ready, Registerer, Gatherer, Logger and Auth are required " +
			"(auth.Checker{} without an Authenticator disables authentication)")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	secs := int(cfg.RetryAfter / time.Second)
	if secs < 1 {
		secs = 1
	}
	m, err := newHTTPMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	h := &handler{cfg: cfg, retryAfter: strconv.Itoa(secs), metrics: m}

	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true // gin.Context carries the request context's deadline, values and cancellation
	r.Use(cfg.Middleware...)
	r.Use(h.requestID, h.observe, gin.CustomRecoveryWithWriter(nil, h.recovered))
	// Every ingest route needs a key with the ingest scope: /v1/events
	// (Tally JSON, NDJSON, CloudEvents) and the Segment-compatible /v1/track
	// and /v1/batch (formats.go), whose libraries send the write key as the
	// HTTP basic user.
	ingestKey := h.authn(control.ScopeIngest)
	r.POST("/v1/events", ingestKey, h.ingestV1)
	r.POST("/v1/track", ingestKey, h.segmentTrack)
	r.POST("/v1/batch", ingestKey, h.segmentBatch)
	r.POST("/api/events", ingestKey, h.ingestSeed)
	r.GET("/healthz", h.healthz)
	r.GET("/readyz", h.readyz)
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{})))
	r.GET("/openapi.json", h.openapi)
	// Go's profiles, for an admin key only (docs/operations.md, Profiles).
	r.GET("/debug/pprof/*name", h.authn(control.ScopeAdmin), gin.WrapF(telemetry.Profiles))
	r.NoRoute(func(c *gin.Context) { writeError(c, http.StatusNotFound, "not_found", "no such route") })
	r.NoMethod(func(c *gin.Context) {
		writeError(c, http.StatusMethodNotAllowed, "method_not_allowed", c.Request.Method+" is not allowed here")
	})
	return r, nil
}

// Error body: {"error":{"code","message"}}.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func writeError(c *gin.Context, status int, code, msg string) {
	c.AbortWithStatusJSON(status, errorBody{Error: errorDetail{Code: code, Message: msg}})
}

const requestIDHeader = "X-Request-Id"

// validRequestID admits ids that are safe to log and to copy into Kafka
// headers; anything else is replaced rather than rejected.
var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._:\-]{1,128}$`)

const ctxRequestID = "request_id"

func (h *handler) requestID(c *gin.Context) {
	id := c.GetHeader(requestIDHeader)
	if !validRequestID.MatchString(id) {
		id = uuid.NewString()
	}
	c.Set(ctxRequestID, id)
	c.Header(requestIDHeader, id)
	c.Next()
}

func (h *handler) observe(c *gin.Context) {
	start := time.Now()
	c.Next()
	elapsed := time.Since(start)
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	status := c.Writer.Status()
	h.metrics.requests.WithLabelValues(route, c.Request.Method, strconv.Itoa(status)).Inc()
	h.metrics.duration.WithLabelValues(route, c.Request.Method).Observe(elapsed.Seconds())
	// Successful requests log at debug: at tens of thousands of requests per
	// second an info line each would cost more than the request.
	level := slog.LevelDebug
	switch {
	case status >= 500:
		level = slog.LevelError
	case status >= 400:
		level = slog.LevelInfo
	}
	// Asked first: building the attributes boxes six values, which would
	// be work thrown away for every request that logs nothing.
	if ctx := c.Request.Context(); h.cfg.Logger.Enabled(ctx, level) {
		h.cfg.Logger.Log(ctx, level, "http request",
			"request_id", c.GetString(ctxRequestID), "method", c.Request.Method, "route", route,
			"status", status, "duration_ms", float64(elapsed.Microseconds())/1000, "bytes_in", c.Request.ContentLength)
	}
}

func (h *handler) recovered(c *gin.Context, err any) {
	h.cfg.Logger.ErrorContext(c.Request.Context(), "panic in handler", "request_id", c.GetString(ctxRequestID), "panic", fmt.Sprint(err))
	writeError(c, http.StatusInternalServerError, "internal", "internal error")
}

type health struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks,omitempty"`
}

func (h *handler) healthz(c *gin.Context) { c.JSON(http.StatusOK, health{Status: "ok"}) }

func (h *handler) readyz(c *gin.Context) {
	checks := map[string]string{"kafka": "ok", "control": "ok"}
	ok := true
	if err := h.cfg.Ready.Check(c.Request.Context()); err != nil {
		checks["kafka"], ok = err.Error(), false
	}
	if !h.cfg.Auth.Disabled() && !h.controlLoaded() {
		checks["control"], ok = "API keys not loaded from the control topic yet", false
	}
	if !ok {
		c.Header("Retry-After", h.retryAfter)
		c.JSON(http.StatusServiceUnavailable, health{Status: "unavailable", Checks: checks})
		return
	}
	c.JSON(http.StatusOK, health{Status: "ok", Checks: checks})
}

func (h *handler) openapi(c *gin.Context) {
	if h.cfg.OpenAPISpec == nil {
		writeError(c, http.StatusNotFound, "not_found", "the OpenAPI document is not built into this binary")
		return
	}
	c.Data(http.StatusOK, "application/json", h.cfg.OpenAPISpec)
}

type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) (*httpMetrics, error) {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tally_ingestor_http_requests_total",
			Help: "HTTP requests by route, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tally_ingestor_http_request_duration_seconds",
			Help:    "HTTP request latency by route and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register http metrics: %w", err)
		}
	}
	return m, nil
}
