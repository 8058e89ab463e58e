// Package stats reconciles the pipeline (invariant I5): every raw record
// Kafka holds must be exactly one of processed, duplicate, rejected,
// dead-lettered, or still pending.
//
//	received   = Σ (end − start offset) over the raw topic's partitions (Kafka)
//	pending    = the consumer group's lag on the raw topic (Kafka)
//	processed  = uniqExact(event_id) over events
//	duplicates = distinct offsets in (receipts ∪ duplicates) − processed
//	             (receipts: one row per stored copy, never collapsed by merges)
//	rejected   = distinct offsets in rejected_events
//	deadLettered = distinct offsets in dead_letters
//	inFlight   = distinct offsets, in any of the four tables, at or past the
//	             group's committed offset: written but not yet committed.
//
// Lag counts in-flight records too (their offsets are not committed), and so
// do the four table counts (the rows are written). pending is therefore
// reported as lag − inFlight, the records not yet written anywhere, and the
// books balance exactly as docs/api.md states:
//
//	received = processed + duplicates + rejected + deadLettered + pending
//
// with inFlight shown beside them as the part of the table counts not yet
// committed (normally 0).
// Counting distinct source offsets (never rows) keeps every figure exact
// before ReplacingMergeTree merges and across crash reprocessing.
//
// The two sides are read one after the other, not atomically, so a busy
// pipeline can be momentarily unbalanced; reconciled reports the equation as
// read. Records deleted by Kafka retention leave received while their rows
// stay in ClickHouse, which also shows as unreconciled.
package stats

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/tally-dev/tally/queryapi/internal/instant"
)

// ThroughputWindow is the span processedPerSecond is averaged over.
const ThroughputWindow = 10 * time.Second

// PartitionOffsets describes one raw-topic partition.
type PartitionOffsets struct {
	Partition int32
	Start     int64 // first offset still held
	End       int64 // next offset to be written
	Committed int64 // the group's committed offset, clamped into [Start, End]
}

// OffsetSource reads raw-topic offsets and the group's commits from Kafka.
type OffsetSource interface {
	Offsets(ctx context.Context) ([]PartitionOffsets, error)
}

// Counts are the ClickHouse side of the books.
type Counts struct {
	Processed        uint64
	Duplicates       uint64
	Rejected         uint64
	DeadLettered     uint64
	InFlight         uint64
	RecentProcessed  uint64 // processed in the last ThroughputWindow
	RejectedByReason []ReasonCount
}

// CountSource reads Counts; committed maps partition → committed offset of
// the raw topic, for the in-flight count.
type CountSource interface {
	Counts(ctx context.Context, committed map[int32]int64, now time.Time) (Counts, error)
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
}

// Throughput is the recent processing rate.
type Throughput struct {
	ProcessedPerSecond float64 `json:"processedPerSecond"`
	WindowSeconds      int     `json:"windowSeconds"`
}

// Snapshot is the /v1/stats body.
type Snapshot struct {
	Received         int64           `json:"received"`
	Processed        uint64          `json:"processed"`
	Duplicates       uint64          `json:"duplicates"`
	Rejected         uint64          `json:"rejected"`
	DeadLettered     uint64          `json:"deadLettered"`
	Pending          int64           `json:"pending"`
	Reconciled       bool            `json:"reconciled"`
	InFlight         uint64          `json:"inFlight"`
	Throughput       Throughput      `json:"throughput"`
	Lag              []PartitionLag  `json:"lag"`
	RejectedByReason []ReasonCount   `json:"rejectedByReason"`
	AsOf             instant.Instant `json:"asOf"`
}

// Reconciler combines both sides.
type Reconciler struct {
	offsets OffsetSource
	counts  CountSource
	now     func() time.Time
}

// NewReconciler returns a Reconciler; now is injectable for tests.
func NewReconciler(offsets OffsetSource, counts CountSource, now func() time.Time) *Reconciler {
	return &Reconciler{offsets: offsets, counts: counts, now: now}
}

// Snapshot reads Kafka first, then ClickHouse: a record written between the
// two reads shows as processed and still lagging, i.e. as in-flight, never
// as lost.
func (r *Reconciler) Snapshot(ctx context.Context) (Snapshot, error) {
	now := r.now().UTC()
	parts, err := r.offsets.Offsets(ctx)
	if err != nil {
		return Snapshot{}, fmt.Errorf("kafka offsets: %w", err)
	}
	committed := make(map[int32]int64, len(parts))
	s := Snapshot{Lag: []PartitionLag{}, AsOf: instant.Of(now)}
	var lag int64
	for _, p := range parts {
		committed[p.Partition] = p.Committed
		s.Received += p.End - p.Start
		l := p.End - p.Committed
		lag += l
		s.Lag = append(s.Lag, PartitionLag{Partition: p.Partition, Lag: l})
	}
	sort.Slice(s.Lag, func(i, j int) bool { return s.Lag[i].Partition < s.Lag[j].Partition })
	c, err := r.counts.Counts(ctx, committed, now)
	if err != nil {
		return Snapshot{}, fmt.Errorf("clickhouse counts: %w", err)
	}
	s.Processed, s.Duplicates, s.Rejected, s.DeadLettered, s.InFlight = c.Processed, c.Duplicates, c.Rejected, c.DeadLettered, c.InFlight
	s.Pending = lag - int64(c.InFlight)
	s.RejectedByReason = c.RejectedByReason
	if s.RejectedByReason == nil {
		s.RejectedByReason = []ReasonCount{}
	}
	s.Throughput = Throughput{
		ProcessedPerSecond: float64(c.RecentProcessed) / ThroughputWindow.Seconds(),
		WindowSeconds:      int(ThroughputWindow / time.Second),
	}
	total := int64(s.Processed+s.Duplicates+s.Rejected+s.DeadLettered) + s.Pending
	s.Reconciled = s.Pending >= 0 && total == s.Received
	if s.Pending < 0 {
		// More records stored past the commit than Kafka says exist (a
		// recreated topic): already unreconciled; never report a negative count.
		s.Pending = 0
	}
	return s, nil
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

// Offsets lists start, end and committed offsets per partition. A partition
// the group never committed counts as committed at its start offset (the
// group will read all of it).
func (k *Kafka) Offsets(ctx context.Context) ([]PartitionOffsets, error) {
	starts, err := k.adm.ListStartOffsets(ctx, k.topic)
	if err != nil {
		return nil, fmt.Errorf("list start offsets: %w", err)
	}
	if err := starts.Error(); err != nil {
		return nil, fmt.Errorf("list start offsets: %w", err)
	}
	ends, err := k.adm.ListEndOffsets(ctx, k.topic)
	if err != nil {
		return nil, fmt.Errorf("list end offsets: %w", err)
	}
	if err := ends.Error(); err != nil {
		return nil, fmt.Errorf("list end offsets: %w", err)
	}
	commits, err := k.adm.FetchOffsetsForTopics(ctx, k.group, k.topic)
	if err != nil {
		return nil, fmt.Errorf("fetch group offsets: %w", err)
	}
	var out []PartitionOffsets
	ends.Each(func(e kadm.ListedOffset) {
		p := PartitionOffsets{Partition: e.Partition, End: e.Offset}
		if st, ok := starts.Lookup(k.topic, e.Partition); ok {
			p.Start = st.Offset
		}
		p.Committed = p.Start
		if c, ok := commits.Lookup(k.topic, e.Partition); ok && c.Err == nil && c.At >= 0 {
			p.Committed = min(max(c.At, p.Start), p.End)
		}
		out = append(out, p)
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Partition < out[j].Partition })
	return out, nil
}

// ClickHouse counts the tables of database db.
type ClickHouse struct {
	conn     driver.Conn
	db       string
	rawTopic string
}

// NewClickHouse returns a CountSource over database db (a validated identifier).
func NewClickHouse(conn driver.Conn, db, rawTopic string) *ClickHouse {
	return &ClickHouse{conn: conn, db: db, rawTopic: rawTopic}
}

// Counts runs one query for the totals and one for the rejection reasons.
func (c *ClickHouse) Counts(ctx context.Context, committed map[int32]int64, now time.Time) (Counts, error) {
	// Offsets written but not committed: (partition = ? AND offset >= ?) OR …
	// per partition. Without partitions nothing can be in flight.
	inFlightCond := "0"
	var inFlightArgs []any
	if len(committed) > 0 {
		conds := make([]string, 0, len(committed))
		for p, off := range committed {
			conds = append(conds, "(partition = ? AND offset >= ?)")
			inFlightArgs = append(inFlightArgs, p, off)
		}
		inFlightCond = "topic = ? AND (" + strings.Join(conds, " OR ") + ")"
		inFlightArgs = append([]any{c.rawTopic}, inFlightArgs...)
	}
	var args []any
	sourcesIn := func(table string) string {
		args = append(args, inFlightArgs...)
		return "SELECT partition, offset FROM " + c.db + "." + table + " WHERE " + inFlightCond
	}
	// Throughput counts events first stored in the window: a crash replay
	// or a missed duplicate rewrites an old event without processing anew.
	since := now.Add(-ThroughputWindow).UnixMilli()
	args = append(args, since, since)
	sql := "SELECT" +
		" (SELECT uniqExact(event_id) FROM " + c.db + ".events)," +
		// One union, not two counts: a record linked as a duplicate and
		// later stored as a physical row (Redis lost, record redelivered)
		// must count once.
		" (SELECT uniqExact(partition, offset) FROM (SELECT partition, offset FROM " + c.db +
		".receipts UNION ALL SELECT partition, offset FROM " + c.db + ".duplicates))," +
		" (SELECT uniqExact(partition, offset) FROM " + c.db + ".rejected_events)," +
		" (SELECT uniqExact(partition, offset) FROM " + c.db + ".dead_letters)," +
		" (SELECT count() FROM (SELECT event_id FROM " + c.db + ".events WHERE event_id IN (SELECT event_id FROM " + c.db +
		".events WHERE inserted_ms >= ?) GROUP BY event_id HAVING min(inserted_ms) >= ?))," +
		" (SELECT uniqExact(partition, offset) FROM (" +
		sourcesIn("receipts") + " UNION ALL " + sourcesIn("duplicates") + " UNION ALL " +
		sourcesIn("rejected_events") + " UNION ALL " + sourcesIn("dead_letters") + "))"
	var (
		out           Counts
		storedOrDupes uint64
	)
	if err := c.conn.QueryRow(ctx, sql, args...).Scan(&out.Processed, &storedOrDupes,
		&out.Rejected, &out.DeadLettered, &out.RecentProcessed, &out.InFlight); err != nil {
		return Counts{}, fmt.Errorf("count records: %w", err)
	}
	// Every processed event has at least one receipt, so this cannot go
	// negative unless the tables are inconsistent (rows written before the
	// receipts table existed, say); clamp rather than wrap around, and the
	// books then show as not reconciled.
	if storedOrDupes >= out.Processed {
		out.Duplicates = storedOrDupes - out.Processed
	}
	rows, err := c.conn.Query(ctx, "SELECT rcode, toUInt64(count()) AS n FROM (SELECT topic, partition, offset, any(code) AS rcode FROM "+
		c.db+".rejected_events GROUP BY topic, partition, offset) GROUP BY rcode ORDER BY n DESC, rcode")
	if err != nil {
		return Counts{}, fmt.Errorf("count rejections: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var rc ReasonCount
		if err := rows.Scan(&rc.Code, &rc.Count); err != nil {
			return Counts{}, fmt.Errorf("count rejections: scan: %w", err)
		}
		out.RejectedByReason = append(out.RejectedByReason, rc)
	}
	if err := rows.Err(); err != nil {
		return Counts{}, fmt.Errorf("count rejections: %w", err)
	}
	return out, nil
}
