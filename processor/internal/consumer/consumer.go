// Package consumer runs the processor's consumer-group loop on the raw topic.
//
// The loop polls a batch, hands it to the pipeline, and commits the batch's
// offsets only after the pipeline returned nil (every record durable). A
// batch is the fetch the client buffered meanwhile plus the one fetched right
// after it (collect), so it holds what arrived up to about now. Auto
// commit is off and BlockRebalanceOnPoll is on, so a rebalance can only
// happen between batches: a partition is never revoked while its records are
// being written, and nothing is committed for records that are not durable.
// While the pipeline retries a failing write the loop does not poll again, so
// a later commit can never skip past an unwritten record.
//
// If this member was fenced out meanwhile (session timeout, SIGSTOP), its
// commit is refused by the broker; the new owner reprocesses the records and
// the idempotent writes make that harmless.
package consumer

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tally-dev/tally/processor/internal/pipeline"
)

// Processor makes a batch durable; nil means the batch may be committed.
// Forget is called for partitions assigned, revoked or lost: what it knew of
// them may be stale once another member has owned them. Positions returns,
// for newly assigned partitions, the offset up to which every record is
// already counted; consumption resumes there.
type Processor interface {
	Process(ctx context.Context, records []*kgo.Record) (pipeline.Result, error)
	Forget(topic string, partitions []int32)
	Positions(ctx context.Context, topic string, partitions []int32) (map[int32]int64, error)
	// WaitMarks waits for the work a processed batch leaves running (the
	// seen-set's mark): before partitions change hands and at shutdown.
	WaitMarks(ctx context.Context) error
}

// Options configure a Consumer.
type Options struct {
	// Client options (brokers, SASL/TLS); the consumer adds group settings.
	Client    []kgo.Opt
	Group     string
	Topic     string
	BatchSize int
	Linger    time.Duration
	// ShutdownTimeout bounds how long an in-flight batch may take to finish
	// after Run's context is cancelled.
	ShutdownTimeout time.Duration
	Processor       Processor
	Logger          *slog.Logger
	InstanceID      string
	// GroupInstanceID, when set, makes this a static group member.
	GroupInstanceID string
}

// Consumer is one member of the processor consumer group.
type Consumer struct {
	o  Options
	cl *kgo.Client

	mu       sync.Mutex
	assigned map[int32]bool
	batches  int64
}

// New creates the group client; it connects lazily.
func New(o Options) (*Consumer, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Consumer{o: o, assigned: make(map[int32]bool)}
	opts := append(slices.Clone(o.Client),
		kgo.ConsumerGroup(o.Group),
		kgo.ConsumeTopics(o.Topic),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		// Committed data only: records of aborted transactions are never
		// counted. Control records (transaction markers) are kept, so the
		// pipeline counts their offsets and commits past them: otherwise lag
		// never reaches zero behind a marker and the books never balance.
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		// Fewer, larger batches: the broker holds a fetch until 1 MiB is
		// there or Linger has passed, so a trickle becomes a few inserts a
		// second instead of one per poll (every insert is a part
		// ClickHouse merges later, on the cores the queries need).
		kgo.FetchMaxWait(max(o.Linger, 10*time.Millisecond)),
		kgo.FetchMinBytes(fetchMinBytes(o.Linger)),
		// Bounded memory: the client buffers one fetch per broker, and a
		// fetch's compressed bytes grow 5-10x once decompressed into
		// records (JSON compresses well). 2 MiB is still about three
		// batches of 20,000 records; more only costs memory (issue #14:
		// 64 MiB kept ~650 MB of fetched records alive while draining a
		// backlog, 8 MiB ~90 MB).
		kgo.FetchMaxBytes(2<<20),
		kgo.FetchMaxPartitionBytes(512<<10),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(15*time.Second),
		kgo.RebalanceTimeout(60*time.Second),
		// Resume each assigned partition at the read model's position, not
		// only at the group's commit: after a crash between the read model's
		// write and the commit nothing is processed twice, and if
		// ClickHouse lost recent data (a restore), the records it lost are
		// read again. Records below the position are skipped by the
		// pipeline anyway, so falling back to the commit is always safe.
		kgo.AdjustFetchOffsetsFn(func(ctx context.Context, m map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
			for topic, parts := range m {
				ps := make([]int32, 0, len(parts))
				for p := range parts {
					ps = append(ps, p)
				}
				pos, err := o.Processor.Positions(ctx, topic, ps)
				if err != nil {
					o.Logger.Warn("reading read-model positions failed; resuming at the group's commits", "err", err)
					continue
				}
				for p, off := range pos {
					if off > 0 {
						parts[p] = kgo.NewOffset().At(off).WithEpoch(-1)
					}
				}
			}
			return m, nil
		}),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			o.Processor.Forget(o.Topic, m[o.Topic])
			c.mu.Lock()
			for _, p := range m[o.Topic] {
				c.assigned[p] = true
			}
			c.mu.Unlock()
			o.Logger.Info("partitions assigned", "partitions", m[o.Topic])
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			c.forget(m[o.Topic])
			o.Logger.Info("partitions revoked", "partitions", m[o.Topic])
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			c.forget(m[o.Topic])
			o.Logger.Warn("partitions lost", "partitions", m[o.Topic])
		}),
	)
	if o.InstanceID != "" {
		opts = append(opts, kgo.ClientID("tally-"+o.InstanceID))
	}
	if o.GroupInstanceID != "" {
		opts = append(opts, kgo.InstanceID(o.GroupInstanceID))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	c.cl = cl
	return c, nil
}

func (c *Consumer) forget(ps []int32) {
	c.waitMarks()
	c.o.Processor.Forget(c.o.Topic, ps)
	c.mu.Lock()
	for _, p := range ps {
		delete(c.assigned, p)
	}
	c.mu.Unlock()
}

// waitMarks lets the last batch's mark land (5 s at most), so the next
// owner of a partition, or the next start, finds the seen-set's watermark
// where the read model is instead of healing a batch's worth of ids.
func (c *Consumer) waitMarks() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.o.Processor.WaitMarks(ctx); err != nil {
		c.o.Logger.Warn("the last batch's mark did not land; its partition heals on its next batch", "err", err)
	}
}

// fetchMinBytes is what a fetch waits for, up to the linger: nothing
// without a linger.
func fetchMinBytes(linger time.Duration) int32 {
	if linger <= 0 {
		return 1
	}
	return 1 << 20
}

// Assigned returns the partitions this member owns, sorted.
func (c *Consumer) Assigned() []int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]int32, 0, len(c.assigned))
	for p := range c.assigned {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// Batches is the number of batches committed so far.
func (c *Consumer) Batches() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.batches
}

// Client exposes the underlying client (for lag reporting).
func (c *Consumer) Client() *kgo.Client { return c.cl }

// Run polls, processes and commits until ctx is cancelled, then finishes the
// batch in hand, commits it and leaves the group.
func (c *Consumer) Run(ctx context.Context) error {
	defer c.cl.Close() // leaves the group; nothing uncommitted is committed
	defer c.waitMarks()
	for {
		records, closed := collect(ctx, c.cl.PollRecords, c.o.BatchSize, topUpWait(c.o.Linger), c.fetchError)
		if closed {
			return nil
		}
		if len(records) > 0 {
			if err := c.handle(ctx, records); err != nil {
				c.cl.AllowRebalance()
				return err
			}
		}
		c.cl.AllowRebalance()
		if ctx.Err() != nil {
			return nil
		}
	}
}

func (c *Consumer) fetchError(topic string, p int32, err error) {
	if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		c.o.Logger.Warn("fetch error", "topic", topic, "partition", p, "err", err)
	}
}

// topUpWait bounds the second poll of a batch: one fetch's wait at the
// broker (the linger) and a round trip.
func topUpWait(linger time.Duration) time.Duration {
	return max(linger, 10*time.Millisecond) + 20*time.Millisecond
}

// collect polls one batch of at most limit records: what the client has
// buffered and, when that is less than a full batch, what one more fetch
// brings within wait. The client buffers one fetch per broker and fetches
// again only once it is taken, so the buffered fetch is as old as the batch
// processed meanwhile: alone, it leaves every record that arrived during
// that batch for the batch after next (issue #13: records waited about
// three batch times at 10,000 events/s). The second poll takes them now.
// closed reports that the client was closed.
func collect(ctx context.Context, poll func(context.Context, int) kgo.Fetches, limit int, wait time.Duration,
	onErr func(string, int32, error)) (records []*kgo.Record, closed bool) {
	fetches := poll(ctx, limit)
	if fetches.IsClientClosed() {
		return nil, true
	}
	fetches.EachError(onErr)
	records = fetches.Records()
	if len(records) == 0 || len(records) >= limit || ctx.Err() != nil {
		return records, false
	}
	tctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	more := poll(tctx, limit-len(records))
	if more.IsClientClosed() {
		// The first poll's records are not processed: nothing is
		// committed for them, and the next owner reads them.
		return nil, true
	}
	more.EachError(onErr)
	return append(records, more.Records()...), false
}

// handle processes one batch and commits it. The processing context outlives
// ctx by ShutdownTimeout so a SIGTERM lets the batch finish.
func (c *Consumer) handle(ctx context.Context, records []*kgo.Record) error {
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(c.o.ShutdownTimeout, cancel)
		context.AfterFunc(pctx, func() { t.Stop() })
	})
	defer stop()

	if _, err := c.o.Processor.Process(pctx, records); err != nil {
		return err
	}
	cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer ccancel()
	if err := c.cl.CommitRecords(cctx, records...); err != nil {
		// Fenced or rebalanced away: the next owner reprocesses these
		// records, which the idempotent writes make harmless.
		c.o.Logger.Warn("commit refused; records will be redelivered", "err", err)
		return nil
	}
	c.mu.Lock()
	c.batches++
	c.mu.Unlock()
	return nil
}
