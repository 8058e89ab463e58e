// Command processor is Tally's consumer-group worker and its operator tools.
//
//	processor [run]                  consume events.raw and make every event durable, exactly once
//	processor migrate                apply the ClickHouse schema and create the topics (idempotent)
//	processor rebuild [--apply]      recompute the read model from stored rows and compare it with the live one
//	processor keys create|list|revoke|map  manage API keys and topic-to-tenant mappings (the control plane)
//	processor normalize [--config F] dry-run the normalization config over NDJSON on stdin
//	processor dlq replay [--dry-run] re-produce dead letters to the raw topic
//
// Configuration comes from the environment (docs/contracts.md).
package main

import (
	// GOMEMLIMIT = 90% of the container's memory limit (cgroup), unless
	// GOMEMLIMIT is set: the heap stays inside the limit instead of being
	// killed for it.
	_ "github.com/KimMachineGun/automemlimit"

	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"
	"golang.org/x/sync/errgroup"

	"github.com/tally-dev/tally/event"
	"github.com/tally-dev/tally/event/auth"
	"github.com/tally-dev/tally/event/control"
	"github.com/tally-dev/tally/event/gcpolicy"
	"github.com/tally-dev/tally/event/kafkaconn"
	"github.com/tally-dev/tally/event/normalize"
	"github.com/tally-dev/tally/event/schema"
	"github.com/tally-dev/tally/event/telemetry"
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
	"github.com/tally-dev/tally/processor/internal/tenancy"
	"github.com/tally-dev/tally/processor/internal/topology"
)

func main() {
	// GOGC=300 under the memory limit (package gcpolicy): marking was 18%
	// of the processor's CPU while draining a backlog.
	gcpolicy.Relax()
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
	logger := slog.New(telemetry.LogHandler(slog.NewJSONHandler(os.Stderr, nil)))

	switch cmd {
	case "normalize":
		fs := flag.NewFlagSet("normalize", flag.ContinueOnError)
		path := fs.String("config", os.Getenv("TALLY_NORMALIZE_CONFIG"), "normalization config YAML (default: the embedded default)")
		explain := fs.Bool("explain", false, "also print which rule produced each canonical field and how the event id was formed")
		formatName := fs.String("format", "tally", "layout of each line: tally, cloudevents, cloudevents-binary (each line is the data) or segment")
		attrs := map[string]string{}
		fs.Func("ce", "with --format cloudevents-binary: a context attribute name=value (repeat: --ce specversion=1.0 --ce id=1 ...)",
			func(v string) error {
				name, value, ok := strings.Cut(v, "=")
				if !ok || name == "" {
					return fmt.Errorf("--ce %q: want name=value", v)
				}
				attrs[strings.ToLower(name)] = value
				return nil
			})
		sentAt := fs.String("sent-at", "", "with --format segment: the batch's sentAt (the messages' own win)")
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
		return normalize.RunCLI(cfg, os.Stdin, os.Stdout, normalize.CLIOptions{Explain: *explain, Format: format,
			Attributes: attrs, SentAt: *sentAt})
	case "migrate":
		cfg, err := config.Load()
		if err != nil {
			return err
		}
		return runMigrate(ctx, cfg, logger)
	case "keys":
		cfg, err := config.Load()
		if err != nil {
			return err
		}
		return runKeys(ctx, cfg, args, os.Stdout)
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

// storeOptions are the ClickHouse connection settings, without a quorum
// (migrations, rebuilds and reads).
func storeOptions(cfg config.Config) eventstore.Options {
	return eventstore.Options{Addr: cfg.ClickHouse.Addr, Database: cfg.ClickHouse.Database,
		User: cfg.ClickHouse.User, Password: cfg.ClickHouse.Password, TLS: cfg.ClickHouse.TLS}
}

// redisOptions are the seen-set's connection settings (address, password,
// TLS), for every Redis client of the processor.
func redisOptions(cfg config.Config) (*redis.Options, error) {
	tlsConfig, err := cfg.RedisTLS.Config()
	if err != nil {
		return nil, fmt.Errorf("redis %w", err)
	}
	return &redis.Options{Addr: cfg.RedisAddr, Password: cfg.RedisPassword, TLSConfig: tlsConfig,
		DialTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second, MaxRetries: 1}, nil
}

// writer is the pipeline's store: one Store, or a Sharded over one per
// shard.
type writer struct {
	eventstore.ShardStore
	shards int
	stores []*eventstore.Store
}

func (w writer) Close() {
	for _, s := range w.stores {
		_ = s.Close()
	}
}

// openWriter opens the pipeline's store. On a cluster its inserts wait for a
// quorum of the shard's replicas (TALLY_CLICKHOUSE_INSERT_QUORUM, by default
// a majority, read from the cluster's description — waiting for ClickHouse
// to answer when it is still starting). On a cluster of more than one shard
// it opens one connection pool per shard, on its replicas, and places
// partition p on shard p mod shards (docs/scaling.md).
func openWriter(ctx context.Context, cfg config.Config, logger *slog.Logger) (writer, error) {
	opts := storeOptions(cfg)
	if cfg.ClickHouse.Cluster == "" {
		s, err := eventstore.Open(opts)
		return writer{ShardStore: s, shards: 1, stores: []*eventstore.Store{s}}, err
	}
	shards, err := describeCluster(ctx, cfg, logger)
	if err != nil {
		return writer{}, err
	}
	quorum := func(replicas int) int {
		if cfg.ClickHouse.InsertQuorum > 0 {
			return cfg.ClickHouse.InsertQuorum
		}
		return replicas/2 + 1
	}
	opts.InsertQuorumTimeout = cfg.ClickHouse.InsertQuorumTimeout
	if len(shards) == 1 {
		opts.InsertQuorum = quorum(len(shards[0].Replicas))
		logger.Info("writes wait for a quorum of replicas", "cluster", cfg.ClickHouse.Cluster, "insertQuorum", opts.InsertQuorum)
		s, err := eventstore.Open(opts)
		return writer{ShardStore: s, shards: 1, stores: []*eventstore.Store{s}}, err
	}
	w := writer{shards: len(shards)}
	var each []eventstore.ShardStore
	for _, sh := range shards {
		o := opts
		o.Addr, o.Database, o.InsertQuorum = sh.Replicas, schema.ShardDatabase(cfg.ClickHouse.Database), quorum(len(sh.Replicas))
		s, err := eventstore.Open(o)
		if err != nil {
			w.Close()
			return writer{}, err
		}
		w.stores = append(w.stores, s)
		each = append(each, s)
		logger.Info("clickhouse shard", "shard", sh.Num, "replicas", sh.Replicas, "insertQuorum", o.InsertQuorum)
	}
	w.ShardStore = eventstore.NewSharded(each...)
	o := schema.Options{Cluster: cfg.ClickHouse.Cluster, Shards: len(shards)}
	if err := migrate.CheckLayout(ctx, w.stores[0].Conn(), cfg.ClickHouse.Database, o); err != nil {
		w.Close()
		return writer{}, err
	}
	logger.Info("partitions are placed by shard: partition p on shard p mod shards", "cluster", cfg.ClickHouse.Cluster,
		"shards", len(shards))
	return w, nil
}

// describeCluster reads the cluster's shards and replicas from ClickHouse,
// waiting up to two minutes for it to answer.
func describeCluster(ctx context.Context, cfg config.Config, logger *slog.Logger) ([]migrate.Shard, error) {
	plain, err := eventstore.Open(storeOptions(cfg))
	if err != nil {
		return nil, err
	}
	defer plain.Close()
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		shards, err := migrate.Describe(wctx, plain.Conn(), cfg.ClickHouse.Cluster)
		if err == nil {
			return shards, nil
		}
		if wctx.Err() != nil {
			return nil, fmt.Errorf("describe the clickhouse cluster: %w", err)
		}
		logger.Warn("waiting for ClickHouse to describe the cluster", "cluster", cfg.ClickHouse.Cluster, "err", err)
		select {
		case <-wctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
}

// migrate applies the ClickHouse schema and creates the topics, waiting up to
// a minute for both to come up (the stack starts them just before).
func runMigrate(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	store, err := eventstore.Open(storeOptions(cfg))
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
	o, err := schemaOptions(ctx, cfg, logger)
	if err != nil {
		return err
	}
	if o.Sharded() && int(cfg.Partitions)%o.Shards != 0 {
		return fmt.Errorf("TALLY_PARTITIONS=%d is not a multiple of the %d shards of ClickHouse cluster %s: partition p is "+
			"placed on shard p mod %[2]d (docs/scaling.md)", cfg.Partitions, o.Shards, o.Cluster)
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
	if err := control.CreateTopic(wctx, adm, cfg.Auth.ControlTopic, cfg.ReplicationFactor); err != nil {
		return err
	}
	conn, db := store.Conn(), cfg.ClickHouse.Database
	version, err := migrate.Version(ctx, conn, db)
	if err != nil {
		return err
	}
	if version == 1 && cfg.ClickHouse.Cluster != "" {
		return fmt.Errorf("database %s has the first wave's schema on one server: upgrade it with TALLY_CLICKHOUSE_CLUSTER unset first", db)
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
	// A cluster's DDL goes through ZooKeeper: right after ZooKeeper or a
	// server restarts it can fail for a while (an expired session, a
	// read-only replica). Those are retried for two minutes; anything else
	// (a refused layout, a bad setting) is reported at once.
	tctx, tcancel := context.WithTimeout(ctx, 2*time.Minute)
	defer tcancel()
	for {
		err := migrate.Apply(tctx, conn, db, o, logger)
		if err == nil {
			break
		}
		if !migrate.Transient(err) || tctx.Err() != nil {
			return fmt.Errorf("migrate clickhouse: %w", err)
		}
		logger.Warn("migrate: clickhouse is not ready for DDL yet; retrying", "err", err)
		select {
		case <-tctx.Done():
		case <-time.After(time.Second):
		}
	}
	logger.Info("migrated", "database", db, "topics", []string{cfg.Kafka.RawTopic, cfg.Kafka.DLQTopic},
		"replicationFactor", cfg.ReplicationFactor, "minInsyncReplicas", cfg.MinInSyncReplicas())
	return nil
}

// schemaOptions describes where the schema lives: one server, or the
// configured cluster with its shard count.
func schemaOptions(ctx context.Context, cfg config.Config, logger *slog.Logger) (schema.Options, error) {
	o := schema.Options{Cluster: cfg.ClickHouse.Cluster}
	if o.Cluster == "" {
		return o, nil
	}
	shards, err := describeCluster(ctx, cfg, logger)
	if err != nil {
		return o, err
	}
	o.Shards = len(shards)
	return o, nil
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

// runKeys manages the control plane from the command line (the local stack
// bootstraps its keys with it; the query API's admin routes do the same
// over HTTP).
func runKeys(ctx context.Context, cfg config.Config, args []string, out io.Writer) error {
	usage := errors.New("usage: processor keys create --tenant T --scopes ingest,query,admin [--name N] [--expires RFC3339] " +
		"[--events-per-second N] [--quota-per-day N] [--out FILE] | ensure --out FILE (create options) | list | revoke ID | " +
		"map --topic TOPIC --tenant T")
	if len(args) == 0 {
		return usage
	}
	opts, err := kafkaconn.Options(cfg.Kafka.Settings())
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	w := control.NewWriter(cl, cfg.Auth.ControlTopic)
	// follow reads the control topic up to its end.
	follow := func() (*control.Registry, func(), error) {
		reg, err := control.NewRegistry(opts, cfg.Auth.ControlTopic, nil)
		if err != nil {
			return nil, nil, err
		}
		rctx, cancel := context.WithCancel(ctx)
		go func() { _ = reg.Run(rctx) }()
		stop := func() { cancel(); reg.Close() }
		wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
		defer wcancel()
		if err := reg.WaitReady(wctx); err != nil {
			stop()
			return nil, nil, err
		}
		return reg, stop, nil
	}
	fs := flag.NewFlagSet("keys "+args[0], flag.ContinueOnError)
	switch args[0] {
	case "ensure":
		// ensure keeps the key in --out when the control plane still
		// accepts it, and creates one otherwise (a stack whose Kafka data
		// was wiped but whose key files were not).
		var file string
		for i, a := range args {
			if (a == "--out" || a == "-out") && i+1 < len(args) {
				file = args[i+1]
			}
		}
		if file == "" {
			return usage
		}
		if b, err := os.ReadFile(file); err == nil {
			reg, stop, err := follow()
			if err != nil {
				return err
			}
			_, aerr := reg.Authenticate(strings.TrimSpace(string(b)), time.Now())
			stop()
			if aerr == nil {
				fmt.Fprintf(out, "kept the key in %s\n", file)
				return nil
			}
		}
		return runKeys(ctx, cfg, append([]string{"create"}, args[1:]...), out)
	case "create":
		tenant := fs.String("tenant", event.DefaultTenant, "the tenant the key acts for")
		scopes := fs.String("scopes", "", "comma-separated: ingest, query, admin")
		name := fs.String("name", "", "a label")
		expires := fs.String("expires", "", "expiry, RFC 3339 (none by default)")
		rate := fs.Float64("events-per-second", 0, "rate limit (0: none)")
		quota := fs.Int64("quota-per-day", 0, "events per UTC day (0: none)")
		file := fs.String("out", "", "write the key to this file (mode 0600) instead of printing it")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		text, k, err := control.NewKey(*tenant, strings.Split(*scopes, ","), time.Now())
		if err != nil {
			return err
		}
		k.Name, k.RateLimit, k.QuotaPerDay = *name, *rate, *quota
		if *expires != "" {
			t, err := time.Parse(time.RFC3339, *expires)
			if err != nil {
				return fmt.Errorf("--expires: %w", err)
			}
			k.ExpiresAt = &t
		}
		if err := w.PutKey(ctx, k); err != nil {
			return err
		}
		if *file != "" {
			if err := os.WriteFile(*file, []byte(text+"\n"), 0o600); err != nil {
				return err
			}
			fmt.Fprintf(out, "created key %s (tenant %s, scopes %s) in %s\n", k.ID, k.Tenant, strings.Join(k.Scopes, ","), *file)
			return nil
		}
		fmt.Fprintln(out, text)
		return nil
	case "map":
		topic := fs.String("topic", cfg.Kafka.RawTopic, "the topic")
		tenant := fs.String("tenant", event.DefaultTenant, "the tenant that owns the topic's records")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if err := w.PutMapping(ctx, control.TopicTenant{Topic: *topic, Tenant: *tenant}); err != nil {
			return err
		}
		fmt.Fprintf(out, "records on %s without a signed tenant now belong to %s\n", *topic, *tenant)
		return nil
	case "list", "revoke":
		reg, stop, err := follow()
		if err != nil {
			return err
		}
		defer stop()
		if args[0] == "list" {
			for _, k := range reg.Keys() {
				fmt.Fprintf(out, "%s\t%s\t%s\trevoked=%v\t%s\n", k.ID, k.Tenant, strings.Join(k.Scopes, ","), k.Revoked, k.Name)
			}
			for _, m := range reg.Mappings() {
				fmt.Fprintf(out, "topic %s -> tenant %s\n", m.Topic, m.Tenant)
			}
			return nil
		}
		if len(args) != 2 {
			return usage
		}
		k, ok := reg.Key(args[1])
		if !ok {
			return fmt.Errorf("no key %s", args[1])
		}
		now := time.Now().UTC()
		k.Revoked, k.RevokedAt = true, &now
		if err := w.PutKey(ctx, k); err != nil {
			return err
		}
		fmt.Fprintf(out, "revoked key %s\n", k.ID)
		return nil
	}
	return usage
}

// runRebuild recomputes the read model and compares it with the live one:
// it fails (exit 1) on any difference. With apply it swaps the rebuilt
// model in instead.
func runRebuild(ctx context.Context, cfg config.Config, apply bool, out io.Writer) error {
	// The pipeline's own store: on a cluster of several shards, each
	// shard's read model is recomputed from that shard's winners.
	w, err := openWriter(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer w.Close()
	var positions []rebuild.Position
	live := map[pipeline.StateKey]pipeline.StateRow{}
	rebuilt := map[pipeline.StateKey]pipeline.StateRow{}
	for _, store := range w.stores {
		conn, db := store.Conn(), store.Database()
		pos, err := rebuild.Positions(ctx, conn, db)
		if err != nil {
			return err
		}
		// Live first, then rebuilt: rows past a position count on neither side.
		l, err := rebuild.Live(ctx, conn, db)
		if err != nil {
			return err
		}
		r, err := rebuild.Compute(ctx, conn, db, pos)
		if err != nil {
			return err
		}
		positions = append(positions, pos...)
		maps.Copy(live, l)
		maps.Copy(rebuilt, r)
	}
	db := cfg.ClickHouse.Database
	if apply {
		o := schema.Options{Cluster: cfg.ClickHouse.Cluster, Shards: w.shards}
		old, err := rebuild.Apply(ctx, w.stores[0].Conn(), db, o, rebuilt, w.WriteStateTo)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "rebuilt %d read-model rows over %d partitions; the previous model is kept as %s.%s\n", len(rebuilt),
			len(positions), o.WriteDatabase(db), old)
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

	chStore, err := openWriter(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer chStore.Close()

	kopts, err := kafkaconn.Options(cfg.Kafka.Settings())
	if err != nil {
		return err
	}
	// franz-go's client metrics (connections, requests, bytes, buffered
	// records) for the consumer, the dead-letter producer and the forwarder,
	// told apart by client_id.
	kafkaMetrics := kprom.NewMetrics("tally_processor_kafka", kprom.Registry(reg), kprom.WithClientLabel())
	kopts = append(slices.Clip(kopts), kgo.WithHooks(kafkaMetrics))
	// Traces, when OTEL_* configures an exporter: consume spans continue each
	// record's producer span, and each batch links them (docs/operations.md).
	tracing := telemetry.Enabled(os.Getenv)
	shutdownTracing, err := telemetry.Setup(ctx, "processor")
	if err != nil {
		return err
	}
	defer func() { _ = shutdownTracing(context.Background()) }()
	if tracing {
		kopts = append(kopts, telemetry.KafkaHooks())
	}
	clientID := func(role string) kgo.Opt { return kgo.ClientID("tally-" + cfg.Instance + role) }
	producer, err := kgo.NewClient(append(slices.Clip(kopts), clientID("-dlq"), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic(cfg.Kafka.DLQTopic),
		// Room for a dead-lettered record of MaxRecordBytes plus headers.
		kgo.ProducerBatchMaxBytes(int32(cfg.MaxRecordBytes)+64<<10))...)
	if err != nil {
		return err
	}
	defer producer.Close()
	adm := kadm.NewClient(producer)
	// Strays go to the partition the pipeline names (their owner).
	forwarder, err := kgo.NewClient(append(slices.Clip(kopts), clientID("-forward"), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()),
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
		ropts, err := redisOptions(cfg)
		if err != nil {
			return err
		}
		rc := redis.NewClient(ropts)
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
		if store, seenSet, err = faults.NegativeControl(cfg.NegativeControl, store, seenSet); err != nil {
			return err
		}
	}

	// The control plane: topic-to-tenant mappings for Kafka-native
	// producers, and the API keys that guard the admin routes.
	registry, err := control.NewRegistry(kopts, cfg.Auth.ControlTopic, logger)
	if err != nil {
		return err
	}
	defer registry.Close()
	tenants := &tenancy.Resolver{Mappings: registry, Secret: cfg.Auth.Secret(),
		Previous: []byte(cfg.Auth.PreviousTenantSecret), Disabled: !cfg.Auth.Enabled()}
	checker := &auth.Checker{Auth: registry}
	if !cfg.Auth.Enabled() {
		checker.Auth = nil
		logger.Warn("authentication is disabled (TALLY_AUTH=disabled): every record's claimed tenant is trusted; tests only")
	}
	if err := auth.CheckListen(cfg.HTTPAddr, cfg.Auth.Enabled()); err != nil {
		return err
	}

	pipe := pipeline.New(pipeline.Options{
		Normalizer: engine, Store: store, Seen: seenSet, Forwarder: forward.New(forwarder, tenants.Signer()), Tenants: tenants,
		DeadLetters: dlq.NewProducer(producer, cfg.Kafka.DLQTopic, cfg.MaxRecordBytes), Topology: topology.New(adm),
		Metrics: metrics, Logger: logger, MaxRecordBytes: cfg.MaxRecordBytes,
		AttemptTimeout: cfg.BatchTimeout, HealTimeout: cfg.HealTimeout, RetryInitial: cfg.RetryInitial, RetryMax: cfg.RetryMax,
		Shards: chStore.shards, Groups: cfg.BatchGroups,
	})

	var proc consumer.Processor = pipe
	if tracing {
		proc = consumer.Traced(pipe)
	}
	cons, err := consumer.New(consumer.Options{
		Client: kopts, Group: cfg.ConsumerGroup, Topic: cfg.Kafka.RawTopic, BatchSize: cfg.BatchSize,
		Linger: cfg.BatchLinger, ShutdownTimeout: cfg.ShutdownTimeout, Processor: proc, Logger: logger, InstanceID: cfg.Instance,
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
			Auth:     checker,
			Logger:   logger,
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
		// A record's tenant may come from its topic's mapping: consume only
		// once the control topic has been read, never reject a record as
		// unmapped because the mappings were not loaded yet.
		if err := registry.WaitReady(gctx); err != nil {
			return err
		}
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
	g.Go(func() error { return registry.Run(gctx) })
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
