// Package stats reconciles the pipeline (invariant I5): every offset of the
// raw topic is exactly one of processed, duplicate, conflict, rejected,
// dead-lettered, forwarded, skipped, or still pending — at every moment, not
// only when idle, and forever, not only while Kafka retains the records.
//
// Both sides come from state that is maintained, never from a scan of the
// events (docs/design/read-model.md, R7):
//
//	received  = Σ over the raw topic's partitions of the high watermark:
//	            every offset ever written, whatever retention deleted since
//	counters  = the processor's outcome counters, per tenant, stream and
//	            partition; the counters of a partition cover exactly the
//	            offsets below its position
//	pending   = Σ (high watermark − position): offsets not counted yet
//	inFlight  = Σ max(0, position − committed offset): counted and durable,
//	            not yet committed (shown beside, never in the identity)
//
// so that
//
//	received = processed + duplicates + conflicts + rejected + deadLettered
//	           + forwarded + skipped + pending
//
// holds by construction for any snapshot in which the counters and the
// positions were read together (the query mirror's snapshot when it has one,
// so the books describe the moment the aggregations are answered from; see
// Preferring) — they are, in one scan of one table whose
// batches are single parts (never half a batch) — and the watermarks after
// them (so pending is never negative). reconciled additionally checks, per
// partition, that the counters add up to the position: a processor that
// miscounted (an outcome lost or doubled) breaks it.
//
// A stream is one incarnation of the raw topic (topic name and Kafka topic
// id). Counters of incarnations that no longer exist in Kafka (the topic was
// deleted and recreated) are reported under history, outside the identity.
package stats

import (
	"context"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/tally-dev/tally/event/schema"
	"github.com/tally-dev/tally/queryapi/internal/instant"
)

// ThroughputWindow is the span processedPerSecond is averaged over.
const ThroughputWindow = 10 * time.Second

// PartitionOffsets describes one raw-topic partition in Kafka.
type PartitionOffsets struct {
	Partition int32
	End       int64 // the high watermark: next offset to be written
	Committed int64 // the group's committed offset, or -1
}

// Topic is the raw topic as Kafka sees it now.
type Topic struct {
	Stream     string // "<topic>/<topic id>"
	Partitions []PartitionOffsets
}

// OffsetSource reads the raw topic's offsets and the group's commits.
type OffsetSource interface {
	Offsets(ctx context.Context) (Topic, error)
}

// Counter is one counter row's latest value.
type Counter struct {
	Tenant, Outcome, Stream string
	Part                    int32
	Count                   uint64
}

// Position is one partition's counted position.
type Position struct {
	Stream   string
	Part     int32
	Position int64
}

// State is the ClickHouse side: every counter and position, read together.
type State struct {
	Counters  []Counter
	Positions []Position
}

// StateSource reads State.
type StateSource interface {
	State(ctx context.Context) (State, error)
}

// ReasonCount is how many records were rejected with one code.
type ReasonCount struct {
	Code  string `json:"code"`
	Count uint64 `json:"count"`
}

// PartitionLag is one partition's pending records.
type PartitionLag struct {
	Partition int32 `json:"partition"`
	Lag       int64 `json:"lag"`
	Pending   int64 `json:"pending"`
}

// Throughput is the recent processing rate.
type Throughput struct {
	ProcessedPerSecond float64 `json:"processedPerSecond"`
	WindowSeconds      int     `json:"windowSeconds"`
}

// Outcomes are the terms of the identity.
type Outcomes struct {
	Processed    uint64 `json:"processed"`
	Duplicates   uint64 `json:"duplicates"`
	Conflicts    uint64 `json:"conflicts"`
	Rejected     uint64 `json:"rejected"`
	DeadLettered uint64 `json:"deadLettered"`
	Forwarded    uint64 `json:"forwarded"`
	Skipped      uint64 `json:"skipped"`
}

func (o *Outcomes) add(outcome string, n uint64) {
	switch outcome {
	case schema.OutcomeProcessed:
		o.Processed += n
	case schema.OutcomeDuplicate:
		o.Duplicates += n
	case schema.OutcomeConflict:
		o.Conflicts += n
	case schema.OutcomeRejected:
		o.Rejected += n
	case schema.OutcomeDeadLettered:
		o.DeadLettered += n
	case schema.OutcomeForwarded:
		o.Forwarded += n
	case schema.OutcomeSkipped:
		o.Skipped += n
	}
}

func (o Outcomes) total() uint64 {
	return o.Processed + o.Duplicates + o.Conflicts + o.Rejected + o.DeadLettered + o.Forwarded + o.Skipped
}

// History is what earlier incarnations of the raw topic counted.
type History struct {
	Stream string `json:"stream"`
	Outcomes
}

// Snapshot is the /v1/stats body.
type Snapshot struct {
	Received int64 `json:"received"`
	Outcomes
	Pending          int64          `json:"pending"`
	Reconciled       bool           `json:"reconciled"`
	InFlight         int64          `json:"inFlight"`
	Throughput       Throughput     `json:"throughput"`
	Lag              []PartitionLag `json:"lag"`
	RejectedByReason []ReasonCount  `json:"rejectedByReason"`
	// Unbalanced names the partitions whose counters do not add up to
	// their position (empty when reconciled).
	Unbalanced []int32         `json:"unbalanced,omitempty"`
	History    []History       `json:"history,omitempty"`
	AsOf       instant.Instant `json:"asOf"`
	// Tenant is set on a tenant's view (For); absent on the whole books.
	Tenant string `json:"tenant,omitempty"`
	// byTenant and reasonsByTenant hold each tenant's outcomes and
	// rejection reasons, for For.
	byTenant        map[string]Outcomes
	reasonsByTenant map[string][]ReasonCount
}

// For is the view of one tenant: its own outcomes, and — since records not
// yet read have no known tenant — the pipeline's pending records, received
// being their sum. Unbalanced partitions and the history of earlier topic
// incarnations are operator information and left out; reconciled is the
// whole pipeline's verdict.
func (s Snapshot) For(tenant string) Snapshot {
	v := s
	v.Tenant = tenant
	v.Outcomes = s.byTenant[tenant]
	v.Received = int64(v.total()) + s.Pending
	v.RejectedByReason = s.reasonsByTenant[tenant]
	if v.RejectedByReason == nil {
		v.RejectedByReason = []ReasonCount{}
	}
	v.Unbalanced, v.History, v.byTenant, v.reasonsByTenant = nil, nil, nil, nil
	return v
}

// Reconciler combines both sides.
type Reconciler struct {
	offsets OffsetSource
	state   StateSource
	now     func() time.Time

	mu      sync.Mutex
	samples []sample // processed totals, oldest first, for throughput
}

type sample struct {
	at        time.Time
	processed uint64
}

// NewReconciler returns a Reconciler; now is injectable for tests.
func NewReconciler(offsets OffsetSource, state StateSource, now func() time.Time) *Reconciler {
	return &Reconciler{offsets: offsets, state: state, now: now}
}

// Snapshot reads ClickHouse first, then Kafka: a record counted between the
// two reads is still inside the high watermark read later, so pending is
// never negative and the identity holds for the snapshot.
func (r *Reconciler) Snapshot(ctx context.Context) (Snapshot, error) {
	st, err := r.state.State(ctx)
	if err != nil {
		return Snapshot{}, fmt.Errorf("clickhouse state: %w", err)
	}
	topic, err := r.offsets.Offsets(ctx)
	if err != nil {
		return Snapshot{}, fmt.Errorf("kafka offsets: %w", err)
	}
	now := r.now().UTC()
	s := Snapshot{Lag: []PartitionLag{}, RejectedByReason: []ReasonCount{}, AsOf: instant.Of(now), Reconciled: true,
		byTenant: map[string]Outcomes{}}

	positions := map[int32]int64{}
	for _, p := range st.Positions {
		if p.Stream == topic.Stream {
			positions[p.Part] = p.Position
		}
	}
	perPart := map[int32]uint64{}
	history := map[string]*History{}
	reasons := map[string]uint64{}
	tenantReasons := map[string]map[string]uint64{}
	for _, c := range st.Counters {
		if code, ok := strings.CutPrefix(c.Outcome, schema.OutcomeRejected+":"); ok {
			if c.Stream == topic.Stream {
				reasons[code] += c.Count
				if tenantReasons[c.Tenant] == nil {
					tenantReasons[c.Tenant] = map[string]uint64{}
				}
				tenantReasons[c.Tenant][code] += c.Count
			}
			continue
		}
		if c.Stream != topic.Stream {
			h := history[c.Stream]
			if h == nil {
				h = &History{Stream: c.Stream}
				history[c.Stream] = h
			}
			h.add(c.Outcome, c.Count)
			continue
		}
		s.add(c.Outcome, c.Count)
		o := s.byTenant[c.Tenant]
		o.add(c.Outcome, c.Count)
		s.byTenant[c.Tenant] = o
		perPart[c.Part] += c.Count
	}
	for _, p := range topic.Partitions {
		pos := positions[p.Partition]
		s.Received += p.End
		pending := max(0, p.End-pos)
		s.Pending += pending
		lag := p.End - max(p.Committed, 0)
		s.Lag = append(s.Lag, PartitionLag{Partition: p.Partition, Lag: lag, Pending: pending})
		if p.Committed >= 0 {
			s.InFlight += max(0, pos-p.Committed)
		}
		if int64(perPart[p.Partition]) != pos || pos > p.End {
			s.Unbalanced = append(s.Unbalanced, p.Partition)
		}
	}
	for part := range perPart {
		if _, ok := positions[part]; !ok {
			s.Unbalanced = append(s.Unbalanced, part)
		}
	}
	sort.Slice(s.Lag, func(i, j int) bool { return s.Lag[i].Partition < s.Lag[j].Partition })
	sort.Slice(s.Unbalanced, func(i, j int) bool { return s.Unbalanced[i] < s.Unbalanced[j] })
	s.Reconciled = len(s.Unbalanced) == 0 && int64(s.total())+s.Pending == s.Received
	s.RejectedByReason = sortedReasons(reasons)
	s.reasonsByTenant = map[string][]ReasonCount{}
	for t, rs := range tenantReasons {
		s.reasonsByTenant[t] = sortedReasons(rs)
	}
	for _, h := range history {
		s.History = append(s.History, *h)
	}
	sort.Slice(s.History, func(i, j int) bool { return s.History[i].Stream < s.History[j].Stream })
	s.Throughput = r.throughput(now, s.Processed)
	return s, nil
}

func sortedReasons(m map[string]uint64) []ReasonCount {
	out := []ReasonCount{}
	for code, n := range m {
		out = append(out, ReasonCount{Code: code, Count: n})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		return a.Count > b.Count || a.Count == b.Count && a.Code < b.Code
	})
	return out
}

// throughput averages processed events over the window, from the totals
// of earlier snapshots.
func (r *Reconciler) throughput(now time.Time, processed uint64) Throughput {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.samples = append(r.samples, sample{at: now, processed: processed})
	// Keep the newest sample at least a window old, and everything after it.
	for len(r.samples) > 2 && now.Sub(r.samples[1].at) >= ThroughputWindow {
		r.samples = r.samples[1:]
	}
	t := Throughput{WindowSeconds: int(ThroughputWindow / time.Second)}
	first := r.samples[0]
	if d := now.Sub(first.at); d > 0 && processed >= first.processed {
		t.ProcessedPerSecond = float64(processed-first.processed) / d.Seconds()
	}
	return t
}

// Kafka reads offsets through the Kafka admin API.
type Kafka struct {
	adm   *kadm.Client
	topic string
	group string
}

// NewKafka returns a Kafka offset source for topic and group.
func NewKafka(adm *kadm.Client, topic, group string) *Kafka {
	return &Kafka{adm: adm, topic: topic, group: group}
}

// Offsets lists the topic's id, high watermarks and the group's commits.
func (k *Kafka) Offsets(ctx context.Context) (Topic, error) {
	details, err := k.adm.ListTopics(ctx, k.topic)
	if err != nil {
		return Topic{}, fmt.Errorf("describe %s: %w", k.topic, err)
	}
	d, ok := details[k.topic]
	if !ok {
		return Topic{}, fmt.Errorf("describe %s: the topic does not exist", k.topic)
	}
	if d.Err != nil {
		return Topic{}, fmt.Errorf("describe %s: %w", k.topic, d.Err)
	}
	ends, err := k.adm.ListEndOffsets(ctx, k.topic)
	if err != nil {
		return Topic{}, fmt.Errorf("list end offsets: %w", err)
	}
	if err := ends.Error(); err != nil {
		return Topic{}, fmt.Errorf("list end offsets: %w", err)
	}
	commits, err := k.adm.FetchOffsetsForTopics(ctx, k.group, k.topic)
	if err != nil {
		return Topic{}, fmt.Errorf("fetch group offsets: %w", err)
	}
	t := Topic{Stream: k.topic + "/" + hex.EncodeToString(d.ID[:])}
	ends.Each(func(e kadm.ListedOffset) {
		p := PartitionOffsets{Partition: e.Partition, End: e.Offset, Committed: -1}
		if c, ok := commits.Lookup(k.topic, e.Partition); ok && c.Err == nil && c.At >= 0 {
			p.Committed = c.At
		}
		t.Partitions = append(t.Partitions, p)
	})
	sort.Slice(t.Partitions, func(i, j int) bool { return t.Partitions[i].Partition < t.Partitions[j].Partition })
	return t, nil
}

// Preferring is a StateSource that takes the State from Primary when it
// has one — the query mirror's snapshot, so that /v1/stats and the
// aggregations describe the same moment: once the books say every record
// is counted, an aggregation includes them all — and reads Fallback
// otherwise.
type Preferring struct {
	Primary  func() (State, bool)
	Fallback StateSource
}

// State implements StateSource.
func (p Preferring) State(ctx context.Context) (State, error) {
	if st, ok := p.Primary(); ok {
		return st, nil
	}
	return p.Fallback.State(ctx)
}

// ClickHouse reads counters and positions from the state table.
type ClickHouse struct {
	conn driver.Conn
	db   string
}

// NewClickHouse returns a StateSource over database db (a validated identifier).
func NewClickHouse(conn driver.Conn, db string) *ClickHouse {
	return &ClickHouse{conn: conn, db: db}
}

// State reads every counter and position in one scan of the state table
// (one snapshot), taking each key's highest version.
func (c *ClickHouse) State(ctx context.Context) (State, error) {
	rows, err := c.conn.Query(ctx, fmt.Sprintf("SELECT tenant, kind, metric, stream, part, argMax(count, version) FROM %s.%s "+
		"WHERE kind IN (%d, %d) GROUP BY tenant, kind, metric, stream, part",
		c.db, schema.State, schema.KindCounter, schema.KindPosition))
	if err != nil {
		return State{}, fmt.Errorf("read counters: %w", err)
	}
	defer rows.Close()
	var st State
	for rows.Next() {
		var (
			tenant, metric, stream string
			kind                   uint8
			part                   int32
			count                  uint64
		)
		if err := rows.Scan(&tenant, &kind, &metric, &stream, &part, &count); err != nil {
			return State{}, fmt.Errorf("read counters: scan: %w", err)
		}
		if kind == schema.KindPosition {
			st.Positions = append(st.Positions, Position{Stream: stream, Part: part, Position: int64(count)})
		} else {
			st.Counters = append(st.Counters, Counter{Tenant: tenant, Outcome: metric, Stream: stream, Part: part, Count: count})
		}
	}
	return st, rows.Err()
}
