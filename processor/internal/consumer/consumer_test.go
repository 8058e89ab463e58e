package consumer

import (
	"context"
	"fmt"
	"github.com/twmb/franz-go/pkg/kadm"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tally-dev/tally/processor/internal/pipeline"
)

// ledger is a fake processor that records every (partition, offset) it made
// "durable", and can fail to simulate an outage.
type ledger struct {
	mu        sync.Mutex
	seen      map[[2]int64]int
	controls  int
	failFor   time.Duration
	start     time.Time
	positions map[int32]int64
	forgotten int
}

func (l *ledger) Forget(string, []int32) {
	l.mu.Lock()
	l.forgotten++
	l.mu.Unlock()
}

func (l *ledger) WaitMarks(context.Context) error { return nil }

func (l *ledger) Positions(_ context.Context, _ string, parts []int32) (map[int32]int64, error) {
	out := map[int32]int64{}
	for _, p := range parts {
		out[p] = l.positions[p]
	}
	return out, nil
}

func (l *ledger) Process(ctx context.Context, rs []*kgo.Record) (pipeline.Result, error) {
	for l.failFor > 0 && time.Since(l.start) < l.failFor {
		select {
		case <-ctx.Done():
			return pipeline.Result{}, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range rs {
		if r.Attrs.IsControl() {
			l.controls++
			continue
		}
		l.seen[[2]int64{int64(r.Partition), r.Offset}]++
	}
	return pipeline.Result{Stored: len(rs)}, nil
}

func (l *ledger) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.seen)
}

func cluster(t *testing.T) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, "events.raw"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func produce(t *testing.T, addrs []string, n, from int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.DefaultProduceTopic("events.raw"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	rs := make([]*kgo.Record, n)
	for i := range rs {
		rs[i] = &kgo.Record{Key: []byte(fmt.Sprint(from + i)), Value: []byte(fmt.Sprintf(`{"i":%d}`, from+i))}
	}
	if err := cl.ProduceSync(context.Background(), rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func committed(t *testing.T, addrs []string) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var total int64
	for _, v := range kadmFetch(t, cl) {
		total += v
	}
	return total
}

func start(t *testing.T, ctx context.Context, addrs []string, l *ledger, batch int) (*Consumer, chan error) {
	t.Helper()
	c, err := New(Options{Client: []kgo.Opt{kgo.SeedBrokers(addrs...)}, Group: "g", Topic: "events.raw",
		BatchSize: batch, Linger: 10 * time.Millisecond, ShutdownTimeout: time.Second, Processor: l})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	return c, done
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestThreeMembersShareWorkAndOneLeavesMidStream(t *testing.T) {
	c := cluster(t)
	addrs := c.ListenAddrs()
	l := &ledger{seen: map[[2]int64]int{}}

	ctxs := make([]context.CancelFunc, 3)
	dones := make([]chan error, 3)
	for i := range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		ctxs[i] = cancel
		_, dones[i] = start(t, ctx, addrs, l, 50)
	}
	produce(t, addrs, 1000, 0)
	waitFor(t, "some progress", func() bool { return l.count() > 100 })
	ctxs[0]() // one member leaves mid-stream: it finishes its batch and commits
	if err := <-dones[0]; err != nil {
		t.Fatalf("member 0 stopped with %v", err)
	}
	produce(t, addrs, 1000, 1000)
	waitFor(t, "every record", func() bool { return l.count() == 2000 })
	waitFor(t, "every offset committed", func() bool { return committed(t, addrs) == 2000 })
	for i := 1; i < 3; i++ {
		ctxs[i]()
		if err := <-dones[i]; err != nil {
			t.Fatalf("member %d: %v", i, err)
		}
	}
	if got := l.count(); got != 2000 {
		t.Fatalf("distinct records processed = %d, want 2000", got)
	}
}

func TestNothingIsCommittedWhileTheWriteFails(t *testing.T) {
	c := cluster(t)
	addrs := c.ListenAddrs()
	l := &ledger{seen: map[[2]int64]int{}, failFor: 500 * time.Millisecond, start: time.Now()}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	produce(t, addrs, 100, 0)
	_, done := start(t, ctx, addrs, l, 1000)
	time.Sleep(300 * time.Millisecond)
	if got := committed(t, addrs); got != 0 {
		t.Fatalf("committed %d offsets during the outage", got)
	}
	waitFor(t, "drain after recovery", func() bool { return committed(t, addrs) == 100 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// The consumer resumes each partition at the read model's position when it
// is past the group's commit (a crash after the write, before the commit):
// nothing below it is delivered again.
func TestResumesAtTheReadModelPosition(t *testing.T) {
	c := cluster(t)
	addrs := c.ListenAddrs()
	produce(t, addrs, 200, 0)
	l := &ledger{seen: map[[2]int64]int{}, positions: map[int32]int64{}}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		t.Fatal(err)
	}
	ends, err := kadm.NewClient(cl).ListEndOffsets(context.Background(), "events.raw")
	cl.Close()
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) {
		l.positions[o.Partition] = o.Offset / 2
		total += o.Offset - o.Offset/2
	})
	ctx, cancel := context.WithCancel(context.Background())
	_, done := start(t, ctx, addrs, l, 1000)
	waitFor(t, "the records past the positions", func() bool { return int64(l.count()) == total })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for k := range l.seen {
		if k[1] < l.positions[int32(k[0])] {
			t.Fatalf("record %v below its partition's position %d was delivered", k, l.positions[int32(k[0])])
		}
	}
	if l.forgotten == 0 {
		t.Fatal("the processor was never told to forget assigned partitions")
	}
}

// A transactional producer commits one transaction and aborts another: the
// consumer delivers the committed records and the transaction markers (so
// the pipeline can count their offsets) but never an aborted record, and it
// commits past the last marker, so lag reaches zero.
func TestTransactionsDeliverCommittedRecordsAndMarkers(t *testing.T) {
	c := cluster(t)
	addrs := c.ListenAddrs()
	tx, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.DefaultProduceTopic("events.raw"), kgo.TransactionalID("tx-test"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	ctx := context.Background()
	for i, commit := range []bool{true, false, true} {
		if err := tx.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for j := range 3 {
			if err := tx.ProduceSync(ctx, &kgo.Record{Partition: 0, Value: []byte(fmt.Sprintf(`{"t":%d,"j":%d}`, i, j))}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	l := &ledger{seen: map[[2]int64]int{}}
	cctx, cancel := context.WithCancel(context.Background())
	_, done := start(t, cctx, addrs, l, 1000)
	// 3 transactions × (3 records + 1 marker) = 12 offsets on partition 0.
	waitFor(t, "every offset of partition 0 committed", func() bool {
		cl, _ := kgo.NewClient(kgo.SeedBrokers(addrs...))
		defer cl.Close()
		return kadmFetch(t, cl)[0] == 12
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if l.count() != 6 {
		t.Fatalf("delivered %d data records, want 6 (the aborted transaction's 3 never)", l.count())
	}
	if l.controls != 3 {
		t.Fatalf("delivered %d transaction markers, want 3", l.controls)
	}
}
