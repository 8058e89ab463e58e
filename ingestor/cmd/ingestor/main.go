// Command ingestor is Tally's HTTP front door: it accepts JSON events, runs
// the normalization preflight, and answers 202 only after Kafka (acks=all,
// idempotent producer) acknowledged every record of the request.
//
// Shutdown (SIGINT/SIGTERM): stop accepting connections, let in-flight
// requests finish (each is bounded by the produce timeout), then flush and
// close the producer, so no acknowledged request is ever left unflushed.
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
	"strings"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"
	"go.opentelemetry.io/contrib/instrumentation/github.com/gin-gonic/gin/otelgin"

	"github.com/tally-dev/tally/event/auth"
	"github.com/tally-dev/tally/event/control"
	"github.com/tally-dev/tally/event/gcpolicy"
	"github.com/tally-dev/tally/event/kafkaconn"
	"github.com/tally-dev/tally/event/normalize"
	"github.com/tally-dev/tally/event/openapi"
	"github.com/tally-dev/tally/event/telemetry"
	"github.com/tally-dev/tally/ingestor/internal/body"
	"github.com/tally-dev/tally/ingestor/internal/config"
	"github.com/tally-dev/tally/ingestor/internal/httpapi"
	"github.com/tally-dev/tally/ingestor/internal/ingest"
	"github.com/tally-dev/tally/ingestor/internal/publish"
	"github.com/tally-dev/tally/ingestor/internal/ratelimit"
	"github.com/tally-dev/tally/ingestor/internal/seen"
)

func main() {
	// GOGC=300 under the memory limit (package gcpolicy): at single-event
	// rates the collector's marking and assists were ~8% of the ingestor's
	// CPU (docs/benchmarks/2026-12-03-ingest-profile.md).
	gcpolicy.Relax()
	// Request ids (X-Request-Id, when the client sends none) are drawn from
	// a pool of random bytes refilled in batches instead of one read of the
	// system's generator per request. They are correlation ids, not secrets.
	uuid.EnableRandPool()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ingestor:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := config.Load(os.Environ())
	if err != nil {
		return err
	}
	logger := newLogger(cfg.LogLevel)
	// The ingestor's own routes of the OpenAPI document.
	spec, err := openapi.For("ingestor")
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	engine, err := newEngine(cfg)
	if err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	// Traces, when OTEL_* configures an exporter: a span per request
	// (continuing the caller's traceparent) whose Kafka produce spans travel
	// in the records' headers to the processor (docs/operations.md).
	shutdownTracing, err := telemetry.Setup(ctx, "ingestor")
	if err != nil {
		return err
	}
	defer func() { _ = shutdownTracing(context.Background()) }()
	var kafkaExtra []kgo.Opt
	var middleware []gin.HandlerFunc
	if telemetry.Enabled(os.Getenv) {
		kafkaExtra = append(kafkaExtra, telemetry.KafkaHooks())
		middleware = append(middleware, otelgin.Middleware("tally-ingestor"))
	}

	kafka, err := publish.NewClient(publish.ClientConfig{
		Brokers:            cfg.KafkaBrokers,
		Topic:              cfg.RawTopic,
		ProduceTimeout:     cfg.ProduceTimeout,
		Linger:             cfg.ProducerLinger,
		MaxBufferedRecords: cfg.MaxBufferedRecords,
		MaxRecordBytes:     cfg.Limits.MaxEventBytes,
		SASLMechanism:      cfg.Kafka.SASLMechanism,
		SASLUser:           cfg.Kafka.SASLUser,
		SASLPassword:       cfg.Kafka.SASLPassword,
		TLS:                cfg.Kafka.TLS,
		Metrics:            kprom.NewMetrics("tally_ingestor_kafka", kprom.Registry(reg)),
		Extra:              kafkaExtra,
	})
	if err != nil {
		return err
	}
	defer kafka.Close()
	if err := reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "tally_ingestor_producer_buffered_records",
		Help: "Records handed to the producer and not yet acked or failed.",
	}, func() float64 { return float64(kafka.BufferedProduceRecords()) })); err != nil {
		return fmt.Errorf("register buffered gauge: %w", err)
	}

	// The control plane: API keys, followed from the control topic like the
	// query API does; ingest routes answer 503 until it has been read.
	if err := auth.CheckListen(cfg.HTTPAddr, cfg.Auth.Enabled()); err != nil {
		return err
	}
	kopts, err := kafkaconn.Options(kafkaconn.Settings{Brokers: cfg.KafkaBrokers, TLS: cfg.Kafka.TLS,
		SASLMechanism: cfg.Kafka.SASLMechanism, SASLUser: cfg.Kafka.SASLUser, SASLPassword: cfg.Kafka.SASLPassword})
	if err != nil {
		return err
	}
	keys, err := control.NewRegistry(kopts, cfg.Auth.ControlTopic, logger)
	if err != nil {
		return err
	}
	defer keys.Close()
	keysCtx, stopKeys := context.WithCancel(context.Background())
	defer stopKeys()
	go func() {
		if err := keys.Run(keysCtx); err != nil {
			logger.Error("control topic reader stopped", "err", err)
		}
	}()
	checker := &auth.Checker{Auth: httpapi.NewKeyCache(keys, 10000)}
	var signTenant func(string, []byte) []byte
	if cfg.Auth.Enabled() {
		secret := cfg.Auth.Secret()
		signTenant = auth.NewTenantKey(secret).Sign
	} else {
		checker.Auth = nil
		logger.Warn("authentication is disabled (TALLY_AUTH=disabled): anyone may ingest, as the default tenant, " +
			"without rate limits; tests only, loopback only")
	}

	var seenChecker ingest.Claimer
	var limiterRedis redis.UniversalClient
	if cfg.RedisAddr != "" {
		ropts, err := redisOptions(cfg)
		if err != nil {
			return err
		}
		rdb := redis.NewClient(ropts)
		defer rdb.Close()
		seenChecker = seen.NewRedis(rdb, cfg.RedisTimeout)
		limiterRedis = rdb
	} else {
		logger.Warn("TALLY_REDIS_ADDR is empty: rate limits and daily quotas are enforced per replica, not shared")
	}
	limiter, err := ratelimit.New(ratelimit.Config{Redis: limiterRedis, Timeout: cfg.RedisTimeout, Logger: logger, Registerer: reg})
	if err != nil {
		return err
	}

	ingestMetrics, err := ingest.NewMetrics(reg)
	if err != nil {
		return err
	}
	svc, err := ingest.New(ingest.Config{
		Normalizer:     engine,
		Producer:       kafka,
		Seen:           seenChecker,
		ProduceTimeout: cfg.ProduceTimeout,
		Logger:         logger,
		Metrics:        ingestMetrics,
		SignTenant:     signTenant,
	})
	if err != nil {
		return err
	}

	gin.SetMode(gin.ReleaseMode)
	handler, err := httpapi.New(httpapi.Config{
		Middleware: middleware,
		Ingester:   svc,
		Ready:      publish.NewReadiness(kafka, time.Second, time.Second),
		Registerer: reg,
		Gatherer:   reg,
		Logger:     logger,
		Limits: body.Limits{
			MaxBodyBytes:  cfg.Limits.MaxBodyBytes,
			MaxEvents:     cfg.Limits.MaxEvents,
			MaxEventBytes: cfg.Limits.MaxEventBytes,
			MaxDepth:      cfg.Limits.MaxDepth,
		},
		FaultInjection: cfg.FaultInjection,
		OpenAPISpec:    spec,
		RetryAfter:     time.Second,
		Auth:           checker,
		ControlReady:   keys.Ready(),
		Limiter:        limiter,
		DefaultPolicy:  ratelimit.Policy{EventsPerSecond: cfg.Rate.EventsPerSecond, QuotaPerDay: cfg.Rate.DailyQuota},
	})
	if err != nil {
		return err
	}

	srv := &http.Server{
		Addr:              cfg.HTTPAddr,
		Handler:           handler,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
	}
	logger.Info("ingestor listening", "addr", ln.Addr().String(), "brokers", strings.Join(cfg.KafkaBrokers, ","),
		"topic", cfg.RawTopic, "redis", cfg.RedisAddr, "fault_injection", cfg.FaultInjection,
		"auth", cfg.Auth.Enabled(), "control_topic", cfg.Auth.ControlTopic)

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	select {
	case err := <-serveErr:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down: draining in-flight requests")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	var errs []error
	if err := srv.Shutdown(shutdownCtx); err != nil {
		errs = append(errs, fmt.Errorf("http shutdown: %w", err))
	}
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		errs = append(errs, fmt.Errorf("http server: %w", err))
	}
	// Every acked request already waited for its records; Flush only pushes
	// out records of requests that gave up (503) so they are not dropped.
	if err := kafka.Flush(shutdownCtx); err != nil {
		errs = append(errs, fmt.Errorf("flush producer: %w", err))
	}
	logger.Info("ingestor stopped")
	return errors.Join(errs...)
}

// newEngine loads the normalization config (the embedded default when
// TALLY_NORMALIZE_CONFIG is empty). The body splitter's depth limit must not
// be below the engine's, or the preflight would reject events the processor
// (which uses the engine's limit) accepts.
func newEngine(cfg *config.Config) (*normalize.Engine, error) {
	ncfg := normalize.DefaultConfig()
	if cfg.NormalizeConfig != "" {
		var err error
		if ncfg, err = normalize.LoadConfig(cfg.NormalizeConfig); err != nil {
			return nil, fmt.Errorf("load normalize config: %w", err)
		}
	}
	if cfg.Limits.MaxDepth < ncfg.Limits.MaxDepth {
		return nil, fmt.Errorf("TALLY_MAX_DEPTH (%d) is below the normalize config's limits.maxDepth (%d)",
			cfg.Limits.MaxDepth, ncfg.Limits.MaxDepth)
	}
	engine, err := normalize.New(ncfg)
	if err != nil {
		return nil, fmt.Errorf("build normalize engine: %w", err)
	}
	return engine, nil
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level)) // validated by config
	return slog.New(telemetry.LogHandler(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: l})))
}

// redisOptions are the settings of the ingestor's Redis client (address,
// password, TLS, timeouts), shared by the duplicate hint and the rate
// limiter: both answer within TALLY_REDIS_TIMEOUT or fall back.
func redisOptions(cfg *config.Config) (*redis.Options, error) {
	tlsConfig, err := cfg.RedisTLS.Config()
	if err != nil {
		return nil, fmt.Errorf("redis %w", err)
	}
	return &redis.Options{
		Addr:         cfg.RedisAddr,
		Password:     cfg.RedisPassword,
		TLSConfig:    tlsConfig,
		DialTimeout:  cfg.RedisTimeout * 4,
		ReadTimeout:  cfg.RedisTimeout,
		WriteTimeout: cfg.RedisTimeout,
		MaxRetries:   -1, // a hint is not worth a retry's latency
	}, nil
}
