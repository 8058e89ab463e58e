package stats

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

type fakeOffsets struct {
	parts []PartitionOffsets
	err   error
}

func (f fakeOffsets) Offsets(context.Context) ([]PartitionOffsets, error) { return f.parts, f.err }

type fakeCounts struct {
	c         Counts
	err       error
	committed map[int32]int64
}

func (f *fakeCounts) Counts(_ context.Context, committed map[int32]int64, _ time.Time) (Counts, error) {
	f.committed = committed
	return f.c, f.err
}

func TestSnapshotReconciles(t *testing.T) {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	// Partition 0: 10 records, 8 committed; partition 1: 5 records (from
	// offset 2, retention), all committed. received = 15, lag = 2.
	offsets := fakeOffsets{parts: []PartitionOffsets{
		{Partition: 1, Start: 2, End: 7, Committed: 7},
		{Partition: 0, Start: 0, End: 10, Committed: 8},
	}}
	tests := []struct {
		name       string
		counts     Counts
		pending    int64
		reconciled bool
	}{
		// 13 records stored, offsets 8 and 9 of partition 0 not yet written.
		{"balanced", Counts{Processed: 8, Duplicates: 2, Rejected: 2, DeadLettered: 1}, 2, true},
		// Offset 8 written, not committed: in flight, pending only offset 9.
		{"in flight", Counts{Processed: 9, Duplicates: 2, Rejected: 2, DeadLettered: 1, InFlight: 1}, 1, true},
		// One record stored nowhere: the books do not balance.
		{"lost", Counts{Processed: 7, Duplicates: 2, Rejected: 2, DeadLettered: 1}, 2, false},
		// Counted twice: also unbalanced.
		{"double", Counts{Processed: 9, Duplicates: 2, Rejected: 2, DeadLettered: 1}, 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fc := &fakeCounts{c: tt.counts}
			s, err := NewReconciler(offsets, fc, func() time.Time { return now }).Snapshot(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if s.Received != 15 || s.Pending != tt.pending || s.Reconciled != tt.reconciled {
				t.Fatalf("received %d pending %d reconciled %v", s.Received, s.Pending, s.Reconciled)
			}
			if len(s.Lag) != 2 || s.Lag[0] != (PartitionLag{0, 2}) || s.Lag[1] != (PartitionLag{1, 0}) {
				t.Fatalf("lag %+v", s.Lag)
			}
			if fc.committed[0] != 8 || fc.committed[1] != 7 {
				t.Fatalf("committed offsets passed to counts: %v", fc.committed)
			}
			if !s.AsOf.Equal(now) || s.RejectedByReason == nil || s.Throughput.WindowSeconds != 10 {
				t.Fatalf("snapshot %+v", s)
			}
		})
	}
}

func TestSnapshotErrors(t *testing.T) {
	boom := errors.New("boom")
	now := time.Now
	if _, err := NewReconciler(fakeOffsets{err: boom}, &fakeCounts{}, now).Snapshot(context.Background()); !errors.Is(err, boom) {
		t.Fatalf("kafka error: %v", err)
	}
	if _, err := NewReconciler(fakeOffsets{}, &fakeCounts{err: boom}, now).Snapshot(context.Background()); !errors.Is(err, boom) {
		t.Fatalf("clickhouse error: %v", err)
	}
}

// TestKafkaOffsets runs the admin reads against kfake: end offsets per
// partition, and the group's commits (uncommitted partitions count from
// their start).
func TestKafkaOffsets(t *testing.T) {
	const topic, group = "events.raw", "tally-processor"
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// 5 records to partition 0, 3 to partition 1, none to partition 2.
	for p, n := range map[int32]int{0: 5, 1: 3} {
		for range n {
			if err := cl.ProduceSync(ctx, &kgo.Record{Partition: p, Value: []byte(`{}`)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	adm := kadm.NewClient(cl)
	// The group committed 4 on partition 0 and nothing elsewhere.
	commits := kadm.Offsets{}
	commits.Add(kadm.Offset{Topic: topic, Partition: 0, At: 4, LeaderEpoch: -1})
	if _, err := adm.CommitOffsets(ctx, group, commits); err != nil {
		t.Fatal(err)
	}
	got, err := NewKafka(adm, topic, group).Offsets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []PartitionOffsets{
		{Partition: 0, Start: 0, End: 5, Committed: 4},
		{Partition: 1, Start: 0, End: 3, Committed: 0},
		{Partition: 2, Start: 0, End: 0, Committed: 0},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("partition %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	// Reconciled end to end with a fake ClickHouse side: 4 stored, 4 pending.
	s, err := NewReconciler(NewKafka(adm, topic, group), &fakeCounts{c: Counts{Processed: 3, Duplicates: 1}}, time.Now).Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s.Received != 8 || s.Pending != 4 || !s.Reconciled {
		t.Fatalf("snapshot %+v", s)
	}
}
