// Command processor is Tally's consumer-group worker and its operator tools.
//
//	processor [run]                  consume events.raw and make every event durable, exactly once
//	processor migrate                apply the ClickHouse schema and create the topics (idempotent)
//	processor rebuild [--apply]      recompute the read model from stored rows and compare it with the live one
//	processor normalize [--config F] dry-run the normalization config over NDJSON on stdin
//	processor dlq replay [--dry-run] re-produce dead letters to the raw topic
//
// Configuration comes from the environment (docs/contracts.md).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/tally-dev/tally/event/kafkaconn"
	"github.com/tally-dev/tally/event/normalize"
	"github.com/tally-dev/tally/processor/internal/admin"
	"github.com/tally-dev/tally/processor/internal/config"
	"github.com/tally-dev/tally/processor/internal/consumer"
	"github.com/tally-dev/tally/processor/internal/dlq"
	"github.com/tally-dev/tally/processor/internal/eventstore"
	"github.com/tally-dev/tally/processor/internal/faults"
	"github.com/tally-dev/tally/processor/internal/forward"
	"github.com/tally-dev/tally/processor/internal/lag"
	"github.com/tally-dev/tally/processor/internal/migrate"
	"github.com/tally-dev/tally/processor/internal/pipeline"
	"github.com/tally-dev/tally/processor/internal/rebuild"
	"github.com/tally-dev/tally/processor/internal/seen"
	"github.com/tally-dev/tally/processor/internal/topology"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "processor:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	cmd := "run"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))

	switch cmd {
	case "normalize":
		fs := flag.NewFlagSet("normalize", flag.ContinueOnError)
		path := fs.String("config", os.Getenv("TALLY_NORMALIZE_CONFIG"), "normalization config YAML (default: the embedded default)")
		explain := fs.Bool("explain", false, "also print which rule produced each canonical field and how the event id was formed")
		formatName := fs.String("format", "tally", "layout of each line: tally, cloudevents or segment")
		if err := fs.Parse(args); err != nil {
			return err
		}
		format, err := normalize.ParseFormat(*formatName)
		if err != nil {
			return err
		}
		cfg, err := normalizeConfig(*path)
		if err != nil {
			return err
		}
		return normalize.RunCLI(cfg, os.Stdin, os.Stdout, normalize.CLIOptions{Explain: *explain, Format: format})
	case "migrate":
		cfg, err := config.Load()
		if err != nil {
			return err
		}
		return runMigrate(ctx, cfg, logger)
	case "rebuild":
		fs := flag.NewFlagSet("rebuild", flag.ContinueOnError)
		apply := fs.Bool("apply", false, "replace the live read model with the rebuilt one (stop the processors first)")
		if err := fs.Parse(args); err != nil {
			return err
		}
		cfg, err := config.Load()
		if err != nil {
			return err
		}
		return runRebuild(ctx, cfg, *apply, os.Stdout)
	case "dlq":
		if len(args) == 0 || args[0] != "replay" {
			return errors.New("usage: processor dlq replay [--dry-run]")
		}
		fs := flag.NewFlagSet("dlq replay", flag.ContinueOnError)
		dry := fs.Bool("dry-run", false, "count what would be replayed without producing")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		cfg, err := config.Load()
		if err != nil {
			return err
		}
		opts, err := kafkaconn.Options(cfg.Kafka.Settings())
		if err != nil {
			return err
		}
		n, err := dlq.Replay(ctx, dlq.ReplayOptions{Client: opts, DLQTopic: cfg.Kafka.DLQTopic, RawTopic: cfg.Kafka.RawTopic,
			Group: cfg.ConsumerGroup + "-dlq-replay", DryRun: *dry, Logger: logger})
		fmt.Printf("replayed %d dead letters to %s (dry run: %v)\n", n, cfg.Kafka.RawTopic, *dry)
		return err
	case "run":
		cfg, err := config.Load()
		if err != nil {
			return err
		}
		return serve(ctx, cfg, logger.With("instance", cfg.Instance))
	default:
		return fmt.Errorf("unknown command %q (want run, migrate, rebuild, normalize or dlq replay)", cmd)
	}
}

func normalizeConfig(path string) (*normalize.Config, error) {
	if path == "" {
		return normalize.DefaultConfig(), nil
	}
	return normalize.LoadConfig(path)
}

// migrate applies the ClickHouse schema and creates the topics, waiting up to
// a minute for both to come up (the stack starts them just before).
func runMigrate(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	store, err := eventstore.Open(eventstore.Options{Addr: cfg.ClickHouse.Addr, Database: cfg.ClickHouse.Database,
		User: cfg.ClickHouse.User, Password: cfg.ClickHouse.Password})
	if err != nil {
		return err
	}
	defer store.Close()
	opts, err := kafkaconn.Options(cfg.Kafka.Settings())
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	// The stack starts ClickHouse and Kafka just before: wait up to a
	// minute and a half for both.
	wctx, wcancel := context.WithTimeout(ctx, 90*time.Second)
	defer wcancel()
	if err := retry(wctx, func() error { return store.Ping(wctx) }); err != nil {
		return fmt.Errorf("reach clickhouse: %w", err)
	}
	err = retry(wctx, func() error {
		// Room for a 1 MiB event plus the ingestor's headers.
		maxBytes := "4194304"
		minISR := strconv.Itoa(int(cfg.MinInSyncReplicas()))
		resp, err := adm.CreateTopics(wctx, cfg.Partitions, cfg.ReplicationFactor,
			map[string]*string{"max.message.bytes": &maxBytes, "min.insync.replicas": &minISR},
			cfg.Kafka.RawTopic, cfg.Kafka.DLQTopic)
		if err != nil {
			return err
		}
		for _, t := range resp.Sorted() {
			if t.Err != nil && !errors.Is(t.Err, kerr.TopicAlreadyExists) {
				return fmt.Errorf("create topic %s: %w", t.Topic, t.Err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	conn, db := store.Conn(), cfg.ClickHouse.Database
	version, err := migrate.Version(ctx, conn, db)
	if err != nil {
		return err
	}
	if version == 1 {
		up, err := upgradeSource(ctx, adm, cfg)
		if err != nil {
			return err
		}
		logger.Info("upgrading a first-wave database to schema version 2; the processors must be stopped", "database", db,
			"stream", up.Stream)
		if err := migrate.Upgrade1to2(ctx, conn, db, up, logger); err != nil {
			return err
		}
	}
	if err := migrate.Apply(ctx, conn, db, logger); err != nil {
		return fmt.Errorf("migrate clickhouse: %w", err)
	}
	logger.Info("migrated", "database", db, "topics", []string{cfg.Kafka.RawTopic, cfg.Kafka.DLQTopic},
		"replicationFactor", cfg.ReplicationFactor, "minInsyncReplicas", cfg.MinInSyncReplicas())
	return nil
}

// upgradeSource names the raw topic's incarnation and the group's commits,
// which a first-wave database never recorded.
func upgradeSource(ctx context.Context, adm *kadm.Client, cfg config.Config) (migrate.Upgrade, error) {
	info, err := topology.New(adm).Topic(ctx, cfg.Kafka.RawTopic)
	if err != nil {
		return migrate.Upgrade{}, err
	}
	up := migrate.Upgrade{Stream: cfg.Kafka.RawTopic + "/" + info.ID, Committed: map[int32]int64{}}
	commits, err := adm.FetchOffsetsForTopics(ctx, cfg.ConsumerGroup, cfg.Kafka.RawTopic)
	if err != nil {
		return migrate.Upgrade{}, fmt.Errorf("read the group's commits: %w", err)
	}
	commits.Each(func(o kadm.OffsetResponse) {
		if o.Err == nil && o.At >= 0 {
			up.Committed[o.Partition] = o.At
		}
	})
	return up, nil
}

// runRebuild recomputes the read model and compares it with the live one:
// it fails (exit 1) on any difference. With apply it swaps the rebuilt
// model in instead.
func runRebuild(ctx context.Context, cfg config.Config, apply bool, out io.Writer) error {
	store, err := eventstore.Open(eventstore.Options{Addr: cfg.ClickHouse.Addr, Database: cfg.ClickHouse.Database,
		User: cfg.ClickHouse.User, Password: cfg.ClickHouse.Password})
	if err != nil {
		return err
	}
	defer store.Close()
	conn, db := store.Conn(), cfg.ClickHouse.Database
	positions, err := rebuild.Positions(ctx, conn, db)
	if err != nil {
		return err
	}
	// Live first, then rebuilt: rows past a position count on neither side.
	live, err := rebuild.Live(ctx, conn, db)
	if err != nil {
		return err
	}
	rebuilt, err := rebuild.Compute(ctx, conn, db, positions)
	if err != nil {
		return err
	}
	if apply {
		old, err := rebuild.Apply(ctx, conn, db, rebuilt, store.WriteStateTo)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "rebuilt %d read-model rows over %d partitions; the previous model is kept as %s.%s\n", len(rebuilt),
			len(positions), db, old)
		return nil
	}
	diffs := rebuild.Compare(live, rebuilt)
	fmt.Fprintf(out, "read model: %d live rows, %d rebuilt rows over %d partitions, %d differences\n", len(live), len(rebuilt),
		len(positions), len(diffs))
	for i, d := range diffs {
		if i == 20 {
			fmt.Fprintf(out, "… and %d more\n", len(diffs)-i)
			break
		}
		fmt.Fprintln(out, " ", d)
	}
	if len(diffs) > 0 {
		return fmt.Errorf("the live read model differs from the stored rows in %d rows", len(diffs))
	}
	return nil
}

func retry(ctx context.Context, f func() error) error {
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// serve runs the consumer loop and the admin server until ctx ends.
func serve(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	ncfg, err := normalizeConfig(cfg.NormalizeConfig)
	if err != nil {
		return err
	}
	engine, err := normalize.New(ncfg)
	if err != nil {
		return fmt.Errorf("normalization config: %w", err)
	}

	chStore, err := eventstore.Open(eventstore.Options{Addr: cfg.ClickHouse.Addr, Database: cfg.ClickHouse.Database,
		User: cfg.ClickHouse.User, Password: cfg.ClickHouse.Password})
	if err != nil {
		return err
	}
	defer chStore.Close()

	kopts, err := kafkaconn.Options(cfg.Kafka.Settings())
	if err != nil {
		return err
	}
	producer, err := kgo.NewClient(append(kopts, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic(cfg.Kafka.DLQTopic),
		// Room for a dead-lettered record of MaxRecordBytes plus headers.
		kgo.ProducerBatchMaxBytes(int32(cfg.MaxRecordBytes)+64<<10))...)
	if err != nil {
		return err
	}
	defer producer.Close()
	adm := kadm.NewClient(producer)
	// Strays go to the partition the pipeline names (their owner).
	forwarder, err := kgo.NewClient(append(kopts, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchMaxBytes(int32(cfg.MaxRecordBytes)+64<<10))...)
	if err != nil {
		return err
	}
	defer forwarder.Close()

	var board *faults.Board
	var crash faults.Crash
	if cfg.FaultInjection {
		board = faults.NewBoard()
		logger.Warn("fault injection is enabled; never run this in production")
		crash = func(point string) {
			logger.Warn("failpoint reached; killing the process", "failpoint", point)
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}
	metrics := pipeline.NewMetrics(reg)

	var store pipeline.Store = chStore
	var seenSet pipeline.SeenSet
	var guarded *seen.Guarded
	if cfg.RedisAddr != "" {
		rc := redis.NewClient(&redis.Options{Addr: cfg.RedisAddr, Password: cfg.RedisPassword, DialTimeout: time.Second, ReadTimeout: 2 * time.Second,
			WriteTimeout: 2 * time.Second, MaxRetries: 1})
		defer rc.Close()
		guarded = seen.NewGuarded(seen.NewRedis(rc), logger)
		guarded.Check(ctx)
		seenSet = guarded
	}
	if cfg.FaultInjection {
		store = &faults.Store{Store: store, Board: board, Failpoint: cfg.Failpoint, Crash: crash, Simulated: metrics.SimulatedFailures.Inc}
		if seenSet != nil {
			seenSet = &faults.Seen{SeenSet: seenSet, Board: board, Failpoint: cfg.Failpoint, Crash: crash}
		}
		if seenSet, err = faults.NegativeControl(cfg.NegativeControl, seenSet); err != nil {
			return err
		}
	}

	pipe := pipeline.New(pipeline.Options{
		Normalizer: engine, Store: store, Seen: seenSet, Forwarder: forward.New(forwarder),
		DeadLetters: dlq.NewProducer(producer, cfg.Kafka.DLQTopic, cfg.MaxRecordBytes), Topology: topology.New(adm),
		Metrics: metrics, Logger: logger, MaxRecordBytes: cfg.MaxRecordBytes,
		AttemptTimeout: cfg.BatchTimeout, RetryInitial: cfg.RetryInitial, RetryMax: cfg.RetryMax,
	})

	cons, err := consumer.New(consumer.Options{
		Client: kopts, Group: cfg.ConsumerGroup, Topic: cfg.Kafka.RawTopic, BatchSize: cfg.BatchSize,
		Linger: cfg.BatchLinger, ShutdownTimeout: cfg.ShutdownTimeout, Processor: pipe, Logger: logger, InstanceID: cfg.Instance,
		GroupInstanceID: cfg.GroupInstanceID,
	})
	if err != nil {
		return err
	}
	lagGauge := lag.NewReporter(reg, adm, cfg.ConsumerGroup, cfg.Kafka.RawTopic)

	srv := &http.Server{
		Addr: cfg.HTTPAddr,
		Handler: admin.Handler(admin.Options{
			Gatherer: reg,
			Ready:    pipe.Healthy,
			Faults:   board,
			Status: func() admin.Status {
				return admin.Status{Instance: cfg.Instance, Ready: pipe.Healthy(), AssignedPartitions: cons.Assigned(),
					Retries: pipe.Retries(), LastError: pipe.LastError(), Batches: cons.Batches()}
			},
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
	}

	logger.Info("processor starting", "admin", cfg.HTTPAddr, "group", cfg.ConsumerGroup, "topic", cfg.Kafka.RawTopic)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		err := cons.Run(gctx)
		logger.Info("consumer stopped", "err", err)
		return err
	})
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		lagGauge.Run(gctx, 5*time.Second)
		return nil
	})
	if guarded != nil {
		g.Go(func() error {
			guarded.Run(gctx, 30*time.Second)
			return nil
		})
	}
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	err = g.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}
