package stats

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tally-dev/tally/event/schema"
)

type fakeOffsets struct {
	topic Topic
	err   error
}

func (f fakeOffsets) Offsets(context.Context) (Topic, error) { return f.topic, f.err }

type fakeState struct {
	st  State
	err error
}

func (f *fakeState) State(context.Context) (State, error) { return f.st, f.err }

const stream = "events.raw/aa"

func counters(part int32, kv ...any) []Counter {
	var out []Counter
	for i := 0; i < len(kv); i += 2 {
		out = append(out, Counter{Tenant: "default", Outcome: kv[i].(string), Stream: stream, Part: part, Count: uint64(kv[i+1].(int))})
	}
	return out
}

func TestSnapshotReconcilesAtEveryMoment(t *testing.T) {
	// Partition 0: 10 offsets counted (4 processed, 2 duplicates, 1 conflict,
	// 1 rejected, 1 forwarded, 1 skipped marker), 3 more written to Kafka,
	// 8 committed (2 counted but not committed: in flight).
	// Partition 1: 5 counted, all committed, nothing pending.
	st := &fakeState{st: State{
		Counters: append(append(counters(0, schema.OutcomeProcessed, 4, schema.OutcomeDuplicate, 2, schema.OutcomeConflict, 1,
			schema.OutcomeRejected, 1, "rejected:amount_invalid", 1, schema.OutcomeForwarded, 1, schema.OutcomeSkipped, 1),
			counters(1, schema.OutcomeProcessed, 3, schema.OutcomeDeadLettered, 2)...),
			Counter{Tenant: "default", Outcome: schema.OutcomeProcessed, Stream: "events.raw/old", Part: 0, Count: 99}),
		Positions: []Position{{Stream: stream, Part: 0, Position: 10}, {Stream: stream, Part: 1, Position: 5},
			{Stream: "events.raw/old", Part: 0, Position: 99}},
	}}
	off := fakeOffsets{topic: Topic{Stream: stream, Partitions: []PartitionOffsets{{Partition: 0, End: 13, Committed: 8},
		{Partition: 1, End: 5, Committed: 5}}}}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := NewReconciler(off, st, func() time.Time { return now })
	s, err := r.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s.Received != 18 || s.Processed != 7 || s.Duplicates != 2 || s.Conflicts != 1 || s.Rejected != 1 || s.DeadLettered != 2 ||
		s.Forwarded != 1 || s.Skipped != 1 || s.Pending != 3 || s.InFlight != 2 || !s.Reconciled {
		t.Fatalf("snapshot = %+v", s)
	}
	if len(s.RejectedByReason) != 1 || s.RejectedByReason[0] != (ReasonCount{"amount_invalid", 1}) {
		t.Fatalf("reasons = %+v", s.RejectedByReason)
	}
	if len(s.History) != 1 || s.History[0].Processed != 99 {
		t.Fatalf("history = %+v (an earlier incarnation of the topic stays out of the identity)", s.History)
	}
	if s.Lag[0] != (PartitionLag{Partition: 0, Lag: 5, Pending: 3}) {
		t.Fatalf("lag = %+v", s.Lag)
	}

	// A processor that lost an outcome: counters no longer add up to the
	// position, and the books say so.
	st.st.Counters = st.st.Counters[1:]
	s, err = r.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s.Reconciled || len(s.Unbalanced) != 1 || s.Unbalanced[0] != 0 {
		t.Fatalf("a missing outcome went unnoticed: %+v", s)
	}
}

// After retention deleted segments the high watermark still counts every
// offset ever written, and the counters keep their history: still balanced.
func TestSnapshotReconcilesAfterRetention(t *testing.T) {
	st := &fakeState{st: State{Counters: counters(0, schema.OutcomeProcessed, 1000),
		Positions: []Position{{Stream: stream, Part: 0, Position: 1000}}}}
	off := fakeOffsets{topic: Topic{Stream: stream, Partitions: []PartitionOffsets{{Partition: 0, End: 1000, Committed: 1000}}}}
	s, err := NewReconciler(off, st, time.Now).Snapshot(context.Background())
	if err != nil || !s.Reconciled || s.Received != 1000 || s.Pending != 0 {
		t.Fatalf("snapshot = %+v, %v", s, err)
	}
}

func TestThroughputAveragesOverTheWindow(t *testing.T) {
	st := &fakeState{}
	off := fakeOffsets{topic: Topic{Stream: stream}}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := NewReconciler(off, st, func() time.Time { return now })
	for i := range 30 {
		st.st = State{Counters: counters(0, schema.OutcomeProcessed, 100*i)}
		s, err := r.Snapshot(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if i >= 12 && (s.Throughput.ProcessedPerSecond < 99 || s.Throughput.ProcessedPerSecond > 101) {
			t.Fatalf("second %d: %v/s, want 100", i, s.Throughput.ProcessedPerSecond)
		}
		now = now.Add(time.Second)
	}
}

func TestSnapshotErrors(t *testing.T) {
	boom := errors.New("boom")
	if _, err := NewReconciler(fakeOffsets{}, &fakeState{err: boom}, time.Now).Snapshot(context.Background()); !errors.Is(err, boom) {
		t.Fatalf("clickhouse error = %v", err)
	}
	if _, err := NewReconciler(fakeOffsets{err: boom}, &fakeState{}, time.Now).Snapshot(context.Background()); !errors.Is(err, boom) {
		t.Fatalf("kafka error = %v", err)
	}
}

// A tenant sees its own outcomes (and the pipeline's pending records), never
// another tenant's.
func TestTenantView(t *testing.T) {
	st := &fakeState{st: State{
		Counters: []Counter{
			{Tenant: "acme", Outcome: schema.OutcomeProcessed, Stream: stream, Part: 0, Count: 3},
			{Tenant: "acme", Outcome: "rejected:amount_invalid", Stream: stream, Part: 0, Count: 1},
			{Tenant: "acme", Outcome: schema.OutcomeRejected, Stream: stream, Part: 0, Count: 1},
			{Tenant: "globex", Outcome: schema.OutcomeProcessed, Stream: stream, Part: 0, Count: 5},
			{Tenant: "globex", Outcome: schema.OutcomeDuplicate, Stream: stream, Part: 0, Count: 2},
		},
		Positions: []Position{{Stream: stream, Part: 0, Position: 11}},
	}}
	off := fakeOffsets{topic: Topic{Stream: stream, Partitions: []PartitionOffsets{{Partition: 0, End: 12, Committed: 11}}}}
	s, err := NewReconciler(off, st, time.Now).Snapshot(context.Background())
	if err != nil || !s.Reconciled {
		t.Fatalf("%+v %v", s, err)
	}
	acme := s.For("acme")
	if acme.Processed != 3 || acme.Rejected != 1 || acme.Duplicates != 0 || acme.Pending != 1 || acme.Received != 5 || acme.Tenant != "acme" {
		t.Fatalf("acme's view %+v", acme)
	}
	if len(acme.RejectedByReason) != 1 || acme.RejectedByReason[0].Code != "amount_invalid" {
		t.Fatalf("acme's reasons %+v", acme.RejectedByReason)
	}
	if g := s.For("globex"); g.Processed != 5 || g.Duplicates != 2 || len(g.RejectedByReason) != 0 {
		t.Fatalf("globex's view %+v", g)
	}
	if n := s.For("nobody"); n.Processed != 0 || n.Received != 1 {
		t.Fatalf("an empty tenant's view %+v", n)
	}
}

// Preferring reads the primary's snapshot when it has one, and falls back
// to the source otherwise.
func TestPreferringFallsBack(t *testing.T) {
	mirror := State{Positions: []Position{{Stream: stream, Part: 0, Position: 7}}}
	fallback := &fakeState{st: State{Positions: []Position{{Stream: stream, Part: 0, Position: 9}}}}
	have := true
	p := Preferring{Primary: func() (State, bool) { return mirror, have }, Fallback: fallback}
	if st, err := p.State(context.Background()); err != nil || st.Positions[0].Position != 7 {
		t.Fatalf("with a primary snapshot: %+v, %v; want the primary's position 7", st, err)
	}
	have = false
	if st, err := p.State(context.Background()); err != nil || st.Positions[0].Position != 9 {
		t.Fatalf("without one: %+v, %v; want the fallback's position 9", st, err)
	}
}
