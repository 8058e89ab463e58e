//go:build integration

package eventstore_test

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math/big"
	"slices"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/tally-dev/tally/event"
	"github.com/tally-dev/tally/event/schema"
	"github.com/tally-dev/tally/event/testenv"
	"github.com/tally-dev/tally/processor/internal/eventstore"
	"github.com/tally-dev/tally/processor/internal/migrate"
	"github.com/tally-dev/tally/processor/internal/pipeline"
)

func newStore(t *testing.T) *eventstore.Store {
	t.Helper()
	ctx := context.Background()
	addr := testenv.ClickHouse(t)
	db := fmt.Sprintf("it_store_%d", time.Now().UnixNano())
	s, err := eventstore.Open(eventstore.Options{Addr: []string{addr}, Database: db, User: "default"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !testenv.KeepDatabases() {
			_ = s.Conn().Exec(context.Background(), "DROP DATABASE IF EXISTS "+db)
		}
		s.Close()
	})
	if err := migrate.Apply(ctx, s.Conn(), db, schema.Options{}, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	return s
}

func winner(i int, amount event.Amount, ts time.Time) pipeline.Winner {
	id := fmt.Sprintf("%064x", i)
	return pipeline.Winner{Tenant: "default", Slot: event.Slot("client_A"), Raw: []byte(`{"raw":true}`),
		Event:  event.Canonical{EventID: id, ClientID: "client_A", Metric: "m", Amount: amount, Timestamp: ts},
		Source: pipeline.Source{Stream: "raw/abc", Topic: "raw", Partition: 3, Offset: int64(i), Received: ts}}
}

// Every statement the processor runs, against the real server: a batch of
// every row kind (events spanning more months than one insert may hold),
// state rows with 128-bit sums, and the three reads.
func TestStoreRoundTrip(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	base := time.Date(2010, 1, 15, 12, 0, 0, 0, time.UTC)
	var b pipeline.Batch
	for i := range 150 { // 150 different months
		b.Winners = append(b.Winners, winner(i, event.Amount{Units: int64(i), Nanos: 5}, base.AddDate(0, i, 0)))
	}
	b.Duplicates = []pipeline.Duplicate{{Tenant: "default", Event: b.Winners[0].Event, Conflict: true, Raw: []byte("{}"),
		Source:   pipeline.Source{Stream: "raw/abc", Topic: "raw", Partition: 3, Offset: 1000, Received: base},
		Original: pipeline.Origin{Partition: 3, Offset: 0}}}
	b.Rejected = []pipeline.Rejected{{Tenant: "default", Code: "amount_invalid", Source: pipeline.Source{Stream: "raw/abc", Offset: 1001}}}
	b.DeadLetters = []pipeline.DeadLetter{{Tenant: "default", Reason: "invalid_json", Source: pipeline.Source{Stream: "raw/abc", Offset: 1002}}}
	b.Forwarded = []pipeline.ForwardedRow{{Tenant: "default", EventID: "x", ClientID: "c", Source: pipeline.Source{Stream: "raw/abc", Offset: 1003},
		To: pipeline.Forwarded{Partition: 1, Offset: 9}}}
	if err := s.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, b); err != nil { // a replay rewrites, never adds logically
		t.Fatal(err)
	}

	huge, _ := event.SumFromBig(new(big.Int).Lsh(big.NewInt(1), 100))
	key := pipeline.StateKey{Tenant: "default", Kind: schema.KindRollup, Level: schema.LevelDay, Bucket: 1262304000,
		Client: "client_A", Metric: `it's "quoted"`, Stream: "raw/abc", Part: 3}
	rows := []pipeline.StateRow{
		{Key: key, Version: 10, Count: 2, Sum: event.SumOf(event.Amount{Units: 1}), Min: event.Amount{Units: -3, Nanos: -5}, Max: event.Amount{Units: 4}, MinTs: 1, MaxTs: 2},
		{Key: key, Version: 20, Count: 5, Sum: huge, Min: event.Amount{Units: -3, Nanos: -5}, Max: event.Amount{Units: 9}, MinTs: 1, MaxTs: 7},
	}
	if err := s.WriteState(ctx, rows[:1]); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteState(ctx, rows[1:]); err != nil {
		t.Fatal(err)
	}
	other := key
	other.Client = "nobody"
	got, err := s.LoadState(ctx, []pipeline.StateKey{key, other})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != rows[1] || got[1] != (pipeline.StateRow{}) {
		t.Fatalf("LoadState = %+v, want the version-20 row %+v and the zero row", got, rows[1])
	}

	// The high-water is per partition, tenant and level, over rollups only.
	later, elsewhere, counter := key, key, pipeline.StateKey{Tenant: "default", Kind: schema.KindCounter, Metric: "processed",
		Stream: "raw/abc", Part: 3}
	later.Bucket, later.Client = key.Bucket+86400, "other"
	elsewhere.Bucket, elsewhere.Part = key.Bucket+2*86400, 4
	if err := s.WriteState(ctx, []pipeline.StateRow{{Key: later, Version: 30, Count: 1}, {Key: elsewhere, Version: 30, Count: 1},
		{Key: counter, Version: 30, Count: 7}}); err != nil {
		t.Fatal(err)
	}
	all := later
	all.Level, all.Bucket = schema.LevelAll, 0
	if err := s.WriteState(ctx, []pipeline.StateRow{{Key: all, Version: 30, Count: 1}}); err != nil {
		t.Fatal(err)
	}
	idx, err := s.RollupIndex(ctx, "raw/abc", 3, 10, 10)
	if err != nil {
		t.Fatal(err)
	}
	wantHigh := map[pipeline.TenantLevel]uint32{{Tenant: "default", Level: schema.LevelDay}: later.Bucket,
		{Tenant: "default", Level: schema.LevelAll}: 0}
	if !maps.Equal(idx.High, wantHigh) {
		t.Fatalf("RollupIndex high-water = %v, want %v", idx.High, wantHigh)
	}
	// The buckets that hold rows: the partition's two days and its all-time
	// row; not the day before, not partition 4's day.
	day := pipeline.TenantLevel{Tenant: "default", Level: schema.LevelDay}
	for _, c := range []struct {
		bucket uint32
		want   bool
	}{{key.Bucket, true}, {later.Bucket, true}, {key.Bucket - 86400, false}, {elsewhere.Bucket, false}} {
		if got := idx.Buckets[day].Holds(schema.LevelDay, c.bucket); got != c.want {
			t.Fatalf("RollupIndex buckets: day %d held = %v, want %v (%v)", c.bucket, got, c.want, idx.Buckets)
		}
	}
	if !idx.Buckets[pipeline.TenantLevel{Tenant: "default", Level: schema.LevelAll}].Holds(schema.LevelAll, 0) {
		t.Fatalf("RollupIndex buckets = %v, want the all-time row's", idx.Buckets)
	}
	// Past maxWords (the two days share a word; the all-time row has one):
	// buckets unknown, the high-water still exact.
	if idx, err := s.RollupIndex(ctx, "raw/abc", 3, 10, 1); err != nil || idx.Buckets != nil || !maps.Equal(idx.High, wantHigh) {
		t.Fatalf("past maxWords: buckets %v, high-water %v, err %v; want unknown (nil) and %v", idx.Buckets, idx.High, err, wantHigh)
	}
	if want := map[pipeline.Series]struct{}{{Tenant: "default", Client: "other", Metric: key.Metric}: {}}; !maps.Equal(idx.Series, want) {
		t.Fatalf("RollupIndex series = %v, want %v", idx.Series, want)
	}
	if idx, err := s.RollupIndex(ctx, "raw/abc", 3, 0, 10); err != nil || idx.Series != nil {
		t.Fatalf("past maxSeries: series %v, err %v; want unknown (nil)", idx.Series, err)
	}

	ids := []pipeline.TenantID{{Tenant: "default", EventID: b.Winners[7].Event.EventID},
		{Tenant: "other", EventID: b.Winners[7].Event.EventID}}
	found, err := s.Lookup(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	want := pipeline.Origin{Stream: pipeline.StreamTag("raw/abc"), Partition: 3, Offset: 7, Fingerprint: b.Winners[7].Event.Fingerprint()}
	if len(found) != 1 || found[ids[0]] != want {
		t.Fatalf("Lookup = %+v, want only %+v (another tenant's id is another event)", found, want)
	}

	var n int
	if err := s.Winners(ctx, event.OwnedSlots(event.Slot("client_A")%8, 8), "", 0, func(string, pipeline.Origin) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 300 { // every row, twice: the store reads rows; Redis sets them once
		t.Fatalf("Winners yielded %d rows, want 300", n)
	}
	n = 0
	if err := s.Winners(ctx, event.OwnedSlots(event.Slot("client_A")%8, 8), "raw/abc", 140, func(string, pipeline.Origin) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 20 {
		t.Fatalf("Winners from offset 140 yielded %d rows, want 20", n)
	}

	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{testenv.ClickHouse(t)}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var events uint64
	if err := conn.QueryRow(ctx, "SELECT uniqExact(event_id) FROM "+s.Database()+".events").Scan(&events); err != nil {
		t.Fatal(err)
	}
	if events != 150 {
		t.Fatalf("events holds %d ids, want 150", events)
	}
}

// LoadState returns the keys asked for only, at their highest version: not
// the other series of their buckets, not another partition's, stream's,
// level's or tenant's rows that share a bucket.
func TestLoadStateReturnsTheKeysAskedForOnly(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	const minute = 1717243200
	key := func(tenant, client, stream string, part int32, level uint8, bucket uint32) pipeline.StateKey {
		return pipeline.StateKey{Tenant: tenant, Kind: schema.KindRollup, Level: level, Bucket: bucket, Client: client,
			Metric: "m", Stream: stream, Part: part}
	}
	var keys []pipeline.StateKey
	for _, client := range []string{"a", "b", "c"} {
		for _, part := range []int32{1, 2} {
			for _, bucket := range []uint32{minute, minute + 60} {
				keys = append(keys, key("default", client, "raw/abc", part, schema.LevelMinute, bucket))
			}
		}
	}
	keys = append(keys, key("default", "a", "raw/old", 1, schema.LevelMinute, minute),
		key("default", "a", "raw/abc", 1, schema.Level10Min, minute), key("other", "a", "raw/abc", 1, schema.LevelMinute, minute))
	var rows []pipeline.StateRow
	for i, k := range keys {
		// Two versions of every key, the newer written first.
		rows = append(rows, pipeline.StateRow{Key: k, Version: 20, Count: uint64(100 + i), MinTs: 1, MaxTs: 2},
			pipeline.StateRow{Key: k, Version: 10, Count: uint64(i), MinTs: 1, MaxTs: 2})
	}
	if err := s.WriteState(ctx, rows[:len(rows)/2]); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteState(ctx, rows[len(rows)/2:]); err != nil {
		t.Fatal(err)
	}
	// Client a's minute keys of partition 1, client c's of partition 2 in
	// the second minute, a key no row holds, and the 10-minute key of a's
	// first minute (another level, so another query): each answered at its
	// own position.
	asked := []pipeline.StateKey{keys[11], keys[0], key("default", "z", "raw/abc", 1, schema.LevelMinute, minute), keys[13], keys[1]}
	got, err := s.LoadState(ctx, asked)
	if err != nil {
		t.Fatal(err)
	}
	var want []pipeline.StateRow
	for _, i := range []int{11, 0, -1, 13, 1} {
		if i < 0 {
			want = append(want, pipeline.StateRow{})
			continue
		}
		want = append(want, pipeline.StateRow{Key: keys[i], Version: 20, Count: uint64(100 + i), MinTs: 1, MaxTs: 2})
	}
	if !slices.Equal(got, want) {
		t.Fatalf("LoadState = %v\nwant %v", got, want)
	}
	// A key asked for twice is refused: one of its positions would read as
	// no row.
	if _, err := s.LoadState(ctx, []pipeline.StateKey{keys[0], keys[0]}); err == nil {
		t.Error("LoadState took a key twice")
	}
}
