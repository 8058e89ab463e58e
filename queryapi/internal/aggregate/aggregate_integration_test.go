//go:build integration

package aggregate_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
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

// fixture stores n logical events as winners of four partitions, written
// in small batches whose events are written twice (a replay after a crash),
// so the read model has many unmerged versions of every rollup row and the
// events table physical duplicates. The events span a month boundary.
func fixture(t testing.TB, n int) (*aggregate.Store, []logical) {
	t.Helper()
	conn, db := chtest.DB(t)
	truth, winners := newGenerator().next(n)
	chtest.WriteWinners(t, conn, db, winners, 37, true)
	return aggregate.NewStore(conn, db), truth
}

// generator makes logical events and their winners, continuing offsets
// across calls.
type generator struct {
	rng     *rand.Rand
	base    int64
	i       int
	offsets map[int32]int64
	winners map[int32]uint64 // per partition
}

func newGenerator() *generator {
	return &generator{rng: rand.New(rand.NewPCG(1, 2)), base: time.Date(2024, 1, 30, 22, 0, 0, 0, time.UTC).UnixMilli(),
		offsets: map[int32]int64{}, winners: map[int32]uint64{}}
}

func (g *generator) next(n int) ([]logical, []chtest.Winner) {
	var truth []logical
	var winners []chtest.Winner
	for range n {
		ev, w := g.one(int32(g.i % 4))
		truth, winners = append(truth, ev), append(winners, w)
	}
	return truth, winners
}

// one makes the next event, a winner of partition part.
func (g *generator) one(part int32) (logical, chtest.Winner) {
	i, rng := g.i, g.rng
	g.i++
	units := rng.IntN(2000) - 500
	nanos := rng.IntN(1_000_000_000)
	amt := fmt.Sprintf("%d.%09d", units, nanos)
	if units < 0 {
		amt = fmt.Sprintf("-%d.%09d", -units, nanos)
	}
	ev := logical{
		id: chtest.EventID(i), client: clients[rng.IntN(len(clients))], metric: metrics[rng.IntN(len(metrics))],
		amount: amt, tsMs: g.base + rng.Int64N(3*24*3600*1000),
	}
	if i%10 == 0 { // bursts: many events in a few minutes, so edges straddle
		ev.tsMs = g.base + 24*3600*1000 + rng.Int64N(3*60*1000)
	}
	w := chtest.Winner{EventID: ev.id, ClientID: ev.client, Metric: ev.metric, Amount: ev.amount,
		TsMs: ev.tsMs, ReceivedMs: ev.tsMs + 1000, Partition: part, Offset: g.offsets[part], Raw: "{}"}
	g.offsets[part] += 1 + rng.Int64N(3) // gaps: duplicates and rejections live in other tables
	g.winners[part]++
	return ev, w
}

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

func fmtTime(t *time.Time) string {
	if t == nil {
		return "open"
	}
	return t.UTC().Format(time.RFC3339Nano)
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

// TestAggregateIsExact checks invariants I2 and I6 at the reader: every
// grouping and interval, over all time and over ranges with millisecond
// edges anywhere (inside dense minutes too, across day and month
// boundaries), equals the ground truth, with unmerged versions of every
// rollup row and replayed event rows in the tables.
func TestAggregateIsExact(t *testing.T) {
	store, truth := fixture(t, 3000)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 4))
	base := time.Date(2024, 1, 30, 22, 0, 0, 0, time.UTC)
	ranges := []struct{ from, to *time.Time }{{nil, nil}}
	for range 40 {
		from := base.Add(time.Duration(rng.Int64N(int64(80 * time.Hour))))
		to := from.Add(time.Duration(1 + rng.Int64N(int64(30*time.Hour))))
		if rng.IntN(5) == 0 { // inside the burst's minutes
			from = base.Add(24*time.Hour + time.Duration(rng.Int64N(int64(3*time.Minute))))
			to = from.Add(time.Duration(1 + rng.Int64N(int64(2*time.Minute))))
		}
		switch rng.IntN(6) {
		case 0:
			ranges = append(ranges, struct{ from, to *time.Time }{&from, nil})
		case 1:
			ranges = append(ranges, struct{ from, to *time.Time }{nil, &to})
		default:
			ranges = append(ranges, struct{ from, to *time.Time }{&from, &to})
		}
	}
	filters := []aggregate.Query{{}, {ClientIDs: []string{"client_A", `o'brien`, `back\slash`}}, {Metrics: []string{"refund"}},
		{ClientIDs: []string{"a' OR '1'='1"}, Metrics: []string{"purchase", "click"}}, {ClientIDs: []string{"nobody"}}}
	n := 0
	for _, r := range ranges {
		for _, g := range []aggregate.GroupBy{aggregate.GroupNone, aggregate.GroupClientID, aggregate.GroupMetric, aggregate.GroupBoth} {
			for _, iv := range []aggregate.Interval{aggregate.IntervalNone, aggregate.IntervalMinute, aggregate.IntervalHour, aggregate.IntervalDay} {
				f := filters[rng.IntN(len(filters))]
				q := aggregate.Query{ClientIDs: f.ClientIDs, Metrics: f.Metrics, From: r.from, To: r.to, GroupBy: g, Interval: iv}
				if q.Validate() != nil {
					continue
				}
				got, err := store.Aggregate(ctx, q)
				if err != nil {
					t.Fatalf("%+v: %v", q, err)
				}
				t.Run(fmt.Sprintf("%d", n), func(t *testing.T) {
					t.Logf("from %v to %v groupBy %s interval %s clients %q metrics %q", fmtTime(q.From), fmtTime(q.To), q.GroupBy, q.Interval,
						q.ClientIDs, q.Metrics)
					assertGroups(t, got, expected(truth, q))
				})
				n++
			}
		}
	}
	if n < 400 {
		t.Fatalf("only %d queries checked", n)
	}
}
