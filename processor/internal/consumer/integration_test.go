//go:build integration

package consumer_test

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tally-dev/tally/event/normalize"
	"github.com/tally-dev/tally/event/testenv"
	"github.com/tally-dev/tally/processor/internal/consumer"
	"github.com/tally-dev/tally/processor/internal/dlq"
	"github.com/tally-dev/tally/processor/internal/eventstore"
	"github.com/tally-dev/tally/processor/internal/pipeline"
	"github.com/tally-dev/tally/processor/internal/seen"
)

// world is one isolated pipeline on the real services: its own topic,
// database, consumer group and Redis key space (a separate Redis DB).
type world struct {
	brokers []string
	topic   string
	db      string
	group   string
	redis   *redis.Client
	store   *eventstore.Store
	ch      clickhouse.Conn
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	suffix := fmt.Sprintf("%d", time.Now().UnixNano())
	w := &world{
		brokers: testenv.Kafka(t),
		topic:   "it.raw." + suffix,
		db:      "it_" + suffix,
		group:   "it-" + suffix,
	}
	chAddr := testenv.ClickHouse(t)
	rc := redis.NewClient(&redis.Options{Addr: testenv.Redis(t), DB: 7})
	t.Cleanup(func() { rc.Close() })
	if err := rc.FlushDB(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	w.redis = rc

	store, err := eventstore.Open(eventstore.Options{Addr: []string{chAddr}, Database: w.db, User: "default"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	w.store = store
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{chAddr}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+w.db)
		conn.Close()
	})
	w.ch = conn

	cl, err := kgo.NewClient(kgo.SeedBrokers(w.brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopics(ctx, 4, 1, nil, w.topic, w.topic+".dlq")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range resp.Sorted() {
		if r.Err != nil {
			t.Fatalf("create %s: %v", r.Topic, r.Err)
		}
	}
	return w
}

// run starts one consumer group member with the real pipeline.
func (w *world) run(t *testing.T, ctx context.Context) chan error {
	t.Helper()
	eng, err := normalize.New(normalize.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	prod, err := kgo.NewClient(kgo.SeedBrokers(w.brokers...), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		t.Fatal(err)
	}
	p := pipeline.New(pipeline.Options{Normalizer: eng, Store: w.store, Seen: seen.NewRedis(w.redis, time.Hour),
		DeadLetters: dlq.NewProducer(prod, w.topic+".dlq"), RetryInitial: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond})
	c, err := consumer.New(consumer.Options{Client: []kgo.Opt{kgo.SeedBrokers(w.brokers...)}, Group: w.group, Topic: w.topic,
		BatchSize: 500, Linger: 20 * time.Millisecond, ShutdownTimeout: 5 * time.Second, Processor: p})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- c.Run(ctx)
		prod.Close()
	}()
	return done
}

func (w *world) produce(t *testing.T, values ...string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(w.brokers...), kgo.DefaultProduceTopic(w.topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	rs := make([]*kgo.Record, len(values))
	for i, v := range values {
		rs[i] = &kgo.Record{Value: []byte(v)} // no key: copies spread over partitions
	}
	if err := cl.ProduceSync(context.Background(), rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

type counts struct{ processed, duplicates, rejected, dead, sum int64 }

func (w *world) counts(t *testing.T) counts {
	t.Helper()
	var c counts
	q := fmt.Sprintf(`SELECT
		(SELECT toInt64(uniqExact(event_id)) FROM %[1]s.events),
		(SELECT uniqExact(partition, offset) FROM (SELECT partition, offset FROM %[1]s.duplicates UNION ALL SELECT partition, offset FROM %[1]s.receipts)) - (SELECT toInt64(uniqExact(event_id)) FROM %[1]s.events),
		(SELECT toInt64(uniqExact(partition, offset)) FROM %[1]s.rejected_events),
		(SELECT toInt64(uniqExact(partition, offset)) FROM %[1]s.dead_letters),
		(SELECT toInt64(sum(a)) FROM (SELECT any(amount) AS a FROM %[1]s.events GROUP BY event_id))`, w.db)
	if err := w.ch.QueryRow(context.Background(), q).Scan(&c.processed, &c.duplicates, &c.rejected, &c.dead, &c.sum); err != nil {
		t.Fatal(err)
	}
	return c
}

func (w *world) waitCounts(t *testing.T, want counts) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var got counts
	for time.Now().Before(deadline) {
		if got = w.counts(t); got == want {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("counts = %+v, want %+v", got, want)
}

func ev(client string, amount int, ts string) string {
	return fmt.Sprintf(`{"source":%q,"payload":{"metric":"purchase","amount":"%d","timestamp":%q}}`, client, amount, ts)
}

func TestExactlyOnceAcrossBatchesPartitionsAndRedisLoss(t *testing.T) {
	w := newWorld(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := w.run(t, ctx)

	// 100 unique events, each sent twice in one go (in-batch and
	// cross-partition resends), plus poison and an invalid event.
	var vals []string
	for i := range 100 {
		e := ev("c"+fmt.Sprint(i%5), i+1, fmt.Sprintf("2024-01-01T00:%02d:00Z", i%60))
		vals = append(vals, e, e)
	}
	vals = append(vals, "{not json", `{"source":"x","amount":"abc"}`)
	w.produce(t, vals...)
	w.waitCounts(t, counts{processed: 100, duplicates: 100, rejected: 1, dead: 1, sum: 5050})

	// Later resends, after the originals are durable: Redis links them.
	w.produce(t, vals[:20]...)
	w.waitCounts(t, counts{processed: 100, duplicates: 120, rejected: 1, dead: 1, sum: 5050})

	// Redis loses everything; resends now reach ClickHouse as physical
	// duplicate rows, and every count stays exact.
	if err := w.redis.FlushDB(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	w.produce(t, vals[:10]...)
	w.waitCounts(t, counts{processed: 100, duplicates: 130, rejected: 1, dead: 1, sum: 5050})

	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestKcatAsKafkaNativeProducer(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatalf("kcat is required (apt-get install kcat): %v", err)
	}
	w := newWorld(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := w.run(t, ctx)
	in := strings.Join([]string{
		`{"client_id":"client_B","event_type":"click","value":500,"date":"2024-01-15T10:30:00Z"}`,
		`{"client_id":"client_B","event_type":"click","value":500,"date":"2024-01-15T10:30:00Z"}`,
		`{"clientId":"client_C","type":"view","count":"7","ts":1704067200000}`,
	}, "\n") + "\n"
	cmd := exec.Command(kcat, "-b", strings.Join(w.brokers, ","), "-t", w.topic, "-P")
	cmd.Stdin = strings.NewReader(in)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat: %v: %s", err, out)
	}
	w.waitCounts(t, counts{processed: 2, duplicates: 1, sum: 507})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestThreeProcessorsWithOneKilledMidStream(t *testing.T) {
	w := newWorld(t)
	ctxs := make([]context.CancelFunc, 3)
	dones := make([]chan error, 3)
	for i := range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		ctxs[i], dones[i] = cancel, w.run(t, ctx)
	}
	var vals []string
	for i := range 3000 {
		vals = append(vals, ev("k"+fmt.Sprint(i%7), 1, fmt.Sprintf("2024-02-01T%02d:%02d:%02dZ", i/3600, i/60%60, i%60)))
	}
	w.produce(t, vals[:1500]...)
	ctxs[1]() // stop one member mid-stream
	if err := <-dones[1]; err != nil {
		t.Fatal(err)
	}
	w.produce(t, vals[1500:]...)
	w.produce(t, vals[:300]...) // and resend some
	w.waitCounts(t, counts{processed: 3000, duplicates: 300, sum: 3000})
	for _, i := range []int{0, 2} {
		ctxs[i]()
		if err := <-dones[i]; err != nil {
			t.Fatal(err)
		}
	}
}
