// Package eventlog lists Tally's records with their fate and explains one
// event's lineage (docs/api.md: GET /v1/events, GET /v1/events/{id} and the
// seed's GET /api/events), reading the tables of docs/design/read-model.md:
//
//   - processed: the winners in events — the first stored copy of each id;
//   - duplicate and conflict: the copies that lost, in duplicates (a
//     conflict keeps what it said: its fields and raw payload);
//   - rejected, dead_lettered and forwarded: one row per source record in
//     rejected_events, dead_letters and forwarded.
//
// # One time axis, read along the sort keys
//
// A listing is newest first on each item's time: an event's event time,
// and for every other record (a copy that lost, a rejection, a dead letter,
// a forwarded stray) its received time; from and to bound the same time.
// That is the order the events table keeps — (tenant, minute of the event
// time, client, metric, id) — so a page of events is read window by window
// backwards, each window four times wider than the last, and the read stops
// at the first window that completes the page: it is bounded by the page's
// time span, never by the table. The first window starts at the newest
// event and is as wide as a page of evenly spread events, both taken from
// the read model's all-time rollups; they are only a hint (a wrong one
// costs reads, never items).
//
// ClickHouse 18.16 has no read-in-order and no skip indexes, so inside a
// window, and in the other tables (keyed by id or by source, with no time
// in their sort keys), a read is two queries: the first reads only the time
// column, to find the lowest time the page reaches; the second reads the
// page's rows from that time on — a primary-key range in events, a PREWHERE
// on the time column elsewhere, so wide columns are read only in the
// granules that hold the page. The other tables are therefore read whole
// (their time column) on every page; they hold the exceptions, not the
// events.
//
// # Each item once
//
// Until ReplacingMergeTree merges them, a winner and every outcome row may
// be stored twice by a batch rewritten after a crash; the rewrites have the
// same sort key, time and source. Reads keep them and drop them in Go by the
// item's key, and when dropping leaves a page short, the read is repeated
// with a larger limit. Counts use FINAL on the events' primary-key range and
// uniqExact over the sort key of the other tables.
//
// # Pagination, tenants, amounts
//
// Pages are keyset, newest first, on (time, id, status, stream), which is
// unique per item; the cursor is that tuple, opaque to clients (base64 of
// JSON). Items stored after a walk began show up on a new first page, never
// in the middle of the walk.
//
// Every read filters by the query's tenant (event.DefaultTenant when
// empty): another tenant's record is not found, never forbidden.
//
// Amounts are read as the driver's decimals, never through toString (which
// misprints some Decimal128 values above 2^64 on ClickHouse 18.16), and are
// written as exact JSON numbers with the same value as a decimal string
// beside them (amountExact).
//
// User values reach SQL only as bound parameters; the database name is
// validated as an identifier by package config.
package eventlog

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/tally-dev/tally/event"
	"github.com/tally-dev/tally/event/schema"
	"github.com/tally-dev/tally/queryapi/internal/decimal"
	"github.com/tally-dev/tally/queryapi/internal/instant"
)

// Status is the fate of a raw record or logical event.
type Status string

// The statuses of docs/api.md.
const (
	StatusProcessed    Status = schema.OutcomeProcessed
	StatusDuplicate    Status = schema.OutcomeDuplicate
	StatusConflict     Status = schema.OutcomeConflict
	StatusRejected     Status = schema.OutcomeRejected
	StatusDeadLettered Status = schema.OutcomeDeadLettered
	StatusForwarded    Status = schema.OutcomeForwarded
)

// AllStatuses is every status a listing can show.
var AllStatuses = []Status{StatusProcessed, StatusDuplicate, StatusConflict, StatusRejected, StatusDeadLettered, StatusForwarded}

// ParseStatus maps the API spelling to a Status.
func ParseStatus(s string) (Status, bool) {
	for _, st := range AllStatuses {
		if string(st) == s {
			return st, true
		}
	}
	return "", false
}

// Limits for listings.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
	// MaxOffset bounds the seed API's skip, which every read must reach past.
	MaxOffset = 100_000
	// MaxFilterValues is the most values one filter list may hold.
	MaxFilterValues = 100
)

// ErrInvalid marks a bad query or cursor; the HTTP layer maps it to 400.
var ErrInvalid = errors.New("invalid query")

// ErrNotFound is returned by Get for an id unknown in the tenant.
var ErrNotFound = errors.New("not found")

// Cursor is the position after the last item of a page: its time (event
// time of an event, received time of any other record), id, status and
// stream (topic incarnation).
type Cursor struct {
	AtMs   int64  `json:"r"`
	ID     string `json:"i"`
	Status Status `json:"s"`
	Stream string `json:"t,omitempty"`
}

// Encode renders the cursor as opaque URL-safe text.
func (c Cursor) Encode() string {
	b, _ := json.Marshal(c) // cannot fail: plain fields
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor parses Encode's output; anything else is ErrInvalid.
func DecodeCursor(s string) (Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) > 512 {
		return Cursor{}, fmt.Errorf("%w: malformed cursor", ErrInvalid)
	}
	var c Cursor
	if err := json.Unmarshal(b, &c); err != nil || c.ID == "" {
		return Cursor{}, fmt.Errorf("%w: malformed cursor", ErrInvalid)
	}
	if _, ok := ParseStatus(string(c.Status)); !ok {
		return Cursor{}, fmt.Errorf("%w: malformed cursor", ErrInvalid)
	}
	return c, nil
}

// ListQuery selects items. From and To are a half-open range [From, To) on
// the item's time: the event time of processed events, the received time
// of every other record. Filters on client or metric exclude records that
// lack the field: a dead letter has neither, a rejection only a client
// hint, a forwarded stray only a client.
type ListQuery struct {
	Tenant    string // "" means event.DefaultTenant
	ClientIDs []string
	Metrics   []string
	Statuses  []Status // empty = all
	From, To  *time.Time
	Limit     int
	After     *Cursor // keyset position (the /v1 API)
	Offset    int     // items to skip (the seed API); ignored when After is set
	WithRaw   bool    // fill Summary.Raw (the seed API's originalPayload)
}

// plan is a validated ListQuery with what its reads derive from it.
type plan struct {
	ListQuery
	tenant string
	want   map[Status]bool
	lo, hi int64 // inclusive bounds of the item time, from From, To and After
	need   int   // items each table must supply: skipped ones, the page, one more
}

// Source locates a raw record in Kafka.
type Source struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

// Rejection says why a record was not stored as an event.
type Rejection struct {
	Code    string `json:"code"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// Summary is one item of a listing (EventSummary in docs/api.md).
type Summary struct {
	ID          string           `json:"id"`
	EventID     string           `json:"eventId,omitempty"`
	Status      Status           `json:"status"`
	ClientID    string           `json:"clientId,omitempty"`
	Metric      string           `json:"metric,omitempty"`
	Amount      *decimal.Value   `json:"amount,omitempty"`
	Timestamp   *instant.Instant `json:"timestamp,omitempty"`
	ReceivedAt  instant.Instant  `json:"receivedAt"`
	Source      Source           `json:"source"`
	Rejection   *Rejection       `json:"rejection,omitempty"`
	ForwardedTo *Source          `json:"forwardedTo,omitempty"`

	// Raw is the record's text, only with ListQuery.WithRaw (a duplicate
	// and a forwarded stray keep none).
	Raw string `json:"-"`

	atMs        int64
	stream      string
	tsDefaulted bool
}

// MarshalJSON writes the summary with amountExact beside amount.
func (s Summary) MarshalJSON() ([]byte, error) {
	type plain Summary
	return json.Marshal(struct {
		plain
		AmountExact string `json:"amountExact,omitempty"`
	}{plain(s), exactText(s.Amount)})
}

// Cursor is the keyset position just after s.
func (s Summary) Cursor() Cursor {
	return Cursor{AtMs: s.atMs, ID: s.ID, Status: s.Status, Stream: s.stream}
}

// compareKeys orders items as listings do, newest first: it returns a
// negative number when a comes before b.
func compareKeys(a, b Cursor) int {
	return -cmp.Or(cmp.Compare(a.AtMs, b.AtMs), strings.Compare(a.ID, b.ID),
		strings.Compare(string(a.Status), string(b.Status)), strings.Compare(a.Stream, b.Stream))
}

// Store reads the event log from ClickHouse.
type Store struct {
	conn     driver.Conn
	db       string
	rawTopic string
}

// NewStore returns a Store over database db (a validated identifier).
// rawTopic completes "raw-<partition>-<offset>" ids, which omit the topic.
func NewStore(conn driver.Conn, db, rawTopic string) *Store {
	return &Store{conn: conn, db: db, rawTopic: rawTopic}
}

func tenantOr(t string) string { return cmp.Or(t, event.DefaultTenant) }

// prepare validates q and derives its plan; forList checks the paging
// fields too.
func prepare(q ListQuery, forList bool) (plan, error) {
	if forList {
		if q.Limit < 1 || q.Limit > MaxLimit {
			return plan{}, fmt.Errorf("%w: limit must be 1..%d", ErrInvalid, MaxLimit)
		}
		if q.Offset < 0 || q.Offset > MaxOffset {
			return plan{}, fmt.Errorf("%w: skip must be 0..%d", ErrInvalid, MaxOffset)
		}
	}
	if len(q.ClientIDs) > MaxFilterValues || len(q.Metrics) > MaxFilterValues {
		return plan{}, fmt.Errorf("%w: at most %d values per filter", ErrInvalid, MaxFilterValues)
	}
	if q.From != nil && q.To != nil && !q.From.Before(*q.To) {
		return plan{}, fmt.Errorf("%w: from must be before to", ErrInvalid)
	}
	p := plan{ListQuery: q, tenant: tenantOr(q.Tenant), want: map[Status]bool{}}
	for _, st := range q.Statuses {
		if _, ok := ParseStatus(string(st)); !ok {
			return plan{}, fmt.Errorf("%w: status %q", ErrInvalid, st)
		}
		p.want[st] = true
	}
	if len(q.Statuses) == 0 {
		for _, st := range AllStatuses {
			p.want[st] = true
		}
	}
	// Event times are DateTime (seconds since 1970) in storage: nothing
	// lies before 0.
	p.lo, p.hi = 0, math.MaxInt64
	if q.From != nil {
		p.lo = max(q.From.UnixMilli(), 0)
	}
	if q.To != nil {
		p.hi = q.To.UnixMilli() - 1
	}
	if q.After != nil {
		p.hi = min(p.hi, q.After.AtMs)
		p.Offset = 0
	}
	p.need = p.Offset + q.Limit + 1
	return p, nil
}

// List returns one page, newest first, and the cursor of the next page (nil
// when this page is the last).
func (s *Store) List(ctx context.Context, q ListQuery) ([]Summary, *Cursor, error) {
	p, err := prepare(q, true)
	if err != nil {
		return nil, nil, err
	}
	var all []Summary
	if p.lo <= p.hi {
		for _, l := range s.listings(p) {
			var items []Summary
			if l.table == schema.Events {
				items, err = s.topWinners(ctx, l, p)
			} else {
				items, err = s.top(ctx, l, p.After, p.need)
			}
			if err != nil {
				return nil, nil, fmt.Errorf("list %s: %w", l.table, err)
			}
			all = append(all, items...)
		}
	}
	slices.SortFunc(all, func(a, b Summary) int { return compareKeys(a.Cursor(), b.Cursor()) })
	all = all[min(p.Offset, len(all)):]
	var next *Cursor
	if len(all) > p.Limit {
		all = all[:p.Limit]
		c := all[len(all)-1].Cursor()
		next = &c
	}
	if err := s.fillDefaultedTimes(ctx, p.tenant, all); err != nil {
		return nil, nil, err
	}
	return all, next, nil
}

// Count returns how many items match q, ignoring Limit, After and Offset
// (the seed API's totals).
func (s *Store) Count(ctx context.Context, q ListQuery) (uint64, error) {
	q.After, q.Offset = nil, 0
	p, err := prepare(q, false)
	if err != nil {
		return 0, err
	}
	if p.lo > p.hi {
		return 0, nil
	}
	var total uint64
	for _, l := range s.listings(p) {
		var sql string
		where, args := l.where, l.args
		if l.table == schema.Events {
			where, args = withTimeRange(where, args, p.lo, p.hi)
			// FINAL on the primary-key range: a rewrite counts once.
			sql = "SELECT count() FROM " + s.db + "." + l.table + " FINAL WHERE " + strings.Join(where, " AND ")
		} else {
			sql = "SELECT uniqExact(stream, partition, offset) FROM " + s.db + "." + l.table + " WHERE " + strings.Join(where, " AND ")
		}
		var n uint64
		if err := s.conn.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
			return 0, fmt.Errorf("count %s: %w", l.table, err)
		}
		total += n
	}
	return total, nil
}

// listing is one table's share of a listing: the selected rows, their time
// column, how to identify and order them, and how to read one.
type listing struct {
	table string
	at    string // the item's time (ms)
	where []string
	args  []any
	id    string // SQL of the item's id
	state string // SQL of the item's status
	cols  string // columns for scan, in its order
	scan  func(driver.Rows) (Summary, error)
}

// rawID is the SQL of a record's raw-<partition>-<offset> id.
const rawID = "concat('raw-', toString(partition), '-', toString(offset))"

// listings builds the reads of the selected statuses. Every table but
// events is bounded to the plan's time range here; events are bounded per
// window by the caller.
func (s *Store) listings(q plan) []listing {
	raw := "''"
	if q.WithRaw {
		raw = "raw"
	}
	base := func() ([]string, []any) {
		return withAtRange([]string{"tenant = ?"}, []any{q.tenant}, "received_ms", q.lo, q.hi)
	}
	var out []listing
	if q.want[StatusProcessed] {
		where, args := []string{"tenant = ?"}, []any{q.tenant}
		where, args = in(where, args, "client_id", q.ClientIDs)
		where, args = in(where, args, "metric", q.Metrics)
		out = append(out, listing{table: schema.Events, at: "ts_ms", where: where, args: args, id: "event_id",
			state: "'" + string(StatusProcessed) + "'",
			cols:  "event_id, client_id, metric, amount, ts_ms, received_ms, stream, topic, partition, offset, " + raw,
			scan:  scanWinner})
	}
	var kinds []string
	for _, st := range []Status{StatusDuplicate, StatusConflict} {
		if q.want[st] {
			kinds = append(kinds, string(st))
		}
	}
	if len(kinds) > 0 {
		where, args := base()
		where, args = in(where, args, "kind", kinds)
		where, args = in(where, args, "client_id", q.ClientIDs)
		where, args = in(where, args, "metric", q.Metrics)
		out = append(out, listing{table: schema.Duplicates, at: "received_ms", where: where, args: args, id: rawID, state: "kind",
			cols: "event_id, kind, client_id, metric, amount, ts_ms, ts_defaulted, received_ms, stream, topic, partition, offset, " + raw,
			scan: scanCopy})
	}
	if q.want[StatusRejected] && len(q.Metrics) == 0 {
		where, args := base()
		where, args = in(where, args, "client_hint", q.ClientIDs)
		out = append(out, listing{table: schema.Rejected, at: "received_ms", where: where, args: args, id: rawID,
			state: "'" + string(StatusRejected) + "'",
			cols:  "code, field, message, client_hint, received_ms, stream, topic, partition, offset, " + raw,
			scan:  scanRejected})
	}
	if q.want[StatusDeadLettered] && len(q.Metrics) == 0 && len(q.ClientIDs) == 0 {
		where, args := base()
		out = append(out, listing{table: schema.DeadLetters, at: "received_ms", where: where, args: args, id: rawID,
			state: "'" + string(StatusDeadLettered) + "'",
			cols:  "reason, received_ms, stream, topic, partition, offset, " + raw,
			scan:  scanDeadLetter})
	}
	if q.want[StatusForwarded] && len(q.Metrics) == 0 {
		where, args := base()
		where, args = in(where, args, "client_id", q.ClientIDs)
		out = append(out, listing{table: schema.Forwarded, at: "received_ms", where: where, args: args, id: rawID,
			state: "'" + string(StatusForwarded) + "'",
			cols:  "event_id, client_id, received_ms, stream, topic, partition, offset, to_partition, to_offset",
			scan:  scanForwarded})
	}
	return out
}

func in(where []string, args []any, col string, values []string) ([]string, []any) {
	if len(values) == 0 {
		return where, args
	}
	set := make([]any, len(values))
	for i, v := range values {
		set[i] = v
	}
	return append(where, col+" IN ?"), append(args, clickhouse.GroupSet{Value: set})
}

// withAtRange bounds the time column to [lo, hi] (inclusive).
func withAtRange(where []string, args []any, at string, lo, hi int64) ([]string, []any) {
	where = append(slices.Clip(where), at+" >= ?")
	args = append(slices.Clip(args), lo)
	if hi != math.MaxInt64 {
		where, args = append(where, at+" <= ?"), append(args, hi)
	}
	return where, args
}

// withTimeRange bounds an events read to event times [lo, hi] (inclusive),
// on ts as well as ts_ms so that the primary key's minute column limits the
// granules read.
func withTimeRange(where []string, args []any, lo, hi int64) ([]string, []any) {
	where, args = withAtRange(where, args, "ts_ms", lo, hi)
	where, args = append(where, "ts >= toDateTime(?)"), append(args, seconds(lo))
	if hi != math.MaxInt64 {
		where, args = append(where, "ts <= toDateTime(?)"), append(args, seconds(hi))
	}
	return where, args
}

// seconds is the DateTime second holding the instant ms, clamped to the
// type's range.
func seconds(ms int64) uint32 {
	sec := ms / 1000
	if ms < 0 && ms%1000 != 0 {
		sec--
	}
	return uint32(min(max(sec, 0), math.MaxUint32))
}

// The event listing's first window spans at least firstWindow, and each
// next one growth times as far back as the last.
const (
	firstWindow = int64(time.Minute / time.Millisecond)
	growth      = 4
)

// windows yields disjoint ranges [lower, upper] of item times that cover
// [lo, hi] from the newest down: the first reaches width below anchor
// (where the newest events are thought to be) or below hi if that is
// older, each next one growth times as far. Reading newest first, a window
// that completes a page ends the walk, so the read spans at most about
// growth times the page's time span, and an empty stretch costs one window
// per factor of growth.
func windows(lo, hi, anchor, width int64) iter.Seq2[int64, int64] {
	return func(yield func(int64, int64) bool) {
		top, upper := min(hi, anchor), hi
		for ; upper >= lo; width = satMul(width, growth) {
			// top <= upper and widths grow, so lower <= upper.
			lower := max(lo, satSub(top, width))
			if !yield(lower, upper) || lower == lo {
				return
			}
			upper = lower - 1
		}
	}
}

// topWinners reads the newest processed events window by window, until the
// page is complete or the range is exhausted. The all-time rollups of the
// read model say where the newest counted events are and how dense events
// are on average, so the first window starts there and is wide enough for
// a page of evenly spread events: a page usually costs one window, whether
// the newest events are a second or a year old. The read model is only a
// hint here: events it has not counted yet lie in the first window, which
// reaches up to the upper bound, and a wrong guess costs reads, never
// items.
func (s *Store) topWinners(ctx context.Context, l listing, q plan) ([]Summary, error) {
	h, err := s.extent(ctx, q)
	if err != nil {
		return nil, err
	}
	anchor, width := time.Now().UnixMilli(), firstWindow
	if h.count > 0 {
		anchor = h.newest
		if span := h.newest - h.oldest; span > 0 && h.count > 1 {
			width = max(width, satMul(span/int64(h.count-1)+1, int64(q.need)))
		}
	}
	var out []Summary
	for lower, upper := range windows(q.lo, q.hi, anchor, width) {
		w := l
		w.where, w.args = withTimeRange(l.where, l.args, lower, upper)
		items, err := s.top(ctx, w, q.After, q.need-len(out))
		if err != nil {
			return nil, err
		}
		if out = append(out, items...); len(out) >= q.need {
			break
		}
	}
	return out, nil
}

// extent is what the all-time rollups say of the counted winners that
// match a query's filters.
type extent struct {
	oldest, newest int64
	count          uint64
}

// extent reads the all-time rollup rows (a primary-key range of the state
// table). The rows are cumulative per writer partition, so the highest
// version of each carries its count, and min_ts and max_ts only widen with
// versions.
func (s *Store) extent(ctx context.Context, q plan) (extent, error) {
	where, args := []string{"tenant = ?", "kind = ?", "level = ?"}, []any{q.tenant, schema.KindRollup, schema.LevelAll}
	where, args = in(where, args, "client_id", q.ClientIDs)
	where, args = in(where, args, "metric", q.Metrics)
	var e extent
	err := s.conn.QueryRow(ctx, "SELECT min(lo), max(hi), sum(n) FROM (SELECT min(min_ts) AS lo, max(max_ts) AS hi, argMax(count, version) AS n FROM "+
		s.db+"."+schema.State+" WHERE "+strings.Join(where, " AND ")+" GROUP BY client_id, metric, stream, part)", args...).
		Scan(&e.oldest, &e.newest, &e.count)
	if err != nil {
		return extent{}, fmt.Errorf("read events' extent: %w", err)
	}
	return e, nil
}

func satSub(a, b int64) int64 {
	if a < math.MinInt64+b {
		return math.MinInt64
	}
	return a - b
}

func satMul(a, b int64) int64 {
	if a > math.MaxInt64/b {
		return math.MaxInt64
	}
	return a * b
}

// top returns the first need items of one listing after the cursor, each
// once. The first query finds the lowest time among the first k rows (k
// counts rewrites, so it may be too few items); the second reads the rows
// from that time on. When rewrites or the cursor's ties leave fewer than
// need items while more rows exist, k doubles.
func (s *Store) top(ctx context.Context, l listing, after *Cursor, need int) ([]Summary, error) {
	if need <= 0 {
		return nil, nil
	}
	from := s.db + "." + l.table
	for k := need; ; k *= 2 {
		var (
			lowest int64
			n      uint64
		)
		err := s.conn.QueryRow(ctx, fmt.Sprintf("SELECT min(t), count() FROM (SELECT %s AS t FROM %s WHERE %s ORDER BY t DESC LIMIT %d)",
			l.at, from, strings.Join(l.where, " AND "), k), l.args...).Scan(&lowest, &n)
		if err != nil {
			return nil, fmt.Errorf("find page: %w", err)
		}
		if n == 0 {
			return nil, nil
		}
		where, args := slices.Clip(l.where), slices.Clip(l.args)
		pre := ""
		if l.table == schema.Events {
			where, args = withTimeRange(where, args, lowest, math.MaxInt64)
		} else {
			// Not ordered by time: read the wide columns only in the
			// granules that hold the page's rows.
			pre = " PREWHERE " + l.at + " >= ?"
			args = append([]any{lowest}, args...)
		}
		if after != nil {
			where = append(where, fmt.Sprintf("(%s, %s, %s, stream) < (?, ?, ?, ?)", l.at, l.id, l.state))
			args = append(args, after.AtMs, after.ID, string(after.Status), after.Stream)
		}
		rows, err := s.conn.Query(ctx, fmt.Sprintf("SELECT %s FROM %s%s WHERE %s ORDER BY %s DESC, %s DESC, %s DESC, stream DESC LIMIT %d",
			l.cols, from, pre, strings.Join(where, " AND "), l.at, l.id, l.state, k), args...)
		if err != nil {
			return nil, fmt.Errorf("read page: %w", err)
		}
		items, err := distinct(rows, l.scan)
		if err != nil {
			return nil, fmt.Errorf("read page: %w", err)
		}
		if len(items) >= need || n < uint64(k) {
			// Enough, or the first query saw every row of the range.
			return items[:min(len(items), need)], nil
		}
	}
}

// distinct scans rows (ordered by key) and drops rewrites of an item.
func distinct(rows driver.Rows, scan func(driver.Rows) (Summary, error)) ([]Summary, error) {
	defer rows.Close()
	var out []Summary
	for rows.Next() {
		it, err := scan(rows)
		if err != nil {
			return nil, err
		}
		if n := len(out); n > 0 && out[n-1].Cursor() == it.Cursor() {
			continue
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

func scanWinner(rows driver.Rows) (Summary, error) {
	var (
		it          Summary
		amount      ckDecimal
		tsMs, rcvMs int64
	)
	if err := rows.Scan(&it.EventID, &it.ClientID, &it.Metric, &amount, &tsMs, &rcvMs, &it.stream,
		&it.Source.Topic, &it.Source.Partition, &it.Source.Offset, &it.Raw); err != nil {
		return Summary{}, fmt.Errorf("scan event: %w", err)
	}
	it.ID, it.Status, it.atMs = it.EventID, StatusProcessed, tsMs
	a, ts := exact(amount), instant.FromMillis(tsMs)
	it.Amount, it.Timestamp, it.ReceivedAt = &a, &ts, instant.FromMillis(rcvMs)
	return it, nil
}

func scanCopy(rows driver.Rows) (Summary, error) {
	var (
		it          Summary
		kind        string
		amount      ckDecimal
		tsMs, rcvMs int64
		defaulted   uint8
	)
	if err := rows.Scan(&it.EventID, &kind, &it.ClientID, &it.Metric, &amount, &tsMs, &defaulted, &rcvMs, &it.stream,
		&it.Source.Topic, &it.Source.Partition, &it.Source.Offset, &it.Raw); err != nil {
		return Summary{}, fmt.Errorf("scan copy: %w", err)
	}
	it.ID, it.Status, it.atMs = rawIDOf(it.Source), Status(kind), rcvMs
	a, ts := exact(amount), instant.FromMillis(tsMs)
	it.Amount, it.Timestamp, it.ReceivedAt = &a, &ts, instant.FromMillis(rcvMs)
	it.tsDefaulted = defaulted != 0
	return it, nil
}

func scanRejected(rows driver.Rows) (Summary, error) {
	var (
		it    Summary
		rej   Rejection
		rcvMs int64
	)
	if err := rows.Scan(&rej.Code, &rej.Field, &rej.Message, &it.ClientID, &rcvMs, &it.stream,
		&it.Source.Topic, &it.Source.Partition, &it.Source.Offset, &it.Raw); err != nil {
		return Summary{}, fmt.Errorf("scan rejection: %w", err)
	}
	it.ID, it.Status, it.atMs, it.ReceivedAt, it.Rejection = rawIDOf(it.Source), StatusRejected, rcvMs, instant.FromMillis(rcvMs), &rej
	return it, nil
}

func scanDeadLetter(rows driver.Rows) (Summary, error) {
	var (
		it     Summary
		reason string
		rcvMs  int64
	)
	if err := rows.Scan(&reason, &rcvMs, &it.stream, &it.Source.Topic, &it.Source.Partition, &it.Source.Offset, &it.Raw); err != nil {
		return Summary{}, fmt.Errorf("scan dead letter: %w", err)
	}
	it.ID, it.Status, it.atMs, it.ReceivedAt = rawIDOf(it.Source), StatusDeadLettered, rcvMs, instant.FromMillis(rcvMs)
	it.Rejection = &Rejection{Code: string(StatusDeadLettered), Message: reason}
	return it, nil
}

func scanForwarded(rows driver.Rows) (Summary, error) {
	var (
		it    Summary
		rcvMs int64
		to    Source
	)
	if err := rows.Scan(&it.EventID, &it.ClientID, &rcvMs, &it.stream, &it.Source.Topic, &it.Source.Partition, &it.Source.Offset,
		&to.Partition, &to.Offset); err != nil {
		return Summary{}, fmt.Errorf("scan forwarded: %w", err)
	}
	to.Topic = it.Source.Topic // strays are produced again to their own topic
	it.ID, it.Status, it.atMs, it.ReceivedAt, it.ForwardedTo = rawIDOf(it.Source), StatusForwarded, rcvMs, instant.FromMillis(rcvMs), &to
	return it, nil
}

// fillDefaultedTimes gives each duplicate whose own timestamp was defaulted
// (to its own received time) the event time of its winner: the first copy
// fixes the event's fields (invariant I6), and a duplicate differs from it
// in nothing else. One primary-key lookup in event_ids for the page.
func (s *Store) fillDefaultedTimes(ctx context.Context, tenant string, items []Summary) error {
	var slots, ids []any
	for _, it := range items {
		if it.Status == StatusDuplicate && it.tsDefaulted {
			slots, ids = append(slots, event.Slot(it.ClientID)), append(ids, it.EventID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	rows, err := s.conn.Query(ctx, "SELECT event_id, ts_ms FROM "+s.db+"."+schema.EventIDs+
		" WHERE slot IN ? AND tenant = ? AND event_id IN ?", clickhouse.GroupSet{Value: slots}, tenant, clickhouse.GroupSet{Value: ids})
	if err != nil {
		return fmt.Errorf("load winners' times: %w", err)
	}
	defer rows.Close()
	times := map[string]int64{}
	for rows.Next() {
		var (
			id   string
			tsMs int64
		)
		if err := rows.Scan(&id, &tsMs); err != nil {
			return fmt.Errorf("load winners' times: %w", err)
		}
		times[id] = tsMs
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load winners' times: %w", err)
	}
	for i := range items {
		if tsMs, ok := times[items[i].EventID]; ok && items[i].Status == StatusDuplicate && items[i].tsDefaulted {
			ts := instant.FromMillis(tsMs)
			items[i].Timestamp = &ts
		}
	}
	return nil
}
