//go:build integration

package aggregate_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/tally-dev/tally/queryapi/internal/aggregate"
	"github.com/tally-dev/tally/queryapi/internal/chtest"
	"github.com/tally-dev/tally/queryapi/internal/decimal"
)

// logical is one logical event of the ground truth.
type logical struct {
	id, client, metric, amount string
	tsMs                       int64
}

// Hostile client names make sure bound parameters round-trip exactly.
var clients = []string{"client_A", "client_B", `o'brien`, `back\slash`, `"quoted"`, "ünï", "a' OR '1'='1"}
var metrics = []string{"purchase", "click", "refund"}

// fixture stores n logical events as several batches of physical rows: every
// event once, about a third again under another offset (a resend the Redis
// filter missed), and a tenth again under the same offset (reprocessing
// after a crash). Nothing is merged: each batch is its own part.
func fixture(t *testing.T, n int) (*aggregate.Store, []logical) {
	t.Helper()
	conn, db := chtest.DB(t)
	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2024, 1, 30, 22, 0, 0, 0, time.UTC).UnixMilli() // spans a month boundary (two partitions)
	var truth []logical
	var first, resent, replayed []chtest.Row
	offset := int64(0)
	for i := range n {
		units := rng.IntN(2000) - 500
		nanos := rng.IntN(1_000_000_000)
		amt := fmt.Sprintf("%d.%09d", units, nanos)
		if units < 0 {
			amt = fmt.Sprintf("-%d.%09d", -units, nanos)
		}
		ev := logical{
			id: chtest.EventID(i), client: clients[rng.IntN(len(clients))], metric: metrics[rng.IntN(len(metrics))],
			amount: amt, tsMs: base + rng.Int64N(3*24*3600*1000),
		}
		truth = append(truth, ev)
		row := chtest.Row{EventID: ev.id, ClientID: ev.client, Metric: ev.metric, Amount: ev.amount, TsMs: ev.tsMs,
			ReceivedMs: ev.tsMs + 1000, Partition: int32(i % 3), Offset: offset, Raw: "{}", InsertedMs: ev.tsMs + 2000}
		offset++
		first = append(first, row)
		if rng.IntN(3) == 0 {
			dup := row
			dup.Offset, dup.ReceivedMs = offset+1_000_000, row.ReceivedMs+500
			resent = append(resent, dup)
		}
		if rng.IntN(10) == 0 {
			replayed = append(replayed, row)
		}
	}
	conn2, db2 := conn, db
	chtest.InsertEvents(t, conn2, db2, first)
	chtest.InsertEvents(t, conn2, db2, resent)
	chtest.InsertEvents(t, conn2, db2, replayed)
	var rows uint64
	if err := conn.QueryRow(context.Background(), "SELECT count() FROM "+db+".events").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != uint64(len(first)+len(resent)+len(replayed)) || len(resent) == 0 || len(replayed) == 0 {
		t.Fatalf("fixture has %d rows, want physical duplicates present", rows)
	}
	return aggregate.NewStore(conn, db), truth
}

// expected computes the aggregation in Go from the ground truth.
func expected(truth []logical, q aggregate.Query) []aggregate.Group {
	type key struct {
		client, metric string
		bucket         int64
	}
	byKey := map[key]*aggregate.Stats{}
	for _, ev := range truth {
		if len(q.ClientIDs) > 0 && !slices.Contains(q.ClientIDs, ev.client) ||
			len(q.Metrics) > 0 && !slices.Contains(q.Metrics, ev.metric) ||
			q.From != nil && ev.tsMs < q.From.UnixMilli() || q.To != nil && ev.tsMs >= q.To.UnixMilli() {
			continue
		}
		var k key
		if q.GroupBy == aggregate.GroupClientID || q.GroupBy == aggregate.GroupBoth {
			k.client = ev.client
		}
		if q.GroupBy == aggregate.GroupMetric || q.GroupBy == aggregate.GroupBoth {
			k.metric = ev.metric
		}
		k.bucket = -1
		if d := q.Interval.Duration(); d > 0 {
			k.bucket = time.UnixMilli(ev.tsMs).UTC().Truncate(d).Unix()
		}
		v := decimal.MustParse(ev.amount)
		s, ok := byKey[k]
		if !ok {
			byKey[k] = &aggregate.Stats{Count: 1, Sum: v, Min: v, Max: v}
			continue
		}
		s.Count++
		s.Sum = s.Sum.Add(v)
		if v.Cmp(s.Min) < 0 {
			s.Min = v
		}
		if v.Cmp(s.Max) > 0 {
			s.Max = v
		}
	}
	groups := map[[2]string]*aggregate.Group{}
	for k, s := range byKey {
		s.Avg = s.Sum.Div(s.Count)
		gk := [2]string{k.client, k.metric}
		g, ok := groups[gk]
		if !ok {
			g = &aggregate.Group{ClientID: k.client, Metric: k.metric}
			groups[gk] = g
		}
		if k.bucket < 0 {
			g.Stats = *s
			continue
		}
		g.Series = append(g.Series, aggregate.Bucket{Start: time.Unix(k.bucket, 0).UTC(), Stats: *s})
	}
	var out []aggregate.Group
	for _, g := range groups {
		if len(g.Series) > 0 {
			slices.SortFunc(g.Series, func(a, b aggregate.Bucket) int { return a.Start.Compare(b.Start) })
			for _, b := range g.Series {
				if g.Count == 0 {
					g.Stats = b.Stats
					continue
				}
				g.Count += b.Count
				g.Sum = g.Sum.Add(b.Sum)
				if b.Min.Cmp(g.Min) < 0 {
					g.Min = b.Min
				}
				if b.Max.Cmp(g.Max) > 0 {
					g.Max = b.Max
				}
			}
			g.Avg = g.Sum.Div(g.Count)
		}
		out = append(out, *g)
	}
	slices.SortFunc(out, func(a, b aggregate.Group) int {
		if a.ClientID != b.ClientID {
			if a.ClientID < b.ClientID {
				return -1
			}
			return 1
		}
		if a.Metric < b.Metric {
			return -1
		} else if a.Metric > b.Metric {
			return 1
		}
		return 0
	})
	return out
}

func equalStats(a, b aggregate.Stats) bool {
	return a.Count == b.Count && a.Sum.Cmp(b.Sum) == 0 && a.Avg.Cmp(b.Avg) == 0 && a.Min.Cmp(b.Min) == 0 && a.Max.Cmp(b.Max) == 0
}

func assertGroups(t *testing.T, got, want []aggregate.Group) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d groups, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.ClientID != w.ClientID || g.Metric != w.Metric || !equalStats(g.Stats, w.Stats) {
			t.Fatalf("group %d = %q/%q %+v\nwant %q/%q %+v", i, g.ClientID, g.Metric, g.Stats, w.ClientID, w.Metric, w.Stats)
		}
		if len(g.Series) != len(w.Series) {
			t.Fatalf("group %d: %d buckets, want %d", i, len(g.Series), len(w.Series))
		}
		for j := range w.Series {
			if !g.Series[j].Start.Equal(w.Series[j].Start) || !equalStats(g.Series[j].Stats, w.Series[j].Stats) {
				t.Fatalf("group %d bucket %d = %v %+v, want %v %+v", i, j, g.Series[j].Start, g.Series[j].Stats, w.Series[j].Start, w.Series[j].Stats)
			}
		}
	}
}

// TestAggregateIsExact checks invariant I2: with unmerged physical
// duplicates in the table, every grouping and interval equals the ground
// truth of distinct logical events, to the last of nine decimals.
func TestAggregateIsExact(t *testing.T) {
	store, truth := fixture(t, 3000)
	from := time.Date(2024, 1, 31, 5, 30, 0, 0, time.UTC)
	to := time.Date(2024, 2, 1, 12, 0, 0, 1_000_000, time.UTC)
	filters := map[string]aggregate.Query{
		"all":          {},
		"clients":      {ClientIDs: []string{"client_A", `o'brien`, `back\slash`}},
		"metric":       {Metrics: []string{"refund"}},
		"range":        {From: &from, To: &to},
		"everything":   {ClientIDs: []string{"a' OR '1'='1", "ünï"}, Metrics: []string{"click", "purchase"}, From: &from, To: &to},
		"no such":      {ClientIDs: []string{"nobody"}},
		"injection":    {ClientIDs: []string{"x') OR 1=1 --", `\' OR 1=1 --`}, Metrics: []string{"'; DROP TABLE events; --"}},
		"from only":    {From: &to},
		"to only":      {To: &from},
		"empty window": {From: &to, To: ptr(to.Add(time.Millisecond))},
	}
	ctx := context.Background()
	for _, method := range []aggregate.Method{aggregate.Auto, aggregate.Final, aggregate.GroupByEventID} {
		testMethod(t, ctx, store.WithMethod(method), method.String(), truth, filters)
	}
}

func testMethod(t *testing.T, ctx context.Context, store *aggregate.Store, method string, truth []logical, filters map[string]aggregate.Query) {
	for name, f := range filters {
		for _, g := range []aggregate.GroupBy{aggregate.GroupNone, aggregate.GroupClientID, aggregate.GroupMetric, aggregate.GroupBoth} {
			for _, iv := range []aggregate.Interval{aggregate.IntervalNone, aggregate.IntervalMinute, aggregate.IntervalHour, aggregate.IntervalDay} {
				q := f
				q.GroupBy, q.Interval = g, iv
				t.Run(method+"/"+name+"/"+string(g)+"/"+string(iv), func(t *testing.T) {
					got, err := store.Aggregate(ctx, q)
					if err != nil {
						t.Fatal(err)
					}
					assertGroups(t, got, expected(truth, q))
				})
			}
		}
	}
}

func ptr[T any](v T) *T { return &v }

// BenchmarkAggregate loads TALLY_BENCH_ROWS logical events (default
// 1,000,000) plus 10% physical duplicate rows and measures groupBy=both
// over all time and over one day.
func BenchmarkAggregate(b *testing.B) {
	n := 1_000_000
	if v := os.Getenv("TALLY_BENCH_ROWS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	conn, db := chtest.DB(b)
	ctx := context.Background()
	// Generate inside ClickHouse: loading 10M rows through the client would
	// dominate the run. 50 clients × 20 metrics, 30 days, ~10% duplicates.
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	gen := func(count, offsetBase int) {
		// In chunks, so no single INSERT meets max_execution_time.
		const chunk = 1_000_000
		for from := 0; from < count; from += chunk {
			chtest.Exec(b, conn, fmt.Sprintf(`INSERT INTO %[1]s.events (event_id, client_id, metric, amount, ts, ts_ms, ts_defaulted, idempotency_key, received_ms, topic, partition, offset, raw, inserted_ms)
SELECT lower(hex(SHA256(toString(number)))) AS event_id, concat('client_', toString(number %% 50)), concat('metric_', toString(intDiv(number, 50) %% 20)),
 toDecimal128(number %% 100000, 9) / toDecimal128(1000, 9), toDateTime(%[2]d + (number * 2654435761) %% 2592000), (%[2]d + (number * 2654435761) %% 2592000) * 1000, 0, '',
 0, 'events.raw', toInt32(number %% 6), toInt64(number + %[3]d), '', 0 FROM system.numbers LIMIT %[4]d, %[5]d`, db, base, offsetBase, from, min(chunk, count-from)))
		}
	}
	start := time.Now()
	gen(n, 0)
	gen(n/10, 100_000_000) // physical duplicates of the first 10% of events
	b.Logf("loaded %d + %d rows in %s", n, n/10, time.Since(start))
	store := aggregate.NewStore(conn, db)
	dayFrom := time.Unix(base+10*86400, 0).UTC()
	dayTo := dayFrom.Add(24 * time.Hour)
	queries := map[string]aggregate.Query{
		"both/all-time":       {GroupBy: aggregate.GroupBoth},
		"both/one-day":        {GroupBy: aggregate.GroupBoth, From: &dayFrom, To: &dayTo},
		"both/one-day/hourly": {GroupBy: aggregate.GroupBoth, From: &dayFrom, To: &dayTo, Interval: aggregate.IntervalHour},
		"none/all-time":       {GroupBy: aggregate.GroupNone},
	}
	methods := map[string]aggregate.Method{"final": aggregate.Final, "groupby": aggregate.GroupByEventID}
	for name, q := range queries {
		for mname, m := range methods {
			store := store.WithMethod(m)
			b.Run(name+"/"+mname, func(b *testing.B) {
				var groups []aggregate.Group
				for b.Loop() {
					var err error
					if groups, err = store.Aggregate(ctx, q); err != nil {
						b.Fatal(err)
					}
				}
				var count uint64
				for _, g := range groups {
					count += g.Count
				}
				b.ReportMetric(float64(count), "events")
			})
		}
	}
}
