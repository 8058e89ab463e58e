//go:build integration

// Package chtest gives integration tests a fresh ClickHouse database with
// Tally's schema, and writes rows into it the way the processor does: the
// winners (events and event_ids), and the read model's rollup rows —
// cumulative per key and writing partition, one version per batch, several
// versions unmerged — so readers are tested against the layout of
// docs/design/read-model.md by an implementation independent of the
// processor's.
package chtest

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/shopspring/decimal"

	"github.com/tally-dev/tally/event"
	"github.com/tally-dev/tally/event/schema"
	"github.com/tally-dev/tally/event/testenv"
)

// DB opens ClickHouse (testenv.ClickHouse: TALLY_TEST_CLICKHOUSE_ADDR),
// creates a database unique to this test with the schema applied, and drops
// it when the test ends (unless testenv.KeepDatabases).
func DB(t testing.TB) (driver.Conn, string) {
	t.Helper()
	addr := testenv.ClickHouse(t)
	conn, err := clickhouse.Open(&clickhouse.Options{
		Protocol:    clickhouse.Native,
		Addr:        []string{addr},
		Auth:        clickhouse.Auth{Username: "default"},
		DialTimeout: 5 * time.Second,
		Settings:    clickhouse.Settings{"max_execution_time": 60},
	})
	if err != nil {
		t.Fatalf("open clickhouse %s: %v", addr, err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	db := "tally_test_" + hex.EncodeToString(b)
	ctx := context.Background()
	for _, stmt := range schema.Statements(db, schema.Options{}) {
		if err := conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("apply schema: %v", err)
		}
	}
	t.Cleanup(func() {
		if !testenv.KeepDatabases() {
			_ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db)
		}
		_ = conn.Close()
	})
	return conn, db
}

// Stream is the stream test rows belong to.
const Stream = "events.raw/00000000000000000000000000000001"

// Winner is one stored event: the first copy of its id.
type Winner struct {
	Tenant, EventID, ClientID, Metric string
	Amount                            string // decimal text
	TsMs, ReceivedMs                  int64
	Partition                         int32
	Offset                            int64
	Raw                               string
}

// WriteWinners stores winners as the processor would: each partition's
// winners in offset order, in batches of batch winners; every batch writes
// its events (and, with replay, writes them again, as a batch replayed after
// a crash does), then the cumulative rollup rows of the keys it touched at
// version = its end offset. Nothing is merged: every batch is its own part.
func WriteWinners(t testing.TB, conn driver.Conn, db string, winners []Winner, batch int, replay bool) {
	t.Helper()
	(&StateWriter{Conn: conn, DB: db}).Write(t, winners, batch, replay)
}

// A StateWriter is WriteWinners across calls: its rollup rows and counters
// keep accumulating, so later calls continue the partitions (offsets must
// grow). With Books, every batch's insert also carries its tenants'
// processed counters and the partition's position, as the processor's does.
// Its state rows belong to Stream ("" means the package's Stream).
type StateWriter struct {
	Conn   driver.Conn
	DB     string
	Books  bool
	Stream string

	acc       map[stateKey]*row
	processed map[stateKey]uint64 // by tenant and part
}

// Write stores winners (see WriteWinners).
func (sw *StateWriter) Write(t testing.TB, winners []Winner, batch int, replay bool) {
	t.Helper()
	if sw.acc == nil {
		sw.acc, sw.processed = map[stateKey]*row{}, map[stateKey]uint64{}
	}
	conn, db, acc := sw.Conn, sw.DB, sw.acc
	stream, _ := streamOf(sw.Stream)
	byPart := map[int32][]Winner{}
	for _, w := range winners {
		byPart[w.Partition] = append(byPart[w.Partition], w)
	}
	parts := mapsKeys(byPart)
	slices.Sort(parts)
	for _, part := range parts {
		ws := byPart[part]
		slices.SortFunc(ws, func(a, b Winner) int { return cmp.Compare(a.Offset, b.Offset) })
		for start := 0; start < len(ws); start += batch {
			b := ws[start:min(len(ws), start+batch)]
			insertEvents(t, conn, db, b)
			if replay {
				insertEvents(t, conn, db, b)
			}
			version := uint64(b[len(b)-1].Offset + 1)
			touched := map[stateKey]bool{}
			tenants := map[stateKey]bool{}
			for _, w := range b {
				tk := stateKey{tenant: tenantOf(w), part: part}
				sw.processed[tk]++
				tenants[tk] = true
				for _, lvl := range []uint8{schema.LevelAll, schema.LevelDay, schema.LevelHour, schema.Level10Min, schema.LevelMinute} {
					var bucket uint32
					if width := schema.LevelSeconds[lvl]; width > 0 {
						bucket = uint32(w.TsMs / 1000 / width * width)
					}
					k := stateKey{tenant: tenantOf(w), level: lvl, bucket: bucket, client: w.ClientID, metric: w.Metric, part: part}
					r := acc[k]
					if r == nil {
						r = &row{}
						acc[k] = r
					}
					r.add(t, w)
					touched[k] = true
				}
			}
			var rows [][]any
			for k := range touched {
				r := acc[k]
				rows = append(rows, []any{k.tenant, schema.KindRollup, k.level, k.bucket, k.client, k.metric, stream, k.part, version,
					r.count, decimal.NewFromBigInt(r.sum, -9), decimal.NewFromBigInt(r.min, -9), decimal.NewFromBigInt(r.max, -9),
					r.minTs, r.maxTs})
			}
			if sw.Books {
				for k := range tenants {
					rows = append(rows, []any{k.tenant, schema.KindCounter, uint8(0), uint32(0), "", schema.OutcomeProcessed, stream, part,
						version, sw.processed[k], decimal.Zero, decimal.Zero, decimal.Zero, int64(0), int64(0)})
				}
				rows = append(rows, []any{"", schema.KindPosition, uint8(0), uint32(0), "", "", stream, part, version, version,
					decimal.Zero, decimal.Zero, decimal.Zero, int64(0), int64(0)})
			}
			Insert(t, conn, "INSERT INTO "+db+".state ("+schema.Cols(schema.StateColumns)+")", rows...)
		}
	}
}

func mapsKeys[K comparable, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func tenantOf(w Winner) string { return cmp.Or(w.Tenant, event.DefaultTenant) }

type stateKey struct {
	tenant         string
	level          uint8
	bucket         uint32
	client, metric string
	part           int32
}

type row struct {
	count         uint64
	sum, min, max *big.Int
	minTs, maxTs  int64
}

func (r *row) add(t testing.TB, w Winner) {
	a, err := event.ParseAmount(w.Amount)
	if err != nil {
		t.Fatalf("amount %q: %v", w.Amount, err)
	}
	v := a.BigScaled()
	if r.count == 0 {
		r.sum, r.min, r.max, r.minTs, r.maxTs = new(big.Int), v, v, w.TsMs, w.TsMs
	}
	r.count++
	r.sum.Add(r.sum, v)
	if v.Cmp(r.min) < 0 {
		r.min = v
	}
	if v.Cmp(r.max) > 0 {
		r.max = v
	}
	r.minTs, r.maxTs = min(r.minTs, w.TsMs), max(r.maxTs, w.TsMs)
}

func insertEvents(t testing.TB, conn driver.Conn, db string, ws []Winner) {
	t.Helper()
	var events, ids [][]any
	for _, w := range ws {
		a, err := event.ParseAmount(w.Amount)
		if err != nil {
			t.Fatalf("amount %q: %v", w.Amount, err)
		}
		amount := decimal.NewFromBigInt(a.BigScaled(), -9)
		events = append(events, []any{tenantOf(w), w.EventID, w.ClientID, w.Metric, amount, time.UnixMilli(w.TsMs).UTC(), w.TsMs,
			uint8(0), "", uint64(0), w.ReceivedMs, Stream, "events.raw", w.Partition, w.Offset, w.Raw, w.ReceivedMs + 10})
		ids = append(ids, []any{event.Slot(w.ClientID), tenantOf(w), w.EventID, w.TsMs, uint64(0), Stream, "events.raw",
			w.Partition, w.Offset, w.ReceivedMs + 10})
	}
	Insert(t, conn, "INSERT INTO "+db+".events ("+schema.Cols(schema.EventsColumns)+")", events...)
	Insert(t, conn, "INSERT INTO "+db+".event_ids ("+schema.Cols(schema.EventIDsColumns)+")", ids...)
}

// The outcome rows besides winners, written as the processor writes them.

// Copy is a copy that lost to a winner, as the processor writes it to
// duplicates: a duplicate, or with Conflict a copy of the same id with
// other content, which keeps its raw text. Stream "" means Stream.
type Copy struct {
	Tenant, EventID, Stream  string
	Conflict                 bool
	Partition                int32
	Offset                   int64
	OriginalPartition        int32
	OriginalOffset           int64
	ClientID, Metric, Amount string // Amount: decimal text
	TsMs                     int64
	TsDefaulted              bool
	Raw                      string
	ReceivedMs, DetectedMs   int64
}

// WriteCopies stores copies in one insert.
func WriteCopies(t testing.TB, conn driver.Conn, db string, copies []Copy) {
	t.Helper()
	var rows [][]any
	for _, c := range copies {
		kind, raw := schema.OutcomeDuplicate, ""
		if c.Conflict {
			kind, raw = schema.OutcomeConflict, c.Raw
		}
		stream, topic := streamOf(c.Stream)
		rows = append(rows, []any{cmp.Or(c.Tenant, event.DefaultTenant), c.EventID, kind, stream, topic, c.Partition, c.Offset,
			c.OriginalPartition, c.OriginalOffset, c.ClientID, c.Metric, amount(t, c.Amount), c.TsMs, boolByte(c.TsDefaulted), raw,
			c.ReceivedMs, c.DetectedMs})
	}
	Insert(t, conn, "INSERT INTO "+db+"."+schema.Duplicates+" ("+schema.Cols(schema.DuplicatesColumns)+")", rows...)
}

// Rejection is a record normalization refused. Stream "" means Stream.
type Rejection struct {
	Tenant, Stream                        string
	Code, Field, Message, ClientHint, Raw string
	Partition                             int32
	Offset, ReceivedMs                    int64
}

// WriteRejected stores rejections in one insert.
func WriteRejected(t testing.TB, conn driver.Conn, db string, recs []Rejection) {
	t.Helper()
	var rows [][]any
	for _, r := range recs {
		stream, topic := streamOf(r.Stream)
		rows = append(rows, []any{cmp.Or(r.Tenant, event.DefaultTenant), r.Code, r.Field, r.Message, r.ClientHint, r.Raw, r.ReceivedMs,
			stream, topic, r.Partition, r.Offset, r.ReceivedMs + 10})
	}
	Insert(t, conn, "INSERT INTO "+db+"."+schema.Rejected+" ("+schema.Cols(schema.RejectedColumns)+")", rows...)
}

// DeadLetter is a record sent to the dead-letter topic. Stream "" means
// Stream.
type DeadLetter struct {
	Tenant, Stream, Reason, Raw string
	Partition                   int32
	Offset, ReceivedMs          int64
}

// WriteDeadLetters stores dead letters in one insert.
func WriteDeadLetters(t testing.TB, conn driver.Conn, db string, recs []DeadLetter) {
	t.Helper()
	var rows [][]any
	for _, r := range recs {
		stream, topic := streamOf(r.Stream)
		rows = append(rows, []any{cmp.Or(r.Tenant, event.DefaultTenant), r.Reason, r.Raw, r.ReceivedMs, stream, topic, r.Partition,
			r.Offset, r.ReceivedMs + 10})
	}
	Insert(t, conn, "INSERT INTO "+db+"."+schema.DeadLetters+" ("+schema.Cols(schema.DeadLettersColumns)+")", rows...)
}

// Stray is a record found outside its owner partition and produced again
// to it, at (ToPartition, ToOffset) of the same topic. Stream "" means
// Stream.
type Stray struct {
	Tenant, Stream, EventID, ClientID string
	Partition, ToPartition            int32
	Offset, ToOffset, ReceivedMs      int64
}

// WriteForwarded stores strays in one insert.
func WriteForwarded(t testing.TB, conn driver.Conn, db string, strays []Stray) {
	t.Helper()
	var rows [][]any
	for _, r := range strays {
		stream, topic := streamOf(r.Stream)
		rows = append(rows, []any{cmp.Or(r.Tenant, event.DefaultTenant), r.EventID, r.ClientID, r.ReceivedMs, stream, topic,
			r.Partition, r.Offset, r.ToPartition, r.ToOffset, r.ReceivedMs + 10})
	}
	Insert(t, conn, "INSERT INTO "+db+"."+schema.Forwarded+" ("+schema.Cols(schema.ForwardedColumns)+")", rows...)
}

// streamOf returns a stream (Stream when empty) and its topic.
func streamOf(stream string) (string, string) {
	stream = cmp.Or(stream, Stream)
	topic, _, _ := strings.Cut(stream, "/")
	return stream, topic
}

func amount(t testing.TB, text string) decimal.Decimal {
	t.Helper()
	a, err := event.ParseAmount(text)
	if err != nil {
		t.Fatalf("amount %q: %v", text, err)
	}
	return decimal.NewFromBigInt(a.BigScaled(), -9)
}

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// Exec runs one statement or fails the test.
func Exec(t testing.TB, conn driver.Conn, sql string, args ...any) {
	t.Helper()
	if err := conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// EventID returns a deterministic 64-hex id for n.
func EventID(n int) string {
	return fmt.Sprintf("%064x", n+1)
}

// Insert writes rows through a native batch (an INSERT ... VALUES with
// bound values hangs on 18.16's native protocol). insert must list its
// columns, as 18.16 requires.
func Insert(t testing.TB, conn driver.Conn, insert string, rows ...[]any) {
	t.Helper()
	if len(rows) == 0 {
		return
	}
	batch, err := conn.PrepareBatch(context.Background(), insert)
	if err != nil {
		t.Fatalf("prepare %s: %v", insert, err)
	}
	for _, r := range rows {
		if err := batch.Append(r...); err != nil {
			t.Fatalf("append: %v", err)
		}
	}
	if err := batch.Send(); err != nil {
		t.Fatalf("send %s: %v", insert, err)
	}
}

// Counter is one outcome count of one partition, as the processor keeps it.
type Counter struct {
	Tenant, Outcome string
	Partition       int32
	Count           uint64
}

// WriteBooks writes the processor's counters and each partition's
// position (every offset below it counted), at version = the position.
func WriteBooks(t testing.TB, conn driver.Conn, db string, counters []Counter, positions map[int32]int64) {
	t.Helper()
	var rows [][]any
	for _, c := range counters {
		v := uint64(positions[c.Partition])
		rows = append(rows, []any{cmp.Or(c.Tenant, event.DefaultTenant), schema.KindCounter, uint8(0), uint32(0), "", c.Outcome, Stream,
			c.Partition, v, c.Count, decimal.Zero, decimal.Zero, decimal.Zero, int64(0), int64(0)})
	}
	for p, pos := range positions {
		rows = append(rows, []any{"", schema.KindPosition, uint8(0), uint32(0), "", "", Stream, p, uint64(pos), uint64(pos),
			decimal.Zero, decimal.Zero, decimal.Zero, int64(0), int64(0)})
	}
	Insert(t, conn, "INSERT INTO "+db+".state ("+schema.Cols(schema.StateColumns)+")", rows...)
}
