//go:build integration

package stats_test

import (
	"context"
	"testing"
	"time"

	"github.com/tally-dev/tally/queryapi/internal/chtest"
	"github.com/tally-dev/tally/queryapi/internal/stats"
)

// TestClickHouseCounts stores a known history with every kind of physical
// repetition and checks each count against docs/contracts.md.
func TestClickHouseCounts(t *testing.T) {
	conn, db := chtest.DB(t)
	now := time.Date(2024, 1, 1, 0, 1, 0, 0, time.UTC)
	old, recent := now.Add(-time.Hour).UnixMilli(), now.Add(-time.Second).UnixMilli()
	row := func(id, off int, inserted int64) chtest.Row {
		return chtest.Row{EventID: chtest.EventID(id), ClientID: "c", Metric: "m", Amount: "1", TsMs: old, ReceivedMs: old,
			Partition: 0, Offset: int64(off), Raw: "{}", InsertedMs: inserted}
	}
	// Partition 0 offsets 0..9: events 0..5 at offsets 0..5; event 0 again
	// at offset 6 (physical duplicate); offset 3 rewritten (crash replay).
	chtest.InsertEvents(t, conn, db, []chtest.Row{row(0, 0, old), row(1, 1, old), row(2, 2, old), row(3, 3, old), row(4, 4, recent), row(5, 5, recent)})
	chtest.InsertEvents(t, conn, db, []chtest.Row{row(0, 6, recent), row(3, 3, recent)})
	// Offset 7: a duplicate recorded in duplicates (written twice).
	for range 2 {
		chtest.Insert(t, conn, "INSERT INTO "+db+".duplicates (event_id, topic, partition, offset, original_partition, original_offset, received_ms, detected_ms)",
			[]any{chtest.EventID(1), "events.raw", int32(0), int64(7), int32(0), int64(1), old, old})
	}
	// Offsets 8, 9: rejected (two codes, 8 written twice); offset 10: dead letter.
	chtest.Insert(t, conn, "INSERT INTO "+db+".rejected_events (code, field, message, client_hint, raw, received_ms, topic, partition, offset, inserted_ms)",
		[]any{"amount_invalid", "amount", "x", "", "{", old, "events.raw", int32(0), int64(8), old},
		[]any{"amount_invalid", "amount", "x", "", "{", old, "events.raw", int32(0), int64(8), old},
		[]any{"client_missing", "clientId", "x", "", "{", old, "events.raw", int32(0), int64(9), old})
	chtest.Insert(t, conn, "INSERT INTO "+db+".dead_letters (reason, raw, received_ms, topic, partition, offset, inserted_ms)",
		[]any{"poison", "{", old, "events.raw", int32(0), int64(10), old})

	// The group committed up to offset 9: offsets 9 and 10 are in flight.
	c, err := stats.NewClickHouse(conn, db, "events.raw").Counts(context.Background(), map[int32]int64{0: 9}, now)
	if err != nil {
		t.Fatal(err)
	}
	want := stats.Counts{Processed: 6, Duplicates: 2, Rejected: 2, DeadLettered: 1, InFlight: 2, RecentProcessed: 2}
	if c.Processed != want.Processed || c.Duplicates != want.Duplicates || c.Rejected != want.Rejected ||
		c.DeadLettered != want.DeadLettered || c.InFlight != want.InFlight || c.RecentProcessed != want.RecentProcessed {
		t.Fatalf("counts %+v\nwant   %+v", c, want)
	}
	if len(c.RejectedByReason) != 2 || c.RejectedByReason[0].Count != 1 || c.RejectedByReason[1].Count != 1 {
		t.Fatalf("reasons %+v", c.RejectedByReason)
	}
	// 11 records (offsets 0..10) reconcile with Kafka's view.
	r := stats.NewReconciler(fixedOffsets{{Partition: 0, Start: 0, End: 11, Committed: 9}}, stats.NewClickHouse(conn, db, "events.raw"), func() time.Time { return now })
	s, err := r.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !s.Reconciled || s.Pending != 0 || s.InFlight != 2 || s.Received != 11 {
		t.Fatalf("snapshot %+v", s)
	}
	// Nothing committed yet: no partitions known, nothing in flight.
	c, err = stats.NewClickHouse(conn, db, "events.raw").Counts(context.Background(), nil, now)
	if err != nil || c.InFlight != 0 {
		t.Fatalf("no partitions: %+v %v", c, err)
	}
}

type fixedOffsets []stats.PartitionOffsets

func (f fixedOffsets) Offsets(context.Context) ([]stats.PartitionOffsets, error) { return f, nil }
