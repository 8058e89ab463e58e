package aggregate

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	shopspring "github.com/shopspring/decimal"

	"github.com/tally-dev/tally/event/schema"
)

// benchMirror holds the bench stack's shape: 400 client × metric keys over
// 8 partitions, 30 days of day and hour rows.
func benchMirror(b *testing.B) *Mirror {
	m := NewMirror(nil, "db", MirrorConfig{MaxAge: time.Hour}, slog.New(slog.DiscardHandler))
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	m.now = func() time.Time { return start }
	var rows []stateRow
	perPart := map[streamPart]uint64{}
	for c := range 100 {
		for _, metric := range []string{"api_call", "click", "purchase", "signup"} {
			sp := streamPart{"events.raw/e53e4e676283490582688291c0eb6d43", int32(c % 8)}
			row := func(level uint8, bucket uint32, n int64) stateRow {
				return stateRow{tenant: "default", kind: schema.KindRollup, level: level, bucket: bucket, client: fmt.Sprintf("client_%02d", c),
					metric: metric, sp: sp, version: 1, count: uint64(n), sum: shopspring.NewFromInt(n * 5001).Shift(-2),
					mn: shopspring.NewFromInt(2).Shift(-2), mx: shopspring.NewFromInt(999993).Shift(-2)}
			}
			rows = append(rows, row(schema.LevelAll, 0, 720*10))
			for d := range 30 {
				rows = append(rows, row(schema.LevelDay, uint32(start.Unix())+uint32(d)*86400, 240))
				for h := range 24 {
					rows = append(rows, row(schema.LevelHour, uint32(start.Unix())+uint32(d)*86400+uint32(h)*3600, 10))
				}
			}
			perPart[sp] += 7200
		}
	}
	for sp, n := range perPart {
		rows = append(rows, stateRow{tenant: "default", kind: schema.KindCounter, metric: schema.OutcomeProcessed, sp: sp, version: 1, count: n})
	}
	if !m.load(rows) {
		b.Fatal("not certified")
	}
	return m
}

func BenchmarkMirrorAnswer(b *testing.B) {
	m := benchMirror(b)
	from, to := m.now().Add(-time.Hour), m.now().Add(30*24*time.Hour)
	for _, c := range []struct {
		name string
		q    Query
	}{
		{"both_all_time", Query{Tenant: "default", GroupBy: GroupBoth}},
		{"none_all_time", Query{Tenant: "default", GroupBy: GroupNone}},
		{"both_30d_hour_aligned", Query{Tenant: "default", GroupBy: GroupBoth, From: &from, To: &to}},
	} {
		b.Run(c.name, func(b *testing.B) {
			segs, edges := c.q.plan()
			for b.Loop() {
				if _, ok, err := m.answer(c.q, segs, edges); !ok || err != nil {
					b.Fatal(ok, err)
				}
			}
		})
	}
}
