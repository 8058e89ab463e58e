package aggregate

import (
	"math"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/tally-dev/tally/event/schema"
)

// covered returns, for instant ms, which segment or edge covers it (-1 none).
func covered(ms int64, segs []segment, edges []edge) (int, int) {
	n, which := 0, -1
	for i, s := range segs {
		w := schema.LevelSeconds[s.level] * 1000
		lo, hi := s.lo, s.hi
		if lo != math.MinInt64 {
			lo *= 1000
		}
		if hi != math.MaxInt64 {
			hi *= 1000
		}
		if s.level == schema.LevelAll || ms >= lo && ms < hi {
			if s.level != schema.LevelAll && (lo != math.MinInt64 && lo%w != 0 || hi != math.MaxInt64 && hi%w != 0) {
				return -2, i // a segment not aligned to its level
			}
			n++
			which = i
		}
	}
	for i, e := range edges {
		if ms >= e.lo && ms < e.hi {
			n++
			which = len(segs) + i
		}
	}
	return n, which
}

// The plan covers every instant of the range exactly once and nothing
// outside it, with whole buckets aligned to their level and edges inside one
// minute; it needs at most two runs per level and two partial minutes.
func TestPlanPartitionsTheRange(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		base := int64(1_706_652_000_000) // 2024-01-30T22:00Z
		// rapid favours small numbers; build instants from a minute and a
		// millisecond inside it, so unaligned edges are the common case.
		instant := func(label string, minutes int64) int64 {
			return rapid.Int64Range(0, minutes).Draw(t, label+"Minute")*60_000 + rapid.Int64Range(0, 59_999).Draw(t, label+"Ms")
		}
		from := base + instant("from", 5*1440)
		scale := []int64{1, 3, 150, 3 * 1440, 40 * 1440}[rapid.IntRange(0, 4).Draw(t, "scale")]
		to := from + 1 + instant("len", scale)
		var f, tt *time.Time
		if rapid.IntRange(0, 4).Draw(t, "openFrom") > 0 {
			v := time.UnixMilli(from)
			f = &v
		}
		if rapid.IntRange(0, 4).Draw(t, "openTo") > 0 {
			v := time.UnixMilli(to)
			tt = &v
		}
		iv := []Interval{IntervalNone, IntervalMinute, IntervalHour, IntervalDay}[rapid.IntRange(0, 3).Draw(t, "interval")]
		q := Query{From: f, To: tt, Interval: iv}
		segs, edges := q.plan()
		if len(segs) > 10 || len(edges) > 2 {
			t.Fatalf("%d segments, %d edges", len(segs), len(edges))
		}
		for _, e := range edges {
			if e.lo < e.minute*1000 || e.hi > e.minute*1000+60_000 || e.lo >= e.hi {
				t.Fatalf("edge %+v is not inside its minute", e)
			}
		}
		if iv != IntervalNone {
			for _, s := range segs {
				if schema.LevelSeconds[s.level] > int64(iv.Duration()/time.Second) {
					t.Fatalf("segment %+v is coarser than the interval %s", s, iv)
				}
			}
		}
		probe := func(ms int64, inside bool) {
			n, _ := covered(ms, segs, edges)
			if inside && n != 1 || !inside && n != 0 {
				t.Fatalf("instant %d (inside=%v) covered %d times by %+v %+v", ms, inside, n, segs, edges)
			}
		}
		lo, hi := from, to
		for range 200 {
			ms := lo - 3*86400_000 + rapid.Int64Range(0, hi-lo+6*86400_000).Draw(t, "probe")
			in := (f == nil || ms >= from) && (tt == nil || ms < to)
			probe(ms, in)
		}
		for _, ms := range []int64{from, to - 1, to, from - 1} {
			in := (f == nil || ms >= from) && (tt == nil || ms < to)
			probe(ms, in)
		}
	})
}

func TestAllTimeReadsOneRowPerKey(t *testing.T) {
	segs, edges := Query{}.plan()
	if len(segs) != 1 || segs[0].level != schema.LevelAll || len(edges) != 0 {
		t.Fatalf("all time: %+v %+v", segs, edges)
	}
}

func TestValidate(t *testing.T) {
	from := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	to := from.Add(time.Hour)
	far := from.Add(10_001 * time.Minute)
	for _, tc := range []struct {
		q  Query
		ok bool
	}{
		{Query{}, true},
		{Query{GroupBy: "bogus"}, false},
		{Query{Interval: "week"}, false},
		{Query{From: &to, To: &from}, false},
		{Query{From: &from, To: &far, Interval: IntervalMinute}, false},
		{Query{From: &from, To: &to, Interval: IntervalMinute}, true},
		{Query{ClientIDs: make([]string, MaxFilterValues+1)}, false},
	} {
		if err := tc.q.Validate(); (err == nil) != tc.ok {
			t.Errorf("Validate(%+v) = %v", tc.q, err)
		}
	}
}
