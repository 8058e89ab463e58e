// Command queryapi serves Tally's exact aggregations, event log, lineage and
// reconciliation stats over HTTP (docs/api.md), reading ClickHouse and, for
// the stats, Kafka's offsets. It holds no state of its own: any number of
// replicas can run behind a load balancer.
package main

import (
	// GOMEMLIMIT = 90% of the container's memory limit (cgroup), unless
	// GOMEMLIMIT is set: the heap stays inside the limit instead of being
	// killed for it.
	_ "github.com/KimMachineGun/automemlimit"

	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/contrib/instrumentation/github.com/gin-gonic/gin/otelgin"

	"github.com/tally-dev/tally/event/auth"
	"github.com/tally-dev/tally/event/control"
	"github.com/tally-dev/tally/event/kafkaconn"
	"github.com/tally-dev/tally/event/openapi"
	"github.com/tally-dev/tally/event/telemetry"
	"github.com/tally-dev/tally/queryapi/internal/aggregate"
	"github.com/tally-dev/tally/queryapi/internal/chlimit"
	"github.com/tally-dev/tally/queryapi/internal/chtrace"
	"github.com/tally-dev/tally/queryapi/internal/config"
	"github.com/tally-dev/tally/queryapi/internal/eventlog"
	"github.com/tally-dev/tally/queryapi/internal/httpapi"
	"github.com/tally-dev/tally/queryapi/internal/stats"
)

func main() {
	logger := slog.New(telemetry.LogHandler(slog.NewJSONHandler(os.Stderr, nil)))
	if err := run(logger); err != nil {
		logger.Error("queryapi stopped", "err", err)
		os.Exit(1)
	}
}

func run(logger *slog.Logger) error {
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	// The query API's own routes of the OpenAPI document.
	spec, err := openapi.For("queryapi")
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	// Connecting is lazy: the service starts (and answers /healthz, and 503
	// on reads) even while ClickHouse is still coming up.
	chTLS, err := cfg.ClickHouseTLS.Config()
	if err != nil {
		return fmt.Errorf("clickhouse %w", err)
	}
	conn, err := clickhouse.Open(&clickhouse.Options{
		Protocol: clickhouse.Native, // 18.16 fails over HTTP
		Addr:     cfg.ClickHouseAddr,
		TLS:      chTLS,
		Auth: clickhouse.Auth{
			Database: cfg.ClickHouseDatabase,
			Username: cfg.ClickHouseUser,
			Password: cfg.ClickHousePassword,
		},
		Settings: clickhouse.Settings{
			// Server-side bound matching the client-side context deadline.
			"max_execution_time": max(1, int(cfg.QueryTimeout/time.Second)),
			// Reads touch the same small, hot ranges of the read model over
			// and over: keeping them decompressed halves a query's time
			// (measured at 10M events, docs/design/read-model.md).
			"use_uncompressed_cache": 1,
		},
		DialTimeout: 3 * time.Second,
		ReadTimeout: cfg.QueryTimeout + 5*time.Second,
		// Reads are limited to MaxQueries below; the rest of the pool
		// serves health checks, which must not queue behind them.
		MaxOpenConns: cfg.MaxQueries + 4,
		MaxIdleConns: cfg.MaxQueries + 4,
	})
	if err != nil {
		return fmt.Errorf("open clickhouse: %w", err)
	}
	defer conn.Close()
	// The mirror's refresh reads outside the request limit: requests that
	// queue must not keep the mirror from catching up.
	unlimited := conn
	conn = chlimit.Wrap(conn, cfg.MaxQueries)
	// Traces, when OTEL_* configures an exporter: a span per request
	// (continuing the caller's traceparent) with a child per ClickHouse call.
	shutdownTracing, err := telemetry.Setup(ctx, "queryapi")
	if err != nil {
		return err
	}
	defer func() { _ = shutdownTracing(context.Background()) }()
	var middleware []gin.HandlerFunc
	if telemetry.Enabled(os.Getenv) {
		conn = chtrace.Wrap(conn)
		middleware = append(middleware, otelgin.Middleware("tally-queryapi"))
	}

	kopts, err := kafkaconn.Options(kafkaconn.Settings{Brokers: cfg.KafkaBrokers, TLS: cfg.KafkaTLS,
		SASLMechanism: cfg.KafkaSASLMechanism, SASLUser: cfg.KafkaSASLUser, SASLPassword: cfg.KafkaSASLPassword})
	if err != nil {
		return err
	}
	kc, err := kgo.NewClient(kopts...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer kc.Close()
	adm := kadm.NewClient(kc)

	// The control plane: API keys, followed from the control topic; the
	// admin routes write it with acks=all and read their own writes.
	if err := auth.CheckListen(cfg.HTTPAddr, cfg.Auth.Enabled()); err != nil {
		return err
	}
	registry, err := control.NewRegistry(kopts, cfg.Auth.ControlTopic, logger)
	if err != nil {
		return err
	}
	defer registry.Close()
	rctx, stopRegistry := context.WithCancel(context.Background())
	defer stopRegistry()
	go func() {
		if err := registry.Run(rctx); err != nil {
			logger.Error("control topic reader stopped", "err", err)
		}
	}()
	checker := &auth.Checker{Auth: registry}
	if !cfg.Auth.Enabled() {
		checker.Auth = nil
		logger.Warn("authentication is disabled (TALLY_AUTH=disabled): every caller is an admin; tests only, loopback only")
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	aggregator := aggregate.NewStore(conn, cfg.ClickHouseDatabase)
	var state stats.StateSource = stats.NewClickHouse(conn, cfg.ClickHouseDatabase)
	if cfg.QueryMirror {
		mirror := aggregate.NewMirror(unlimited, cfg.ClickHouseDatabase, aggregate.MirrorConfig{
			Interval: cfg.QueryMirrorInterval, MaxAge: cfg.QueryMirrorMaxAge, MaxRows: cfg.QueryMirrorMaxRows}, logger)
		reg.MustRegister(mirror.Collectors()...)
		aggregator.WithMirror(mirror)
		state = stats.Preferring{Primary: mirror.Books, Fallback: state}
		mctx, stopMirror := context.WithCancel(context.Background())
		defer stopMirror()
		go mirror.Run(mctx)
	}

	// Every stream, poller and scrape shares one snapshot per half second.
	books := stats.NewShared(stats.NewReconciler(stats.NewKafka(adm, cfg.RawTopic, cfg.ConsumerGroup), state, time.Now),
		500*time.Millisecond)
	reg.MustRegister(books.Collector(cfg.QueryTimeout))

	gin.SetMode(gin.ReleaseMode)
	srv, err := httpapi.New(httpapi.Deps{
		Aggregator:     aggregator,
		Events:         eventlog.NewStore(conn, cfg.ClickHouseDatabase, cfg.RawTopic),
		Stats:          books,
		ClickHouse:     conn,
		Logger:         logger,
		Registry:       reg,
		Gatherer:       reg,
		Spec:           spec,
		Middleware:     middleware,
		QueryTimeout:   cfg.QueryTimeout,
		StreamInterval: time.Second,
		Now:            time.Now,
		Auth:           checker,
		Control:        control.Plane{Registry: registry, W: control.NewWriter(kc, cfg.Auth.ControlTopic)},
		ControlReady:   registry.Ready(),
		CORSOrigins:    cfg.CORSOrigins,
	})
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()
	logger.Info("queryapi listening", "addr", ln.Addr().String(), "clickhouse", cfg.ClickHouseAddr, "database", cfg.ClickHouseDatabase)

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	srv.CloseStreams()
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
