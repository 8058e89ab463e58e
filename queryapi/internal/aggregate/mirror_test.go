package aggregate

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	shopspring "github.com/shopspring/decimal"

	"github.com/tally-dev/tally/event/schema"
)

// mirrorFixture is a mirror holding one tenant's rows of two partitions
// (client a in partition 0, client b in partition 1) at every level but
// minute, and the processed counters that prove them: 3 winners of a
// (amounts 1, 2 on day 0 hour 0, 4 on day 1), 1 of b (8 on day 1).
func mirrorFixture(t *testing.T) (*Mirror, []stateRow) {
	t.Helper()
	m := NewMirror(nil, "db", MirrorConfig{MaxAge: time.Minute}, slog.New(slog.DiscardHandler))
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m.now = func() time.Time { return at }
	day0, day1 := uint32(at.Unix()), uint32(at.Unix()+86400)
	p0, p1 := streamPart{"s", 0}, streamPart{"s", 1}
	rollup := func(level uint8, bucket uint32, client string, sp streamPart, count int64, sum, mn, mx int64) stateRow {
		return stateRow{tenant: "t", kind: schema.KindRollup, level: level, bucket: bucket, client: client, metric: "m", sp: sp,
			version: 10, count: uint64(count), sum: shopspring.NewFromInt(sum), mn: shopspring.NewFromInt(mn), mx: shopspring.NewFromInt(mx)}
	}
	rows := []stateRow{
		{tenant: "t", kind: schema.KindCounter, metric: schema.OutcomeProcessed, sp: p0, version: 10, count: 3},
		{tenant: "t", kind: schema.KindCounter, metric: schema.OutcomeProcessed, sp: p1, version: 10, count: 1},
		{kind: schema.KindPosition, sp: p0, version: 10, count: 10},
		{kind: schema.KindPosition, sp: p1, version: 10, count: 10},
		rollup(schema.LevelAll, 0, "a", p0, 3, 7, 1, 4),
		rollup(schema.LevelAll, 0, "b", p1, 1, 8, 8, 8),
		rollup(schema.LevelDay, day0, "a", p0, 2, 3, 1, 2),
		rollup(schema.LevelDay, day1, "a", p0, 1, 4, 4, 4),
		rollup(schema.LevelDay, day1, "b", p1, 1, 8, 8, 8),
		rollup(schema.LevelHour, day0, "a", p0, 2, 3, 1, 2),
		rollup(schema.LevelHour, day1, "a", p0, 1, 4, 4, 4),
		rollup(schema.LevelHour, day1, "b", p1, 1, 8, 8, 8),
	}
	return m, rows
}

func (m *Mirror) load(rows []stateRow) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range rows {
		m.apply(&rows[i])
	}
	m.certifiedAt = m.now()
	return m.certify()
}

func (m *Mirror) total(t *testing.T, q Query) (Stats, bool) {
	t.Helper()
	if q.Tenant == "" {
		q.Tenant = "t"
	}
	segs, edges := q.plan()
	groups, served, err := m.answer(q, segs, edges)
	if err != nil {
		t.Fatal(err)
	}
	if !served || len(groups) == 0 {
		return Stats{}, served
	}
	return groups[0].Stats, true
}

func TestMirrorServesOnlyWhatAddsUp(t *testing.T) {
	m, rows := mirrorFixture(t)
	if !m.load(rows) {
		t.Fatal("a complete snapshot was not certified")
	}
	if s, ok := m.total(t, Query{}); !ok || s.Count != 4 || s.Sum.String() != "15" || s.Min.String() != "1" || s.Max.String() != "8" {
		t.Fatalf("all time = %+v served %v, want 4 events, sum 15, min 1, max 8", s, ok)
	}
	from, to := m.now().Add(24*time.Hour), m.now().Add(48*time.Hour)
	if s, ok := m.total(t, Query{From: &from, To: &to}); !ok || s.Count != 2 || s.Sum.String() != "12" {
		t.Fatalf("day 1 = %+v served %v, want 2 events, sum 12", s, ok)
	}
	if v, truncated, ok := m.values("t", Clients, "", 1); !ok || !truncated || !slices.Equal(v, []string{"a"}) {
		t.Fatalf("clients (limit 1) = %q truncated %v served %v, want [a], truncated", v, truncated, ok)
	}
	if v, _, ok := m.values("t", Metrics, "m", 10); !ok || !slices.Equal(v, []string{"m"}) {
		t.Fatalf("metrics = %q served %v, want [m]", v, ok)
	}
	if s, ok := m.total(t, Query{Tenant: "other"}); !ok || s.Count != 0 {
		t.Fatalf("a tenant with nothing = %+v served %v, want an empty answer", s, ok)
	}

	// A newer version of a row read later replaces the older one.
	newer := rows[4]
	newer.version, newer.count, newer.sum = 20, 4, shopspring.NewFromInt(17)
	counter := rows[0]
	counter.version, counter.count = 20, 4
	if m.load([]stateRow{newer, counter}) {
		t.Fatal("a snapshot missing the day and hour rows of a winner was certified")
	}
	if s, ok := m.total(t, Query{}); !ok || s.Count != 5 || s.Sum.String() != "25" {
		t.Fatalf("after the newer row, all time = %+v served %v, want 5 events, sum 25", s, ok)
	}
	// The day and hour rows of that event were not read: those levels do
	// not add up, so they are not served, while the all-time level is.
	if _, ok := m.total(t, Query{From: &from, To: &to}); ok {
		t.Fatal("a day range was served from rows that do not add up to the processed counter")
	}
	m.mu.RLock()
	ok := m.tenants["t"].ok
	m.mu.RUnlock()
	if !ok[schema.LevelAll] || ok[schema.LevelDay] || ok[schema.LevelHour] {
		t.Fatalf("certified levels = %v, want only all time", ok)
	}
}

func TestMirrorRefusesStaleAndUnloaded(t *testing.T) {
	m, rows := mirrorFixture(t)
	m.load(rows)
	at := m.now()
	// A minute-aligned range needs minute rows: not loaded yet, so the
	// request goes to ClickHouse and the chunk is asked for.
	from, to := at.Add(2*time.Minute), at.Add(10*time.Hour)
	if _, ok := m.total(t, Query{From: &from, To: &to}); ok {
		t.Fatal("a range needing minute rows was served before they were loaded")
	}
	m.wantMu.Lock()
	_, asked := m.wanted[chunkKey{"t", schema.LevelMinute, uint32(at.Unix())}]
	m.wantMu.Unlock()
	if !asked {
		t.Fatal("the missing minute rows were not asked for")
	}
	if _, ok := m.total(t, Query{From: &from, Interval: IntervalMinute}); ok {
		t.Fatal("an open minute series was served")
	}
	m.now = func() time.Time { return at.Add(m.cfg.MaxAge + time.Millisecond) }
	if _, ok := m.total(t, Query{}); ok {
		t.Fatal("a snapshot older than MaxAge was served")
	}
}

func TestMirrorChunksAddUpToTheirHour(t *testing.T) {
	m, rows := mirrorFixture(t)
	at := m.now()
	hour0 := uint32(at.Unix())
	from, to := at.Add(2*time.Minute), at.Add(10*time.Hour)
	minute := func(bucket uint32, amount int64) stateRow {
		return stateRow{tenant: "t", kind: schema.KindRollup, level: schema.LevelMinute, bucket: bucket, client: "a", metric: "m",
			sp: streamPart{"s", 0}, version: 10, count: 1, sum: shopspring.NewFromInt(amount), mn: shopspring.NewFromInt(amount),
			mx: shopspring.NewFromInt(amount), minTs: int64(bucket) * 1000, maxTs: int64(bucket) * 1000}
	}
	tenMin := stateRow{tenant: "t", kind: schema.KindRollup, level: schema.Level10Min, bucket: hour0, client: "a", metric: "m",
		sp: streamPart{"s", 0}, version: 10, count: 2, sum: shopspring.NewFromInt(3), mn: shopspring.NewFromInt(1), mx: shopspring.NewFromInt(2)}
	for _, tc := range []struct {
		name   string
		chunk  []stateRow
		served bool
	}{
		{"complete", []stateRow{tenMin, minute(hour0+60, 1), minute(hour0+300, 2)}, true},
		{"a minute row missing", []stateRow{tenMin, minute(hour0+300, 2)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := mirrorFixture(t)
			m.now = func() time.Time { return at }
			for _, level := range []uint8{schema.Level10Min, schema.LevelMinute} {
				m.chunks[chunkKey{"t", level, hour0}] = newMirrorChunk(at.UnixNano())
			}
			m.load(append(slices.Clone(rows), tc.chunk...))
			s, ok := m.total(t, Query{From: &from, To: &to})
			if ok != tc.served {
				t.Fatalf("served = %v, want %v", ok, tc.served)
			}
			if ok && (s.Count != 1 || s.Sum.String() != "2") {
				t.Fatalf("[2m, 10h) = %+v, want the one event at minute 5 (amount 2)", s)
			}
		})
	}
}

// Asking for more chunks than MaxChunks evicts the least recently used,
// never one asked for in the same refresh, also on a full read.
func TestMirrorChunksStayBounded(t *testing.T) {
	m, _ := mirrorFixture(t)
	m.cfg.MaxChunks = 3
	at := m.now()
	for i := range 3 {
		m.chunks[chunkKey{"t", schema.LevelMinute, uint32(i * 3600)}] = newMirrorChunk(at.Add(time.Duration(i) * time.Second).UnixNano())
	}
	for i := 3; i < 5; i++ {
		m.wanted[chunkKey{"t", schema.LevelMinute, uint32(i * 3600)}] = struct{}{}
	}
	m.full, m.conn = true, failingConn{}
	// No ClickHouse here: the read fails, and a full refresh keeps the
	// chunks it holds (they are read again next time).
	if err := m.Refresh(context.Background()); err == nil {
		t.Fatal("a refresh without ClickHouse succeeded")
	}
	if len(m.chunks) != 3 {
		t.Fatalf("%d chunks after asking for 2 more, want MaxChunks = 3", len(m.chunks))
	}
	for _, h := range []uint32{2 * 3600, 3 * 3600, 4 * 3600} {
		if _, ok := m.chunks[chunkKey{"t", schema.LevelMinute, h}]; !ok {
			t.Fatalf("chunk at %d was evicted; want the two used longest ago gone", h)
		}
	}
}

// failingConn is a ClickHouse that answers no query.
type failingConn struct{ driver.Conn }

func (failingConn) Query(context.Context, string, ...any) (driver.Rows, error) {
	return nil, errors.New("no ClickHouse here")
}

// A background full read (Rebase) does not hold the refreshes up: while it
// reads, a refresh brings in a new batch; the full read's snapshot, older
// than that batch, is caught up before it is swapped in.
func TestMirrorRebaseLetsRefreshesGoOn(t *testing.T) {
	m, old := mirrorFixture(t)
	p0 := streamPart{"s", 0}
	batch := []stateRow{ // one more winner of a in partition 0, at version 20
		{tenant: "t", kind: schema.KindCounter, metric: schema.OutcomeProcessed, sp: p0, version: 20, count: 4},
		{kind: schema.KindPosition, sp: p0, version: 20, count: 20},
	}
	for _, r := range old {
		if r.kind == schema.KindRollup && r.client == "a" && r.bucket == old[len(old)-2].bucket {
			r.version, r.count, r.sum = 20, r.count+1, r.sum.Add(shopspring.NewFromInt(16))
			batch = append(batch, r)
		}
	}
	for _, r := range old {
		if r.kind == schema.KindRollup && r.level == schema.LevelAll && r.client == "a" {
			r.version, r.count, r.sum = 20, r.count+1, r.sum.Add(shopspring.NewFromInt(16))
			batch = append(batch, r)
		}
	}
	release := make(chan struct{})
	fullReads := make(chan struct{}, 4)
	conn := &scriptedConn{answer: func(sql string) []stateRow {
		if strings.Contains(sql, "version >") {
			return batch // every incremental read here starts at version 10
		}
		fullReads <- struct{}{}
		<-release
		return old // a snapshot taken before the batch was written
	}}
	m.conn = conn
	close(release)
	if err := m.Refresh(context.Background()); err != nil { // the first, full read
		t.Fatal(err)
	}
	<-fullReads
	release = make(chan struct{})
	if st, ok := m.total(t, Query{}); !ok || st.Count != 4 {
		t.Fatalf("after the first read: count %v (served %v), want 4", st.Count, ok)
	}

	done := make(chan error, 1)
	go func() { done <- m.Rebase(context.Background()) }()
	<-fullReads // Rebase is reading, and blocked
	refreshed := make(chan error, 1)
	go func() { refreshed <- m.Refresh(context.Background()) }()
	select {
	case err := <-refreshed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a refresh waited for the background full read")
	}
	if st, ok := m.total(t, Query{}); !ok || st.Count != 5 || st.Sum.String() != "31" {
		t.Fatalf("during the full read: count %v sum %v (served %v), want 5 and 31", st.Count, st.Sum, ok)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st, ok := m.total(t, Query{}); !ok || st.Count != 5 || st.Sum.String() != "31" {
		t.Fatalf("after the full read: count %v sum %v (served %v), want 5 and 31: the old snapshot was not caught up", st.Count, st.Sum, ok)
	}
	if m.full {
		t.Fatal("the swapped-in snapshot did not add up")
	}
}

// scriptedConn answers every SELECT of the state table with answer's rows.
type scriptedConn struct {
	driver.Conn
	answer func(sql string) []stateRow
}

func (c *scriptedConn) Query(_ context.Context, sql string, _ ...any) (driver.Rows, error) {
	return &stateRows{rows: c.answer(sql), at: -1}, nil
}

// stateRows yields rows in the refresh's column order.
type stateRows struct {
	driver.Rows
	rows []stateRow
	at   int
}

func (r *stateRows) Next() bool   { r.at++; return r.at < len(r.rows) }
func (r *stateRows) Close() error { return nil }
func (r *stateRows) Err() error   { return nil }
func (r *stateRows) Scan(dest ...any) error {
	s := r.rows[r.at]
	*dest[0].(*string), *dest[1].(*uint8), *dest[2].(*uint8), *dest[3].(*uint32) = s.tenant, s.kind, s.level, s.bucket
	*dest[4].(*string), *dest[5].(*string), *dest[6].(*string), *dest[7].(*int32) = s.client, s.metric, s.sp.stream, s.sp.part
	*dest[8].(*uint64), *dest[9].(*uint64) = s.version, s.count
	*dest[10].(*shopspring.Decimal), *dest[11].(*shopspring.Decimal), *dest[12].(*shopspring.Decimal) = s.sum, s.mn, s.mx
	*dest[13].(*int64), *dest[14].(*int64) = s.minTs, s.maxTs
	return nil
}
