//go:build integration

// Package chtest gives integration tests a fresh ClickHouse database with
// Tally's schema, and writes rows into it the way the processor does —
// including the physical duplicate rows (same event_id, other offsets, or
// the same offset written again after a crash) that queries must collapse.
package chtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/tally-dev/tally/event/schema"
	"github.com/tally-dev/tally/event/testenv"
)

// DB opens ClickHouse (testenv.ClickHouse: TALLY_TEST_CLICKHOUSE_ADDR),
// creates a database unique to this test with the schema applied, and drops
// it when the test ends.
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
	for _, stmt := range schema.Statements(db) {
		if err := conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("apply schema: %v", err)
		}
	}
	t.Cleanup(func() {
		_ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db)
		_ = conn.Close()
	})
	return conn, db
}

// Row is one physical row of the events table.
type Row struct {
	EventID, ClientID, Metric string
	Amount                    string // decimal text
	TsMs                      int64
	ReceivedMs                int64
	Partition                 int32
	Offset                    int64
	Raw                       string
	InsertedMs                int64
}

// InsertEvents writes rows as one batch (one part: never merged with
// other batches until a background merge, which tests do not wait for).
func InsertEvents(t testing.TB, conn driver.Conn, db string, rows []Row) {
	t.Helper()
	ctx := context.Background()
	batch, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".events (event_id, client_id, metric, amount, ts, ts_ms, ts_defaulted, idempotency_key, received_ms, topic, partition, offset, raw, inserted_ms)")
	if err != nil {
		t.Fatalf("prepare batch: %v", err)
	}
	for _, r := range rows {
		if err := batch.Append(r.EventID, r.ClientID, r.Metric, r.Amount, time.UnixMilli(r.TsMs).UTC(), r.TsMs, uint8(0), "",
			r.ReceivedMs, "events.raw", r.Partition, r.Offset, r.Raw, r.InsertedMs); err != nil {
			t.Fatalf("append: %v", err)
		}
	}
	if err := batch.Send(); err != nil {
		t.Fatalf("send batch: %v", err)
	}
	// The processor writes a receipt for every stored copy; so do tests.
	rb, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".receipts (event_id, topic, partition, offset, received_ms, inserted_ms)")
	if err != nil {
		t.Fatalf("prepare receipts batch: %v", err)
	}
	for _, r := range rows {
		if err := rb.Append(r.EventID, "events.raw", r.Partition, r.Offset, r.ReceivedMs, r.InsertedMs); err != nil {
			t.Fatalf("append receipt: %v", err)
		}
	}
	if err := rb.Send(); err != nil {
		t.Fatalf("send receipts batch: %v", err)
	}
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
