package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"pgregory.net/rapid"

	"github.com/tally-dev/tally/event"
	"github.com/tally-dev/tally/event/schema"
	"github.com/tally-dev/tally/processor/internal/pipeline"
)

func rollup(r *rig, level uint8, client, metric string, at time.Time) (uint64, string) {
	var bucket uint32
	if w := schema.LevelSeconds[level]; w > 0 {
		bucket = uint32(at.Unix() / w * w)
	}
	var count uint64
	var sum event.Sum
	for k, row := range r.store.latest() {
		if k.Kind == schema.KindRollup && k.Level == level && k.Bucket == bucket && k.Client == client && k.Metric == metric {
			count += row.Count
			sum.AddSum(row.Sum)
		}
	}
	return count, sum.Big().String()
}

func counter(r *rig, outcome string) uint64 {
	var n uint64
	for k, row := range r.store.latest() {
		if k.Kind == schema.KindCounter && k.Metric == outcome {
			n += row.Count
		}
	}
	return n
}

func TestResendsAreCountedOnceWithinAndAcrossBatches(t *testing.T) {
	r := newRig(t, 4)
	e := ev("client_A", "purchase", "12.5", "2026-01-02T03:04:05Z")
	for range 3 {
		r.send(e)
	}
	p := r.processor()
	r.drain(p, 2) // the third copy arrives in a second batch
	r.send(e)
	r.drain(p, 10)
	r.check()
	if got := counter(r, schema.OutcomeDuplicate); got != 3 {
		t.Fatalf("duplicates = %d, want 3", got)
	}
}

// Defect 1 of issue #13: a timestamp-less event whose copies are received on
// both sides of a month boundary, with Redis flushed in between, counted in
// both months. First copy wins: it counts once, in the first copy's bucket,
// whatever a later copy's received time.
func TestTimestamplessResendAcrossMonthBoundaryWithRedisFlushedCountsOnceInFirstBucket(t *testing.T) {
	r := newRig(t, 4)
	first := time.Date(2026, 3, 31, 23, 59, 58, 0, time.UTC)
	second := time.Date(2026, 4, 1, 0, 0, 2, 0, time.UTC)
	e := ev("client_A", "purchase", "7", "")
	r.send(e, receivedAt(first))
	p := r.processor()
	r.drain(p, 10)
	r.mr.FlushAll()
	r.send(e, receivedAt(second))
	r.drain(p, 10)
	r.check()
	if n, sum := rollup(r, schema.LevelDay, "client_A", "purchase", first); n != 1 || sum != "7000000000" {
		t.Fatalf("March 31: count %d sum %s, want 1 and 7", n, sum)
	}
	if n, _ := rollup(r, schema.LevelDay, "client_A", "purchase", second); n != 0 {
		t.Fatalf("April 1 counts the resend: %d", n)
	}
	if n, _ := rollup(r, schema.LevelAll, "client_A", "purchase", time.Time{}); n != 1 {
		t.Fatalf("all time: %d, want 1", n)
	}
}

// The same with Redis down (not flushed) for the resend: the decision comes
// from the store.
func TestTimestamplessResendWithRedisDownIsDecidedFromTheStore(t *testing.T) {
	r := newRig(t, 4)
	e := ev("client_A", "purchase", "7", "")
	r.send(e, receivedAt(time.Date(2026, 3, 31, 23, 59, 58, 0, time.UTC)))
	r.drain(r.processor(), 10)
	r.mr.Close()
	r.send(e, receivedAt(time.Date(2026, 4, 1, 0, 0, 2, 0, time.UTC)))
	r.drain(r.processor(), 10)
	r.check()
	if got := counter(r, schema.OutcomeDuplicate); got != 1 {
		t.Fatalf("duplicates = %d, want 1", got)
	}
}

// slowStore is a store whose reads take time and honour their deadline, as
// ClickHouse's do: reading a partition's winners for a heal takes longer
// than one attempt.
type slowStore struct {
	pipeline.Store
	heal time.Duration
}

func (s slowStore) Winners(ctx context.Context, slots []int32, stream string, from int64, each func(string, pipeline.Origin) error) error {
	select {
	case <-time.After(s.heal):
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.Store.Winners(ctx, slots, stream, from, each)
}

func (s slowStore) Lookup(ctx context.Context, ids []pipeline.TenantID) (map[pipeline.TenantID]pipeline.Origin, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.Store.Lookup(ctx, ids)
}

// A heal that takes longer than one attempt still finishes: it is not cut
// off by the attempt's deadline and started over in the next attempt (which
// wedged a processor after Redis restarted empty under 10M events).
func TestAHealLongerThanAnAttemptFinishes(t *testing.T) {
	r := newRig(t, 4)
	for i := range 20 {
		r.send(ev(fmt.Sprintf("client_%d", i), "purchase", "1", "2026-03-01T00:00:00Z"))
	}
	r.drain(r.processor(), 100)
	r.mr.FlushAll() // Redis restarted empty: the next batch heals
	r.attempt = 50 * time.Millisecond
	r.wrap = func(s pipeline.Store) pipeline.Store { return slowStore{Store: s, heal: 150 * time.Millisecond} }
	for i := range 20 {
		r.send(ev(fmt.Sprintf("client_%d", i), "purchase", "1", "2026-03-01T00:00:00Z")) // resends
	}
	p := r.processor()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	recs := r.log.poll([]int32{0, 1, 2, 3}, 100)
	if _, err := p.Process(ctx, recs); err != nil {
		t.Fatalf("the batch never got past its heal: %v", err)
	}
	r.log.commit(recs)
	r.check()
	if got := counter(r, schema.OutcomeDuplicate); got != 20 {
		t.Fatalf("duplicates = %d, want 20", got)
	}
}

// Defect 2 of issue #13: a reused idempotency key with other content counted
// twice. First copy wins; the second is a conflict, counted nowhere else.
func TestReusedKeyWithOtherContentIsAConflictAndFirstCopyWins(t *testing.T) {
	r := newRig(t, 4)
	r.send(keyed("client_A", "k-1", "purchase", "5"))
	p := r.processor()
	r.drain(p, 10)
	r.mr.FlushAll() // not even Redis's memory is needed
	r.send(keyed("client_A", "k-1", "refund", "7"))
	r.drain(p, 10)
	r.check()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if n, sum := rollup(r, schema.LevelAll, "client_A", "purchase", at); n != 1 || sum != "5000000000" {
		t.Fatalf("purchase: count %d sum %s, want 1 and 5", n, sum)
	}
	if n, _ := rollup(r, schema.LevelAll, "client_A", "refund", at); n != 0 {
		t.Fatalf("the conflicting copy is counted: %d", n)
	}
	if got := counter(r, schema.OutcomeConflict); got != 1 {
		t.Fatalf("conflicts = %d, want 1", got)
	}
	for _, d := range r.store.dups {
		if !d.Conflict || d.Event.Metric != "refund" || string(d.Raw) == "" {
			t.Fatalf("conflict row %+v: must keep what the copy said", d)
		}
	}
}

func TestStraysAreForwardedToTheirOwnerAndCountedThere(t *testing.T) {
	r := newRig(t, 4)
	e := ev("client_A", "purchase", "3", "2026-01-02T03:04:05Z")
	owner := event.OwnerPartition("client_A", 4)
	wrong := (owner + 1) % 4
	r.log.produce(wrong, []byte(e)) // a Kafka-native producer keyed by something else
	r.log.produce(wrong, []byte(e))
	r.send(e)
	r.drain(r.processor(), 10)
	r.check()
	if got := counter(r, schema.OutcomeForwarded); got != 2 {
		t.Fatalf("forwarded = %d, want 2", got)
	}
	if n, _ := rollup(r, schema.LevelAll, "client_A", "purchase", time.Time{}); n != 1 {
		t.Fatalf("count = %d, want 1", n)
	}
	for _, f := range r.store.forwarded {
		if f.To.Partition != owner {
			t.Fatalf("forwarded to %d, owner is %d", f.To.Partition, owner)
		}
	}
}

func TestGapsAreSkippedOffsetsAndTheBooksBalance(t *testing.T) {
	r := newRig(t, 2)
	r.send(ev("client_A", "m", "1", "2026-01-02T03:04:05Z"))
	part := event.OwnerPartition("client_A", 2)
	r.log.gap(part) // an aborted transaction's record
	r.log.gap(part) // its abort marker (read_committed delivers neither here)
	r.send(ev("client_A", "m", "2", "2026-01-02T03:04:05Z"))
	r.send(`{"clientId":"client_A","amount":"lots"}`)
	r.log.produce(part, nil)
	r.log.produce(part, []byte(`{"clientId":`))
	r.drain(r.processor(), 10)
	r.check()
	if got := counter(r, schema.OutcomeSkipped); got != 2 {
		t.Fatalf("skipped = %d, want 2", got)
	}
}

// Every crash point of docs/design/read-model.md, R5: after the rows, after
// the read model, after the Redis marks (Redis first marked, then flushed,
// or not), and outages that fail a step and are retried.
func TestCrashAtEveryPointIsExact(t *testing.T) {
	for _, groups := range []int{1, 2} {
		for _, step := range []string{"write", "state"} {
			for _, flush := range []bool{false, true} {
				t.Run(fmt.Sprintf("groups=%d/after-%s/flush=%v", groups, step, flush), func(t *testing.T) {
					r := newRig(t, 2)
					r.groups = groups
					for i := range 5 {
						r.send(ev("client_A", "m", fmt.Sprint(i), "2026-01-02T03:04:05Z"))
						r.send(ev("client_B", "m", "1", "")) // one timestamp-less event, resent
					}
					var crashed atomic.Bool
					ctx, cancel := context.WithCancel(context.Background())
					p := r.processor()
					r.store.after = func(s string) error {
						if s == step && crashed.CompareAndSwap(false, true) {
							cancel() // the process dies right after the step
							return errCrash
						}
						return nil
					}
					recs := r.log.poll([]int32{0, 1}, 3)
					if _, err := p.Process(ctx, recs); !errors.Is(err, context.Canceled) {
						t.Fatalf("crashed batch returned %v", err)
					}
					if flush {
						r.mr.FlushAll()
					}
					r.store.after = nil
					r.drain(r.processor(), 4) // a new process, other batch boundaries
					r.check()
				})
			}
		}
	}
}

// A batch's partition groups are written side by side: each group's write
// waits until the other's has started (written one after the other, the
// first would wait for ever).
func TestPartitionGroupsAreWrittenSideBySide(t *testing.T) {
	r := newRig(t, 2)
	r.groups = 2
	for i := range 4 {
		r.send(ev("client_A", "m", fmt.Sprint(i), "2026-01-02T03:04:05Z"))
		r.send(ev("client_B", "m", fmt.Sprint(i), "2026-01-02T03:04:05Z"))
	}
	var arrived sync.WaitGroup
	arrived.Add(2)
	r.wrap = func(s pipeline.Store) pipeline.Store { return barrierStore{Store: s, arrived: &arrived} }
	recs := r.log.poll([]int32{0, 1}, 10)
	if parts := partitionsOf(recs); len(parts) != 2 {
		t.Fatalf("the batch holds partitions %v; the test needs both", parts)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := r.processor().Process(ctx, recs); err != nil {
		t.Fatalf("process: %v (the groups were written one after the other)", err)
	}
	r.log.commit(recs)
	r.wrap = nil
	r.drain(r.processor(), 10)
	r.check()
}

// barrierStore's first Write of each caller waits until two have arrived.
type barrierStore struct {
	pipeline.Store
	arrived *sync.WaitGroup
}

func (b barrierStore) Write(ctx context.Context, batch pipeline.Batch) error {
	b.arrived.Done()
	waited := make(chan struct{})
	go func() { b.arrived.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-ctx.Done():
		return ctx.Err()
	}
	return b.Store.Write(ctx, batch)
}

func partitionsOf(recs []*kgo.Record) []int32 {
	var out []int32
	for _, r := range recs {
		if !slices.Contains(out, r.Partition) {
			out = append(out, r.Partition)
		}
	}
	return out
}

func TestOutagesAreRetriedUntilDurable(t *testing.T) {
	r := newRig(t, 2)
	r.send(ev("client_A", "m", "1", "2026-01-02T03:04:05Z"))
	r.store.fail = 3
	r.fwd.fail = false
	p := r.processor()
	res, err := p.Process(context.Background(), r.log.poll([]int32{0, 1}, 10))
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts < 4 {
		t.Fatalf("attempts = %d, want ≥ 4 (three failures, then success)", res.Attempts)
	}
	r.log.commit(r.log.poll([]int32{0, 1}, 10))
	r.check()
}

func TestShutdownDuringOutageWritesNoReadModel(t *testing.T) {
	r := newRig(t, 2)
	r.send(ev("client_A", "m", "1", "2026-01-02T03:04:05Z"))
	r.store.fail = 1 << 30
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := r.processor().Process(ctx, r.log.poll([]int32{0, 1}, 10)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Process = %v, want the context's error", err)
	}
	if len(r.store.state) != 0 {
		t.Fatal("state written although the batch never became durable")
	}
	if n, _ := r.rc.Keys(context.Background(), "tally:*").Result(); len(n) != 0 {
		t.Fatalf("redis marked during an outage: %v", n)
	}
}

// A zombie — a processor fenced out of the group that still finishes its
// batch — and the new owner process the same partition at once. Rows are
// correct whoever writes them, and the highest version wins.
func TestZombieAndNewOwnerTogetherStayExact(t *testing.T) {
	r := newRig(t, 1)
	for i := range 20 {
		r.send(ev("client_A", "m", fmt.Sprint(i%7), fmt.Sprintf("2026-01-02T03:04:%02dZ", i%7)))
	}
	zombie, owner := r.processor(), r.processor()
	all := r.log.poll([]int32{0}, 100)
	// The owner takes the first 12 and commits; the zombie, which had polled
	// the first 15 before it was fenced, writes them late.
	if _, err := owner.Process(context.Background(), all[:12]); err != nil {
		t.Fatal(err)
	}
	r.log.commit(all[:12])
	if _, err := zombie.Process(context.Background(), all[:15]); err != nil {
		t.Fatal(err)
	}
	// The owner continues from its commit, with boundaries of its own.
	if _, err := owner.Process(context.Background(), all[12:18]); err != nil {
		t.Fatal(err)
	}
	r.log.commit(all[12:18])
	r.drain(owner, 100)
	r.check()
}

// The property: any interleaving of resends, conflicts, strays, gaps, bad
// input, crashes at any step, Redis flushes and outages, and batch
// boundaries ends with exactly the truth computed from the log alone.
func TestReadModelIsExactUnderAnyFaults(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		r := newRig(t, 3)
		defer r.mr.Close()
		// A tiny cache makes batches evict and read rows back.
		r.cacheRows = rapid.SampledFrom([]int{0, 1, 8}).Draw(t, "cacheRows")
		// The index of series: kept, overflowing, or none.
		r.maxSeries = rapid.SampledFrom([]int{0, 1, -1}).Draw(t, "maxSeries")
		// Partition groups written side by side, or the batch as one.
		r.groups = rapid.IntRange(1, 3).Draw(t, "groups")
		seed := rapid.Uint64().Draw(t, "seed")
		rng := rand.New(rand.NewPCG(seed, seed))
		clients := []string{"client_A", "client_B", "c3", "ünï"}
		var pool []string
		for i := range 12 {
			c := clients[rng.IntN(len(clients))]
			switch rng.IntN(4) {
			case 0:
				pool = append(pool, ev(c, "m"+fmt.Sprint(i%3), fmt.Sprint(rng.IntN(100)), ""))
			case 1:
				pool = append(pool, keyed(c, "k"+fmt.Sprint(rng.IntN(4)), "m"+fmt.Sprint(rng.IntN(2)), fmt.Sprint(rng.IntN(9))))
			default:
				ts := time.Date(2026, 3, 31, 23, 58+rng.IntN(3), rng.IntN(60), rng.IntN(1000)*1e6, time.UTC)
				pool = append(pool, ev(c, "m"+fmt.Sprint(i%3), fmt.Sprintf("%d.%03d", rng.IntN(50), rng.IntN(1000)),
					ts.Format(time.RFC3339Nano)))
			}
		}
		steps := rapid.IntRange(5, 40).Draw(t, "steps")
		p := r.processor()
		all := []int32{0, 1, 2}
		received := time.Date(2026, 3, 31, 23, 59, 0, 0, time.UTC)
		for range steps {
			switch op := rng.IntN(12); {
			case op < 5:
				received = received.Add(time.Duration(rng.IntN(3000)) * time.Millisecond)
				r.send(pool[rng.IntN(len(pool))], receivedAt(received))
			case op == 5:
				r.log.produce(int32(rng.IntN(3)), []byte(pool[rng.IntN(len(pool))]), receivedAt(received)) // stray or not
			case op == 6:
				r.log.gap(int32(rng.IntN(3)))
			case op == 7:
				r.log.produce(int32(rng.IntN(3)), []byte(`{"clientId":"client_A","amount":"NaN"}`))
			case op == 8:
				r.mr.FlushAll()
			case op == 9:
				r.seenOff = !r.seenOff
				p = r.processor() // a restart with or without Redis
			default:
				// Process one batch; maybe crash after a step.
				recs := r.log.poll(all, 1+rng.IntN(4))
				if len(recs) == 0 {
					continue
				}
				ctx, cancel := context.WithCancel(context.Background())
				crashAt := []string{"", "", "write", "state"}[rng.IntN(4)]
				r.store.after = func(s string) error {
					if s == crashAt {
						cancel()
						return errCrash
					}
					return nil
				}
				_, err := p.Process(ctx, recs)
				r.store.after = nil
				cancel()
				if err != nil {
					p = r.processor() // crashed: a new process, nothing committed
					continue
				}
				r.log.commit(recs)
			}
		}
		r.drain(r.processor(), 5)
		r.check()
	})
}

// Events arriving in time order make new minute and ten-minute rows in
// almost every batch, and a new client makes new rows at every level.
// Those keys cannot exist — past the partition's newest bucket, or of a
// series without an all-time row — so they are not read from the store
// (issue #14: reading them took a third of a backfill batch and 96 of 277
// ms of a live one). The keys of rows that exist still are, also after the
// cache dropped them, also by a new process, and the totals stay exact.
func TestNewRollupRowsAreNotReadFromTheStore(t *testing.T) {
	for _, maxSeries := range []int{0, 1} {
		t.Run(fmt.Sprintf("maxSeries=%d", maxSeries), func(t *testing.T) {
			r := newRig(t, 1)
			r.cacheRows, r.maxSeries = 1, maxSeries // every batch evicts: rows that exist are read back
			at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
			for i := range 60 {
				client := "client_A"
				if i%5 == 4 {
					client = fmt.Sprint("new_", i) // a new series in a bucket that has rows
				}
				r.send(ev(client, "m", fmt.Sprint(i), at.Add(time.Duration(i/2)*97*time.Second).Format(time.RFC3339)))
			}
			p := r.processor()
			r.drain(p, 7)
			r.send(ev("client_A", "m", "5", at.Format(time.RFC3339)))                    // an old bucket again
			r.send(ev("new_4", "m", "5", at.Add(2*97*time.Second).Format(time.RFC3339))) // new_4's own buckets
			r.drain(r.processor(), 7)                                                    // a new process
			r.check()
			read, missed := r.store.rollupReads(false)
			switch {
			case read == 0:
				t.Fatal("no rollup key was read back: existing rows must be")
			case maxSeries == 0 && missed*10 > read:
				// One kind of absent key is still read: a known series in
				// a bucket another series opened after it (here client_A's
				// minute 10:27, opened by new_34). Without the index, 74 of
				// 109 keys read were absent.
				t.Fatalf("%d of %d rollup keys read from the store did not exist", missed, read)
			case maxSeries == 1 && missed == 0:
				// Past the bound, new series in old buckets are read (and
				// found absent): the index no longer knows them.
				t.Fatal("with the series index overflowing, no absent key was read: the bound is not applied")
			}
		})
	}
}

// A backfill — history arriving after live data, into time buckets that
// hold no rows — makes keys below the partition's newest bucket that still
// cannot exist: the index knows which buckets hold rows (issue #14: loading
// them was half of a backfill's batch time into a live store). Past the
// index's bound, such keys are read again, and found absent.
func TestBackfillRollupRowsAreNotReadFromTheStore(t *testing.T) {
	for _, maxWords := range []int{0, 1} {
		t.Run(fmt.Sprintf("maxBucketWords=%d", maxWords), func(t *testing.T) {
			r := newRig(t, 1)
			r.cacheRows, r.maxWords = 1, maxWords // every batch evicts: rows that exist are read back
			live := time.Date(2026, 5, 30, 10, 0, 0, 0, time.UTC)
			for i := range 20 {
				r.send(ev("client_A", "m", fmt.Sprint(i), live.Add(time.Duration(i)*time.Second).Format(time.RFC3339)))
			}
			r.drain(r.processor(), 7)
			history := live.Add(-30 * 24 * time.Hour)
			for i := range 40 {
				r.send(ev("client_A", "m", fmt.Sprint(100+i), history.Add(time.Duration(i)*97*time.Second).Format(time.RFC3339)))
			}
			r.send(ev("client_A", "m", "7", live.Format(time.RFC3339))) // a bucket that holds a row
			r.drain(r.processor(), 7)                                   // a new process: the index is read from the store
			r.check()
			read, missed := r.store.rollupReads(false)
			t.Logf("read %d, missed %d", read, missed)
			switch {
			case read == 0:
				t.Fatal("no rollup key was read back: existing rows must be")
			case maxWords == 0 && missed > 0:
				t.Fatalf("%d of %d rollup keys read from the store did not exist", missed, read)
			case maxWords == 1 && missed == 0:
				t.Fatal("with the bucket index overflowing, no absent key was read: the bound is not applied")
			}
		})
	}
}

// A bucket that held no row when the partition was taken on holds only rows
// its owner wrote since, and those are in its cache until evicted: a series
// new to such a bucket (the current minute of a live stream, opened by the
// batch before) is not read either. After an eviction it is again.
func TestRowsOfBucketsOpenedByTheOwnerAreNotReadFromTheStore(t *testing.T) {
	for _, cacheRows := range []int{0, 1} {
		t.Run(fmt.Sprintf("cacheRows=%d", cacheRows), func(t *testing.T) {
			r := newRig(t, 1)
			r.cacheRows = cacheRows
			at := time.Date(2026, 5, 30, 10, 0, 0, 0, time.UTC)
			for i := range 5 { // five known series
				r.send(ev(fmt.Sprint("client_", i), "m", fmt.Sprint(i), at.Format(time.RFC3339)))
			}
			r.drain(r.processor(), 5)
			r.store.rollupReads(true)
			// The next minute, one event a batch: from the second batch on,
			// each brings a known series to a minute its owner opened.
			p := r.processor()
			for i := range 10 {
				r.send(ev(fmt.Sprint("client_", i%5), "m", fmt.Sprint(10+i), at.Add(time.Minute+time.Duration(i)*time.Second).Format(time.RFC3339)))
			}
			r.drain(p, 1)
			r.check()
			read, missed := r.store.rollupReads(false)
			t.Logf("read %d, missed %d", read, missed)
			switch {
			case read == 0:
				t.Fatal("no rollup key was read back: the rows the first process wrote must be")
			case cacheRows == 0 && missed > 0:
				t.Fatalf("%d of %d rollup keys read from the store did not exist; the owner wrote every row of their bucket", missed, read)
			case cacheRows == 1 && missed == 0:
				t.Fatal("with every batch evicting the cache, no absent key was read: eviction must forget which buckets the owner opened")
			}
		})
	}
}

// An eviction that keeps the coarse rows of many series renumbers the
// partition's series (the cache is keyed by series number): the rows it
// keeps must still be the rows of their own series. Eight series, five
// levels each, and a bound that the batch's rows exceed but its coarse rows
// do not: every batch evicts the minute and ten-minute rows and keeps the
// rest, and the next batch adds to what was kept.
func TestEvictionKeepsEachSeriesItsOwnRows(t *testing.T) {
	r := newRig(t, 1)
	r.cacheRows = 40 // 8 series × 5 levels + counters > 40 ≥ 8 × 3 + counters
	p := r.processor()
	at := time.Date(2026, 5, 30, 10, 0, 0, 0, time.UTC)
	for round := range 6 {
		// Each round names the series in another order, so a series'
		// number after an eviction differs from its number before.
		for i := range 8 {
			c := (i*(round+3) + round) % 8
			r.send(ev(fmt.Sprint("client_", c), "m", fmt.Sprint(1+c+10*round),
				at.Add(time.Duration(round*8+i)*time.Second).Format(time.RFC3339)))
		}
		r.drain(p, 100)
	}
	r.check()
}

// A batch's mark runs beside what follows it (the commit, the next poll),
// and the next batch's lookup waits for it: held at the gate, the second
// batch cannot finish (its deadline ends it, nothing written); released,
// it finds the watermark at its own start and heals nothing.
func TestTheNextBatchWaitsForTheMarkOfTheLast(t *testing.T) {
	r := newRig(t, 1)
	for i := range 6 {
		r.send(ev("client_A", "m", fmt.Sprint(i), fmt.Sprintf("2026-01-02T03:04:%02dZ", i)))
	}
	g := &gatedSeen{gate: make(chan struct{})}
	r.wrapSeen = func(s pipeline.SeenSet) pipeline.SeenSet { g.SeenSet = s; return g }
	p := r.processor()
	all := r.log.poll([]int32{0}, 100)
	if _, err := p.Process(context.Background(), all[:3]); err != nil {
		t.Fatal(err) // returned with its mark held at the gate
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err := p.Process(ctx, all[3:])
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the next batch ended with %v before the last one's mark; want it held until its deadline", err)
	}
	close(g.gate)
	if _, err := p.Process(context.Background(), all[3:]); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitMarks(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.log.commit(all)
	r.check()
	if got := g.heals.Load(); got != 1 {
		t.Fatalf("%d heals; want 1 (the first batch's, into an empty Redis): a lookup ran before the mark", got)
	}
}

func TestMarksMoveTheWatermarkOnlyAfterTheReadModel(t *testing.T) {
	r := newRig(t, 1)
	r.send(ev("client_A", "m", "1", "2026-01-02T03:04:05Z"))
	var wmAtState string
	r.store.after = func(step string) error {
		if step == "state" {
			wmAtState, _ = r.rc.Get(context.Background(), "tally:wm:"+stream+":1:0").Result()
		}
		return nil
	}
	r.drain(r.processor(), 10)
	if wmAtState != "0" {
		t.Fatalf("watermark %q when the read model was written; want 0 (set by the first heal, not yet moved)", wmAtState)
	}
	wm, err := r.rc.Get(context.Background(), "tally:wm:"+stream+":1:0").Result()
	if err != nil || wm != "1" {
		t.Fatalf("watermark after the batch = %q, %v; want 1", wm, err)
	}
}

// Partition p is placed on ClickHouse shard p mod shards: a topic whose
// partition count the shards do not divide is refused before anything is
// written (its slots would straddle shards), and one they divide is not.
func TestAPartitionCountTheShardsDoNotDivideIsRefused(t *testing.T) {
	for _, tc := range []struct {
		shards int
		ok     bool
	}{{3, false}, {2, true}, {4, true}} {
		r := newRig(t, 8)
		r.shards = tc.shards
		r.send(ev("c", "m", "1", "2026-01-02T03:04:05Z"))
		// A refused topic is retried (the operator fixes it) and says why.
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		p := r.processor()
		_, err := p.Process(ctx, r.log.poll([]int32{0, 1, 2, 3, 4, 5, 6, 7}, 10))
		cancel()
		if tc.ok != (err == nil) {
			t.Fatalf("%d shards of 8 partitions: err = %v", tc.shards, err)
		}
		if !tc.ok && (!strings.Contains(p.LastError(), "not a multiple of the 3 ClickHouse shards") || len(r.store.winners)+len(r.store.state) > 0) {
			t.Fatalf("last error %q; %d winners and %d state keys written", p.LastError(), len(r.store.winners), len(r.store.state))
		}
	}
}

// A topic deleted and recreated, and the raw log replayed into it (a
// disaster recovery): every record lands at the offset it had before. An
// origin names its stream, so a replayed record is a duplicate of its old
// self, not its own winner again.
func TestReplayIntoARecreatedTopicCountsNothingTwice(t *testing.T) {
	for _, flush := range []bool{false, true} {
		t.Run(fmt.Sprintf("flush=%v", flush), func(t *testing.T) {
			r := newRig(t, 2)
			var sent []string
			for i := range 6 {
				e := ev("client_"+fmt.Sprint(i%3), "m", fmt.Sprint(i), "2026-01-02T03:04:05Z")
				sent = append(sent, e)
				r.send(e)
			}
			r.drain(r.processor(), 4)
			old := r.log
			r.log = newLog(2)
			r.fwd.log = r.log
			r.topicID = "00000000000000000000000000000002"
			if flush {
				r.mr.FlushAll()
			}
			for _, e := range sent {
				r.send(e)
			}
			if r.log.end(0)+r.log.end(1) != old.end(0)+old.end(1) {
				t.Fatal("the replay should reproduce the log")
			}
			r.drain(r.processor(), 4)
			if got := counter(r, schema.OutcomeProcessed); got != 6 {
				t.Fatalf("processed = %d over both incarnations, want 6", got)
			}
			if got := counter(r, schema.OutcomeDuplicate); got != 6 {
				t.Fatalf("duplicates = %d, want 6 (every replayed record)", got)
			}
		})
	}
}

// Issue #15, defect 2: a value the store refuses forever must not stall the
// partition. The pipeline finds the record by bisection, dead-letters it
// with the store's reason, and stores everything else.
func TestARecordTheStoreRefusesIsDeadLetteredAndTheRestStored(t *testing.T) {
	r := newRig(t, 2)
	r.store.refuse = "13"
	for i := range 20 {
		r.send(ev("client_A", "m", fmt.Sprint(i), "2026-01-02T03:04:05Z"))
	}
	r.drain(r.processor(), 50)
	r.check()
	if got := counter(r, schema.OutcomeDeadLettered); got != 1 {
		t.Fatalf("dead letters = %d, want 1", got)
	}
	for _, d := range r.store.dead {
		if !strings.HasPrefix(d.Reason, "store_rejected: ") {
			t.Fatalf("reason %q", d.Reason)
		}
	}
}

// Issue #15, defect 1: a stray the broker refuses (MESSAGE_TOO_LARGE) is
// dead-lettered instead of being retried forever.
func TestAStrayTheBrokerRefusesIsDeadLettered(t *testing.T) {
	r := newRig(t, 4)
	r.fwd.refuse = "client_A"
	e := ev("client_A", "m", "1", "2026-01-02T03:04:05Z")
	owner := event.OwnerPartition("client_A", 4)
	r.log.produce((owner+1)%4, []byte(e))
	r.send(ev("client_B", "m", "2", "2026-01-02T03:04:05Z"))
	r.drain(r.processor(), 10)
	r.check()
	if got := counter(r, schema.OutcomeDeadLettered); got != 1 {
		t.Fatalf("dead letters = %d, want 1", got)
	}
}

// Defect 3 of issue #15: an array element's "<Idempotency-Key>:<index>"
// travels as a fallback, which the element's own key beats — the processor
// must read it exactly as the ingestor's preflight did, or a resent,
// reordered array would get other ids.
func TestFallbackKeyHeaderLosesToTheEventsOwnKey(t *testing.T) {
	r := newRig(t, 1)
	fallback := func(k string) kgo.RecordHeader {
		return kgo.RecordHeader{Key: event.HeaderFallbackIdempotencyKey, Value: []byte(k)}
	}
	r.send(keyed("client_A", "own", "purchase", "5"), fallback("batch:0"))
	r.send(ev("client_A", "purchase", "6", "2026-01-02T03:04:05Z"), fallback("batch:1"))
	// The same two events resent in another order: nothing new.
	r.send(ev("client_A", "purchase", "6", "2026-01-02T03:04:05Z"), fallback("batch:1"))
	r.send(keyed("client_A", "own", "purchase", "5"), fallback("batch:1"))
	r.drain(r.processor(), 10)
	keys := map[string]bool{}
	r.store.mu.Lock()
	for _, w := range r.store.winners {
		keys[w.Event.IdempotencyKey] = true
	}
	r.store.mu.Unlock()
	if len(keys) != 2 || !keys["own"] || !keys["batch:1"] {
		t.Fatalf("stored keys %v, want the event's own key and the fallback of the keyless one", keys)
	}
	if got := counter(r, schema.OutcomeProcessed); got != 2 {
		t.Fatalf("processed = %d, want 2", got)
	}
}
