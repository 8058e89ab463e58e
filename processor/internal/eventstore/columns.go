package eventstore

import (
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-dev/tally/event/schema"
	"github.com/tally-dev/tally/processor/internal/pipeline"
)

// Inserts are built column by column: one typed slice per column, handed to
// the driver whole (batch.Column(i).Append). Row by row, every value went
// through an interface and the driver's per-value type switch — about a
// third of the processor's insert CPU (issue #14). Each builder fills its
// table's columns in one pass, in the order of the table's schema.*Columns
// list.

// sources holds the columns every row-per-record table repeats.
type sources struct {
	stream, topic []string
	partition     []int32
	offset        []int64
	receivedMs    []int64
}

func newSources(n int) sources {
	return sources{stream: make([]string, n), topic: make([]string, n), partition: make([]int32, n),
		offset: make([]int64, n), receivedMs: make([]int64, n)}
}

func (s sources) set(i int, src pipeline.Source) {
	s.stream[i], s.topic[i], s.partition[i], s.offset[i] = src.Stream, src.Topic, src.Partition, src.Offset
	s.receivedMs[i] = src.Received.UnixMilli()
}

// fill returns a slice of n copies of v (inserted_ms, detected_ms).
func fill[T any](n int, v T) []T {
	out := make([]T, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// fingerprint is the winner's content fingerprint, computed once by the
// pipeline; a zero field (a winner built elsewhere) is computed here, which
// gives the same value.
func fingerprint(w pipeline.Winner) uint64 {
	if w.Fingerprint != 0 {
		return w.Fingerprint
	}
	return w.Event.Fingerprint()
}

// eventsColumns: schema.EventsColumns for rows[idx[i]].
func eventsColumns(rows []pipeline.Winner, idx []int, now int64) []any {
	n := len(idx)
	var (
		tenant, id, client, metric, key = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		amount                          = make([]decimal.Decimal, n)
		ts                              = make([]time.Time, n)
		tsMs                            = make([]int64, n)
		defaulted                       = make([]uint8, n)
		fp                              = make([]uint64, n)
		raw                             = make([][]byte, n)
		src                             = newSources(n)
	)
	for i, j := range idx {
		w := &rows[j]
		e := &w.Event
		tenant[i], id[i], client[i], metric[i], key[i] = w.Tenant, e.EventID, e.ClientID, e.Metric, e.IdempotencyKey
		amount[i] = Decimal(e.Amount)
		ts[i], tsMs[i], defaulted[i] = e.Timestamp.UTC(), e.Timestamp.UnixMilli(), boolByte(e.TimestampDefaulted)
		fp[i] = fingerprint(*w)
		raw[i] = w.Raw
		src.set(i, w.Source)
	}
	return []any{tenant, id, client, metric, amount, ts, tsMs, defaulted, key, fp, src.receivedMs, src.stream, src.topic,
		src.partition, src.offset, raw, fill(n, now)}
}

// eventIDsColumns: schema.EventIDsColumns.
func eventIDsColumns(rows []pipeline.Winner, now int64) []any {
	n := len(rows)
	slot, tenant, id, tsMs, fp, src := make([]int32, n), make([]string, n), make([]string, n), make([]int64, n),
		make([]uint64, n), newSources(n)
	for i := range rows {
		w := &rows[i]
		slot[i], tenant[i], id[i], tsMs[i], fp[i] = w.Slot, w.Tenant, w.Event.EventID, w.Event.Timestamp.UnixMilli(), fingerprint(*w)
		src.set(i, w.Source)
	}
	return []any{slot, tenant, id, tsMs, fp, src.stream, src.topic, src.partition, src.offset, fill(n, now)}
}

// duplicatesColumns: schema.DuplicatesColumns.
func duplicatesColumns(rows []pipeline.Duplicate, now int64) []any {
	n := len(rows)
	var (
		tenant, id, kind, client, metric = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		origPart                         = make([]int32, n)
		origOffset, tsMs                 = make([]int64, n), make([]int64, n)
		amount                           = make([]decimal.Decimal, n)
		defaulted                        = make([]uint8, n)
		raw                              = make([][]byte, n)
		src                              = newSources(n)
	)
	for i := range rows {
		d := &rows[i]
		kind[i] = schema.OutcomeDuplicate
		if d.Conflict {
			kind[i] = schema.OutcomeConflict
		}
		tenant[i], id[i], client[i], metric[i] = d.Tenant, d.Event.EventID, d.Event.ClientID, d.Event.Metric
		origPart[i], origOffset[i] = d.Original.Partition, d.Original.Offset
		amount[i], tsMs[i], defaulted[i] = Decimal(d.Event.Amount), d.Event.Timestamp.UnixMilli(), boolByte(d.Event.TimestampDefaulted)
		raw[i] = d.Raw
		src.set(i, d.Source)
	}
	return []any{tenant, id, kind, src.stream, src.topic, src.partition, src.offset, origPart, origOffset, client, metric,
		amount, tsMs, defaulted, raw, src.receivedMs, fill(n, now)}
}

// rejectedColumns: schema.RejectedColumns.
func rejectedColumns(rows []pipeline.Rejected, now int64) []any {
	n := len(rows)
	tenant, code, field, msg, hint := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	raw, src := make([][]byte, n), newSources(n)
	for i := range rows {
		r := &rows[i]
		tenant[i], code[i], field[i], msg[i], hint[i], raw[i] = r.Tenant, r.Code, r.Field, r.Message, r.ClientHint, r.Raw
		src.set(i, r.Source)
	}
	return []any{tenant, code, field, msg, hint, raw, src.receivedMs, src.stream, src.topic, src.partition, src.offset, fill(n, now)}
}

// deadLettersColumns: schema.DeadLettersColumns.
func deadLettersColumns(rows []pipeline.DeadLetter, now int64) []any {
	n := len(rows)
	tenant, reason, raw, src := make([]string, n), make([]string, n), make([][]byte, n), newSources(n)
	for i := range rows {
		r := &rows[i]
		tenant[i], reason[i], raw[i] = r.Tenant, r.Reason, r.Raw
		src.set(i, r.Source)
	}
	return []any{tenant, reason, raw, src.receivedMs, src.stream, src.topic, src.partition, src.offset, fill(n, now)}
}

// forwardedColumns: schema.ForwardedColumns.
func forwardedColumns(rows []pipeline.ForwardedRow, now int64) []any {
	n := len(rows)
	tenant, id, client, toPart, toOffset, src := make([]string, n), make([]string, n), make([]string, n), make([]int32, n),
		make([]int64, n), newSources(n)
	for i := range rows {
		r := &rows[i]
		tenant[i], id[i], client[i], toPart[i], toOffset[i] = r.Tenant, r.EventID, r.ClientID, r.To.Partition, r.To.Offset
		src.set(i, r.Source)
	}
	return []any{tenant, id, client, src.receivedMs, src.stream, src.topic, src.partition, src.offset, toPart, toOffset, fill(n, now)}
}

// stateColumns: schema.StateColumns.
func stateColumns(rows []pipeline.StateRow) []any {
	n := len(rows)
	var (
		tenant, client, metric, stream = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		kind, level                    = make([]uint8, n), make([]uint8, n)
		bucket                         = make([]uint32, n)
		part                           = make([]int32, n)
		version, count                 = make([]uint64, n), make([]uint64, n)
		sum, mn, mx                    = make([]decimal.Decimal, n), make([]decimal.Decimal, n), make([]decimal.Decimal, n)
		minTs, maxTs                   = make([]int64, n), make([]int64, n)
	)
	for i := range rows {
		r := &rows[i]
		k := &r.Key
		tenant[i], kind[i], level[i], bucket[i], client[i], metric[i], stream[i], part[i] =
			k.Tenant, k.Kind, k.Level, k.Bucket, k.Client, k.Metric, k.Stream, k.Part
		version[i], count[i], sum[i], mn[i], mx[i] = r.Version, r.Count, SumDecimal(r.Sum), Decimal(r.Min), Decimal(r.Max)
		minTs[i], maxTs[i] = r.MinTs, r.MaxTs
	}
	return []any{tenant, kind, level, bucket, client, metric, stream, part, version, count, sum, mn, mx, minTs, maxTs}
}
