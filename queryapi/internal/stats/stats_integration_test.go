//go:build integration

package stats_test

import (
	"context"
	"testing"
	"time"

	"github.com/tally-dev/tally/event/schema"
	"github.com/tally-dev/tally/queryapi/internal/chtest"
	"github.com/tally-dev/tally/queryapi/internal/stats"
)

const stream = "events.raw/aa"

// TestStateReadsTheLatestCountersAndPositions writes counters and positions
// the way the processor does — a new version per batch, several versions
// unmerged — and checks that one scan reads the latest of each, and that the
// books balance against Kafka's view.
func TestStateReadsTheLatestCountersAndPositions(t *testing.T) {
	conn, db := chtest.DB(t)
	insert := "INSERT INTO " + db + ".state (" + schema.Cols(schema.StateColumns) + ")"
	row := func(tenant string, kind uint8, metric string, part int32, version, count uint64) []any {
		return []any{tenant, kind, uint8(0), uint32(0), "", metric, stream, part, version, count, "0", "0", "0", int64(0), int64(0)}
	}
	// Batch 1 of partition 0: offsets [0, 4): 3 processed, 1 rejected.
	chtest.Insert(t, conn, insert,
		row("default", schema.KindCounter, schema.OutcomeProcessed, 0, 4, 3),
		row("default", schema.KindCounter, schema.OutcomeRejected, 0, 4, 1),
		row("default", schema.KindCounter, "rejected:amount_invalid", 0, 4, 1),
		row("", schema.KindPosition, "", 0, 4, 4))
	// Batch 2: offsets [4, 7): 2 more processed, a transaction marker.
	chtest.Insert(t, conn, insert,
		row("default", schema.KindCounter, schema.OutcomeProcessed, 0, 7, 5),
		row("", schema.KindCounter, schema.OutcomeSkipped, 0, 7, 1),
		row("", schema.KindPosition, "", 0, 7, 7))
	// Batch 2 again, written by a zombie: same version, same values.
	chtest.Insert(t, conn, insert,
		row("default", schema.KindCounter, schema.OutcomeProcessed, 0, 7, 5),
		row("", schema.KindPosition, "", 0, 7, 7))

	st, err := stats.NewClickHouse(conn, db).State(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Positions) != 1 || st.Positions[0].Position != 7 {
		t.Fatalf("positions %+v", st.Positions)
	}
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	kafka := fixedOffsets{Stream: stream, Partitions: []stats.PartitionOffsets{{Partition: 0, End: 9, Committed: 4}}}
	s, err := stats.NewReconciler(kafka, stats.NewClickHouse(conn, db), func() time.Time { return now }).Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !s.Reconciled || s.Received != 9 || s.Processed != 5 || s.Rejected != 1 || s.Skipped != 1 || s.Pending != 2 || s.InFlight != 3 {
		t.Fatalf("snapshot %+v", s)
	}
	if len(s.RejectedByReason) != 1 || s.RejectedByReason[0].Code != "amount_invalid" {
		t.Fatalf("reasons %+v", s.RejectedByReason)
	}
}

type fixedOffsets stats.Topic

func (f fixedOffsets) Offsets(context.Context) (stats.Topic, error) { return stats.Topic(f), nil }
