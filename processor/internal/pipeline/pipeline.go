// Package pipeline turns a batch of raw Kafka records into durable,
// deduplicated rows. It owns Tally's delivery contract, stated once here:
//
//  1. normalize every record (the same engine as the ingestor's preflight);
//     records that cannot even be parsed go to the dead-letter topic, records
//     that parse but break a rule become rejection rows;
//  2. drop ids already durable: ask the seen-set (Redis) in one round trip,
//     and keep only the first copy of an id within the batch; every dropped
//     copy becomes a duplicate row linked to its original;
//  3. write everything durably to the store (ClickHouse), retrying the whole
//     write with exponential backoff and jitter until it succeeds — never
//     skipping a record and never returning early except on shutdown;
//  4. only then mark the stored ids in the seen-set (SET NX with a TTL).
//
// Process returns nil only after step 3 succeeded, and the caller commits
// offsets only then. The seen-set is a cache: when it fails (step 2 or 4) the
// pipeline carries on without it, and the store's ReplacingMergeTree plus
// query-time dedup by event id keep every count exact.
//
// A copy whose recorded origin is its own (partition, offset) is the
// original being reprocessed after a crash between write and commit; it is
// written again (idempotent: same sort key, same source) and not counted as
// a duplicate.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tally-dev/tally/event"
	"github.com/tally-dev/tally/event/normalize"
	"github.com/tally-dev/tally/processor/internal/eventstore"
	"github.com/tally-dev/tally/processor/internal/faults"
	"github.com/tally-dev/tally/processor/internal/seen"
)

// Normalizer maps a raw event to its canonical form or a rejection.
type Normalizer interface {
	Normalize(in normalize.Input) (event.Canonical, *normalize.Rejection)
}

// Store makes a batch durable. Write must be idempotent per source record.
type Store interface {
	Write(ctx context.Context, b eventstore.Batch) error
}

// SeenSet remembers ids whose rows are already durable. It is a cache in
// front of the Store, never the source of truth.
type SeenSet interface {
	Lookup(ctx context.Context, ids []string) (map[string]seen.Origin, error)
	Mark(ctx context.Context, origins map[string]seen.Origin) error
}

// DeadLetterer produces records to the dead-letter topic and returns once
// the broker acknowledged them.
type DeadLetterer interface {
	DeadLetter(ctx context.Context, records []*kgo.Record, reasons []string) error
}

// Failpoints are crash points for the fault-tolerance suite; each one, when
// set, is called at its point in the contract. Production leaves them nil.
type Failpoints struct {
	MidInsert   func() // after events are written, before the other tables
	AfterInsert func() // after the durable write, before marking Redis
	AfterMark   func() // after marking Redis, before returning (and commit)
}

// Options configure a Pipeline.
type Options struct {
	Normalizer     Normalizer
	Store          Store
	Seen           SeenSet // nil disables the filter
	DeadLetters    DeadLetterer
	Faults         *faults.Board // nil when fault injection is off
	Metrics        *Metrics
	Logger         *slog.Logger
	MaxRecordBytes int
	AttemptTimeout time.Duration
	RetryInitial   time.Duration
	RetryMax       time.Duration
	Failpoints     Failpoints
	// NegativeControl deliberately breaks the contract for the chaos suite's
	// negative controls: "mark-before-write" or "no-dedup".
	NegativeControl string
}

// Pipeline processes batches. It is safe for use by one goroutine at a time.
type Pipeline struct {
	o       Options
	healthy atomic.Bool
	retries atomic.Int64
	lastErr atomic.Value // string
	// simulated remembers which simulate-failure batches already failed once.
	simulated map[string]bool
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
	if o.AttemptTimeout <= 0 {
		o.AttemptTimeout = 30 * time.Second
	}
	if o.MaxRecordBytes <= 0 {
		o.MaxRecordBytes = 1 << 20
	}
	p := &Pipeline{o: o, simulated: make(map[string]bool)}
	p.healthy.Store(true)
	p.lastErr.Store("")
	return p
}

// Healthy reports whether the last write attempt succeeded; the processor's
// readiness follows it.
func (p *Pipeline) Healthy() bool { return p.healthy.Load() }

// Retries counts failed write attempts since start.
func (p *Pipeline) Retries() int64 { return p.retries.Load() }

// LastError is the most recent write error, or "".
func (p *Pipeline) LastError() string { return p.lastErr.Load().(string) }

// Result summarizes one processed batch.
type Result struct {
	Stored, Duplicates, Rejected, DeadLettered, Attempts int
}

// plan is a classified batch.
type plan struct {
	batch      eventstore.Batch
	dead       []*kgo.Record
	deadReason []string
	marks      map[string]seen.Origin
	simulate   bool
	key        string
}

// oversizeAuditBytes bounds the raw bytes an oversized record's
// dead_letters row keeps; the whole value stays in the dead-letter topic.
const oversizeAuditBytes = 1024

// deadLetter routes r to the dead-letter topic and its audit row (keeping
// raw), with the same reason in both.
func (pl *plan) deadLetter(r *kgo.Record, src event.Source, reason string, raw []byte) {
	pl.dead = append(pl.dead, r)
	pl.deadReason = append(pl.deadReason, reason)
	pl.batch.DeadLetters = append(pl.batch.DeadLetters, eventstore.DeadLetterRow{Reason: reason, Source: src, Raw: raw})
}

// Process makes records durable following the contract in the package doc.
// It returns nil when every record is durably accounted for, or ctx's error
// if ctx ends first (nothing may be committed then).
func (p *Pipeline) Process(ctx context.Context, records []*kgo.Record) (Result, error) {
	if len(records) == 0 {
		return Result{}, nil
	}
	start := time.Now()
	pl := p.plan(ctx, records)
	res := Result{
		Stored:       len(pl.batch.Events),
		Duplicates:   len(pl.batch.Duplicates),
		Rejected:     len(pl.batch.Rejected),
		DeadLettered: len(pl.batch.DeadLetters),
	}

	if p.o.NegativeControl == "mark-before-write" {
		// Deliberately wrong: a failed write after this turns into loss.
		p.mark(ctx, pl.marks)
	}

	delay := p.o.RetryInitial
	for {
		res.Attempts++
		err := p.attempt(ctx, pl)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		p.healthy.Store(false)
		p.lastErr.Store(err.Error())
		p.o.Metrics.Retries.Inc()
		p.retries.Add(1)
		p.o.Logger.Warn("batch write failed; retrying", "err", err, "attempt", res.Attempts, "records", len(records), "backoff", delay)
		// Full jitter: sleep a random time up to the current bound.
		sleep := time.Duration(rand.Int64N(int64(delay))) + delay/2
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(sleep):
		}
		delay = min(delay*2, p.o.RetryMax)
	}
	p.healthy.Store(true)
	p.lastErr.Store("")
	delete(p.simulated, pl.key)

	if p.o.Failpoints.AfterInsert != nil {
		p.o.Failpoints.AfterInsert()
	}
	if p.o.NegativeControl != "mark-before-write" {
		p.mark(ctx, pl.marks)
	}
	if p.o.Failpoints.AfterMark != nil {
		p.o.Failpoints.AfterMark()
	}

	m := p.o.Metrics
	m.Consumed.Add(float64(len(records)))
	m.Processed.Add(float64(res.Stored))
	m.Duplicates.Add(float64(res.Duplicates))
	m.Rejected.Add(float64(res.Rejected))
	m.DeadLettered.Add(float64(res.DeadLettered))
	m.BatchSeconds.Observe(time.Since(start).Seconds())
	m.BatchRecords.Observe(float64(len(records)))
	return res, nil
}

// attempt performs one durable write of the whole plan.
func (p *Pipeline) attempt(ctx context.Context, pl *plan) error {
	ctx, cancel := context.WithTimeout(ctx, p.o.AttemptTimeout)
	defer cancel()
	if pl.simulate && p.o.Faults != nil && !p.simulated[pl.key] {
		// The seed's simulated failure: the first write of this batch fails
		// as a database outage would; the retry succeeds.
		p.simulated[pl.key] = true
		p.o.Metrics.SimulatedFailures.Inc()
		return errors.New("simulated database failure (simulateFailure=true)")
	}
	if d, err := p.o.Faults.ClickHouse(); err != nil {
		return fmt.Errorf("clickhouse: %w", err)
	} else if d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if len(pl.dead) > 0 {
		if err := p.o.DeadLetters.DeadLetter(ctx, pl.dead, pl.deadReason); err != nil {
			return fmt.Errorf("dead-letter: %w", err)
		}
	}
	start := time.Now()
	if p.o.Failpoints.MidInsert != nil {
		// Write only the events, then crash: the rest of the batch is
		// missing and nothing is committed.
		if err := p.o.Store.Write(ctx, eventstore.Batch{Events: pl.batch.Events}); err != nil {
			return err
		}
		p.o.Failpoints.MidInsert()
	}
	if err := p.o.Store.Write(ctx, pl.batch); err != nil {
		return err
	}
	p.o.Metrics.InsertSeconds.Observe(time.Since(start).Seconds())
	return nil
}

func (p *Pipeline) mark(ctx context.Context, marks map[string]seen.Origin) {
	if p.o.Seen == nil || len(marks) == 0 {
		return
	}
	err := p.o.Faults.Redis()
	if err == nil {
		mctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err = p.o.Seen.Mark(mctx, marks)
		cancel()
	}
	if err != nil {
		p.o.Metrics.RedisFailOpen.Inc()
		p.o.Logger.Warn("marking ids in redis failed; continuing without the filter", "err", err)
	}
}

// plan normalizes and classifies records. It never fails: every record ends
// up in exactly one of events, duplicates, rejected or dead letters.
func (p *Pipeline) plan(ctx context.Context, records []*kgo.Record) *plan {
	pl := &plan{marks: make(map[string]seen.Origin)}
	type candidate struct {
		ev  event.Canonical
		rec *kgo.Record
		src event.Source
	}
	cands := make([]candidate, 0, len(records))
	for _, r := range records {
		h := headers(r)
		src := event.Source{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Received: receivedAt(r, h)}
		if h.simulate {
			pl.simulate = true
		}
		switch {
		case len(r.Value) == 0:
			pl.deadLetter(r, src, "empty_record: the record has no value", nil)
			continue
		case len(r.Value) > p.o.MaxRecordBytes:
			pl.deadLetter(r, src, "too_large: record of "+strconv.Itoa(len(r.Value))+" bytes exceeds "+strconv.Itoa(p.o.MaxRecordBytes),
				r.Value[:min(len(r.Value), oversizeAuditBytes)])
			continue
		}
		ev, rej := p.o.Normalizer.Normalize(normalize.Input{Raw: r.Value, ReceivedAt: src.Received, IdempotencyKey: h.idempotencyKey})
		if rej != nil {
			if unparseable(rej.Code) {
				pl.deadLetter(r, src, rej.Code+": "+rej.Message, r.Value)
				continue
			}
			pl.batch.Rejected = append(pl.batch.Rejected, eventstore.RejectedRow{
				Code: rej.Code, Field: rej.Field, Message: rej.Message, ClientHint: rej.ClientHint, Source: src, Raw: r.Value,
			})
			continue
		}
		cands = append(cands, candidate{ev: ev, rec: r, src: src})
	}
	if len(records) > 0 {
		f := records[0]
		pl.key = f.Topic + "/" + strconv.Itoa(int(f.Partition)) + "/" + strconv.FormatInt(f.Offset, 10)
	}

	// Ask the seen-set once for every distinct id.
	var known map[string]seen.Origin
	if p.o.Seen != nil && p.o.NegativeControl != "no-dedup" {
		ids := make([]string, 0, len(cands))
		uniq := make(map[string]struct{}, len(cands))
		for _, c := range cands {
			if _, ok := uniq[c.ev.EventID]; !ok {
				uniq[c.ev.EventID] = struct{}{}
				ids = append(ids, c.ev.EventID)
			}
		}
		err := p.o.Faults.Redis()
		if err == nil {
			lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			known, err = p.o.Seen.Lookup(lctx, ids)
			cancel()
		}
		if err != nil {
			known = nil
			p.o.Metrics.RedisFailOpen.Inc()
			p.o.Logger.Warn("redis lookup failed; writing without the filter", "err", err)
		}
	}

	firstInBatch := make(map[string]seen.Origin, len(cands))
	for _, c := range cands {
		self := seen.Origin{Partition: c.src.Partition, Offset: c.src.Offset}
		id := c.ev.EventID
		if p.o.NegativeControl != "no-dedup" {
			// Deliberately wrong under mark-before-write: a toy filter that
			// treats any mark as "stored", even its own un-durable one.
			if o, ok := known[id]; ok && (o != self || p.o.NegativeControl == "mark-before-write") {
				pl.batch.Duplicates = append(pl.batch.Duplicates, eventstore.DuplicateRow{
					EventID: id, Source: c.src, OriginalPartition: o.Partition, OriginalOffset: o.Offset,
				})
				continue
			}
			if o, ok := firstInBatch[id]; ok {
				pl.batch.Duplicates = append(pl.batch.Duplicates, eventstore.DuplicateRow{
					EventID: id, Source: c.src, OriginalPartition: o.Partition, OriginalOffset: o.Offset,
				})
				continue
			}
		}
		if p.o.NegativeControl == "no-dedup" {
			// Deliberately wrong: every physical copy becomes its own
			// logical event, as in a pipeline without any dedup.
			id = id[:48] + fmt.Sprintf("%08x%08x", uint32(c.src.Partition), uint32(c.src.Offset))
			c.ev.EventID = id
		}
		firstInBatch[id] = self
		pl.marks[id] = self
		pl.batch.Events = append(pl.batch.Events, eventstore.EventRow{Event: c.ev, Source: c.src, Raw: c.rec.Value})
	}
	return pl
}

// unparseable reports rejection codes for bytes that are not a JSON event at
// all: they cannot be stored as rejections of an event and are dead-lettered.
func unparseable(code string) bool {
	switch code {
	case "invalid_json", "invalid_utf8", "too_large":
		return true
	}
	return false
}

type recordHeaders struct {
	receivedAt     string
	idempotencyKey string
	simulate       bool
}

func headers(r *kgo.Record) recordHeaders {
	var h recordHeaders
	for _, kv := range r.Headers {
		switch kv.Key {
		case event.HeaderReceivedAt:
			h.receivedAt = string(kv.Value)
		case event.HeaderIdempotencyKey:
			h.idempotencyKey = string(kv.Value)
		case event.HeaderSimulateFailure:
			h.simulate = string(kv.Value) == "true"
		}
	}
	return h
}

// receivedAt is the ingestor's receive time, or the record's timestamp for
// Kafka-native producers.
func receivedAt(r *kgo.Record, h recordHeaders) time.Time {
	if h.receivedAt != "" {
		if t, err := time.Parse(time.RFC3339Nano, h.receivedAt); err == nil {
			return t.UTC().Truncate(time.Millisecond)
		}
	}
	return r.Timestamp.UTC().Truncate(time.Millisecond)
}
