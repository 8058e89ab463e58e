// Package pipeline turns batches of raw Kafka records into durable,
// deduplicated rows and an exact read model. It owns Tally's delivery
// contract, stated once here (the reasoning, crash by crash, is in
// docs/design/read-model.md):
//
//  1. classify every record at or past its partition's position (records
//     below it are already counted; see 4): control records and offset gaps
//     are skipped offsets; unreadable records are dead letters; records
//     that break a rule are rejections; events outside their owner
//     partition (murmur2 of the client id) are strays. Each record is
//     normalized in the layout its headers name (normalize.RecordFormat:
//     tally-format as the ingestor writes it, else the CloudEvents Kafka
//     binding), so it gets the id the ingestor's preflight gave it;
//  2. decide, in offset order, which events are winners — the first stored
//     copy of their id — and which are duplicates or conflicts, asking the
//     seen-set (Redis) only below its watermark, healing it first when it
//     lost data, and asking the store when Redis is unreachable;
//  3. forward strays to their owner partitions, dead-letter what must be,
//     and write every row (winners, duplicates, rejections, dead letters,
//     forwarded strays) to the store; then write the batch's read-model rows
//     (rollups, counters, positions) in one insert — retrying the writes
//     with exponential backoff and jitter until they succeed, never skipping
//     a record and never returning early except on shutdown;
//  4. only then mark the winners in the seen-set and move its watermarks.
//
// Process returns nil only after step 3 succeeded, and the caller commits
// offsets only then. Read-model rows carry, as their version, the end
// offset of the batch that wrote them, and hold the exact contribution of
// their partition's offsets below it; that is why a replayed or zombie batch
// can neither lose nor double a count, and why records below a partition's
// position need nothing done again. The pipeline holds no fault injection:
// faults and crash points are wrappers around its ports.
package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tally-dev/tally/event/schema"
)

// Options configure a Pipeline.
type Options struct {
	Normalizer  Normalizer
	Store       Store
	Seen        SeenSet // nil: every decision asks the store
	Forwarder   Forwarder
	DeadLetters DeadLetterer
	Topology    Topology
	// Tenants resolves records' tenants; nil trusts every claim (and gives
	// unclaimed records the default tenant): single-tenant use and tests.
	Tenants Tenants
	Metrics *Metrics
	Logger  *slog.Logger
	// MaxRecordBytes: larger records are dead-lettered unread.
	MaxRecordBytes int
	AttemptTimeout time.Duration
	// HealTimeout bounds one refill of the seen-set from the store
	// (seconds per million remembered ids); it is not cut short by
	// AttemptTimeout.
	HealTimeout  time.Duration
	RetryInitial time.Duration
	RetryMax     time.Duration
	// StateCacheRows bounds the read-model rows kept in memory; past it the
	// cache is dropped and rows are read back from the store.
	StateCacheRows int
	// MaxSeries bounds the series (tenant, client, metric) an owned
	// partition's index keeps (default 200,000, about 20 MB); past it new
	// series are read from the store like any key. Negative: none.
	MaxSeries int
	// MaxBucketWords bounds the index of the time buckets an owned
	// partition's rollup rows hold, in words of 64 buckets of one tenant and
	// level (default 100,000, a few MB; a year of a tenant's minutes is about
	// 9,200). Past it the index no longer tells empty buckets. Negative:
	// none.
	MaxBucketWords int
	// Shards is the ClickHouse shard count when the store places partition
	// p on shard p mod Shards (0 or 1: one server or one shard). A topic
	// whose partition count it does not divide is refused: its partitions'
	// slots would not be on their partition's shard.
	Shards int
	// Groups is how many groups of a batch's partitions are planned and
	// written side by side (0 or 1: the whole batch as one), each of at
	// least GroupMinRecords records (default 5,000).
	Groups          int
	GroupMinRecords int
}

// Pipeline processes batches. Process is for one goroutine at a time;
// Forget may be called concurrently.
type Pipeline struct {
	o       Options
	healthy atomic.Bool
	retries atomic.Int64
	lastErr atomic.Value // string

	mu    sync.Mutex
	parts map[partKey]*partState
	// poison holds records found to fail permanently (a broker that refuses
	// to take a stray, a value ClickHouse refuses): each is dead-lettered
	// with its reason. Another process meets the same refusal, so every
	// process classifies the record the same way.
	poison map[poisonKey]string
	// marking is closed once the last batch's winners are in the seen-set
	// (nil: nothing pending). A batch's mark runs beside the offset commit,
	// the next poll and the next batch's classification; the next batch
	// waits for it before its lookup, which needs the watermark it moves.
	marking chan struct{}
}

type poisonKey struct {
	topic  string
	part   int32
	offset int64
}

type partKey struct {
	topic string
	part  int32
}

// partState is what the pipeline knows of one partition it owns.
type partState struct {
	topic, stream string
	part          int32
	owners        int32 // the topic's partition count
	position      int64 // every offset below it is counted
	rows          map[rowKey]rowVal
	// series numbers the series of rows and of the batch in hand (rowKey);
	// names holds them by number. Rebuilt from the kept rows when the
	// cache is evicted.
	series map[Series]uint32
	names  []Series
	// index tells rollup keys that cannot exist in the store: past the
	// newest bucket of their tenant and level, in a bucket no row is in,
	// or of a series without an all-time row. Read when the partition is
	// taken on, after the position, and extended by every batch written
	// since; only this partition's owner writes its rows, and every winner
	// adds to all levels in one insert. Such keys are not read (a new
	// minute, a backfill, a new client): they start from the zero row, as
	// an absent row would.
	index RollupIndex
	// bucketWords counts the words of index.Buckets.
	bucketWords int
	// opened marks the buckets that held no row when the partition was
	// taken on and that this owner has written since: every row they hold
	// is in rows, until an eviction drops their level's rows.
	opened map[TenantLevel]BucketWords
}

// intern returns the number of series s in the partition's series table.
func (ps *partState) intern(s Series) uint32 {
	n, ok := ps.series[s]
	if !ok {
		n = uint32(len(ps.names))
		ps.series[s] = n
		ps.names = append(ps.names, s)
	}
	return n
}

// stateKey is k in the store's terms.
func (ps *partState) stateKey(k rowKey) StateKey {
	s := ps.names[k.series]
	return StateKey{Tenant: s.Tenant, Kind: k.kind, Level: k.level, Bucket: k.bucket, Client: s.Client, Metric: s.Metric,
		Stream: ps.stream, Part: ps.part}
}

// absent reports whether rollup key k is known not to exist in the store.
func (ps *partState) absent(k rowKey) bool {
	if k.kind != schema.KindRollup {
		return false
	}
	s := ps.names[k.series]
	tl := TenantLevel{s.Tenant, k.level}
	if ps.opened[tl].Holds(k.level, k.bucket) {
		return true // its rows are all in the cache, and k is not
	}
	if !ps.mayHold(tl, k.bucket) {
		return true
	}
	if ps.index.Series == nil {
		return false
	}
	_, ok := ps.index.Series[s]
	return !ok
}

// mayHold reports whether bucket may hold a row in the store as far as the
// index knows: not past the newest bucket, and not a bucket no series has
// a row in (a backfill into an empty range).
func (ps *partState) mayHold(tl TenantLevel, bucket uint32) bool {
	if h, ok := ps.index.High[tl]; !ok || bucket > h {
		return false
	}
	return ps.index.Buckets == nil || ps.index.Buckets[tl].Holds(tl.Level, bucket)
}

// wrote extends the index with a written rollup key.
func (ps *partState) wrote(k rowKey, maxSeries, maxWords int) {
	s := ps.names[k.series]
	tl := TenantLevel{s.Tenant, k.level}
	if ps.opened[tl].Holds(k.level, k.bucket) || !ps.mayHold(tl, k.bucket) {
		if ps.opened == nil {
			ps.opened = make(map[TenantLevel]BucketWords)
		}
		if ps.opened[tl] == nil {
			ps.opened[tl] = make(BucketWords)
		}
		ps.opened[tl].Mark(k.level, k.bucket)
	}
	if h, ok := ps.index.High[tl]; !ok || k.bucket > h {
		ps.index.High[tl] = k.bucket
	}
	if ps.index.Buckets != nil {
		bw := ps.index.Buckets[tl]
		if bw == nil {
			bw = make(BucketWords)
			ps.index.Buckets[tl] = bw
		}
		if bw.Mark(k.level, k.bucket) {
			if ps.bucketWords++; ps.bucketWords > maxWords {
				ps.index.Buckets = nil // too many to keep: unknown from now on
			}
		}
	}
	if ps.index.Series != nil && k.level == schema.LevelAll {
		ps.index.Series[s] = struct{}{}
		if len(ps.index.Series) > maxSeries {
			ps.index.Series = nil // too many to keep: unknown from now on
		}
	}
}

// New returns a pipeline.
func New(o Options) *Pipeline {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil)
	}
	if o.RetryInitial <= 0 {
		o.RetryInitial = 100 * time.Millisecond
	}
	if o.RetryMax < o.RetryInitial {
		o.RetryMax = 5 * time.Second
	}
	if o.HealTimeout <= 0 {
		o.HealTimeout = 15 * time.Minute
	}
	if o.AttemptTimeout <= 0 {
		o.AttemptTimeout = 30 * time.Second
	}
	if o.MaxRecordBytes <= 0 {
		o.MaxRecordBytes = 1 << 20
	}
	if o.MaxSeries == 0 {
		o.MaxSeries = 200_000
	}
	if o.MaxBucketWords == 0 {
		o.MaxBucketWords = 100_000
	}
	if o.GroupMinRecords <= 0 {
		// A group costs an insert per table, and small inserts cost
		// ClickHouse merges: at 10,000 events/s (batches of 1,500-4,000
		// records) two groups added a third to ClickHouse's CPU and made
		// freshness no better; a backlog's batches of 18,000 split in two
		// drained faster (docs/benchmarks/2026-12-02-processor-cpu.md).
		o.GroupMinRecords = 5000
	}
	if o.StateCacheRows <= 0 {
		o.StateCacheRows = 100_000
	}
	p := &Pipeline{o: o, parts: make(map[partKey]*partState), poison: make(map[poisonKey]string)}
	p.healthy.Store(true)
	p.lastErr.Store("")
	return p
}

// Healthy reports whether the last attempt succeeded; readiness follows it.
func (p *Pipeline) Healthy() bool { return p.healthy.Load() }

// Retries counts failed attempts since start.
func (p *Pipeline) Retries() int64 { return p.retries.Load() }

// LastError is the most recent error, or "".
func (p *Pipeline) LastError() string { return p.lastErr.Load().(string) }

// Forget drops what the pipeline knows of partitions of topic: call it when
// they are assigned, revoked or lost. Another process may have counted
// records meanwhile, so nothing cached may survive an ownership change.
func (p *Pipeline) Forget(topic string, partitions []int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, part := range partitions {
		delete(p.parts, partKey{topic, part})
	}
}

// Positions loads the given partitions of topic and returns, for each, the
// offset below which every record is counted (0 when nothing is).
func (p *Pipeline) Positions(ctx context.Context, topic string, partitions []int32) (map[int32]int64, error) {
	out := make(map[int32]int64, len(partitions))
	for _, part := range partitions {
		ps, err := p.partition(ctx, topic, part)
		if err != nil {
			return nil, err
		}
		out[part] = ps.position
	}
	return out, nil
}

// Result summarizes one processed batch.
type Result struct {
	Stored, Duplicates, Conflicts, Rejected, DeadLettered, Forwarded, Skipped, Attempts int
}

// Process makes records durable following the contract in the package doc.
// It returns nil when every record is durably accounted for, or ctx's error
// if ctx ends first (nothing may be committed then).
//
// A batch's partitions are split into up to Options.Groups groups (of at
// least Options.GroupMinRecords records), each planned and written on its
// own goroutine: every step of the contract is
// per partition (positions, read-model rows, seen-set watermarks, winners:
// an id's copies all sit in its owner partition), so groups share nothing a
// step depends on — the same independence that lets several processes own
// a topic's partitions. While one group waits for ClickHouse the other
// classifies. Read-model caches move, and the seen-set is marked, only once
// every group has returned.
func (p *Pipeline) Process(ctx context.Context, records []*kgo.Record) (Result, error) {
	if len(records) == 0 {
		return Result{}, nil
	}
	start := time.Now()
	groups := splitGroups(records, min(p.o.Groups, len(records)/p.o.GroupMinRecords))
	done := make([]groupDone, len(groups))
	if len(groups) == 1 {
		done[0] = p.processGroup(ctx, groups[0])
	} else {
		var wg sync.WaitGroup
		for i, g := range groups {
			wg.Go(func() { done[i] = p.processGroup(ctx, g) })
		}
		wg.Wait()
	}
	var res Result
	var err error
	var marks []Marks
	m := p.o.Metrics
	for _, d := range done {
		res.add(d.res)
		if d.err != nil {
			err = cmp.Or(err, d.err)
			continue
		}
		// Durable: the caches may move to it, whatever another group met.
		p.commitPlan(d.pl)
		marks = append(marks, d.pl.marks...)
		m.Consumed.Add(float64(d.records))
		m.Processed.Add(float64(d.res.Stored))
		m.Duplicates.Add(float64(d.res.Duplicates))
		m.Conflicts.Add(float64(d.res.Conflicts))
		m.Rejected.Add(float64(d.res.Rejected))
		m.DeadLettered.Add(float64(d.res.DeadLettered))
		m.Forwarded.Add(float64(d.res.Forwarded))
		m.Skipped.Add(float64(d.res.Skipped))
	}
	p.bound()
	p.markBeside(ctx, marks)
	if err != nil {
		return res, err
	}
	m.BatchSeconds.Observe(time.Since(start).Seconds())
	m.BatchRecords.Observe(float64(len(records)))
	return res, nil
}

// groupDone is what one group of a batch came to.
type groupDone struct {
	pl      *plan // written when err is nil
	res     Result
	records int
	err     error
}

// processGroup plans and writes one group's records (steps 1–3).
func (p *Pipeline) processGroup(ctx context.Context, records []*kgo.Record) groupDone {
	var pl *plan
	attempts := 0
	for {
		// Heals get the batch's context, not the attempt's: a full heal of
		// a large partition can take longer than an attempt, and cutting it
		// off would start it over in every attempt, for ever.
		err := p.retry(ctx, &attempts, "plan batch", func(actx context.Context) error {
			var err error
			pl, err = p.plan(actx, ctx, records)
			return err
		})
		if err != nil {
			return groupDone{res: Result{Attempts: attempts}, err: err}
		}
		err = p.retry(ctx, &attempts, "write batch", func(ctx context.Context) error { return p.write(ctx, pl) })
		if errors.Is(err, errPoison) {
			continue // plan again, with the poison dead-lettered
		}
		res := pl.result()
		res.Attempts = attempts
		if err != nil {
			return groupDone{res: res, err: err}
		}
		written := time.Now()
		for _, r := range records {
			p.o.Metrics.RecordDelay.Observe(max(0, written.Sub(r.Timestamp).Seconds()))
		}
		return groupDone{pl: pl, res: res, records: len(records)}
	}
}

// splitGroups splits a poll into at most n groups of whole partitions with
// about as many records each (the largest partitions placed first, each in
// the group holding the fewest records so far), each partition's records in
// offset order.
func splitGroups(records []*kgo.Record, n int) [][]*kgo.Record {
	parts := groupByPartition(records)
	if n <= 1 || len(parts) <= 1 {
		return [][]*kgo.Record{records}
	}
	n = min(n, len(parts))
	slices.SortStableFunc(parts, func(a, b partitionGroup) int { return len(b.records) - len(a.records) })
	out := make([][]*kgo.Record, n)
	for _, g := range parts {
		least := 0
		for i := range out {
			if len(out[i]) < len(out[least]) {
				least = i
			}
		}
		out[least] = append(out[least], g.records...)
	}
	return out
}

func (r *Result) add(o Result) {
	r.Stored += o.Stored
	r.Duplicates += o.Duplicates
	r.Conflicts += o.Conflicts
	r.Rejected += o.Rejected
	r.DeadLettered += o.DeadLettered
	r.Forwarded += o.Forwarded
	r.Skipped += o.Skipped
	r.Attempts += o.Attempts
}

// errPoison means records were found that fail permanently; the batch is
// planned again with them dead-lettered.
var errPoison = errors.New("poison records found; planning again")

// errStale means the read model moved under the plan (another process
// counted records of a partition this one owns); the plan is made again at
// once.
var errStale = errors.New("read model moved; planning again")

// retry runs f until it succeeds or ctx ends, with full-jitter exponential
// backoff, keeping the pipeline unhealthy while it fails.
func (p *Pipeline) retry(ctx context.Context, attempts *int, what string, f func(context.Context) error) error {
	delay := p.o.RetryInitial
	for {
		*attempts++
		actx, cancel := context.WithTimeout(ctx, p.o.AttemptTimeout)
		err := f(actx)
		cancel()
		if err == nil {
			p.healthy.Store(true)
			p.lastErr.Store("")
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, errStale) {
			p.o.Logger.InfoContext(ctx, "read model moved under a plan; planning again")
			continue
		}
		if errors.Is(err, errPoison) {
			return err
		}
		p.healthy.Store(false)
		p.lastErr.Store(err.Error())
		p.o.Metrics.Retries.Inc()
		p.retries.Add(1)
		p.o.Logger.WarnContext(ctx, what+" failed; retrying", "err", err, "attempt", *attempts, "backoff", delay)
		sleep := time.Duration(rand.Int64N(int64(delay))) + delay/2
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(sleep):
		}
		delay = min(delay*2, p.o.RetryMax)
	}
}

// write performs one attempt of step 3. Strays and dead letters are
// produced once per plan: a failed write retries only the store.
func (p *Pipeline) write(ctx context.Context, pl *plan) error {
	if len(pl.strays) > 0 && !pl.forwarded {
		start := time.Now()
		to, err := p.o.Forwarder.Forward(ctx, pl.strays)
		p.o.Metrics.since("forward", start)
		var bad RecordErrors
		if errors.As(err, &bad) {
			for i, e := range bad {
				p.markPoison(ctx, pl.strays[i].Source, "forward_failed: "+e.Error())
			}
			return errPoison
		}
		if err != nil {
			return fmt.Errorf("forward strays: %w", err)
		}
		for i, s := range pl.strays {
			pl.batch.Forwarded = append(pl.batch.Forwarded, ForwardedRow{Tenant: s.Tenant, EventID: s.EventID,
				ClientID: s.ClientID, Source: s.Source, To: to[i]})
		}
		pl.forwarded = true
	}
	if len(pl.dead) > 0 && !pl.deadSent {
		start := time.Now()
		if err := p.o.DeadLetters.DeadLetter(ctx, pl.dead, pl.deadReasons); err != nil {
			return fmt.Errorf("dead-letter: %w", err)
		}
		p.o.Metrics.since("dead_letter", start)
		pl.deadSent = true
	}
	start := time.Now()
	if err := p.o.Store.Write(ctx, pl.batch); err != nil {
		if p.o.Store.Permanent(err) && len(pl.batch.Winners) > 0 {
			return p.findPoison(ctx, pl.batch.Winners, err)
		}
		return err
	}
	p.o.Metrics.since("write_rows", start)
	if len(pl.state) > 0 {
		sstart := time.Now()
		if err := p.o.Store.WriteState(ctx, pl.state); err != nil {
			return err
		}
		p.o.Metrics.since("write_state", sstart)
	}
	p.o.Metrics.InsertSeconds.Observe(time.Since(start).Seconds())
	return nil
}

func (p *Pipeline) markPoison(ctx context.Context, src Source, reason string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.poison[poisonKey{src.Topic, src.Partition, src.Offset}] = reason
	p.o.Logger.WarnContext(ctx, "a record fails permanently; dead-lettering it", "topic", src.Topic, "partition", src.Partition,
		"offset", src.Offset, "reason", reason)
}

func (p *Pipeline) poisoned(r *kgo.Record) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	reason, ok := p.poison[poisonKey{r.Topic, r.Partition, r.Offset}]
	return reason, ok
}

// findPoison bisects winners whose write failed permanently down to the
// records the store refuses on their own, marks them, and returns
// errPoison. Halves that write are durable (writes are idempotent); a
// transient error on the way is returned as is (the write is retried).
func (p *Pipeline) findPoison(ctx context.Context, winners []Winner, cause error) error {
	if len(winners) == 1 {
		p.markPoison(ctx, winners[0].Source, "store_rejected: "+cause.Error())
		return errPoison
	}
	found := false
	for _, half := range [][]Winner{winners[:len(winners)/2], winners[len(winners)/2:]} {
		err := p.o.Store.Write(ctx, Batch{Winners: half})
		switch {
		case err == nil:
		case p.o.Store.Permanent(err):
			if perr := p.findPoison(ctx, half, err); !errors.Is(perr, errPoison) {
				return perr
			}
			found = true
		default:
			return err
		}
	}
	if !found {
		// Only the combination fails: no record to blame. Keep retrying,
		// and say so.
		return fmt.Errorf("a batch fails permanently but no single record does: %w", cause)
	}
	return errPoison
}

// commitPlan moves the in-memory read model to what was just written.
func (p *Pipeline) commitPlan(pl *plan) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pp := range pl.parts {
		ps := pp.ps
		if cur, ok := p.parts[partKey{ps.topic, ps.part}]; !ok || cur != ps {
			continue // forgotten while the batch was written
		}
		ps.position = pp.to
	}
	for i, r := range pl.state {
		if pp := pl.stateOwner[i]; pp != nil {
			k := pl.stateKeys[i]
			pp.ps.rows[k] = valOf(r)
			if k.kind == schema.KindRollup {
				pp.ps.wrote(k, p.o.MaxSeries, p.o.MaxBucketWords)
			}
		}
	}
}

// bound evicts the cache of read-model rows when it holds more than its
// bound. It runs after every group of a batch is committed: eviction
// renumbers the partitions' series, which no plan may hold numbers of.
func (p *Pipeline) bound() {
	p.mu.Lock()
	defer p.mu.Unlock()
	total := 0
	for _, ps := range p.parts {
		total += len(ps.rows)
	}
	if total > p.o.StateCacheRows {
		p.evict()
	}
}

// evict shrinks the cache of read-model rows below its bound. The finest
// buckets go first: time moves forward, so a minute or ten-minute bucket
// is rarely written again once passed, while the day, hour and all-time
// rows and the counters are written by almost every batch. Called with
// p.mu held.
func (p *Pipeline) evict() {
	total := 0
	for _, ps := range p.parts {
		ps.keep(func(k rowKey) bool {
			return k.kind != schema.KindRollup || (k.level != schema.LevelMinute && k.level != schema.Level10Min)
		})
		for tl := range ps.opened { // their rows are gone from the cache
			if tl.Level == schema.LevelMinute || tl.Level == schema.Level10Min {
				delete(ps.opened, tl)
			}
		}
		total += len(ps.rows)
	}
	if total > p.o.StateCacheRows {
		for _, ps := range p.parts {
			ps.keep(func(rowKey) bool { return false })
			ps.opened = nil
		}
	}
}

// keep drops the cached rows that want refuses, and the series no kept row
// names, renumbering the rest. A new map, not a delete: Go maps keep their
// largest size, so deleting would free no memory.
func (ps *partState) keep(want func(rowKey) bool) {
	old, names := ps.rows, ps.names
	ps.rows, ps.series, ps.names = make(map[rowKey]rowVal, len(old)/4), make(map[Series]uint32), nil
	for k, v := range old {
		if want(k) {
			k.series = ps.intern(names[k.series])
			ps.rows[k] = v
		}
	}
}

// markBeside starts marking the batch's winners (step 5) and returns: the
// batch is durable already, and a mark that never happens (a crash, a
// failure) costs only speed — the watermark stays behind and a later batch
// heals. WaitMarks waits for it.
func (p *Pipeline) markBeside(ctx context.Context, marks []Marks) {
	if p.o.Seen == nil || len(marks) == 0 {
		return
	}
	done := make(chan struct{})
	p.mu.Lock()
	p.marking = done
	p.mu.Unlock()
	go func() {
		defer close(done)
		p.mark(context.WithoutCancel(ctx), marks)
	}()
}

// WaitMarks waits until the last batch's winners are marked in the
// seen-set (or ctx ends): before a batch's lookup, and at shutdown so the
// next start finds the watermark where the read model is.
func (p *Pipeline) WaitMarks(ctx context.Context) error {
	p.mu.Lock()
	done := p.marking
	p.mu.Unlock()
	if done == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// mark adds the batch's winners to the seen-set (step 5). A failure costs
// only speed: the watermark stays behind and the next batch heals.
func (p *Pipeline) mark(ctx context.Context, marks []Marks) {
	mctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	defer p.o.Metrics.since("mark", time.Now())
	if err := p.o.Seen.Mark(mctx, marks); err != nil {
		p.o.Metrics.RedisFailOpen.Inc()
		p.o.Logger.WarnContext(ctx, "marking winners in redis failed; the next batch heals it", "err", err)
	}
}
