package pipeline_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tally-dev/tally/event"
	"github.com/tally-dev/tally/event/normalize"
	"github.com/tally-dev/tally/event/schema"
	"github.com/tally-dev/tally/processor/internal/forward"
	"github.com/tally-dev/tally/processor/internal/pipeline"
	"github.com/tally-dev/tally/processor/internal/seen"
)

// The harness is an in-memory Kafka topic, an in-memory store that keeps
// every version of every state row (as ClickHouse does before merges), the
// real Redis seen-set on miniredis, and a consumer loop that commits only
// after Process returned nil. A "crash" abandons a pipeline mid-batch: the
// next pipeline starts from the committed offsets with empty caches, as a
// restarted or rebalanced processor would.

const (
	topic   = "events.raw"
	topicID = "00000000000000000000000000000001"
	stream  = topic + "/" + topicID
)

var errCrash = errors.New("crash")

// memLog is one topic: per partition, records at their offsets; a nil
// record is an offset with nothing to deliver (an aborted transaction's
// record, filtered by read_committed).
type memLog struct {
	mu        sync.Mutex
	parts     [][]*kgo.Record
	committed []int64
}

func newLog(n int) *memLog {
	return &memLog{parts: make([][]*kgo.Record, n), committed: make([]int64, n)}
}

func (l *memLog) produce(part int32, value []byte, headers ...kgo.RecordHeader) *kgo.Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := &kgo.Record{Topic: topic, Partition: part, Offset: int64(len(l.parts[part])), Value: value, Headers: headers,
		Timestamp: time.Date(2026, 3, 31, 23, 59, 59, 0, time.UTC)}
	l.parts[part] = append(l.parts[part], r)
	return r
}

// gap appends an offset that read_committed never delivers.
func (l *memLog) gap(part int32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.parts[part] = append(l.parts[part], nil)
}

// poll returns up to max deliverable records of each partition in parts,
// starting at the committed offset.
func (l *memLog) poll(parts []int32, max int) []*kgo.Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*kgo.Record
	for _, p := range parts {
		n := 0
		for _, r := range l.parts[p][l.committed[p]:] {
			if n == max {
				break
			}
			if r != nil {
				out = append(out, r)
			}
			n++
		}
	}
	return out
}

func (l *memLog) commit(records []*kgo.Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range records {
		l.committed[r.Partition] = max(l.committed[r.Partition], r.Offset+1)
	}
}

func (l *memLog) end(part int32) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int64(len(l.parts[part]))
}

type topo struct {
	n  int32
	id string
}

func (t topo) Topic(context.Context, string) (pipeline.TopicInfo, error) {
	return pipeline.TopicInfo{ID: cmp.Or(t.id, topicID), Partitions: t.n}, nil
}

type memForwarder struct {
	log  *memLog
	fail bool
	// refuse is a client whose strays the broker never takes.
	refuse string
}

func (f *memForwarder) Forward(_ context.Context, strays []pipeline.Stray) ([]pipeline.Forwarded, error) {
	if f.fail {
		return nil, errors.New("kafka: not enough replicas")
	}
	bad := pipeline.RecordErrors{}
	for i, s := range strays {
		if s.ClientID == f.refuse {
			bad[i] = errors.New("MESSAGE_TOO_LARGE")
		}
	}
	if len(bad) > 0 {
		return nil, bad
	}
	out := make([]pipeline.Forwarded, len(strays))
	for i, s := range strays {
		c := forward.Copy(s, nil)
		r := f.log.produce(c.Partition, c.Value, c.Headers...)
		out[i] = pipeline.Forwarded{Partition: r.Partition, Offset: r.Offset}
	}
	return out, nil
}

type memDLQ struct {
	mu      sync.Mutex
	records []*kgo.Record
}

func (d *memDLQ) DeadLetter(_ context.Context, records []*kgo.Record, _ []string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.records = append(d.records, records...)
	return nil
}

type srcKey struct {
	part   int32
	offset int64
}

// memStore keeps rows by their ClickHouse sort keys (a rewrite replaces)
// and every version of every state row.
type memStore struct {
	mu        sync.Mutex
	winners   map[srcKey]pipeline.Winner
	ids       map[pipeline.TenantID][]pipeline.Origin
	dups      map[srcKey]pipeline.Duplicate
	rejected  map[srcKey]pipeline.Rejected
	dead      map[srcKey]pipeline.DeadLetter
	forwarded map[srcKey]pipeline.ForwardedRow
	state     map[pipeline.StateKey][]pipeline.StateRow
	// after, when set, runs after each successful step ("write", "state")
	// and may return an error (a crash or an outage right after the step).
	after func(step string) error
	// fail makes the next calls fail before doing anything.
	fail int
	// refuse makes every write holding a winner of this amount fail
	// permanently (a value the store cannot hold).
	refuse string
	// readRollups and missedRollups count the rollup keys LoadState was
	// asked for, and those of them that did not exist.
	readRollups, missedRollups int
}

func newStore() *memStore {
	return &memStore{winners: map[srcKey]pipeline.Winner{}, ids: map[pipeline.TenantID][]pipeline.Origin{},
		dups: map[srcKey]pipeline.Duplicate{}, rejected: map[srcKey]pipeline.Rejected{}, dead: map[srcKey]pipeline.DeadLetter{},
		forwarded: map[srcKey]pipeline.ForwardedRow{}, state: map[pipeline.StateKey][]pipeline.StateRow{}}
}

func src(s pipeline.Source) srcKey { return srcKey{s.Partition, s.Offset} }

func (m *memStore) failing() error {
	if m.fail > 0 {
		m.fail--
		return errors.New("clickhouse: connection refused")
	}
	return nil
}

func (m *memStore) Write(_ context.Context, b pipeline.Batch) error {
	m.mu.Lock()
	if err := m.failing(); err != nil {
		m.mu.Unlock()
		return err
	}
	for _, w := range b.Winners {
		if m.refuse != "" && w.Event.Amount.String() == m.refuse {
			m.mu.Unlock()
			return fmt.Errorf("insert events: %w", errRefused)
		}
	}
	for _, w := range b.Winners {
		m.winners[src(w.Source)] = w
		id := pipeline.TenantID{Tenant: w.Tenant, EventID: w.Event.EventID}
		m.ids[id] = append(m.ids[id], pipeline.Origin{Stream: pipeline.StreamTag(w.Source.Stream), Partition: w.Source.Partition,
			Offset: w.Source.Offset, Fingerprint: w.Event.Fingerprint()})
	}
	for _, d := range b.Duplicates {
		m.dups[src(d.Source)] = d
	}
	for _, r := range b.Rejected {
		m.rejected[src(r.Source)] = r
	}
	for _, r := range b.DeadLetters {
		m.dead[src(r.Source)] = r
	}
	for _, r := range b.Forwarded {
		m.forwarded[src(r.Source)] = r
	}
	after := m.after
	m.mu.Unlock()
	if after != nil {
		return after("write")
	}
	return nil
}

// errRefused is a value the fake store refuses forever.
var errRefused = errors.New("refused value")

func (m *memStore) Permanent(err error) bool { return errors.Is(err, errRefused) }

func (m *memStore) WriteState(_ context.Context, rows []pipeline.StateRow) error {
	m.mu.Lock()
	if err := m.failing(); err != nil {
		m.mu.Unlock()
		return err
	}
	for _, r := range rows {
		m.state[r.Key] = append(m.state[r.Key], r)
	}
	after := m.after
	m.mu.Unlock()
	if after != nil {
		return after("state")
	}
	return nil
}

// latest is what a reader sees: the highest version of each key.
func (m *memStore) latest() map[pipeline.StateKey]pipeline.StateRow {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[pipeline.StateKey]pipeline.StateRow{}
	for k, rows := range m.state {
		out[k] = slices.MaxFunc(rows, func(a, b pipeline.StateRow) int { return cmp.Compare(a.Version, b.Version) })
	}
	return out
}

func (m *memStore) LoadState(_ context.Context, keys []pipeline.StateKey) ([]pipeline.StateRow, error) {
	m.mu.Lock()
	if err := m.failing(); err != nil {
		m.mu.Unlock()
		return nil, err
	}
	m.mu.Unlock()
	all := m.latest()
	out := make([]pipeline.StateRow, len(keys))
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, k := range keys {
		r, ok := all[k]
		out[i] = r
		if k.Kind == schema.KindRollup {
			m.readRollups++
			if !ok {
				m.missedRollups++
			}
		}
	}
	return out, nil
}

// rollupReads returns how many rollup keys LoadState was asked for since the
// last reset, and how many of them did not exist; reset zeroes both.
func (m *memStore) rollupReads(reset bool) (read, missed int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	read, missed = m.readRollups, m.missedRollups
	if reset {
		m.readRollups, m.missedRollups = 0, 0
	}
	return read, missed
}

func (m *memStore) RollupIndex(_ context.Context, stream string, part int32, maxSeries, maxWords int) (pipeline.RollupIndex, error) {
	m.mu.Lock()
	if err := m.failing(); err != nil {
		m.mu.Unlock()
		return pipeline.RollupIndex{}, err
	}
	m.mu.Unlock()
	idx := pipeline.RollupIndex{High: map[pipeline.TenantLevel]uint32{}, Series: map[pipeline.Series]struct{}{},
		Buckets: map[pipeline.TenantLevel]pipeline.BucketWords{}}
	words := 0
	for k := range m.latest() {
		if k.Kind != schema.KindRollup || k.Stream != stream || k.Part != part {
			continue
		}
		tl := pipeline.TenantLevel{Tenant: k.Tenant, Level: k.Level}
		if h, ok := idx.High[tl]; !ok || k.Bucket > h {
			idx.High[tl] = k.Bucket
		}
		if idx.Buckets[tl] == nil {
			idx.Buckets[tl] = pipeline.BucketWords{}
		}
		if idx.Buckets[tl].Mark(k.Level, k.Bucket) {
			words++
		}
		if k.Level == schema.LevelAll {
			idx.Series[pipeline.Series{Tenant: k.Tenant, Client: k.Client, Metric: k.Metric}] = struct{}{}
		}
	}
	if len(idx.Series) > maxSeries {
		idx.Series = nil
	}
	if words > maxWords {
		idx.Buckets = nil
	}
	return idx, nil
}

func (m *memStore) Lookup(_ context.Context, ids []pipeline.TenantID) (map[pipeline.TenantID]pipeline.Origin, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.failing(); err != nil {
		return nil, err
	}
	out := map[pipeline.TenantID]pipeline.Origin{}
	for _, id := range ids {
		if os := m.ids[id]; len(os) > 0 {
			out[id] = os[0]
		}
	}
	return out, nil
}

func (m *memStore) Winners(_ context.Context, slots []int32, stream string, from int64, each func(string, pipeline.Origin) error) error {
	m.mu.Lock()
	var ws []pipeline.Winner
	for _, w := range m.winners {
		if slices.Contains(slots, w.Slot) && (stream == "" || w.Source.Stream == stream && w.Source.Offset >= from) {
			ws = append(ws, w)
		}
	}
	m.mu.Unlock()
	for _, w := range ws {
		if err := each(w.Event.EventID, pipeline.Origin{Stream: pipeline.StreamTag(w.Source.Stream), Partition: w.Source.Partition,
			Offset: w.Source.Offset, Fingerprint: w.Event.Fingerprint()}); err != nil {
			return err
		}
	}
	return nil
}

// rig is one test world: a topic, a store, Redis, and processors.
// tb is what the rig needs of *testing.T and *rapid.T.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Errorf(format string, args ...any)
	Logf(format string, args ...any)
	Failed() bool
}

type rig struct {
	t     tb
	log   *memLog
	store *memStore
	mr    *miniredis.Miniredis
	rc    *redis.Client
	fwd   *memForwarder
	dlq   *memDLQ
	n     int32
	norm  *normalize.Engine
	// seenOff runs processors without Redis (every decision from the store).
	seenOff bool
	// topicID overrides the topic's incarnation id.
	topicID string
	// tenants resolves records' tenants (nil: every claim trusted).
	tenants pipeline.Tenants
	// cacheRows bounds the pipeline's cache of read-model rows (0: default).
	cacheRows int
	// shards is the ClickHouse shard count the pipeline is told (0: one).
	shards int
	// maxSeries bounds the series the pipeline's index keeps (0: default).
	maxSeries int
	// maxWords bounds the bucket words the pipeline's index keeps (0: default).
	maxWords int
	// groups is the pipeline's Groups: partition groups side by side.
	groups int
	// attempt overrides the pipeline's AttemptTimeout (0: default).
	attempt time.Duration
	// wrap, when set, wraps the store the processors see (a slow or
	// failing dependency).
	wrap func(pipeline.Store) pipeline.Store
	// wrapSeen, when set, wraps the seen-set the processors see.
	wrapSeen func(pipeline.SeenSet) pipeline.SeenSet
}

// gatedSeen holds every Mark until gate is closed, and counts heals.
type gatedSeen struct {
	pipeline.SeenSet
	gate  chan struct{}
	heals atomic.Int32
}

func (g *gatedSeen) Mark(ctx context.Context, marks []pipeline.Marks) error {
	<-g.gate
	return g.SeenSet.Mark(ctx, marks)
}

func (g *gatedSeen) Heal(ctx context.Context, stream string, n, part int32, to int64,
	winners func(each func(string, pipeline.Origin) error) error) error {
	g.heals.Add(1)
	return g.SeenSet.Heal(ctx, stream, n, part, to, winners)
}

func newRig(t tb, partitions int32) *rig { // partitions must divide event.Slots
	t.Helper()
	mr, err := miniredis.Run()
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := t.(interface{ Cleanup(func()) }); ok {
		c.Cleanup(mr.Close)
	}
	e, err := normalize.New(normalize.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	l := newLog(int(partitions))
	return &rig{t: t, log: l, store: newStore(), mr: mr, rc: redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1}),
		fwd: &memForwarder{log: l}, dlq: &memDLQ{}, n: partitions, norm: e}
}

// processor returns a fresh pipeline: a new process with nothing cached.
func (r *rig) processor() *pipeline.Pipeline {
	var s pipeline.SeenSet = seen.NewRedis(r.rc)
	if r.seenOff {
		s = nil
	} else if r.wrapSeen != nil {
		s = r.wrapSeen(s)
	}
	var store pipeline.Store = r.store
	if r.wrap != nil {
		store = r.wrap(store)
	}
	return pipeline.New(pipeline.Options{Normalizer: r.norm, Store: store, Seen: s, Forwarder: r.fwd, DeadLetters: r.dlq,
		Topology: topo{r.n, r.topicID}, Tenants: r.tenants, StateCacheRows: r.cacheRows, MaxSeries: r.maxSeries, MaxBucketWords: r.maxWords, Shards: r.shards, Groups: r.groups, GroupMinRecords: 1, AttemptTimeout: r.attempt,
		RetryInitial: time.Millisecond, RetryMax: 2 * time.Millisecond})
}

// send produces an event to the partition its client owns (as the ingestor does).
func (r *rig) send(value string, headers ...kgo.RecordHeader) *kgo.Record {
	ev, rej := r.norm.Normalize(normalize.Input{Raw: []byte(value), ReceivedAt: time.Now()})
	part := int32(0)
	if rej == nil {
		part = event.OwnerPartition(ev.ClientID, r.n)
	}
	return r.log.produce(part, []byte(value), headers...)
}

// drain runs p over the log until everything is committed; batches hold up
// to batch records per partition.
func (r *rig) drain(p *pipeline.Pipeline, batch int) {
	r.t.Helper()
	all := make([]int32, r.n)
	for i := range all {
		all[i] = int32(i)
	}
	for range 10_000 {
		recs := r.log.poll(all, batch)
		if len(recs) == 0 {
			// As the processor does at shutdown: the last mark lands.
			if err := p.WaitMarks(context.Background()); err != nil {
				r.t.Fatalf("wait for marks: %v", err)
			}
			return
		}
		if _, err := p.Process(context.Background(), recs); err != nil {
			r.t.Fatalf("process: %v", err)
		}
		r.log.commit(recs)
	}
	r.t.Fatal("drain did not finish")
}

// truth is what the read model must say, computed from the log alone: in
// each partition, in offset order, the first copy of an id that its client
// owns wins.
type truth struct {
	winners   map[srcKey]event.Canonical
	rollups   map[pipeline.StateKey]agg // Stream and Part zeroed
	counters  map[string]int64
	positions map[int32]int64
}

type agg struct {
	count        uint64
	sum          event.Sum
	min, max     event.Amount
	minTs, maxTs int64
}

func (a *agg) add(e event.Canonical) {
	ms := e.Timestamp.UnixMilli()
	if a.count == 0 {
		a.min, a.max, a.minTs, a.maxTs = e.Amount, e.Amount, ms, ms
	}
	if amountLess(e.Amount, a.min) {
		a.min = e.Amount
	}
	if amountLess(a.max, e.Amount) {
		a.max = e.Amount
	}
	a.minTs, a.maxTs = min(a.minTs, ms), max(a.maxTs, ms)
	a.count++
	a.sum.Add(e.Amount)
}

func amountLess(a, b event.Amount) bool {
	return a.Units < b.Units || a.Units == b.Units && a.Nanos < b.Nanos
}

func (r *rig) truth() truth {
	tr := truth{winners: map[srcKey]event.Canonical{}, rollups: map[pipeline.StateKey]agg{}, counters: map[string]int64{},
		positions: map[int32]int64{}}
	for p := range r.n {
		seen := map[string]bool{}
		last := int64(-1)
		for off, rec := range r.log.parts[p] {
			if rec != nil {
				last = int64(off)
			}
		}
		tr.positions[p] = last + 1
		for off, rec := range r.log.parts[p][:last+1] {
			if rec == nil {
				tr.counters[schema.OutcomeSkipped]++
				continue
			}
			if len(rec.Value) == 0 {
				tr.counters[schema.OutcomeDeadLettered]++
				continue
			}
			recv := rec.Timestamp
			for _, h := range rec.Headers {
				if h.Key == event.HeaderReceivedAt {
					recv, _ = time.Parse(time.RFC3339Nano, string(h.Value))
				}
			}
			ev, rej := r.norm.Normalize(normalize.Input{Raw: rec.Value, ReceivedAt: recv.UTC().Truncate(time.Millisecond)})
			owner := p
			if rej == nil {
				owner = event.OwnerPartition(ev.ClientID, r.n)
			}
			switch {
			case rej == nil && owner != p && ev.ClientID == r.fwd.refuse:
				tr.counters[schema.OutcomeDeadLettered]++
			case rej == nil && owner == p && !seen[ev.EventID] && r.store.refuse != "" && ev.Amount.String() == r.store.refuse:
				tr.counters[schema.OutcomeDeadLettered]++
			case rej != nil && (rej.Code == "invalid_json" || rej.Code == "invalid_utf8" || rej.Code == "too_large"):
				tr.counters[schema.OutcomeDeadLettered]++
			case rej != nil:
				tr.counters[schema.OutcomeRejected]++
			case event.OwnerPartition(ev.ClientID, r.n) != p:
				tr.counters[schema.OutcomeForwarded]++
			case seen[ev.EventID]:
				tr.counters["duplicate+conflict"]++
			default:
				seen[ev.EventID] = true
				tr.counters[schema.OutcomeProcessed]++
				tr.winners[srcKey{p, int64(off)}] = ev
				ms := ev.Timestamp.UnixMilli()
				for _, lvl := range []uint8{schema.LevelAll, schema.LevelDay, schema.LevelHour, schema.Level10Min, schema.LevelMinute} {
					var bucket uint32
					if w := schema.LevelSeconds[lvl]; w > 0 {
						bucket = uint32(ms / 1000 / w * w)
					}
					k := pipeline.StateKey{Tenant: event.DefaultTenant, Kind: schema.KindRollup, Level: lvl, Bucket: bucket,
						Client: ev.ClientID, Metric: ev.Metric}
					a := tr.rollups[k]
					a.add(ev)
					tr.rollups[k] = a
				}
			}
		}
	}
	return tr
}

// check compares the store with the truth: winners, every rollup row summed
// over partitions, counters, positions, and the books.
func (r *rig) check() {
	r.t.Helper()
	tr := r.truth()
	got := map[srcKey]event.Canonical{}
	r.store.mu.Lock()
	for k, w := range r.store.winners {
		got[k] = w.Event
	}
	r.store.mu.Unlock()
	if len(got) != len(tr.winners) {
		r.t.Errorf("winners: stored %d, want %d", len(got), len(tr.winners))
	}
	for k, want := range tr.winners {
		if g, ok := got[k]; !ok || g != want {
			r.t.Errorf("winner at %v: got %+v (stored %v), want %+v", k, g, ok, want)
		}
	}
	rollups := map[pipeline.StateKey]agg{}
	counters := map[string]int64{}
	positions := map[int32]int64{}
	for k, row := range r.store.latest() {
		switch k.Kind {
		case schema.KindPosition:
			positions[k.Part] = int64(row.Count)
		case schema.KindCounter:
			if strings.HasPrefix(k.Metric, schema.OutcomeRejected+":") {
				counters["rejected:*"] += int64(row.Count)
				continue
			}
			counters[k.Metric] += int64(row.Count)
		case schema.KindRollup:
			k.Stream, k.Part = "", 0
			a := rollups[k]
			if a.count == 0 {
				a.min, a.max, a.minTs, a.maxTs = row.Min, row.Max, row.MinTs, row.MaxTs
			}
			if amountLess(row.Min, a.min) {
				a.min = row.Min
			}
			if amountLess(a.max, row.Max) {
				a.max = row.Max
			}
			a.minTs, a.maxTs = min(a.minTs, row.MinTs), max(a.maxTs, row.MaxTs)
			a.count += row.Count
			a.sum.AddSum(row.Sum)
			rollups[k] = a
		}
	}
	for k, want := range tr.rollups {
		if g := rollups[k]; g != want {
			r.t.Errorf("rollup %+v: got %+v, want %+v", k, g, want)
		}
	}
	for k, g := range rollups {
		if _, ok := tr.rollups[k]; !ok && g.count > 0 {
			r.t.Errorf("rollup %+v counts %d events that do not exist", k, g.count)
		}
	}
	counters["duplicate+conflict"] = counters[schema.OutcomeDuplicate] + counters[schema.OutcomeConflict]
	if counters["rejected:*"] != counters[schema.OutcomeRejected] {
		r.t.Errorf("rejections by code add up to %d, rejections are %d", counters["rejected:*"], counters[schema.OutcomeRejected])
	}
	for _, k := range []string{schema.OutcomeProcessed, "duplicate+conflict", schema.OutcomeRejected, schema.OutcomeDeadLettered,
		schema.OutcomeForwarded, schema.OutcomeSkipped} {
		if counters[k] != tr.counters[k] {
			r.t.Errorf("counter %s = %d, want %d", k, counters[k], tr.counters[k])
		}
	}
	var total, ends int64
	for _, k := range schema.Outcomes {
		total += counters[k]
	}
	for p := range r.n {
		if positions[p] != tr.positions[p] {
			r.t.Errorf("position of partition %d = %d, want %d", p, positions[p], tr.positions[p])
		}
		ends += tr.positions[p]
	}
	if total != ends {
		r.t.Errorf("books: outcomes sum to %d, offsets below the positions are %d", total, ends)
	}
	if r.t.Failed() {
		r.t.Logf("counters %v, truth %v", counters, tr.counters)
	}
}

func ev(client, metric string, amount string, ts string) string {
	if ts == "" {
		return fmt.Sprintf(`{"clientId":%q,"metric":%q,"amount":%s}`, client, metric, amount)
	}
	return fmt.Sprintf(`{"clientId":%q,"metric":%q,"amount":%s,"timestamp":%q}`, client, metric, amount, ts)
}

func keyed(client, key, metric, amount string) string {
	return fmt.Sprintf(`{"clientId":%q,"idempotencyKey":%q,"metric":%q,"amount":%s,"timestamp":"2026-01-02T03:04:05Z"}`,
		client, key, metric, amount)
}

func receivedAt(t time.Time) kgo.RecordHeader {
	return kgo.RecordHeader{Key: event.HeaderReceivedAt, Value: []byte(t.UTC().Format(time.RFC3339Nano))}
}
