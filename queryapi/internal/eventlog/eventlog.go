// Package eventlog lists raw records and logical events with their fate —
// processed, duplicate, rejected or dead-lettered — and explains one event's
// lineage, reading the four ClickHouse tables of docs/contracts.md.
//
// Every table may hold several physical rows for one thing: events until
// ReplacingMergeTree merges copies of one event_id, and the audit tables
// until they merge reprocessed rows of one source offset. Every read groups
// first (by event_id, or by topic/partition/offset), so a listing shows one
// item per logical event or raw record, and paging never repeats one.
//
// Pagination is keyset, newest first, on (receivedAt, id, status), which is
// unique per item; the cursor is that triple, opaque to clients (base64 of
// JSON). Items appearing after the first page was read show up on a new
// first page, never in the middle of a walk.
//
// User values reach SQL only as bound parameters; see package aggregate.
package eventlog

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/tally-dev/tally/queryapi/internal/decimal"
	"github.com/tally-dev/tally/queryapi/internal/instant"
)

// Status is the fate of a raw record or logical event.
type Status string

// The statuses of docs/api.md.
const (
	StatusProcessed    Status = "processed"
	StatusDuplicate    Status = "duplicate"
	StatusRejected     Status = "rejected"
	StatusDeadLettered Status = "dead_lettered"
)

// AllStatuses is every status, in listing order of the UNION.
var AllStatuses = []Status{StatusProcessed, StatusDuplicate, StatusRejected, StatusDeadLettered}

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
	// MaxOffset bounds the seed API's skip, which ClickHouse must read past.
	MaxOffset = 100_000
)

// ErrInvalid marks a bad query or cursor; the HTTP layer maps it to 400.
var ErrInvalid = errors.New("invalid query")

// ErrNotFound is returned by Get for an unknown id.
var ErrNotFound = errors.New("not found")

// Cursor is the position after the last item of a page.
type Cursor struct {
	ReceivedMs int64  `json:"r"`
	ID         string `json:"i"`
	Status     Status `json:"s"`
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

// ListQuery selects items. Time bounds are a half-open range [From, To) on
// the received time, or with ByEventTime (the seed API) on the event time
// where there is one (processed, duplicate) and the received time otherwise.
// Filters on client or metric exclude items that lack that field (a
// dead-lettered record has neither, a rejected one has only a client hint).
type ListQuery struct {
	ClientIDs   []string
	Metrics     []string
	Statuses    []Status // empty = all
	From, To    *time.Time
	ByEventTime bool
	Limit       int
	After       *Cursor // keyset position (the /v1 API)
	Offset      int     // row offset (the seed API); ignored when After is set
	WithRaw     bool    // fill Summary.Raw (the seed API's originalPayload)
}

// Source locates a raw record.
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
	ID         string           `json:"id"`
	EventID    string           `json:"eventId,omitempty"`
	Status     Status           `json:"status"`
	ClientID   string           `json:"clientId,omitempty"`
	Metric     string           `json:"metric,omitempty"`
	Amount     *decimal.Value   `json:"amount,omitempty"`
	Timestamp  *instant.Instant `json:"timestamp,omitempty"`
	ReceivedAt instant.Instant  `json:"receivedAt"`
	Source     Source           `json:"source"`
	Rejection  *Rejection       `json:"rejection,omitempty"`

	// Raw is the record's text, only with ListQuery.WithRaw.
	Raw string `json:"-"`

	receivedMs int64
}

// Cursor is the keyset position just after s.
func (s Summary) Cursor() Cursor {
	return Cursor{ReceivedMs: s.receivedMs, ID: s.ID, Status: s.Status}
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

func (q ListQuery) validate() error {
	if q.Limit < 1 || q.Limit > MaxLimit {
		return fmt.Errorf("%w: limit must be 1..%d", ErrInvalid, MaxLimit)
	}
	if q.Offset < 0 || q.Offset > MaxOffset {
		return fmt.Errorf("%w: skip must be 0..%d", ErrInvalid, MaxOffset)
	}
	if q.From != nil && q.To != nil && !q.From.Before(*q.To) {
		return fmt.Errorf("%w: from must be before to", ErrInvalid)
	}
	return nil
}

// union renders the UNION ALL of one subquery per selected status, all with
// the same column names and types (18.16 requires identical types).
func (s *Store) union(q ListQuery) (string, []any) {
	statuses := q.Statuses
	if len(statuses) == 0 {
		statuses = AllStatuses
	}
	var parts []string
	var args []any
	for _, st := range statuses {
		sql, a, ok := s.subquery(st, q)
		if ok {
			parts = append(parts, sql)
			args = append(args, a...)
		}
	}
	if len(parts) == 0 {
		// Nothing can match (e.g. metric filter on dead letters only).
		return "SELECT '' AS status, '' AS id, '' AS eid, '' AS cid, '' AS met, '' AS amt, toInt64(0) AS tsms, toInt64(0) AS rcv, '' AS tp, toInt32(0) AS part, toInt64(0) AS off, '' AS rcode, '' AS rfield, '' AS rmsg, '' AS rawtext FROM system.one WHERE 0", nil
	}
	return strings.Join(parts, " UNION ALL "), args
}

const sourceID = "concat('raw-', toString(partition), '-', toString(offset))"

func (s *Store) subquery(st Status, q ListQuery) (string, []any, bool) {
	var where []string
	var args []any
	in := func(col string, values []string) {
		if len(values) > 0 {
			where = append(where, col+" IN ("+placeholders(len(values))+")")
			for _, v := range values {
				args = append(args, v)
			}
		}
	}
	timeRange := func(col string) {
		if q.From != nil {
			where = append(where, col+" >= ?")
			args = append(args, q.From.UnixMilli())
		}
		if q.To != nil {
			where = append(where, col+" < ?")
			args = append(args, q.To.UnixMilli())
		}
	}
	if q.After != nil {
		// Every subquery reports min(received_ms) of its group, and a group
		// whose minimum is at or before the cursor keeps its minimum row
		// under this filter, so the filter is exact and lets later pages
		// skip everything newer.
		where = append(where, "received_ms <= ?")
		args = append(args, q.After.ReceivedMs)
	}
	whereSQL := func() string {
		if len(where) == 0 {
			return ""
		}
		return " WHERE " + strings.Join(where, " AND ")
	}
	raw := "'' AS rawtext"
	if q.WithRaw {
		raw = "any(raw) AS rawtext"
	}
	switch st {
	case StatusProcessed:
		in("client_id", q.ClientIDs)
		in("metric", q.Metrics)
		if q.ByEventTime {
			timeRange("ts_ms")
		} else if q.From != nil || q.To != nil {
			// An event's receivedAt is its earliest copy's: filter the
			// groups, not the rows, or a later copy would drag it in.
			return s.processedByReceived(q, where, args, raw)
		}
		return "SELECT 'processed' AS status, event_id AS id, event_id AS eid, any(client_id) AS cid, any(metric) AS met, " +
			"toString(any(amount)) AS amt, min(ts_ms) AS tsms, min(received_ms) AS rcv, argMin(topic, received_ms) AS tp, " +
			"argMin(partition, received_ms) AS part, argMin(offset, received_ms) AS off, '' AS rcode, '' AS rfield, '' AS rmsg, " + raw + " FROM " +
			s.db + ".events" + whereSQL() + " GROUP BY event_id", args, true
	case StatusDuplicate:
		// Duplicates carry no event fields; filter through their original.
		if len(q.ClientIDs) > 0 || len(q.Metrics) > 0 || q.ByEventTime && (q.From != nil || q.To != nil) {
			var inner []string
			if len(q.ClientIDs) > 0 {
				inner = append(inner, "client_id IN ("+placeholders(len(q.ClientIDs))+")")
				for _, v := range q.ClientIDs {
					args = append(args, v)
				}
			}
			if len(q.Metrics) > 0 {
				inner = append(inner, "metric IN ("+placeholders(len(q.Metrics))+")")
				for _, v := range q.Metrics {
					args = append(args, v)
				}
			}
			if q.ByEventTime && q.From != nil {
				inner = append(inner, "ts_ms >= ?")
				args = append(args, q.From.UnixMilli())
			}
			if q.ByEventTime && q.To != nil {
				inner = append(inner, "ts_ms < ?")
				args = append(args, q.To.UnixMilli())
			}
			if len(inner) > 0 {
				where = append(where, "event_id IN (SELECT event_id FROM "+s.db+".events WHERE "+strings.Join(inner, " AND ")+")")
			}
		}
		if !q.ByEventTime {
			timeRange("received_ms")
		}
		return "SELECT 'duplicate' AS status, " + sourceID + " AS id, any(event_id) AS eid, '' AS cid, '' AS met, '' AS amt, " +
			"toInt64(0) AS tsms, min(received_ms) AS rcv, topic AS tp, partition AS part, offset AS off, '' AS rcode, '' AS rfield, '' AS rmsg, '' AS rawtext FROM " +
			s.db + ".duplicates" + whereSQL() + " GROUP BY topic, partition, offset", args, true
	case StatusRejected:
		if len(q.Metrics) > 0 {
			return "", nil, false
		}
		in("client_hint", q.ClientIDs)
		timeRange("received_ms")
		return "SELECT 'rejected' AS status, " + sourceID + " AS id, '' AS eid, any(client_hint) AS cid, '' AS met, '' AS amt, " +
			"toInt64(0) AS tsms, min(received_ms) AS rcv, topic AS tp, partition AS part, offset AS off, any(code) AS rcode, any(field) AS rfield, any(message) AS rmsg, " + raw + " FROM " +
			s.db + ".rejected_events" + whereSQL() + " GROUP BY topic, partition, offset", args, true
	case StatusDeadLettered:
		if len(q.Metrics) > 0 || len(q.ClientIDs) > 0 {
			return "", nil, false
		}
		timeRange("received_ms")
		return "SELECT 'dead_lettered' AS status, " + sourceID + " AS id, '' AS eid, '' AS cid, '' AS met, '' AS amt, " +
			"toInt64(0) AS tsms, min(received_ms) AS rcv, topic AS tp, partition AS part, offset AS off, 'dead_lettered' AS rcode, '' AS rfield, any(reason) AS rmsg, " + raw + " FROM " +
			s.db + ".dead_letters" + whereSQL() + " GROUP BY topic, partition, offset", args, true
	}
	return "", nil, false
}

// processedByReceived is the processed subquery filtered on the receivedAt
// of the logical event (its earliest copy) with HAVING.
func (s *Store) processedByReceived(q ListQuery, where []string, args []any, raw string) (string, []any, bool) {
	var having []string
	if q.From != nil {
		having = append(having, "rcv >= ?")
		args = append(args, q.From.UnixMilli())
	}
	if q.To != nil {
		having = append(having, "rcv < ?")
		args = append(args, q.To.UnixMilli())
	}
	whereSQL := ""
	if len(where) > 0 {
		whereSQL = " WHERE " + strings.Join(where, " AND ")
	}
	return "SELECT 'processed' AS status, event_id AS id, event_id AS eid, any(client_id) AS cid, any(metric) AS met, " +
		"toString(any(amount)) AS amt, min(ts_ms) AS tsms, min(received_ms) AS rcv, argMin(topic, received_ms) AS tp, " +
		"argMin(partition, received_ms) AS part, argMin(offset, received_ms) AS off, '' AS rcode, '' AS rfield, '' AS rmsg, " + raw + " FROM " +
		s.db + ".events" + whereSQL + " GROUP BY event_id HAVING " + strings.Join(having, " AND "), args, true
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// List returns one page, newest first, and the cursor of the next page (nil
// when this page is the last).
func (s *Store) List(ctx context.Context, q ListQuery) ([]Summary, *Cursor, error) {
	if err := q.validate(); err != nil {
		return nil, nil, err
	}
	union, args := s.union(q)
	sql := "SELECT status, id, eid, cid, met, amt, tsms, rcv, tp, part, off, rcode, rfield, rmsg, rawtext FROM (" + union + ")"
	if q.After != nil {
		sql += " WHERE (rcv, id, status) < (?, ?, ?)"
		args = append(args, q.After.ReceivedMs, q.After.ID, string(q.After.Status))
	}
	sql += " ORDER BY rcv DESC, id DESC, status DESC"
	if q.After == nil && q.Offset > 0 {
		sql += " LIMIT ?, ?"
		args = append(args, q.Offset, q.Limit+1)
	} else {
		sql += " LIMIT ?"
		args = append(args, q.Limit+1)
	}
	rows, err := s.conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("list events: %w", err)
	}
	defer rows.Close()
	var items []Summary
	for rows.Next() {
		var (
			it                      Summary
			status, amt             string
			tsms                    int64
			rcode, rfield, rmessage string
		)
		if err := rows.Scan(&status, &it.ID, &it.EventID, &it.ClientID, &it.Metric, &amt, &tsms, &it.receivedMs,
			&it.Source.Topic, &it.Source.Partition, &it.Source.Offset, &rcode, &rfield, &rmessage, &it.Raw); err != nil {
			return nil, nil, fmt.Errorf("list events: scan: %w", err)
		}
		it.Status = Status(status)
		it.ReceivedAt = instant.FromMillis(it.receivedMs)
		if amt != "" {
			v, err := decimal.Parse(amt)
			if err != nil {
				return nil, nil, fmt.Errorf("list events: %w", err)
			}
			it.Amount = &v
		}
		if it.Status == StatusProcessed {
			ts := instant.FromMillis(tsms)
			it.Timestamp = &ts
		}
		if rcode != "" || rmessage != "" {
			it.Rejection = &Rejection{Code: rcode, Field: rfield, Message: rmessage}
		}
		items = append(items, it)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("list events: %w", err)
	}
	var next *Cursor
	if len(items) > q.Limit {
		items = items[:q.Limit]
		c := items[len(items)-1].Cursor()
		next = &c
	}
	if err := s.fillDuplicates(ctx, items); err != nil {
		return nil, nil, err
	}
	return items, next, nil
}

// Count returns how many items match q (the seed API's total).
func (s *Store) Count(ctx context.Context, q ListQuery) (uint64, error) {
	union, args := s.union(q)
	var n uint64
	if err := s.conn.QueryRow(ctx, "SELECT count() FROM ("+union+")", args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count events: %w", err)
	}
	return n, nil
}

// fillDuplicates copies client, metric, amount and time from each
// duplicate's original event, one small query for the whole page.
func (s *Store) fillDuplicates(ctx context.Context, items []Summary) error {
	var ids []string
	for _, it := range items {
		if it.Status == StatusDuplicate && it.EventID != "" {
			ids = append(ids, it.EventID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	originals, err := s.canonicals(ctx, ids)
	if err != nil {
		return err
	}
	for i := range items {
		c, ok := originals[items[i].EventID]
		if items[i].Status != StatusDuplicate || !ok {
			continue
		}
		items[i].ClientID, items[i].Metric = c.ClientID, c.Metric
		amt, ts := c.Amount, c.Timestamp
		items[i].Amount, items[i].Timestamp = &amt, &ts
	}
	return nil
}

// canonicals loads the canonical form of each id that exists.
func (s *Store) canonicals(ctx context.Context, ids []string) (map[string]Canonical, error) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := s.conn.Query(ctx, "SELECT event_id, any(client_id), any(metric), toString(any(amount)), min(ts_ms), max(ts_defaulted), any(idempotency_key) FROM "+
		s.db+".events WHERE event_id IN ("+placeholders(len(ids))+") GROUP BY event_id", args...)
	if err != nil {
		return nil, fmt.Errorf("load events: %w", err)
	}
	defer rows.Close()
	out := make(map[string]Canonical, len(ids))
	for rows.Next() {
		var (
			c    Canonical
			amt  string
			tsms int64
			def  uint8
		)
		if err := rows.Scan(&c.EventID, &c.ClientID, &c.Metric, &amt, &tsms, &def, &c.IdempotencyKey); err != nil {
			return nil, fmt.Errorf("load events: scan: %w", err)
		}
		if c.Amount, err = decimal.Parse(amt); err != nil {
			return nil, fmt.Errorf("load events: %w", err)
		}
		c.Timestamp = instant.FromMillis(tsms)
		c.TimestampDefaulted = def != 0
		out[c.EventID] = c
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load events: %w", err)
	}
	return out, nil
}

// Canonical is a stored logical event, in the JSON form of event.Canonical
// but with the API's time format and exact decimal amounts of any size.
type Canonical struct {
	EventID            string          `json:"eventId"`
	ClientID           string          `json:"clientId"`
	Metric             string          `json:"metric"`
	Amount             decimal.Value   `json:"amount"`
	Timestamp          instant.Instant `json:"timestamp"`
	TimestampDefaulted bool            `json:"timestampDefaulted,omitempty"`
	IdempotencyKey     string          `json:"idempotencyKey,omitempty"`
}

// Copy is one further copy of a logical event.
type Copy struct {
	Source     Source          `json:"source"`
	ReceivedAt instant.Instant `json:"receivedAt"`
	DetectedAt instant.Instant `json:"detectedAt"`
}

// Duplicates lists every copy of an event beyond the original.
type Duplicates struct {
	Count  int    `json:"count"`
	Copies []Copy `json:"copies"`
}

// Detail is the full story of one event or raw record.
type Detail struct {
	ID              string          `json:"id"`
	Status          Status          `json:"status"`
	Event           *Canonical      `json:"event,omitempty"`
	Raw             string          `json:"raw"`
	ReceivedAt      instant.Instant `json:"receivedAt"`
	Source          Source          `json:"source"`
	Rejection       *Rejection      `json:"rejection,omitempty"`
	OriginalEventID string          `json:"originalEventId,omitempty"`
	Duplicates      Duplicates      `json:"duplicates"`
}

// ParseID reports whether id is a 64-hex event id or raw-<partition>-<offset>.
func ParseID(id string) (eventID string, partition int32, offset int64, err error) {
	if len(id) == 64 && isLowerHex(id) {
		return id, 0, 0, nil
	}
	if rest, ok := strings.CutPrefix(id, "raw-"); ok {
		ps, os, ok := strings.Cut(rest, "-")
		p, perr := strconv.ParseInt(ps, 10, 32)
		o, oerr := strconv.ParseInt(os, 10, 64)
		if ok && perr == nil && oerr == nil && p >= 0 && o >= 0 {
			return "", int32(p), o, nil
		}
	}
	return "", 0, 0, fmt.Errorf("%w: id must be a 64-hex event id or raw-<partition>-<offset>", ErrInvalid)
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !(s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'f') {
			return false
		}
	}
	return true
}

// storedCopy is one physical copy (one source offset) in the events table.
type storedCopy struct {
	src        Source
	receivedMs int64
	insertedMs int64
	raw        string
}

// Get returns the detail for an event id or raw-<partition>-<offset>.
func (s *Store) Get(ctx context.Context, id string) (Detail, error) {
	eventID, partition, offset, err := ParseID(id)
	if err != nil {
		return Detail{}, err
	}
	if eventID != "" {
		d, ok, err := s.eventDetail(ctx, eventID, nil)
		if err != nil {
			return Detail{}, err
		}
		if !ok {
			return Detail{}, ErrNotFound
		}
		return d, nil
	}
	return s.sourceDetail(ctx, id, Source{Topic: s.rawTopic, Partition: partition, Offset: offset})
}

// eventDetail assembles an event's detail. The original is its earliest
// received copy in events; every other copy — further rows in events (the
// Redis filter missed them) and rows of duplicates — is lineage. With at
// set, the detail is told from that copy's point of view.
func (s *Store) eventDetail(ctx context.Context, eventID string, at *Source) (Detail, bool, error) {
	originals, err := s.canonicals(ctx, []string{eventID})
	if err != nil {
		return Detail{}, false, err
	}
	canon, ok := originals[eventID]
	if !ok {
		return Detail{}, false, nil
	}
	// Copies come from receipts (one per stored source, never merged away);
	// their raw text from whichever events rows a merge has not collapsed.
	raws, err := s.copyRaws(ctx, eventID)
	if err != nil {
		return Detail{}, false, err
	}
	rows, err := s.conn.Query(ctx, "SELECT topic, partition, offset, min(received_ms) AS r, min(inserted_ms), '' FROM "+
		s.db+".receipts WHERE event_id = ? GROUP BY topic, partition, offset ORDER BY r, partition, offset", eventID)
	if err != nil {
		return Detail{}, false, fmt.Errorf("load copies: %w", err)
	}
	var copies []storedCopy
	for rows.Next() {
		var c storedCopy
		if err := rows.Scan(&c.src.Topic, &c.src.Partition, &c.src.Offset, &c.receivedMs, &c.insertedMs, &c.raw); err != nil {
			rows.Close()
			return Detail{}, false, fmt.Errorf("load copies: scan: %w", err)
		}
		c.raw = raws.of(c.src)
		copies = append(copies, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return Detail{}, false, fmt.Errorf("load copies: %w", err)
	}
	if len(copies) == 0 {
		return Detail{}, false, nil
	}
	orig := copies[0]
	d := Detail{
		ID:         eventID,
		Status:     StatusProcessed,
		Event:      &canon,
		Raw:        orig.raw,
		ReceivedAt: instant.FromMillis(orig.receivedMs),
		Source:     orig.src,
		Duplicates: Duplicates{Copies: []Copy{}},
	}
	seen := map[Source]bool{orig.src: true}
	for _, c := range copies[1:] {
		seen[c.src] = true
		d.Duplicates.Copies = append(d.Duplicates.Copies, Copy{
			Source: c.src, ReceivedAt: instant.FromMillis(c.receivedMs), DetectedAt: instant.FromMillis(c.insertedMs),
		})
		if at != nil && *at == c.src {
			d.ID, d.Status, d.Raw, d.Source = rawID(c.src), StatusDuplicate, c.raw, c.src
			d.ReceivedAt, d.OriginalEventID = instant.FromMillis(c.receivedMs), eventID
		}
	}
	dups, err := s.conn.Query(ctx, "SELECT topic, partition, offset, min(received_ms) AS r, min(detected_ms) FROM "+
		s.db+".duplicates WHERE event_id = ? GROUP BY topic, partition, offset ORDER BY r, partition, offset", eventID)
	if err != nil {
		return Detail{}, false, fmt.Errorf("load duplicates: %w", err)
	}
	defer dups.Close()
	for dups.Next() {
		var (
			c        Copy
			rcv, det int64
		)
		if err := dups.Scan(&c.Source.Topic, &c.Source.Partition, &c.Source.Offset, &rcv, &det); err != nil {
			return Detail{}, false, fmt.Errorf("load duplicates: scan: %w", err)
		}
		if seen[c.Source] {
			continue
		}
		seen[c.Source] = true
		c.ReceivedAt, c.DetectedAt = instant.FromMillis(rcv), instant.FromMillis(det)
		d.Duplicates.Copies = append(d.Duplicates.Copies, c)
		if at != nil && *at == c.Source {
			// The duplicates table keeps no raw text for the copy.
			d.ID, d.Status, d.Raw, d.Source = rawID(c.Source), StatusDuplicate, "", c.Source
			d.ReceivedAt, d.OriginalEventID = c.ReceivedAt, eventID
		}
	}
	if err := dups.Err(); err != nil {
		return Detail{}, false, fmt.Errorf("load duplicates: %w", err)
	}
	d.Duplicates.Count = len(d.Duplicates.Copies)
	if at != nil && d.Source != *at {
		// The record is no copy of this event after all.
		return Detail{}, false, nil
	}
	if at != nil && d.Status == StatusProcessed {
		d.ID = rawID(*at)
	}
	return d, true, nil
}

func rawID(src Source) string {
	return "raw-" + strconv.FormatInt(int64(src.Partition), 10) + "-" + strconv.FormatInt(src.Offset, 10)
}

// sourceDetail finds what became of one raw record.
func (s *Store) sourceDetail(ctx context.Context, id string, src Source) (Detail, error) {
	bind := []any{src.Topic, src.Partition, src.Offset}
	const at = " WHERE topic = ? AND partition = ? AND offset = ?"
	for _, table := range []string{"events", "duplicates"} {
		var eventID string
		err := s.conn.QueryRow(ctx, "SELECT any(event_id) FROM "+s.db+"."+table+at, bind...).Scan(&eventID)
		if err != nil {
			return Detail{}, fmt.Errorf("find record: %w", err)
		}
		if eventID == "" {
			continue
		}
		d, ok, err := s.eventDetail(ctx, eventID, &src)
		if err != nil {
			return Detail{}, err
		}
		if ok {
			return d, nil
		}
	}
	var (
		rejected              uint64
		code, field, msg, raw string
		rcv                   int64
	)
	err := s.conn.QueryRow(ctx, "SELECT count(), any(code), any(field), any(message), any(raw), min(received_ms) FROM "+
		s.db+".rejected_events"+at, bind...).Scan(&rejected, &code, &field, &msg, &raw, &rcv)
	if err != nil {
		return Detail{}, fmt.Errorf("find rejection: %w", err)
	}
	if rejected > 0 {
		return Detail{
			ID: id, Status: StatusRejected, Raw: raw, ReceivedAt: instant.FromMillis(rcv), Source: src,
			Rejection: &Rejection{Code: code, Field: field, Message: msg}, Duplicates: Duplicates{Copies: []Copy{}},
		}, nil
	}
	var dead uint64
	err = s.conn.QueryRow(ctx, "SELECT count(), any(reason), any(raw), min(received_ms) FROM "+
		s.db+".dead_letters"+at, bind...).Scan(&dead, &msg, &raw, &rcv)
	if err != nil {
		return Detail{}, fmt.Errorf("find dead letter: %w", err)
	}
	if dead > 0 {
		return Detail{
			ID: id, Status: StatusDeadLettered, Raw: raw, ReceivedAt: instant.FromMillis(rcv), Source: src,
			Rejection: &Rejection{Code: "dead_lettered", Message: msg}, Duplicates: Duplicates{Copies: []Copy{}},
		}, nil
	}
	return Detail{}, ErrNotFound
}

// copyRawSet maps a stored copy's source to its raw text; any is the raw
// text of some copy, for copies whose own row a merge collapsed.
type copyRawSet struct {
	bySource map[Source]string
	any      string
}

func (r copyRawSet) of(src Source) string {
	if raw, ok := r.bySource[src]; ok {
		return raw
	}
	return r.any
}

func (s *Store) copyRaws(ctx context.Context, eventID string) (copyRawSet, error) {
	out := copyRawSet{bySource: map[Source]string{}}
	rows, err := s.conn.Query(ctx, "SELECT topic, partition, offset, any(raw) FROM "+s.db+
		".events WHERE event_id = ? GROUP BY topic, partition, offset", eventID)
	if err != nil {
		return out, fmt.Errorf("load raw copies: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			src Source
			raw string
		)
		if err := rows.Scan(&src.Topic, &src.Partition, &src.Offset, &raw); err != nil {
			return out, fmt.Errorf("load raw copies: scan: %w", err)
		}
		out.bySource[src] = raw
		out.any = raw
	}
	return out, rows.Err()
}
