// Package httpapi is the query API's HTTP surface (docs/api.md): exact
// aggregations, the event log with lineage, reconciliation stats and their
// live stream, the seed-compatible routes, and health, metrics and OpenAPI.
//
// Invariant I4 rules every handler: a request the client got wrong — an
// unknown, repeated, malformed or out-of-range parameter — is a 400
// {"error":{"code":"invalid_parameter",...}} and never reaches ClickHouse. A
// dependency failure is a 503 with Retry-After. A 500 only ever means a bug,
// and the recovery middleware still answers it as JSON.
//
// The handlers depend on small interfaces (Aggregator, EventLog, StatsSource,
// Pinger) so they are tested with fakes; the ClickHouse and Kafka
// implementations live in packages aggregate, eventlog and stats.
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-contrib/cors"
	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tally-dev/tally/event/auth"
	"github.com/tally-dev/tally/event/control"
	"github.com/tally-dev/tally/queryapi/internal/aggregate"
	"github.com/tally-dev/tally/queryapi/internal/eventlog"
	"github.com/tally-dev/tally/queryapi/internal/stats"
)

// Aggregator computes exact aggregations and lists dimension values.
type Aggregator interface {
	Aggregate(ctx context.Context, q aggregate.Query) ([]aggregate.Group, error)
	Values(ctx context.Context, tenant string, dim aggregate.Dimension, prefix string, limit int) ([]string, bool, error)
}

// EventLog lists records and explains one.
type EventLog interface {
	List(ctx context.Context, q eventlog.ListQuery) ([]eventlog.Summary, *eventlog.Cursor, error)
	Count(ctx context.Context, q eventlog.ListQuery) (uint64, error)
	Get(ctx context.Context, q eventlog.DetailQuery) (eventlog.Detail, error)
}

// StatsSource produces reconciliation snapshots.
type StatsSource interface {
	Snapshot(ctx context.Context) (stats.Snapshot, error)
}

// Pinger checks that ClickHouse answers (readiness).
type Pinger interface {
	Ping(ctx context.Context) error
}

// Deps is everything the handlers need. Every field but Spec is required.
type Deps struct {
	Aggregator Aggregator
	Events     EventLog
	Stats      StatsSource
	ClickHouse Pinger
	Logger     *slog.Logger
	// Registry receives the HTTP metrics; Gatherer serves /metrics (usually
	// the same *prometheus.Registry).
	Registry prometheus.Registerer
	Gatherer prometheus.Gatherer
	// Spec is the OpenAPI document served at /openapi.json.
	Spec []byte
	// QueryTimeout bounds each request's reads (the stream's per tick).
	QueryTimeout time.Duration
	// StreamInterval is the /v1/stream period (1 s in production).
	StreamInterval time.Duration
	// Now is the clock (time.Now in production).
	Now func() time.Time
	// Auth authenticates every data and admin route (auth.Checker with a
	// nil Auth: authentication disabled, tests only).
	Auth *auth.Checker
	// Control is the key and mapping store of the admin routes.
	Control ControlPlane
	// ControlReady closes once the keys are loaded; until then requests
	// are answered 503 rather than 401 (nil: ready from the start).
	ControlReady <-chan struct{}
	// CORSOrigins are the browser origins allowed to call the API (none by
	// default: the dashboard is served from the same origin).
	CORSOrigins []string
	// Middleware runs first on every request (main adds tracing when trace
	// export is configured).
	Middleware []gin.HandlerFunc
}

// Server holds the handlers.
type Server struct {
	d       Deps
	engine  *gin.Engine
	metrics *httpMetrics
	// streamsDone is closed by CloseStreams: http.Server.Shutdown waits for
	// idle connections, which a live stream never becomes.
	streamsDone chan struct{}
}

// New builds the server and its routes. It fails only if the metrics cannot
// be registered (e.g. registered twice on one registry).
func New(d Deps) (*Server, error) {
	if d.Auth == nil || d.Control == nil {
		return nil, errors.New("httpapi: Deps.Auth and Deps.Control are required (auth.Checker{} without an Authenticator disables authentication)")
	}
	m, err := newHTTPMetrics(d.Registry)
	if err != nil {
		return nil, err
	}
	s := &Server{d: d, metrics: m, streamsDone: make(chan struct{})}
	s.engine = s.routes()
	return s, nil
}

// Handler is the http.Handler to serve.
func (s *Server) Handler() http.Handler { return s.engine }

// CloseStreams ends every open /v1/stream; call it before Shutdown.
func (s *Server) CloseStreams() {
	select {
	case <-s.streamsDone:
	default:
		close(s.streamsDone)
	}
}

func (s *Server) routes() *gin.Engine {
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	r.Use(s.d.Middleware...)
	// observe wraps recovery so a panic is still counted and logged as a 500.
	r.Use(s.observe(), s.recovery())
	if len(s.d.CORSOrigins) > 0 {
		r.Use(cors.New(cors.Config{AllowOrigins: s.d.CORSOrigins, AllowMethods: []string{"GET", "POST", "PUT", "DELETE"},
			AllowHeaders: []string{"Authorization", "X-API-Key", "Content-Type"}, MaxAge: 10 * time.Minute}))
	}
	r.NoRoute(func(c *gin.Context) { writeError(c, http.StatusNotFound, "not_found", "no such route") })
	r.NoMethod(func(c *gin.Context) {
		writeError(c, http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed on this route")
	})

	r.GET("/healthz", s.healthz)
	r.GET("/readyz", s.readyz)
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(s.d.Gatherer, promhttp.HandlerOpts{})))
	r.GET("/openapi.json", s.openapi)
	// The seed's liveness answer stays open, like /healthz.
	r.GET("/api/health", s.seedHealth)

	q := r.Group("/", s.authn(control.ScopeQuery), s.timeout())
	q.GET("/v1/aggregations", s.aggregations)
	q.GET("/v1/events", s.listEvents)
	q.GET("/v1/events/:id", s.getEvent)
	q.GET("/v1/stats", s.stats)
	q.GET("/v1/clients", s.dimension(aggregate.Clients, "clients"))
	q.GET("/v1/metrics", s.dimension(aggregate.Metrics, "metrics"))
	q.GET("/api/events", s.seedEvents)
	q.GET("/api/aggregation", s.seedAggregation)
	q.GET("/api/aggregations", s.seedAggregation)
	r.GET("/v1/stream", s.authn(control.ScopeQuery), s.stream)
	r.GET("/v1/whoami", s.authn(""), s.whoami)
	a := r.Group("/v1/admin", s.authn(control.ScopeAdmin), s.timeout())
	a.POST("/keys", s.createKey)
	a.GET("/keys", s.listKeys)
	a.DELETE("/keys/:id", s.revokeKey)
	a.GET("/topics", s.listTopics)
	a.PUT("/topics/:topic", s.mapTopic)
	return r
}

// timeout bounds the request's reads; ClickHouse also enforces
// max_execution_time server-side (set on the connection).
func (s *Server) timeout() gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), s.d.QueryTimeout)
		defer cancel()
		c.Request = c.Request.WithContext(ctx)
		c.Next()
	}
}

// recovery turns a panic into a logged JSON 500 (a bug, never bad input).
func (s *Server) recovery() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if p := recover(); p != nil {
				if err, ok := p.(error); ok && errors.Is(err, http.ErrAbortHandler) {
					panic(p)
				}
				s.d.Logger.Error("panic in handler", "route", c.FullPath(), "panic", p)
				if !c.Writer.Written() {
					writeError(c, http.StatusInternalServerError, "internal", "internal error")
				}
				c.Abort()
			}
		}()
		c.Next()
	}
}

// observe logs every request and records its metrics by route template.
func (s *Server) observe() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		status := c.Writer.Status()
		elapsed := time.Since(start)
		s.metrics.observe(route, c.Request.Method, status, elapsed)
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		}
		s.d.Logger.LogAttrs(c.Request.Context(), level, "request",
			slog.String("method", c.Request.Method), slog.String("route", route),
			slog.String("path", c.Request.URL.Path), slog.Int("status", status),
			slog.Duration("duration", elapsed))
	}
}

// errorBody is the one error shape of the API.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeError(c *gin.Context, status int, code, msg string) {
	c.AbortWithStatusJSON(status, errorBody{Error: errorDetail{Code: code, Message: msg}})
}

func badParam(c *gin.Context, err error) {
	writeError(c, http.StatusBadRequest, "invalid_parameter", err.Error())
}

// retryAfterSeconds is what 503 answers suggest.
const retryAfterSeconds = 5

// fail maps a store error to its answer: the caller's mistake (400), an
// unknown id (404), or an unavailable dependency (503, logged).
func (s *Server) fail(c *gin.Context, err error) {
	switch {
	case errors.Is(err, aggregate.ErrInvalid), errors.Is(err, eventlog.ErrInvalid):
		badParam(c, err)
	case errors.Is(err, eventlog.ErrNotFound):
		writeError(c, http.StatusNotFound, "not_found", "no record with this id")
	default:
		if c.Request.Context().Err() != nil && errors.Is(err, context.Canceled) {
			// The client went away; nobody reads the answer.
			c.Abort()
			return
		}
		s.d.Logger.Error("query failed", "route", c.FullPath(), "err", err)
		c.Header("Retry-After", strconv.Itoa(retryAfterSeconds))
		writeError(c, http.StatusServiceUnavailable, "unavailable", "a dependency is unavailable or too slow; retry later")
	}
}

type health struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks,omitempty"`
}

func (s *Server) healthz(c *gin.Context) {
	if !s.noParams(c) {
		return
	}
	c.JSON(http.StatusOK, health{Status: "ok"})
}

func (s *Server) readyz(c *gin.Context) {
	if !s.noParams(c) {
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	checks := map[string]string{"clickhouse": "ok", "control": "ok"}
	ok := true
	if err := s.d.ClickHouse.Ping(ctx); err != nil {
		checks["clickhouse"], ok = err.Error(), false
	}
	if !s.d.Auth.Disabled() && !s.controlLoaded() {
		checks["control"], ok = "API keys not loaded from the control topic yet", false
	}
	if !ok {
		c.Header("Retry-After", strconv.Itoa(retryAfterSeconds))
		c.JSON(http.StatusServiceUnavailable, health{Status: "unavailable", Checks: checks})
		return
	}
	c.JSON(http.StatusOK, health{Status: "ok", Checks: checks})
}

func (s *Server) openapi(c *gin.Context) {
	if len(s.d.Spec) == 0 {
		writeError(c, http.StatusNotFound, "not_found", "no OpenAPI document is built in")
		return
	}
	c.Data(http.StatusOK, "application/json", s.d.Spec)
}

// noParams rejects any query parameter on routes that take none.
func (s *Server) noParams(c *gin.Context) bool {
	if _, err := newParams(c.Request.URL.RawQuery); err != nil {
		badParam(c, err)
		return false
	}
	if len(c.Request.URL.Query()) > 0 {
		badParam(c, errors.New("this route takes no parameters"))
		return false
	}
	return true
}
