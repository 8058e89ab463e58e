//go:build integration

package aggregate_test

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/shopspring/decimal"

	"github.com/tally-dev/tally/event/schema"
	"github.com/tally-dev/tally/queryapi/internal/aggregate"
	"github.com/tally-dev/tally/queryapi/internal/chtest"
	"github.com/tally-dev/tally/queryapi/internal/stats"
)

// mirrorAnswers reads tally_queryapi_mirror_answers_total for a source.
func mirrorAnswers(t *testing.T, reg *prometheus.Registry, source string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, f := range families {
		if f.GetName() != "tally_queryapi_mirror_answers_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "source" && l.GetValue() == source {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}

// mirrorQueries are ranges the mirror can serve (minute-aligned, some
// open) and ranges with millisecond edges, over every grouping and
// interval, with filters.
func mirrorQueries(rng *rand.Rand) []aggregate.Query {
	base := time.Date(2024, 1, 30, 22, 0, 0, 0, time.UTC)
	type span struct{ from, to *time.Time }
	spans := []span{{nil, nil}}
	for i := range 30 {
		from := base.Add(time.Duration(rng.Int64N(int64(80 * time.Hour))))
		to := from.Add(time.Duration(1 + rng.Int64N(int64(20*time.Hour))))
		if i%3 != 0 {
			from, to = from.Truncate(time.Minute), to.Truncate(time.Minute).Add(time.Minute)
		}
		switch i % 7 {
		case 0:
			spans = append(spans, span{&from, nil})
		case 1:
			spans = append(spans, span{nil, &to})
		default:
			spans = append(spans, span{&from, &to})
		}
	}
	filters := []aggregate.Query{{}, {ClientIDs: []string{"client_A", `o'brien`}}, {Metrics: []string{"refund"}}, {ClientIDs: []string{"nobody"}}}
	var out []aggregate.Query
	for _, s := range spans {
		for _, g := range []aggregate.GroupBy{aggregate.GroupNone, aggregate.GroupClientID, aggregate.GroupMetric, aggregate.GroupBoth} {
			iv := []aggregate.Interval{aggregate.IntervalNone, aggregate.IntervalMinute, aggregate.IntervalHour, aggregate.IntervalDay}[rng.IntN(4)]
			f := filters[rng.IntN(len(filters))]
			q := aggregate.Query{ClientIDs: f.ClientIDs, Metrics: f.Metrics, From: s.from, To: s.to, GroupBy: g, Interval: iv}
			if q.Validate() == nil {
				out = append(out, q)
			}
		}
	}
	return out
}

// TestMirrorIsExact checks that the mirror answers what ClickHouse would,
// exactly: after its first read, after incremental refreshes as more
// batches land, and never from a snapshot that does not add up — here a
// batch whose counter and position are visible before its rollup rows.
func TestMirrorIsExact(t *testing.T) {
	conn, db := chtest.DB(t)
	ctx := context.Background()
	gen := newGenerator()
	sw := &chtest.StateWriter{Conn: conn, DB: db, Books: true}
	truth, winners := gen.next(2000)
	sw.Write(t, winners, 37, true)

	m := aggregate.NewMirror(conn, db, aggregate.MirrorConfig{MaxAge: time.Hour, MaxChunks: 1024}, slog.New(slog.DiscardHandler))
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.Collectors()...)
	store := aggregate.NewStore(conn, db).WithMirror(m)
	refresh := func() {
		t.Helper()
		if err := m.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
	}
	queries := mirrorQueries(rand.New(rand.NewPCG(5, 6)))
	// round asks every query twice with a refresh between (the first ask
	// makes the mirror load the fine rows it lacks) and reports how many
	// of the second asks the mirror answered.
	round := func(name string) float64 {
		t.Helper()
		before := mirrorAnswers(t, reg, "mirror")
		for pass := range 2 {
			for i, q := range queries {
				got, err := store.Aggregate(ctx, q)
				if err != nil {
					t.Fatalf("%s query %d: %v", name, i, err)
				}
				t.Run(fmt.Sprintf("%s/%d/%d", name, pass, i), func(t *testing.T) {
					t.Logf("from %v to %v groupBy %s interval %s clients %q metrics %q", fmtTime(q.From), fmtTime(q.To), q.GroupBy, q.Interval,
						q.ClientIDs, q.Metrics)
					assertGroups(t, got, expected(truth, q))
				})
			}
			if pass == 0 {
				before = mirrorAnswers(t, reg, "mirror")
				refresh()
			}
		}
		return mirrorAnswers(t, reg, "mirror") - before
	}

	refresh()
	if served := round("first"); served < float64(len(queries))/2 {
		logReasons(t, reg)
		t.Fatalf("the mirror answered %.0f of %d queries; want most (aligned ranges)", served, len(queries))
	}

	// More batches, some into the same buckets: incremental refreshes.
	more, winners := gen.next(1000)
	sw.Write(t, winners, 29, false)
	truth = append(truth, more...)
	refresh()
	if served := round("incremental"); served < float64(len(queries))/2 {
		t.Fatalf("after more batches the mirror answered %.0f of %d queries", served, len(queries))
	}

	// A background full read (and its catch-up) swaps in the same answers.
	more, winners = gen.next(300)
	sw.Write(t, winners, 31, false)
	truth = append(truth, more...)
	if err := m.Rebase(ctx); err != nil {
		t.Fatal(err)
	}
	if served := round("rebased"); served < float64(len(queries))/2 {
		t.Fatalf("after a background full read the mirror answered %.0f of %d queries", served, len(queries))
	}

	// A counter and position that claim one winner more than the rollup
	// rows hold (as if the rows were not visible yet): the mirror must
	// refuse every level and leave the answers to ClickHouse.
	processed := gen.winners[0]
	next := gen.offsets[0]
	chtest.Insert(t, conn, "INSERT INTO "+db+".state ("+schema.Cols(schema.StateColumns)+")",
		[]any{"default", schema.KindCounter, uint8(0), uint32(0), "", schema.OutcomeProcessed, chtest.Stream, int32(0),
			uint64(next + 1), processed + 1, decimal.Zero, decimal.Zero, decimal.Zero, int64(0), int64(0)},
		[]any{"", schema.KindPosition, uint8(0), uint32(0), "", "", chtest.Stream, int32(0),
			uint64(next + 1), uint64(next + 1), decimal.Zero, decimal.Zero, decimal.Zero, int64(0), int64(0)})
	refresh()
	before := mirrorAnswers(t, reg, "mirror")
	for i, q := range queries {
		got, err := store.Aggregate(ctx, q)
		if err != nil {
			t.Fatalf("query %d: %v", i, err)
		}
		assertGroups(t, got, expected(truth, q))
	}
	if served := mirrorAnswers(t, reg, "mirror") - before; served != 0 {
		t.Fatalf("the mirror answered %.0f queries from a snapshot whose rows do not add up to its counters", served)
	}
	// The batch's rows land (the counter again, as the processor writes
	// it): the next refresh proves the snapshot and serves again.
	last, w := gen.one(0)
	if uint64(w.Offset) != uint64(next) {
		t.Fatalf("the batch is at offset %d, want %d", w.Offset, next)
	}
	sw.Write(t, []chtest.Winner{w}, 1, false)
	truth = append(truth, last)
	refresh()
	if served := round("healed"); served < float64(len(queries))/2 {
		t.Fatalf("after the rows landed the mirror answered %.0f of %d queries", served, len(queries))
	}

	// The books of the mirror's snapshot are ClickHouse's (nothing is
	// written meanwhile).
	want, err := stats.NewClickHouse(conn, db).State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	books, ok := m.Books()
	if !ok {
		t.Fatal("the mirror has no books after a refresh")
	}
	if got, wantC := setOf(books.Counters), setOf(want.Counters); !maps.Equal(got, wantC) || len(got) == 0 {
		t.Fatalf("mirror counters %v, ClickHouse %v", books.Counters, want.Counters)
	}
	if got, wantP := setOf(books.Positions), setOf(want.Positions); !maps.Equal(got, wantP) || len(got) != 4 {
		t.Fatalf("mirror positions %v, ClickHouse %v", books.Positions, want.Positions)
	}

	// The value lists agree with ClickHouse's.
	plain := aggregate.NewStore(conn, db)
	for _, dim := range []aggregate.Dimension{aggregate.Clients, aggregate.Metrics} {
		for _, prefix := range []string{"", "c", "o'"} {
			want, wantMore, err := plain.Values(ctx, "", dim, prefix, 3)
			if err != nil {
				t.Fatal(err)
			}
			got, more, err := store.Values(ctx, "", dim, prefix, 3)
			if err != nil || !slices.Equal(got, want) || more != wantMore {
				t.Fatalf("%s %q: mirror %q (more %v, %v), ClickHouse %q (more %v)", dim, prefix, got, more, err, want, wantMore)
			}
		}
	}
}

// An incremental refresh reads only rows above the versions it certified
// for the partitions it knows; rows of a partition or a stream it has not
// seen yet (partitions added, the raw topic recreated) it must read whole,
// counters and positions included, or it would certify a mirror that lacks
// them and serve it.
func TestMirrorReadsNewPartitionsAndStreamsWhole(t *testing.T) {
	conn, db := chtest.DB(t)
	ctx := context.Background()
	gen := newGenerator()
	var truth []logical
	write := func(sw *chtest.StateWriter, parts ...int32) {
		t.Helper()
		var ws []chtest.Winner
		for i := range 60 {
			ev, w := gen.one(parts[i%len(parts)])
			truth, ws = append(truth, ev), append(ws, w)
		}
		sw.Write(t, ws, 7, false)
	}
	known := &chtest.StateWriter{Conn: conn, DB: db, Books: true}
	write(known, 0, 1)

	m := aggregate.NewMirror(conn, db, aggregate.MirrorConfig{MaxAge: time.Hour}, slog.New(slog.DiscardHandler))
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.Collectors()...)
	store := aggregate.NewStore(conn, db).WithMirror(m)
	check := func(step string, positions int) {
		t.Helper()
		if err := m.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		for _, g := range []aggregate.GroupBy{aggregate.GroupNone, aggregate.GroupBoth} {
			q := aggregate.Query{GroupBy: g}
			before := mirrorAnswers(t, reg, "mirror")
			got, err := store.Aggregate(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if mirrorAnswers(t, reg, "mirror") != before+1 {
				logReasons(t, reg)
				t.Fatalf("%s: the mirror did not answer the all-time groupBy=%s", step, g)
			}
			t.Run(step+"/"+string(g), func(t *testing.T) { assertGroups(t, got, expected(truth, q)) })
		}
		books, ok := m.Books()
		if !ok || len(books.Positions) != positions {
			t.Fatalf("%s: the mirror's books hold %d positions (ok %v), want %d", step, len(books.Positions), ok, positions)
		}
	}
	check("first read", 2)
	write(known, 1, 2) // partition 2 is new to the mirror
	other := &chtest.StateWriter{Conn: conn, DB: db, Books: true, Stream: "events.raw/00000000000000000000000000000002"}
	write(other, 0) // so is every partition of another stream
	check("new partition and stream", 4)
}

// setOf is xs as a set (the order of rows read from a map means nothing).
func setOf[T comparable](xs []T) map[T]bool {
	out := map[T]bool{}
	for _, x := range xs {
		out[x] = true
	}
	return out
}

// logReasons logs why the mirror did not answer, for a failure's report.
func logReasons(t *testing.T, reg *prometheus.Registry) {
	t.Helper()
	families, _ := reg.Gather()
	for _, f := range families {
		if f.GetName() == "tally_queryapi_mirror_answers_total" {
			for _, m := range f.GetMetric() {
				t.Logf("%v %v", m.GetLabel(), m.GetCounter().GetValue())
			}
		}
	}
}
