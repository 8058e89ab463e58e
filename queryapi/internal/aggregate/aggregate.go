// Package aggregate computes Tally's exact aggregations (count, sum, avg,
// min, max per client/metric and time bucket) from ClickHouse.
//
// # Exactness (invariant I2)
//
// The events table is a ReplacingMergeTree: until a background merge runs,
// one logical event may exist as several physical rows (the Redis filter was
// flushed, a batch was reprocessed after a crash, two copies raced). Every
// query therefore reads exactly one row per event_id, in one of two ways:
//
//	Final:          SELECT <keys>, count(), sum(amount), … FROM db.events FINAL
//	                WHERE <prefilter> GROUP BY <keys>
//	GroupByEventID: SELECT <keys>, count(), sum(e_amount), …
//	                FROM (SELECT event_id, any(client_id) AS e_client, …,
//	                      any(amount) AS e_amount, min(ts) AS e_ts
//	                      FROM db.events WHERE <prefilter> GROUP BY event_id)
//	                GROUP BY <keys>
//
// Both rest on one property of the processor's rows: every physical copy of
// an event_id carries the same canonical fields (the id is derived from
// them). Hence all copies share the sort key (client_id, metric, event_id)
// and the partition (toYYYYMM(ts)), which is what FINAL needs to collapse
// them; any() picks an exact value; and a client/metric/time prefilter keeps
// either every copy of an event or none. The inner aliases are prefixed e_
// because ClickHouse aliases are query-global and would otherwise leak into
// the WHERE clause.
//
// Which one is faster depends on the time range, so Auto picks per query.
// Measured with BenchmarkAggregate on 18.16 (2 cores shared with other
// workloads, load average 10+, so read the ratios rather than the absolute
// numbers), N events + N/10 physical duplicate rows, groupBy=both:
//
//	                      N=1M: FINAL  GROUP BY   N=10M: FINAL  GROUP BY
//	all time                    0.75 s   1.74 s          14.5 s    28.9 s   → FINAL
//	one day                     0.58 s   0.34 s           4.2 s     1.2 s   → GROUP BY event_id
//	one day, hourly series      0.92 s   0.37 s           4.5 s     1.5 s
//
// FINAL merges sorted parts without hashing 64-byte ids, so it wins when
// everything is read; but 18.16 applies the WHERE only after the merge, so
// a narrow time range (ts is not in the sort key) still pays for the whole
// month partition, and hashing the few surviving rows wins. Neither comes
// near the 50 ms target at 10M events on this hardware, and an all-time
// query at 10M can exceed the default 10 s query timeout (then: 503). That
// needs a pre-aggregated rollup of first-seen events maintained at write
// time — a schema and processor change, not something a reader can do.
//
// # Amounts
//
// Amounts are Decimal(38, 9). Sums, minima and maxima are read as text
// (toString) and carried as exact decimals (package decimal); the average is
// computed in Go as the exact sum divided by the count, rounded half away
// from zero to 9 fractional digits — the only rounding anywhere.
//
// # Time buckets
//
// Buckets are toStartOfMinute/Hour/Day of the event time in UTC (explicit
// time zone, so the server's zone never matters), returned as instants.
//
// # Safety
//
// User values reach SQL only as bound parameters (clickhouse-go's `?`
// binding quotes and escapes them; 18.16 has no server-side parameters).
// Group keys and intervals are whitelisted enums mapped to fixed SQL text.
// The database name is validated as an identifier by package config.
package aggregate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

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

// sqlFunc is the fixed ClickHouse function for the interval.
func (i Interval) sqlFunc() string {
	switch i {
	case IntervalMinute:
		return "toStartOfMinute"
	case IntervalHour:
		return "toStartOfHour"
	case IntervalDay:
		return "toStartOfDay"
	}
	return ""
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
// a nil bound is open.
type Query struct {
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

func (s *Stats) merge(o Stats) {
	if s.Count == 0 {
		*s = o
		return
	}
	s.Count += o.Count
	s.Sum = s.Sum.Add(o.Sum)
	if o.Min.Cmp(s.Min) < 0 {
		s.Min = o.Min
	}
	if o.Max.Cmp(s.Max) > 0 {
		s.Max = o.Max
	}
	s.Avg = s.Sum.Div(s.Count)
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

// Statement is SQL text with its bound arguments.
type Statement struct {
	SQL  string
	Args []any
}

// Method is how a query collapses physical copies to one row per event.
type Method int

const (
	// Auto picks FINAL without a time range and GroupByEventID with one;
	// see the package doc for the measurements behind it.
	Auto Method = iota
	// Final reads the table with FINAL: ReplacingMergeTree merges copies
	// that share the sort key (client_id, metric, event_id) and partition
	// (toYYYYMM(ts)) while reading. Every copy of an event shares both.
	Final
	// GroupByEventID collapses in an inner GROUP BY event_id.
	GroupByEventID
)

// String names the method (test and benchmark names).
func (m Method) String() string {
	switch m {
	case Final:
		return "final"
	case GroupByEventID:
		return "groupby"
	}
	return "auto"
}

func (m Method) resolve(q Query) Method {
	if m != Auto {
		return m
	}
	if q.From != nil || q.To != nil {
		return GroupByEventID
	}
	return Final
}

// Build renders the query for database db with the Auto method.
func Build(db string, q Query) Statement { return BuildWith(db, q, Auto) }

// BuildWith renders the query for database db. It never interpolates user
// input.
func BuildWith(db string, q Query, m Method) Statement {
	var where []string
	var args []any
	where, args = appendIn(where, args, "client_id", q.ClientIDs)
	where, args = appendIn(where, args, "metric", q.Metrics)
	where, args = appendTimeRange(where, args, q.From, q.To)
	final := m.resolve(q) == Final

	// Column names the outer aggregation reads: the table's own with FINAL,
	// the inner query's aliases otherwise.
	client, metric, amount, ts := "e_client", "e_metric", "e_amount", "e_ts"
	if final {
		client, metric, amount, ts = "client_id", "metric", "amount", "ts"
	}
	var keys, names []string
	if q.GroupBy.byClient() {
		keys, names = append(keys, client), append(names, client)
	}
	if q.GroupBy.byMetric() {
		keys, names = append(keys, metric), append(names, metric)
	}
	if fn := q.Interval.sqlFunc(); fn != "" {
		keys = append(keys, "toUInt32(toUnixTimestamp("+fn+"("+ts+", 'UTC'))) AS e_bucket")
		names = append(names, "e_bucket")
	}

	var b strings.Builder
	b.WriteString("SELECT ")
	for _, k := range keys {
		b.WriteString(k)
		b.WriteString(", ")
	}
	fmt.Fprintf(&b, "count() AS n, toString(sum(%[1]s)), toString(min(%[1]s)), toString(max(%[1]s)) FROM ", amount)
	whereSQL := ""
	if len(where) > 0 {
		whereSQL = " WHERE " + strings.Join(where, " AND ")
	}
	if final {
		b.WriteString(db + ".events FINAL" + whereSQL)
	} else {
		// The inner query computes only the columns the outer one uses:
		// every any() is work per row.
		b.WriteString("(SELECT event_id")
		if q.GroupBy.byClient() {
			b.WriteString(", any(client_id) AS e_client")
		}
		if q.GroupBy.byMetric() {
			b.WriteString(", any(metric) AS e_metric")
		}
		b.WriteString(", any(amount) AS e_amount")
		if q.Interval != IntervalNone {
			b.WriteString(", min(ts) AS e_ts")
		}
		b.WriteString(" FROM " + db + ".events" + whereSQL + " GROUP BY event_id)")
	}
	if len(names) > 0 {
		list := strings.Join(names, ", ")
		b.WriteString(" GROUP BY " + list + " ORDER BY " + list)
		// One more than allowed, so an oversized answer is detected, not cut.
		fmt.Fprintf(&b, " LIMIT %d", MaxRows+1)
	}
	return Statement{SQL: b.String(), Args: args}
}

// appendIn adds "col IN (?, ?, …)" for a non-empty value list.
func appendIn(where []string, args []any, col string, values []string) ([]string, []any) {
	if len(values) == 0 {
		return where, args
	}
	where = append(where, col+" IN ("+strings.TrimSuffix(strings.Repeat("?, ", len(values)), ", ")+")")
	for _, v := range values {
		args = append(args, v)
	}
	return where, args
}

// appendTimeRange filters on ts_ms (exact, milliseconds) and also on the
// DateTime column ts, which the table is partitioned by (toYYYYMM(ts)), so
// ClickHouse skips whole months outside the range.
func appendTimeRange(where []string, args []any, from, to *time.Time) ([]string, []any) {
	if from != nil {
		where = append(where, "ts >= toDateTime(?)", "ts_ms >= ?")
		args = append(args, clampUnix(from.Unix()), from.UnixMilli())
	}
	if to != nil {
		// ts is whole seconds, so ts <= the second containing To keeps every
		// row whose ts_ms < To.
		where = append(where, "ts <= toDateTime(?)", "ts_ms < ?")
		args = append(args, clampUnix(to.Unix()), to.UnixMilli())
	}
	return where, args
}

// clampUnix keeps a bound inside DateTime's range (1970 … 2106) so the
// prefilter never overflows; the exact ts_ms condition does the real work.
func clampUnix(s int64) uint32 {
	switch {
	case s < 0:
		return 0
	case s > 1<<32-1:
		return 1<<32 - 1
	}
	return uint32(s)
}

// Store reads aggregations from ClickHouse.
type Store struct {
	conn   driver.Conn
	db     string
	method Method
}

// NewStore returns a Store over conn reading database db (a validated
// identifier), collapsing copies with the Auto method.
func NewStore(conn driver.Conn, db string) *Store {
	return &Store{conn: conn, db: db}
}

// WithMethod returns a copy of s that always collapses with m (tests and
// benchmarks compare the methods).
func (s *Store) WithMethod(m Method) *Store {
	c := *s
	c.method = m
	return &c
}

// Aggregate runs q and returns its groups in key order.
func (s *Store) Aggregate(ctx context.Context, q Query) ([]Group, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	st := BuildWith(s.db, q, s.method)
	rows, err := s.conn.Query(ctx, st.SQL, st.Args...)
	if err != nil {
		return nil, fmt.Errorf("aggregate: %w", err)
	}
	defer rows.Close()

	var (
		groups []Group
		nrows  int
	)
	for rows.Next() {
		nrows++
		if nrows > MaxRows {
			return nil, ErrTooLarge
		}
		var (
			g                Group
			bucket           uint32
			sum, least, most string
		)
		dest := make([]any, 0, 7)
		if q.GroupBy.byClient() {
			dest = append(dest, &g.ClientID)
		}
		if q.GroupBy.byMetric() {
			dest = append(dest, &g.Metric)
		}
		if q.Interval != IntervalNone {
			dest = append(dest, &bucket)
		}
		dest = append(dest, &g.Count, &sum, &least, &most)
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("aggregate: scan: %w", err)
		}
		if g.Count == 0 {
			// An ungrouped aggregate over no rows still returns one row.
			continue
		}
		if g.Sum, err = decimal.Parse(sum); err == nil {
			if g.Min, err = decimal.Parse(least); err == nil {
				g.Max, err = decimal.Parse(most)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("aggregate: %w", err)
		}
		g.Avg = g.Sum.Div(g.Count)
		if q.Interval == IntervalNone {
			groups = append(groups, g)
			continue
		}
		b := Bucket{Start: time.Unix(int64(bucket), 0).UTC(), Stats: g.Stats}
		if n := len(groups); n > 0 && groups[n-1].ClientID == g.ClientID && groups[n-1].Metric == g.Metric {
			groups[n-1].merge(b.Stats)
			groups[n-1].Series = append(groups[n-1].Series, b)
			continue
		}
		g.Series = []Bucket{b}
		groups = append(groups, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("aggregate: %w", err)
	}
	for i := range groups {
		slices.SortFunc(groups[i].Series, func(a, b Bucket) int { return a.Start.Compare(b.Start) })
	}
	return groups, nil
}
