//go:build integration

package migrate_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/tally-dev/tally/event/schema"
	"github.com/tally-dev/tally/event/testenv"
	"github.com/tally-dev/tally/processor/internal/migrate"
	"github.com/tally-dev/tally/processor/internal/rebuild"
)

func insert(t *testing.T, conn driver.Conn, sql string, rows ...[]any) {
	t.Helper()
	b, err := conn.PrepareBatch(context.Background(), sql)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := b.Append(r...); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
}

// A first-wave database — every copy that slipped past Redis stored, one
// copy a conflict, a reprocessed row, linked duplicates, a rejection and a
// dead letter — is upgraded: one winner per id (the first stored), the
// copies as duplicates or conflicts, the read model rebuilt and equal to
// what the rows imply, and the upgrade can be run twice.
func TestUpgradeFromTheFirstWave(t *testing.T) {
	ctx := context.Background()
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{testenv.ClickHouse(t)}})
	if err != nil {
		t.Fatal(err)
	}
	db := fmt.Sprintf("it_upgrade_%d", time.Now().UnixNano())
	t.Cleanup(func() {
		if !testenv.KeepDatabases() {
			_ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db)
		}
		conn.Close()
	})
	ddl, err := os.ReadFile("testdata/schema_v1.sql")
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.Exec(ctx, "CREATE DATABASE "+db); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range strings.Split(string(ddl), ";") {
		stmt = strings.TrimSpace(strings.ReplaceAll(stmt, "{db}", db))
		if i := strings.Index(stmt, "CREATE"); i >= 0 {
			if err := conn.Exec(ctx, stmt[i:]); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		}
	}
	if v, err := migrate.Version(ctx, conn, db); err != nil || v != 1 {
		t.Fatalf("version = %d, %v; want 1 for a first-wave database", v, err)
	}
	ts := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	id := func(i int) string { return fmt.Sprintf("%064x", i+1) }
	ev := func(i, part int, off, inserted int64, metric string) []any {
		return []any{id(i), "client_A", metric, "5", ts.Add(time.Duration(i) * time.Second), ts.UnixMilli() + int64(i)*1000, uint8(0), "",
			ts.UnixMilli(), "events.raw", int32(part), off, `{"raw":true}`, inserted}
	}
	cols := "(event_id, client_id, metric, amount, ts, ts_ms, ts_defaulted, idempotency_key, received_ms, topic, partition, offset, raw, inserted_ms)"
	// Events 0..4 stored at offsets 0..4 of partition 0; event 1 stored again
	// from partition 1 offset 0 (Redis missed it); event 2 stored again with
	// another metric (a reused key) later; offset 3 reprocessed.
	insert(t, conn, "INSERT INTO "+db+".events "+cols, ev(0, 0, 0, 10, "m"), ev(1, 0, 1, 10, "m"), ev(2, 0, 2, 10, "m"), ev(3, 0, 3, 10, "m"),
		ev(4, 0, 4, 10, "m"), ev(1, 1, 0, 20, "m"), ev(2, 1, 1, 30, "other"), ev(3, 0, 3, 40, "m"))
	insert(t, conn, "INSERT INTO "+db+".duplicates (event_id, topic, partition, offset, original_partition, original_offset, received_ms, detected_ms)",
		[]any{id(0), "events.raw", int32(1), int64(2), int32(0), int64(0), ts.UnixMilli(), ts.UnixMilli()})
	insert(t, conn, "INSERT INTO "+db+".rejected_events (code, field, message, client_hint, raw, received_ms, topic, partition, offset, inserted_ms)",
		[]any{"amount_invalid", "amount", "x", "client_A", "{", ts.UnixMilli(), "events.raw", int32(1), int64(3), ts.UnixMilli()})
	insert(t, conn, "INSERT INTO "+db+".dead_letters (reason, raw, received_ms, topic, partition, offset, inserted_ms)",
		[]any{"invalid_json", "{", ts.UnixMilli(), "events.raw", int32(1), int64(4), ts.UnixMilli()})

	up := migrate.Upgrade{Stream: "events.raw/abc", Committed: map[int32]int64{0: 5, 1: 5}}
	logger := slog.New(slog.DiscardHandler)
	for run := range 2 {
		if err := migrate.Upgrade1to2(ctx, conn, db, up, logger); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
	}
	if v, err := migrate.Version(ctx, conn, db); err != nil || v != schema.Version {
		t.Fatalf("version after upgrade = %d, %v", v, err)
	}
	count := func(q string) uint64 {
		var n uint64
		if err := conn.QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	if n := count("SELECT uniqExact(event_id) FROM " + db + ".events"); n != 5 {
		t.Fatalf("winners = %d, want 5", n)
	}
	if n := count("SELECT count() FROM " + db + ".events FINAL WHERE event_id = '" + id(2) + "' AND metric = 'm'"); n != 1 {
		t.Fatalf("event 2's winner is not its first stored copy")
	}
	if n := count("SELECT uniqExact(stream, partition, offset) FROM " + db + ".duplicates WHERE kind = 'conflict'"); n != 1 {
		t.Fatalf("conflicts = %d, want 1 (event 2's later copy)", n)
	}
	if n := count("SELECT uniqExact(stream, partition, offset) FROM " + db + ".duplicates WHERE kind = 'duplicate'"); n != 2 {
		t.Fatalf("duplicates = %d, want 2 (a stored copy and a linked one)", n)
	}
	positions, err := rebuild.Positions(ctx, conn, db)
	if err != nil {
		t.Fatal(err)
	}
	live, err := rebuild.Live(ctx, conn, db)
	if err != nil {
		t.Fatal(err)
	}
	rebuilt, err := rebuild.Compute(ctx, conn, db, positions)
	if err != nil {
		t.Fatal(err)
	}
	if d := rebuild.Compare(live, rebuilt); len(d) != 0 {
		t.Fatalf("read model differs from the rows: %v", d)
	}
	var processed, total, pos uint64
	for k, r := range live {
		switch {
		case k.Kind == schema.KindCounter && k.Metric == schema.OutcomeProcessed:
			processed += r.Count
		case k.Kind == schema.KindCounter && !strings.Contains(k.Metric, ":"):
			total += r.Count
		case k.Kind == schema.KindPosition:
			pos += r.Count
		}
	}
	if processed != 5 || total+processed != pos || pos != 10 {
		t.Fatalf("processed %d, other outcomes %d, positions %d; want 5, 5, 10", processed, total, pos)
	}
}
