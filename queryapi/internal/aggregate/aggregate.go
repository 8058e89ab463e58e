// Package aggregate answers Tally's exact aggregations (count, sum, avg,
// min, max per client/metric and time bucket) from the read model the
// processor maintains (docs/design/read-model.md), never by scanning every
// event.
//
// # Exactness (invariants I2 and I6)
//
// The state table holds rollups of winners — the first stored copy of every
// event id — by tenant × client × metric × bucket at five levels (all time,
// day, hour, ten minutes, minute), one row per writing partition, versioned
// by offset: the highest version of a row is its exact value. A query reads,
// for every key, only that version (argMax over a tuple, so all columns come
// from one row).
//
// A range [from, to) is covered by the coarsest whole buckets that fit in
// it, level by level down to minutes (plan), so every instant of the range
// is read from exactly one level and no seam counts twice. What remains are
// at most two partial minutes at the edges. There a minute row whose events
// all lie inside the range (its min and max event times say so) is used
// whole, one that lies outside is ignored, and only a row that straddles the
// edge is replaced by its winners read from the events table — limited to
// the offsets below that row's own version, so the edge is exactly as fresh
// as the row, and read with FINAL, so a winner rewritten by a replay counts
// once. A series with an interval uses the interval's level for its whole
// buckets and the same rule for partial ones.
//
// # Amounts
//
// Sums, minima and maxima are read as the driver's decimals (ClickHouse
// 18.16's toString misprints some Decimal128 values above 2^64) and carried
// as exact decimals (package decimal); the average is the exact sum divided
// by the count, rounded half away from zero to 9 digits — the only rounding.
//
// # Safety
//
// User values reach SQL only as bound parameters. Group keys and intervals
// are whitelisted enums mapped to fixed SQL text. The database name is
// validated as an identifier by package config.
package aggregate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	shopspring "github.com/shopspring/decimal"

	"github.com/tally-dev/tally/event"
	"github.com/tally-dev/tally/event/schema"
	"github.com/tally-dev/tally/queryapi/internal/decimal"
)

// GroupBy selects the keys of an aggregation.
type GroupBy string

// The groupings docs/api.md allows.
const (
	GroupNone     GroupBy = "none"
	GroupClientID GroupBy = "clientId"
	GroupMetric   GroupBy = "metric"
	GroupBoth     GroupBy = "both"
)

// ParseGroupBy maps the API's spelling to a GroupBy; "" means none.
func ParseGroupBy(s string) (GroupBy, bool) {
	switch g := GroupBy(s); g {
	case "":
		return GroupNone, true
	case GroupNone, GroupClientID, GroupMetric, GroupBoth:
		return g, true
	}
	return "", false
}

func (g GroupBy) byClient() bool { return g == GroupClientID || g == GroupBoth }
func (g GroupBy) byMetric() bool { return g == GroupMetric || g == GroupBoth }

// Interval is the width of a time bucket; "" means no series.
type Interval string

// The intervals docs/api.md allows.
const (
	IntervalNone   Interval = ""
	IntervalMinute Interval = "minute"
	IntervalHour   Interval = "hour"
	IntervalDay    Interval = "day"
)

// ParseInterval maps the API's spelling to an Interval.
func ParseInterval(s string) (Interval, bool) {
	switch i := Interval(s); i {
	case IntervalNone, IntervalMinute, IntervalHour, IntervalDay:
		return i, true
	}
	return "", false
}

// Duration is the width of one bucket (0 for IntervalNone).
func (i Interval) Duration() time.Duration {
	switch i {
	case IntervalMinute:
		return time.Minute
	case IntervalHour:
		return time.Hour
	case IntervalDay:
		return 24 * time.Hour
	}
	return 0
}

// level is the rollup level whose buckets are the interval's.
func (i Interval) level() uint8 {
	switch i {
	case IntervalMinute:
		return schema.LevelMinute
	case IntervalHour:
		return schema.LevelHour
	case IntervalDay:
		return schema.LevelDay
	}
	return schema.LevelAll
}

// Limits protect ClickHouse and the client from accidental huge answers.
const (
	// MaxBuckets is the most series buckets a request may span.
	MaxBuckets = 10_000
	// MaxRows is the most result rows (group × bucket) one query may return.
	MaxRows = 100_000
	// MaxFilterValues is the most values one filter list may hold.
	MaxFilterValues = 100
)

// Query describes one aggregation. Times are a half-open range [From, To);
// a nil bound is open. Tenant "" means event.DefaultTenant.
type Query struct {
	Tenant    string
	ClientIDs []string
	Metrics   []string
	From, To  *time.Time
	GroupBy   GroupBy
	Interval  Interval
}

// ErrInvalid marks a query the caller got wrong; the HTTP layer maps it to 400.
var ErrInvalid = errors.New("invalid query")

// ErrTooLarge is returned when the answer would exceed MaxRows.
var ErrTooLarge = fmt.Errorf("%w: result exceeds %d rows; narrow the filters or time range", ErrInvalid, MaxRows)

// Validate checks the query against the limits above.
func (q Query) Validate() error {
	if _, ok := ParseGroupBy(string(q.GroupBy)); !ok {
		return fmt.Errorf("%w: groupBy %q", ErrInvalid, q.GroupBy)
	}
	if _, ok := ParseInterval(string(q.Interval)); !ok {
		return fmt.Errorf("%w: interval %q", ErrInvalid, q.Interval)
	}
	if len(q.ClientIDs) > MaxFilterValues || len(q.Metrics) > MaxFilterValues {
		return fmt.Errorf("%w: at most %d values per filter", ErrInvalid, MaxFilterValues)
	}
	if q.From != nil && q.To != nil && !q.From.Before(*q.To) {
		return fmt.Errorf("%w: from must be before to", ErrInvalid)
	}
	if d := q.Interval.Duration(); d > 0 && q.From != nil && q.To != nil {
		if n := q.To.Sub(*q.From) / d; n > MaxBuckets {
			return fmt.Errorf("%w: %d %s buckets requested, at most %d", ErrInvalid, n, q.Interval, MaxBuckets)
		}
	}
	return nil
}

// Stats are the exact figures of one group or bucket.
type Stats struct {
	Count uint64
	Sum   decimal.Value
	Avg   decimal.Value
	Min   decimal.Value
	Max   decimal.Value
}

func (s *Stats) merge(o Stats) { s.mergeRow(o.Count, &o.Sum, &o.Min, &o.Max) }

// mergeRow adds count events with these sum, min and max. The sum is
// accumulated in place in storage of s's own (the arguments are never
// written: they may be a mirror's rows); min and max are shared, never
// written in place.
func (s *Stats) mergeRow(count uint64, sum, mn, mx *decimal.Value) {
	if count == 0 {
		return
	}
	if s.Count == 0 {
		s.Count, s.Sum, s.Min, s.Max = count, sum.Clone(), *mn, *mx
		return
	}
	s.Count += count
	s.Sum.Accumulate(sum)
	if mn.Cmp(s.Min) < 0 {
		s.Min = *mn
	}
	if mx.Cmp(s.Max) > 0 {
		s.Max = *mx
	}
}

// Bucket is one time bucket of a series.
type Bucket struct {
	Start time.Time
	Stats
}

// Group is one row of an aggregation. ClientID and Metric are set only when
// the query groups by them; Series only when it has an Interval.
type Group struct {
	ClientID string
	Metric   string
	Stats
	Series []Bucket
}

// Store reads aggregations from ClickHouse.
type Store struct {
	conn   driver.Conn
	db     string
	mirror *Mirror
}

// NewStore returns a Store over conn reading database db (a validated
// identifier).
func NewStore(conn driver.Conn, db string) *Store {
	return &Store{conn: conn, db: db}
}

// WithMirror makes s answer from m whatever m can prove current; the
// rest still goes to ClickHouse.
func (s *Store) WithMirror(m *Mirror) *Store {
	s.mirror = m
	return s
}

// segment is a run of whole buckets [lo, hi) (unix seconds of their starts)
// of one level; math.MinInt64/MaxInt64 stand for open ends.
type segment struct {
	level  uint8
	lo, hi int64
}

// edge is a partial minute: the instants [lo, hi) (ms) of the minute that
// starts at minute (unix seconds).
type edge struct {
	minute int64
	lo, hi int64
}

// levelsBelow are the levels a range is covered with, coarse to fine,
// starting at top.
func levelsBelow(top uint8) []uint8 {
	all := []uint8{schema.LevelDay, schema.LevelHour, schema.Level10Min, schema.LevelMinute}
	i := slices.Index(all, top)
	if i < 0 {
		i = 0
	}
	return all[i:]
}

// plan covers [from, to) (ms; math.MinInt64/MaxInt64 for open ends) with
// the coarsest whole buckets of the levels, then finer ones at the ends,
// and returns what is left: partial minutes.
func plan(from, to int64, levels []uint8) ([]segment, []edge) {
	if from >= to {
		return nil, nil
	}
	if len(levels) == 0 {
		// Less than a minute is left, inside one minute.
		return nil, []edge{{minute: floorDiv(from, 60_000) * 60, lo: from, hi: to}}
	}
	w := schema.LevelSeconds[levels[0]] * 1000
	a, b := from, to
	if a != math.MinInt64 {
		a = ceilDiv(a, w) * w
	}
	if b != math.MaxInt64 {
		b = floorDiv(b, w) * w
	}
	if a > b {
		// The range lies inside one bucket of this level.
		return plan(from, to, levels[1:])
	}
	if a == b {
		// A boundary of this level, but no whole bucket: split there.
		s1, e1 := plan(from, a, levels[1:])
		s2, e2 := plan(a, to, levels[1:])
		return append(s1, s2...), append(e1, e2...)
	}
	seg := segment{level: levels[0], lo: math.MinInt64, hi: math.MaxInt64}
	if a != math.MinInt64 {
		seg.lo = a / 1000
	}
	if b != math.MaxInt64 {
		seg.hi = b / 1000
	}
	segs, edges := []segment{seg}, []edge(nil)
	if from < a {
		s, e := plan(from, a, levels[1:])
		segs, edges = append(segs, s...), append(edges, e...)
	}
	if b < to {
		s, e := plan(b, to, levels[1:])
		segs, edges = append(segs, s...), append(edges, e...)
	}
	return segs, edges
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

func ceilDiv(a, b int64) int64 { return -floorDiv(-a, b) }

// Plan describes how a query is answered (for tests and the explain log).
func (q Query) plan() ([]segment, []edge) {
	if q.From == nil && q.To == nil && q.Interval == IntervalNone {
		return []segment{{level: schema.LevelAll, lo: math.MinInt64, hi: math.MaxInt64}}, nil
	}
	from, to := int64(math.MinInt64), int64(math.MaxInt64)
	if q.From != nil {
		from = q.From.UnixMilli()
	}
	if q.To != nil {
		to = q.To.UnixMilli()
	}
	top := schema.LevelDay
	if q.Interval != IntervalNone {
		top = q.Interval.level()
	}
	return plan(from, to, levelsBelow(top))
}

// groupKey names one result row.
type groupKey struct {
	client, metric string
	bucket         int64
}

type result struct {
	q    Query
	accs map[groupKey]*Stats
}

func (r *result) key(client, metric string, bucketSec int64) groupKey {
	var k groupKey
	if r.q.GroupBy.byClient() {
		k.client = client
	}
	if r.q.GroupBy.byMetric() {
		k.metric = metric
	}
	if w := int64(r.q.Interval.Duration() / time.Second); w > 0 {
		k.bucket = floorDiv(bucketSec, w) * w
	}
	return k
}

func (r *result) add(k groupKey, s Stats) error { return r.addRow(k, s.Count, &s.Sum, &s.Min, &s.Max) }

func (r *result) addRow(k groupKey, count uint64, sum, mn, mx *decimal.Value) error {
	a := r.accs[k]
	if a == nil {
		if len(r.accs) >= MaxRows {
			return ErrTooLarge
		}
		a = &Stats{}
		r.accs[k] = a
	}
	a.mergeRow(count, sum, mn, mx)
	return nil
}

// Aggregate runs q and returns its groups in key order, series by time.
func (s *Store) Aggregate(ctx context.Context, q Query) ([]Group, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	if q.Tenant == "" {
		q.Tenant = event.DefaultTenant
	}
	segs, edges := q.plan()
	if s.mirror != nil {
		if groups, served, err := s.mirror.answer(q, segs, edges); served {
			return groups, err
		}
	}
	r := &result{q: q, accs: make(map[groupKey]*Stats)}
	if err := s.wholeBuckets(ctx, q, segs, r); err != nil {
		return nil, err
	}
	if err := s.edges(ctx, q, edges, r); err != nil {
		return nil, err
	}
	return r.groups(), nil
}

// filters renders the tenant, client and metric conditions.
func filters(q Query) (string, []any) {
	where := []string{"tenant = ?"}
	args := []any{q.Tenant}
	if len(q.ClientIDs) > 0 {
		where = append(where, "client_id IN ?")
		args = append(args, set(q.ClientIDs))
	}
	if len(q.Metrics) > 0 {
		where = append(where, "metric IN ?")
		args = append(args, set(q.Metrics))
	}
	return strings.Join(where, " AND "), args
}

func set(values []string) clickhouse.GroupSet {
	v := make([]any, len(values))
	for i, s := range values {
		v[i] = s
	}
	return clickhouse.GroupSet{Value: v}
}

// latest is the read of the newest version of each rollup row.
const latest = "argMax(tuple(version, count, sum, min, max, min_ts, max_ts), version) AS v"

// wholeBuckets adds the whole buckets, aggregated by ClickHouse.
func (s *Store) wholeBuckets(ctx context.Context, q Query, segs []segment, r *result) error {
	if len(segs) == 0 {
		return nil
	}
	where, args := filters(q)
	var ors []string
	for _, sg := range segs {
		cond := []string{fmt.Sprintf("level = %d", sg.level)}
		if sg.lo != math.MinInt64 {
			cond = append(cond, "bucket >= ?")
			args = append(args, clampBucket(sg.lo))
		}
		if sg.hi != math.MaxInt64 {
			cond = append(cond, "bucket < ?")
			args = append(args, clampBucket(sg.hi))
		}
		ors = append(ors, "("+strings.Join(cond, " AND ")+")")
	}
	bucket := "toInt64(0)"
	if w := int64(q.Interval.Duration() / time.Second); w > 0 {
		bucket = fmt.Sprintf("intDiv(toInt64(bucket), %d) * %d", w, w)
	}
	client, metric := "''", "''"
	if q.GroupBy.byClient() {
		client = "client_id"
	}
	if q.GroupBy.byMetric() {
		metric = "metric"
	}
	sql := "SELECT " + client + " AS g_client, " + metric + " AS g_metric, " + bucket + " AS g_bucket, " +
		"sum(v.2), sum(v.3), min(v.4), max(v.5) FROM (SELECT level, bucket, client_id, metric, stream, part, " + latest +
		" FROM " + s.db + "." + schema.State + fmt.Sprintf(" WHERE kind = %d AND ", schema.KindRollup) + where +
		" AND (" + strings.Join(ors, " OR ") + ") GROUP BY level, bucket, client_id, metric, stream, part)" +
		" GROUP BY g_client, g_metric, g_bucket" + fmt.Sprintf(" LIMIT %d", MaxRows+1)
	rows, err := s.conn.Query(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("aggregate: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			client, metric string
			bucket         int64
			st             Stats
			sum, mn, mx    shopspring.Decimal
		)
		if err := rows.Scan(&client, &metric, &bucket, &st.Count, &sum, &mn, &mx); err != nil {
			return fmt.Errorf("aggregate: scan: %w", err)
		}
		if st.Count == 0 {
			// Grouping by constants only (no groupBy, no interval) makes
			// ClickHouse return one row even when nothing matched.
			continue
		}
		st.Sum, st.Min, st.Max = value(sum), value(mn), value(mx)
		if err := r.add(groupKey{client, metric, bucket}, st); err != nil {
			return err
		}
	}
	return rows.Err()
}

func clampBucket(sec int64) uint32 {
	return uint32(min(max(sec, 0), math.MaxUint32))
}

func value(d shopspring.Decimal) decimal.Value {
	return decimal.FromScaled(d.Shift(decimal.Scale).BigInt())
}

// minuteRow is one minute rollup row at an edge.
type minuteRow struct {
	bucket         int64
	client, metric string
	stream         string
	part           int32
	version        uint64
	stats          Stats
	minTs, maxTs   int64
}

// edges adds the partial minutes: whole rows that lie inside, and the
// winners of rows that straddle an edge.
func (s *Store) edges(ctx context.Context, q Query, edges []edge, r *result) error {
	if len(edges) == 0 {
		return nil
	}
	where, args := filters(q)
	minutes := make([]any, len(edges))
	for i, e := range edges {
		minutes[i] = clampBucket(e.minute)
	}
	args = append(args, clickhouse.GroupSet{Value: minutes})
	rows, err := s.conn.Query(ctx, "SELECT bucket, client_id, metric, stream, part, v.1, v.2, v.3, v.4, v.5, v.6, v.7 FROM "+
		"(SELECT bucket, client_id, metric, stream, part, "+latest+" FROM "+s.db+"."+schema.State+
		fmt.Sprintf(" WHERE kind = %d AND level = %d AND ", schema.KindRollup, schema.LevelMinute)+where+
		" AND bucket IN ? GROUP BY bucket, client_id, metric, stream, part)", args...)
	if err != nil {
		return fmt.Errorf("aggregate edges: %w", err)
	}
	var straddlers []minuteRow
	var straddled []edge
	for rows.Next() {
		var (
			m           minuteRow
			bucket      uint32
			sum, mn, mx shopspring.Decimal
		)
		if err := rows.Scan(&bucket, &m.client, &m.metric, &m.stream, &m.part, &m.version, &m.stats.Count, &sum, &mn, &mx,
			&m.minTs, &m.maxTs); err != nil {
			rows.Close()
			return fmt.Errorf("aggregate edges: scan: %w", err)
		}
		m.bucket = int64(bucket)
		m.stats.Sum, m.stats.Min, m.stats.Max = value(sum), value(mn), value(mx)
		for _, e := range edges {
			switch {
			case e.minute != m.bucket || m.maxTs < e.lo || m.minTs >= e.hi:
				// Not this edge, or every event of the row is outside it.
			case m.minTs >= e.lo && m.maxTs < e.hi:
				if err := r.add(r.key(m.client, m.metric, m.bucket), m.stats); err != nil {
					rows.Close()
					return err
				}
			default:
				straddlers = append(straddlers, m)
				straddled = append(straddled, e)
			}
		}
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return fmt.Errorf("aggregate edges: %w", err)
	}
	return s.straddlers(ctx, q, straddlers, straddled, r)
}

// straddlers reads, for each row that straddles an edge, its winners inside
// the edge: same tenant, client, metric and minute, from the row's stream
// and partition below its version.
func (s *Store) straddlers(ctx context.Context, q Query, rows []minuteRow, edges []edge, r *result) error {
	if len(rows) == 0 {
		return nil
	}
	var ors []string
	args := []any{q.Tenant}
	for i, m := range rows {
		e := edges[i]
		ors = append(ors, "(toStartOfMinute(ts) = toDateTime(?) AND client_id = ? AND metric = ? AND stream = ? AND partition = ? "+
			"AND offset < ? AND ts_ms >= ? AND ts_ms < ?)")
		args = append(args, clampBucket(m.bucket), m.client, m.metric, m.stream, m.part, int64(m.version), e.lo, e.hi)
	}
	res, err := s.conn.Query(ctx, "SELECT client_id, metric, ts_ms, amount FROM "+s.db+"."+schema.Events+
		" FINAL WHERE tenant = ? AND ("+strings.Join(ors, " OR ")+")", args...)
	if err != nil {
		return fmt.Errorf("aggregate edge events: %w", err)
	}
	defer res.Close()
	for res.Next() {
		var (
			client, metric string
			ts             int64
			amount         shopspring.Decimal
		)
		if err := res.Scan(&client, &metric, &ts, &amount); err != nil {
			return fmt.Errorf("aggregate edge events: scan: %w", err)
		}
		a := value(amount)
		if err := r.add(r.key(client, metric, floorDiv(ts, 1000)), Stats{Count: 1, Sum: a, Min: a, Max: a}); err != nil {
			return err
		}
	}
	return res.Err()
}

// groups orders the result: groups by key, series by time, averages last.
func (r *result) groups() []Group {
	byGroup := make(map[groupKey]*Group)
	var out []*Group
	for k, st := range r.accs {
		gk := groupKey{client: k.client, metric: k.metric}
		g := byGroup[gk]
		if g == nil {
			g = &Group{ClientID: k.client, Metric: k.metric}
			byGroup[gk] = g
			out = append(out, g)
		}
		g.merge(*st)
		if r.q.Interval != IntervalNone {
			b := Bucket{Start: time.Unix(k.bucket, 0).UTC(), Stats: *st}
			b.Avg = b.Sum.Div(b.Count)
			g.Series = append(g.Series, b)
		}
	}
	slices.SortFunc(out, func(a, b *Group) int {
		if c := strings.Compare(a.ClientID, b.ClientID); c != 0 {
			return c
		}
		return strings.Compare(a.Metric, b.Metric)
	})
	groups := make([]Group, len(out))
	for i, g := range out {
		g.Avg = g.Sum.Div(g.Count)
		slices.SortFunc(g.Series, func(a, b Bucket) int { return a.Start.Compare(b.Start) })
		groups[i] = *g
	}
	return groups
}

// Dimension is a client id or a metric name.
type Dimension string

// The dimensions Values lists.
const (
	Clients Dimension = "client_id"
	Metrics Dimension = "metric"
)

// Values lists a tenant's distinct clients or metrics that start with
// prefix, sorted, at most limit of them; truncated says there were more.
// It reads the all-time rollup rows: one per client × metric × partition.
func (s *Store) Values(ctx context.Context, tenant string, dim Dimension, prefix string, limit int) ([]string, bool, error) {
	if dim != Clients && dim != Metrics {
		return nil, false, fmt.Errorf("%w: dimension %q", ErrInvalid, dim)
	}
	if tenant == "" {
		tenant = event.DefaultTenant
	}
	if s.mirror != nil {
		if out, truncated, ok := s.mirror.values(tenant, dim, prefix, limit); ok {
			return out, truncated, nil
		}
	}
	col := string(dim)
	rows, err := s.conn.Query(ctx, "SELECT DISTINCT "+col+" FROM "+s.db+"."+schema.State+
		fmt.Sprintf(" WHERE kind = %d AND level = %d AND tenant = ? AND startsWith(%s, ?) ORDER BY %s LIMIT %d",
			schema.KindRollup, schema.LevelAll, col, col, limit+1), tenant, prefix)
	if err != nil {
		return nil, false, fmt.Errorf("list %s: %w", col, err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, false, fmt.Errorf("list %s: scan: %w", col, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("list %s: %w", col, err)
	}
	if len(out) > limit {
		return out[:limit], true, nil
	}
	return out, false, nil
}
