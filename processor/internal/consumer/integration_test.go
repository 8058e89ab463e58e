//go:build integration

package consumer_test

import (
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tally-dev/tally/event"
	"github.com/tally-dev/tally/event/normalize"
	"github.com/tally-dev/tally/event/schema"
	"github.com/tally-dev/tally/event/testenv"
	"github.com/tally-dev/tally/processor/internal/consumer"
	"github.com/tally-dev/tally/processor/internal/dlq"
	"github.com/tally-dev/tally/processor/internal/eventstore"
	"github.com/tally-dev/tally/processor/internal/forward"
	"github.com/tally-dev/tally/processor/internal/migrate"
	"github.com/tally-dev/tally/processor/internal/pipeline"
	"github.com/tally-dev/tally/processor/internal/rebuild"
	"github.com/tally-dev/tally/processor/internal/seen"
	"github.com/tally-dev/tally/processor/internal/topology"
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
	adm     *kadm.Client
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
	if err := migrate.Apply(ctx, store.Conn(), w.db, schema.Options{}, slog.New(slog.DiscardHandler)); err != nil {
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
	t.Cleanup(cl.Close)
	w.adm = kadm.NewClient(cl)
	resp, err := w.adm.CreateTopics(ctx, 4, 1, nil, w.topic, w.topic+".dlq")
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
	fwd, err := kgo.NewClient(kgo.SeedBrokers(w.brokers...), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	p := pipeline.New(pipeline.Options{Normalizer: eng, Store: w.store, Seen: seen.NewRedis(w.redis), Forwarder: forward.New(fwd, nil),
		DeadLetters: dlq.NewProducer(prod, w.topic+".dlq", 1<<20), Topology: topology.New(kadm.NewClient(prod)),
		RetryInitial: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond})
	c, err := consumer.New(consumer.Options{Client: []kgo.Opt{kgo.SeedBrokers(w.brokers...)}, Group: w.group, Topic: w.topic,
		BatchSize: 500, Linger: 20 * time.Millisecond, ShutdownTimeout: 5 * time.Second, Processor: p})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- c.Run(ctx)
		prod.Close()
		fwd.Close()
	}()
	return done
}

// produce sends values with no key: copies spread over partitions, as a
// Kafka-native producer that does not key by client would; the pipeline
// forwards every stray to its owner.
func (w *world) produce(t *testing.T, values ...string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(w.brokers...), kgo.DefaultProduceTopic(w.topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	rs := make([]*kgo.Record, len(values))
	for i, v := range values {
		rs[i] = &kgo.Record{Value: []byte(v)}
	}
	if err := cl.ProduceSync(context.Background(), rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// books are the read model's counters and the all-time sum, and whether
// they account for every offset Kafka holds.
type books struct {
	processed, duplicates, conflicts, rejected, dead, forwarded, skipped, sum int64
	balanced                                                                  bool
}

func (w *world) books(t *testing.T) books {
	t.Helper()
	ctx := context.Background()
	rows, err := w.ch.Query(ctx, fmt.Sprintf("SELECT kind, metric, toInt64(sum(c)) FROM (SELECT kind, metric, stream, part, "+
		"argMax(count, version) AS c FROM %s.state WHERE kind IN (%d, %d) GROUP BY kind, metric, stream, part) GROUP BY kind, metric",
		w.db, schema.KindCounter, schema.KindPosition))
	if err != nil {
		t.Fatal(err)
	}
	var b books
	var outcomes, positions int64
	for rows.Next() {
		var kind uint8
		var metric string
		var n int64
		if err := rows.Scan(&kind, &metric, &n); err != nil {
			t.Fatal(err)
		}
		if kind == schema.KindPosition {
			positions += n
			continue
		}
		switch metric {
		case schema.OutcomeProcessed:
			b.processed = n
		case schema.OutcomeDuplicate:
			b.duplicates = n
		case schema.OutcomeConflict:
			b.conflicts = n
		case schema.OutcomeRejected:
			b.rejected = n
		case schema.OutcomeDeadLettered:
			b.dead = n
		case schema.OutcomeForwarded:
			b.forwarded = n
		case schema.OutcomeSkipped:
			b.skipped = n
		default:
			continue // per-code rejection counters
		}
		outcomes += n
	}
	rows.Close()
	if err := w.ch.QueryRow(ctx, fmt.Sprintf("SELECT toInt64(sum(s)) FROM (SELECT argMax(sum, version) AS s FROM %s.state "+
		"WHERE kind = %d AND level = %d GROUP BY tenant, client_id, metric, stream, part)", w.db, schema.KindRollup, schema.LevelAll)).Scan(&b.sum); err != nil {
		t.Fatal(err)
	}
	ends, err := w.adm.ListEndOffsets(ctx, w.topic)
	if err != nil {
		t.Fatal(err)
	}
	var received int64
	ends.Each(func(o kadm.ListedOffset) { received += o.Offset })
	b.balanced = outcomes == positions && positions == received
	return b
}

func (w *world) waitBooks(t *testing.T, want books) {
	t.Helper()
	want.balanced = true
	deadline := time.Now().Add(90 * time.Second)
	var got books
	for time.Now().Before(deadline) {
		if got = w.books(t); got == want {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("books = %+v\n  want %+v", got, want)
}

func ev(client string, amount int, ts string) string {
	return fmt.Sprintf(`{"source":%q,"payload":{"metric":"purchase","amount":"%d","timestamp":%q}}`, client, amount, ts)
}

// strays counts the values a keyless producer put outside their owner:
// unknowable in advance, so the test reads the forwarded counter and
// checks the rest exactly.
func TestExactlyOnceAcrossBatchesPartitionsAndRedisLoss(t *testing.T) {
	w := newWorld(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := w.run(t, ctx)

	// 100 unique events, each sent twice in one go, plus poison and an
	// invalid event.
	var vals []string
	for i := range 100 {
		e := ev("c"+fmt.Sprint(i%5), i+1, fmt.Sprintf("2024-01-01T00:%02d:00Z", i%60))
		vals = append(vals, e, e)
	}
	vals = append(vals, "{not json", `{"source":"x","amount":"abc"}`)
	w.produce(t, vals...)
	b := w.waitFor(t, func(b books) bool { return b.processed == 100 })
	if b.duplicates != 100 || b.rejected != 1 || b.dead != 1 || b.sum != 5050 || !b.balanced {
		t.Fatalf("books %+v", b)
	}
	fw := b.forwarded

	// Later resends, after the originals are durable.
	w.produce(t, vals[:20]...)
	b = w.waitFor(t, func(b books) bool { return b.duplicates == 120 })
	if b.processed != 100 || b.sum != 5050 || !b.balanced {
		t.Fatalf("books %+v", b)
	}

	// Redis loses everything; the next batch heals it from ClickHouse and
	// every count stays exact.
	if err := w.redis.FlushDB(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	w.produce(t, vals[:10]...)
	b = w.waitFor(t, func(b books) bool { return b.duplicates == 130 })
	if b.processed != 100 || b.sum != 5050 || !b.balanced || b.forwarded < fw {
		t.Fatalf("books %+v", b)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// waitFor waits until cond holds of balanced books.
func (w *world) waitFor(t *testing.T, cond func(books) bool) books {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	var b books
	for time.Now().Before(deadline) {
		if b = w.books(t); b.balanced && cond(b) {
			return b
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("timed out; books %+v", b)
	return b
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
	// Keyed by client id with Kafka's partitioner: no forwarding needed.
	cmd := exec.Command(kcat, "-b", strings.Join(w.brokers, ","), "-t", w.topic, "-P", "-K", "|", "-X", "partitioner=murmur2_random")
	keyed := ""
	for _, line := range strings.Split(strings.TrimSpace(in), "\n") {
		client := "client_B"
		if strings.Contains(line, "client_C") {
			client = "client_C"
		}
		keyed += client + "|" + line + "\n"
	}
	cmd.Stdin = strings.NewReader(keyed)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat: %v: %s", err, out)
	}
	w.waitBooks(t, books{processed: 2, duplicates: 1, sum: 507})
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
	b := w.waitFor(t, func(b books) bool { return b.processed == 3000 && b.duplicates == 300 })
	if b.sum != 3000 {
		t.Fatalf("books %+v", b)
	}
	for _, i := range []int{0, 2} {
		ctxs[i]()
		if err := <-dones[i]; err != nil {
			t.Fatal(err)
		}
	}
}

// Defect 5 of issue #13: a transactional Kafka-native producer. Aborted
// records are never counted; their offsets and the transaction markers are
// skipped offsets, and the books balance (lag reaches zero).
func TestTransactionalProducerAbortsAreNeverCounted(t *testing.T) {
	w := newWorld(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := w.run(t, ctx)
	tx, err := kgo.NewClient(kgo.SeedBrokers(w.brokers...), kgo.DefaultProduceTopic(w.topic),
		kgo.TransactionalID("it-tx-"+w.group), kgo.DefaultProduceTopic(w.topic))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	for round, commit := range []bool{true, false, true, false} {
		if err := tx.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := range 10 {
			client := fmt.Sprintf("tx-%d", i%3)
			r := &kgo.Record{Key: event.PartitionKey(client), Value: []byte(ev(client, 1, fmt.Sprintf("2024-03-01T00:%02d:%02dZ", round, i)))}
			if err := tx.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	b := w.waitFor(t, func(b books) bool { return b.processed == 20 })
	if b.sum != 20 || b.duplicates != 0 || b.skipped < 20 {
		t.Fatalf("books %+v: the two aborted transactions' 20 records (and the markers) must be skipped offsets", b)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// Defect 3 of issue #13: retention deletes the oldest segments (here the
// log start offset is moved with DeleteRecords, which is what retention
// does). The books still balance: received counts every offset ever
// written, the counters keep what was counted.
func TestBooksBalanceAfterRetentionDeletesRecords(t *testing.T) {
	w := newWorld(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := w.run(t, ctx)
	var vals []string
	for i := range 200 {
		vals = append(vals, ev("r"+fmt.Sprint(i%9), 2, fmt.Sprintf("2024-04-01T00:%02d:%02dZ", i/60, i%60)))
	}
	w.produce(t, vals...)
	before := w.waitFor(t, func(b books) bool { return b.processed == 200 })
	ends, err := w.adm.ListEndOffsets(ctx, w.topic)
	if err != nil {
		t.Fatal(err)
	}
	del, err := w.adm.DeleteRecords(ctx, ends.Offsets())
	if err != nil || del.Error() != nil {
		t.Fatalf("delete records: %v %v", err, del.Error())
	}
	starts, err := w.adm.ListStartOffsets(ctx, w.topic)
	if err != nil {
		t.Fatal(err)
	}
	starts.Each(func(o kadm.ListedOffset) {
		if e, _ := ends.Lookup(w.topic, o.Partition); o.Offset != e.Offset {
			t.Fatalf("partition %d starts at %d after deleting up to %d", o.Partition, o.Offset, e.Offset)
		}
	})
	if after := w.books(t); after != before || !after.balanced {
		t.Fatalf("after retention: %+v, before %+v", after, before)
	}
	w.produce(t, vals[:5]...) // resends after retention are still duplicates
	w.waitFor(t, func(b books) bool { return b.duplicates == before.duplicates+5 && b.processed == 200 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// processor rebuild: the read model recomputed from the stored rows equals
// the live one after real traffic (resends, strays, rejections, poison,
// a Redis flush); a corrupted live row is found; Apply swaps in the
// rebuilt model.
func TestRebuildMatchesTheLiveReadModel(t *testing.T) {
	w := newWorld(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := w.run(t, ctx)
	var vals []string
	for i := range 300 {
		e := ev("b"+fmt.Sprint(i%11), i%17, fmt.Sprintf("2024-05-0%dT%02d:%02d:%02dZ", 1+i%3, i%24, i%60, i%7))
		vals = append(vals, e, e)
	}
	vals = append(vals, "{poison", `{"source":"x","amount":"abc"}`, `{"source":"y"}`)
	w.produce(t, vals...)
	w.waitFor(t, func(b books) bool { return b.processed == 300 && b.duplicates == 300 })
	if err := w.redis.FlushDB(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	w.produce(t, vals[:40]...)
	w.waitFor(t, func(b books) bool { return b.duplicates == 340 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	conn := w.store.Conn()
	compare := func() []rebuild.Difference {
		positions, err := rebuild.Positions(context.Background(), conn, w.db)
		if err != nil {
			t.Fatal(err)
		}
		live, err := rebuild.Live(context.Background(), conn, w.db)
		if err != nil {
			t.Fatal(err)
		}
		rebuilt, err := rebuild.Compute(context.Background(), conn, w.db, positions)
		if err != nil {
			t.Fatal(err)
		}
		return rebuild.Compare(live, rebuilt)
	}
	if d := compare(); len(d) != 0 {
		t.Fatalf("live and rebuilt read models differ in %d rows, first: %v", len(d), d[0])
	}

	// Corrupt one rollup row (a higher version with a wrong count).
	live, err := rebuild.Live(context.Background(), conn, w.db)
	if err != nil {
		t.Fatal(err)
	}
	var victim pipeline.StateRow
	for k, r := range live {
		if k.Kind == schema.KindRollup && k.Level == schema.LevelAll {
			victim = r
			break
		}
	}
	victim.Version++
	victim.Count++
	if err := w.store.WriteState(context.Background(), []pipeline.StateRow{victim}); err != nil {
		t.Fatal(err)
	}
	d := compare()
	if len(d) != 1 || d[0].Key != victim.Key {
		t.Fatalf("corruption of %+v found as %v", victim.Key, d)
	}

	positions, _ := rebuild.Positions(context.Background(), conn, w.db)
	rebuilt, err := rebuild.Compute(context.Background(), conn, w.db, positions)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rebuild.Apply(context.Background(), conn, w.db, schema.Options{}, rebuilt, w.store.WriteStateTo); err != nil {
		t.Fatal(err)
	}
	if d := compare(); len(d) != 0 {
		t.Fatalf("after apply: %d differences, first %v", len(d), d[0])
	}
	if b := w.books(t); b.processed != 300 || b.duplicates != 340 || !b.balanced {
		t.Fatalf("books after apply: %+v", b)
	}
}

// Issue #15, defect 1, on the real broker: one oversized and one huge
// invalid record used to stall every partition (a dead letter too large to
// produce, retried forever). They are dead-lettered, and what follows is
// counted.
func TestPoisonRecordsDoNotStallThePipeline(t *testing.T) {
	w := newWorld(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := w.run(t, ctx)
	cl, err := kgo.NewClient(kgo.SeedBrokers(w.brokers...), kgo.DefaultProduceTopic(w.topic), kgo.ProducerBatchMaxBytes(4<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	huge := []byte(`{"source":"p","amount":1,"pad":"` + strings.Repeat("x", 1_150_000) + `"}`)
	invalid := []byte("{" + strings.Repeat("y", 1_000_099))
	for _, v := range [][]byte{huge, invalid} {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	w.produce(t, ev("p1", 1, "2024-06-01T00:00:00Z"), ev("p2", 2, "2024-06-01T00:00:00Z"), ev("p3", 3, "2024-06-01T00:00:00Z"))
	b := w.waitFor(t, func(b books) bool { return b.processed == 3 })
	if b.dead != 2 || b.sum != 6 {
		t.Fatalf("books %+v", b)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
