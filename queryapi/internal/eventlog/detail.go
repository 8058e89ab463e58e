package eventlog

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	shopspring "github.com/shopspring/decimal"

	"github.com/tally-dev/tally/event"
	"github.com/tally-dev/tally/event/schema"
	"github.com/tally-dev/tally/queryapi/internal/decimal"
	"github.com/tally-dev/tally/queryapi/internal/instant"
)

// ckDecimal is how the driver reads a Decimal(38, 9) column exactly.
type ckDecimal = shopspring.Decimal

// exact converts a driver decimal to the package's exact value.
func exact(d ckDecimal) decimal.Value {
	return decimal.FromScaled(d.Shift(decimal.Scale).BigInt())
}

func exactText(v *decimal.Value) string {
	if v == nil {
		return ""
	}
	return v.String()
}

// Canonical is a stored logical event — its winner's fields — in the JSON
// form of event.Canonical, with the API's time format and exact amounts.
type Canonical struct {
	EventID            string          `json:"eventId"`
	ClientID           string          `json:"clientId"`
	Metric             string          `json:"metric"`
	Amount             decimal.Value   `json:"amount"`
	Timestamp          instant.Instant `json:"timestamp"`
	TimestampDefaulted bool            `json:"timestampDefaulted,omitempty"`
	IdempotencyKey     string          `json:"idempotencyKey,omitempty"`
	// IDSource says what the id hashes (event.IDSourceOf over the stored
	// key, timestamp flag and timestamp); CoarseID marks a content id that
	// may have merged distinct events (docs/contracts.md).
	IDSource string `json:"idSource,omitempty"`
	CoarseID bool   `json:"coarseId,omitempty"`
}

// MarshalJSON writes the event with amountExact beside amount.
func (c Canonical) MarshalJSON() ([]byte, error) {
	type plain Canonical
	return json.Marshal(struct {
		plain
		AmountExact string `json:"amountExact"`
	}{plain(c), c.Amount.String()})
}

// Claim is what a conflicting copy said: the same id (so the same client)
// with other content. It never counts; the winner's fields stand.
type Claim struct {
	Metric             string          `json:"metric"`
	Amount             decimal.Value   `json:"amount"`
	Timestamp          instant.Instant `json:"timestamp"`
	TimestampDefaulted bool            `json:"timestampDefaulted,omitempty"`
	Raw                string          `json:"raw"`
}

// MarshalJSON writes the claim with amountExact beside amount.
func (c Claim) MarshalJSON() ([]byte, error) {
	type plain Claim
	return json.Marshal(struct {
		plain
		AmountExact string `json:"amountExact"`
	}{plain(c), c.Amount.String()})
}

// Copy is one copy of an event that lost to its winner: a duplicate (same
// content) or a conflict (other content, with what it said).
type Copy struct {
	Kind       Status          `json:"kind"`
	Source     Source          `json:"source"`
	ReceivedAt instant.Instant `json:"receivedAt"`
	DetectedAt instant.Instant `json:"detectedAt"`
	Claimed    *Claim          `json:"claimed,omitempty"`
}

// Duplicates lists every copy of an event beyond its winner.
type Duplicates struct {
	Count  int    `json:"count"`
	Copies []Copy `json:"copies"`
}

// Detail is the full story of one event or raw record.
type Detail struct {
	ID     string     `json:"id"`
	Status Status     `json:"status"`
	Event  *Canonical `json:"event,omitempty"`
	// Raw is the record's text; empty for a duplicate copy and a forwarded
	// stray, whose text was not kept (it equals the winner's, or the
	// forwarded copy's).
	Raw        string          `json:"raw"`
	ReceivedAt instant.Instant `json:"receivedAt"`
	Source     Source          `json:"source"`
	Rejection  *Rejection      `json:"rejection,omitempty"`
	// OriginalEventID and Original name the winner a duplicate or conflict
	// copy lost to; Claimed is what a conflict said.
	OriginalEventID string  `json:"originalEventId,omitempty"`
	Original        *Source `json:"original,omitempty"`
	Claimed         *Claim  `json:"claimed,omitempty"`
	// ForwardedTo is where a forwarded stray was produced again.
	ForwardedTo *Source `json:"forwardedTo,omitempty"`
	// Duplicates is the event's lineage (every losing copy) and Conflicts
	// how many of them conflict.
	Duplicates Duplicates `json:"duplicates"`
	Conflicts  int        `json:"conflicts"`
}

// DetailQuery names one event id or raw-<partition>-<offset> record in a
// tenant ("" means event.DefaultTenant).
type DetailQuery struct {
	Tenant string
	ID     string
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

func rawIDOf(src Source) string {
	return "raw-" + strconv.FormatInt(int64(src.Partition), 10) + "-" + strconv.FormatInt(src.Offset, 10)
}

// Get returns the detail of an event id or of a raw record.
//
// An event id is found by primary key in event_ids (ordered by tenant and
// id), which gives its event time, and events is read in that minute only;
// its lineage comes from duplicates, ordered by tenant and id too.
//
// A raw id names a record of the raw topic by partition and offset; the
// outcome tables keyed by source are read by that key (every incarnation
// of the topic), then duplicates and, for a winner, event_ids, which have
// no source in their keys.
func (s *Store) Get(ctx context.Context, q DetailQuery) (Detail, error) {
	eventID, partition, offset, err := ParseID(q.ID)
	if err != nil {
		return Detail{}, err
	}
	tenant := tenantOr(q.Tenant)
	if eventID != "" {
		return s.eventDetail(ctx, tenant, eventID)
	}
	return s.recordDetail(ctx, tenant, Source{Topic: s.rawTopic, Partition: partition, Offset: offset})
}

// lineageCopy is one stored losing copy.
type lineageCopy struct {
	Copy
	stream, clientID string
	original         Source
}

// winner is an event's stored first copy.
type winner struct {
	canon  Canonical
	raw    string
	source Source
	rcvMs  int64
}

func (s *Store) eventDetail(ctx context.Context, tenant, eventID string) (Detail, error) {
	copies, err := s.lineage(ctx, tenant, eventID)
	if err != nil {
		return Detail{}, err
	}
	client := ""
	if len(copies) > 0 {
		client = copies[0].clientID // an id covers its client: every copy has it
	}
	w, ok, err := s.winner(ctx, tenant, eventID, client)
	if err != nil {
		return Detail{}, err
	}
	if !ok {
		return Detail{}, ErrNotFound
	}
	d := Detail{ID: eventID, Status: StatusProcessed, Raw: w.raw, ReceivedAt: instant.FromMillis(w.rcvMs), Source: w.source}
	d.Event = &w.canon
	d.setLineage(copies)
	return d, nil
}

func (d *Detail) setLineage(copies []lineageCopy) {
	d.Duplicates = Duplicates{Count: len(copies), Copies: make([]Copy, 0, len(copies))}
	for _, c := range copies {
		d.Duplicates.Copies = append(d.Duplicates.Copies, c.Copy)
		if c.Kind == StatusConflict {
			d.Conflicts++
		}
	}
}

// lineage reads every losing copy of an event id, oldest first, each once:
// a primary-key range of duplicates.
func (s *Store) lineage(ctx context.Context, tenant, eventID string) ([]lineageCopy, error) {
	rows, err := s.conn.Query(ctx, "SELECT kind, stream, topic, partition, offset, original_partition, original_offset, client_id, metric, "+
		"amount, ts_ms, ts_defaulted, raw, received_ms, detected_ms FROM "+s.db+"."+schema.Duplicates+
		" WHERE tenant = ? AND event_id = ? ORDER BY received_ms, partition, offset, stream, detected_ms", tenant, eventID)
	if err != nil {
		return nil, fmt.Errorf("load lineage: %w", err)
	}
	defer rows.Close()
	var out []lineageCopy
	seen := map[string]bool{}
	for rows.Next() {
		var (
			c                  lineageCopy
			kind, metric, raw  string
			amount             ckDecimal
			tsMs, rcvMs, detMs int64
			defaulted          uint8
		)
		if err := rows.Scan(&kind, &c.stream, &c.Source.Topic, &c.Source.Partition, &c.Source.Offset, &c.original.Partition,
			&c.original.Offset, &c.clientID, &metric, &amount, &tsMs, &defaulted, &raw, &rcvMs, &detMs); err != nil {
			return nil, fmt.Errorf("load lineage: scan: %w", err)
		}
		key := c.stream + "/" + rawIDOf(c.Source)
		if seen[key] { // a rewrite: the earliest detection was kept
			continue
		}
		seen[key] = true
		c.original.Topic = c.Source.Topic
		c.Kind, c.ReceivedAt, c.DetectedAt = Status(kind), instant.FromMillis(rcvMs), instant.FromMillis(detMs)
		if c.Kind == StatusConflict {
			c.Claimed = &Claim{Metric: metric, Amount: exact(amount), Timestamp: instant.FromMillis(tsMs),
				TimestampDefaulted: defaulted != 0, Raw: raw}
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load lineage: %w", err)
	}
	return out, nil
}

// first scans the first row of a query into dst; false when there is none.
func (s *Store) first(ctx context.Context, sql string, args []any, dst ...any) (bool, error) {
	rows, err := s.conn.Query(ctx, sql, args...)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	if !rows.Next() {
		return false, rows.Err()
	}
	if err := rows.Scan(dst...); err != nil {
		return false, fmt.Errorf("scan: %w", err)
	}
	return true, nil
}

// winner reads an event's first copy: its event time from event_ids (a
// primary-key point), then its row from events in that minute.
func (s *Store) winner(ctx context.Context, tenant, eventID, client string) (winner, bool, error) {
	sql := "SELECT ts_ms FROM " + s.db + "." + schema.EventIDs + " WHERE tenant = ? AND event_id = ?"
	args := []any{tenant, eventID}
	if client != "" {
		sql += " AND slot = ?"
		args = append(args, event.Slot(client))
	}
	var tsMs int64
	ok, err := s.first(ctx, sql+" LIMIT 1", args, &tsMs)
	if err != nil || !ok {
		return winner{}, false, wrap("find event", err)
	}
	minute := floorDiv(tsMs, 60_000) * 60_000
	where, args := withTimeRange([]string{"tenant = ?", "event_id = ?"}, []any{tenant, eventID}, minute, minute+59_999)
	var (
		w         winner
		amount    ckDecimal
		defaulted uint8
	)
	ok, err = s.first(ctx, "SELECT client_id, metric, amount, ts_ms, ts_defaulted, idempotency_key, received_ms, topic, partition, offset, raw FROM "+
		s.db+"."+schema.Events+" WHERE "+strings.Join(where, " AND ")+" LIMIT 1", args,
		&w.canon.ClientID, &w.canon.Metric, &amount, &tsMs, &defaulted, &w.canon.IdempotencyKey, &w.rcvMs,
		&w.source.Topic, &w.source.Partition, &w.source.Offset, &w.raw)
	if err != nil || !ok {
		return winner{}, false, wrap("load event", err)
	}
	w.canon.EventID, w.canon.Amount, w.canon.Timestamp = eventID, exact(amount), instant.FromMillis(tsMs)
	w.canon.TimestampDefaulted = defaulted != 0
	w.canon.IDSource = event.IDSourceOf(w.canon.IdempotencyKey, w.canon.TimestampDefaulted, tsMs)
	w.canon.CoarseID = w.canon.IDSource == event.IDSourceContentCoarse || w.canon.IDSource == event.IDSourceContentNoTimestamp
	return w, true, nil
}

// wrap adds context to a non-nil error.
func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// recordDetail finds what became of one raw record. A topic recreated
// under the same name may hold the same partition and offset twice; the
// newest received record of the first table that holds one is shown.
func (s *Store) recordDetail(ctx context.Context, tenant string, src Source) (Detail, error) {
	d := Detail{ID: rawIDOf(src), Source: src, Duplicates: Duplicates{Copies: []Copy{}}}
	bind := []any{tenant, src.Topic, src.Partition, src.Offset}
	found := func(table, cols string, dst ...any) (bool, error) {
		ok, err := s.first(ctx, "SELECT "+cols+" FROM "+s.db+"."+table+
			" WHERE tenant = ? AND topic = ? AND partition = ? AND offset = ? ORDER BY received_ms DESC, stream DESC LIMIT 1", bind, dst...)
		return ok, wrap("find record in "+table, err)
	}
	var (
		rcvMs                     int64
		eventID, clientID, stream string
		to                        Source
		rej                       Rejection
	)
	// Forwarded, rejected and dead-lettered records are keyed by source.
	ok, err := found(schema.Forwarded, "event_id, client_id, received_ms, to_partition, to_offset",
		&eventID, &clientID, &rcvMs, &to.Partition, &to.Offset)
	if err != nil {
		return Detail{}, err
	}
	if ok {
		to.Topic = src.Topic // strays are produced again to their own topic
		d.Status, d.ReceivedAt, d.ForwardedTo = StatusForwarded, instant.FromMillis(rcvMs), &to
		w, ok, err := s.winner(ctx, tenant, eventID, clientID)
		if err != nil {
			return Detail{}, err
		}
		if ok {
			d.Event = &w.canon
			if w.source == to { // the forwarded copy won: its text is this record's
				d.Raw = w.raw
			}
		}
		return d, nil
	}
	if ok, err = found(schema.Rejected, "code, field, message, raw, received_ms", &rej.Code, &rej.Field, &rej.Message, &d.Raw, &rcvMs); err != nil {
		return Detail{}, err
	}
	if ok {
		d.Status, d.ReceivedAt, d.Rejection = StatusRejected, instant.FromMillis(rcvMs), &rej
		return d, nil
	}
	if ok, err = found(schema.DeadLetters, "reason, raw, received_ms", &rej.Message, &d.Raw, &rcvMs); err != nil {
		return Detail{}, err
	}
	if ok {
		rej.Code = string(StatusDeadLettered)
		d.Status, d.ReceivedAt, d.Rejection = StatusDeadLettered, instant.FromMillis(rcvMs), &rej
		return d, nil
	}
	// A copy that lost: duplicates is ordered by id, so this reads the
	// tenant's source columns.
	if ok, err = found(schema.Duplicates, "event_id, stream", &eventID, &stream); err != nil {
		return Detail{}, err
	}
	if ok {
		return s.copyDetail(ctx, tenant, eventID, stream, src)
	}
	// A winner: event_ids holds every winner's source (not in its key).
	ok, err = s.first(ctx, "SELECT event_id FROM "+s.db+"."+schema.EventIDs+
		" WHERE tenant = ? AND topic = ? AND partition = ? AND offset = ? ORDER BY inserted_ms DESC, stream DESC LIMIT 1", bind, &eventID)
	if err != nil {
		return Detail{}, wrap("find winner", err)
	}
	if !ok {
		return Detail{}, ErrNotFound
	}
	d, err = s.eventDetail(ctx, tenant, eventID)
	if err != nil {
		return Detail{}, err
	}
	d.ID = rawIDOf(src)
	return d, nil
}

// copyDetail tells an event's story from one losing copy's point of view:
// the copy's own source, time and (for a conflict) text and claim, the
// winner it lost to, and the event's whole lineage.
func (s *Store) copyDetail(ctx context.Context, tenant, eventID, stream string, src Source) (Detail, error) {
	copies, err := s.lineage(ctx, tenant, eventID)
	if err != nil {
		return Detail{}, err
	}
	i := slices.IndexFunc(copies, func(c lineageCopy) bool { return c.stream == stream && c.Source == src })
	if i < 0 {
		return Detail{}, ErrNotFound
	}
	self := copies[i]
	d := Detail{ID: rawIDOf(src), Status: self.Kind, ReceivedAt: self.ReceivedAt, Source: src, OriginalEventID: eventID,
		Claimed: self.Claimed}
	if self.Claimed != nil {
		d.Raw = self.Claimed.Raw
	}
	orig := self.original
	d.Original = &orig
	w, ok, err := s.winner(ctx, tenant, eventID, self.clientID)
	if err != nil {
		return Detail{}, err
	}
	if ok {
		d.Event, d.Original = &w.canon, &w.source
	}
	d.setLineage(copies)
	return d, nil
}
