package pipeline

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"pgregory.net/rapid"
)

// splitGroups keeps every record, puts each partition in one group with its
// records in offset order, and balances the groups: no group holds more
// records than another plus its largest partition.
func TestSplitGroupsKeepsPartitionsWholeAndBalanced(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		parts := rapid.SliceOfN(rapid.IntRange(1, 50), 1, 12).Draw(t, "records per partition")
		n := rapid.IntRange(0, 5).Draw(t, "groups")
		var records []*kgo.Record
		next := make([]int64, len(parts))
		// Interleaved across partitions, as a poll returns them.
		for left := true; left; {
			left = false
			for p, count := range parts {
				if next[p] < int64(count) {
					records = append(records, &kgo.Record{Topic: "raw", Partition: int32(p), Offset: next[p]})
					next[p]++
					left = true
				}
			}
		}
		groups := splitGroups(records, n)
		if want := max(1, min(n, len(parts))); len(groups) != want {
			t.Fatalf("%d groups for %d partitions, asked %d; want %d", len(groups), len(parts), n, want)
		}
		group := map[int32]int{}
		seen := 0
		largest := 0
		for _, c := range parts {
			largest = max(largest, c)
		}
		lo, hi := len(records), 0
		for g, recs := range groups {
			lo, hi = min(lo, len(recs)), max(hi, len(recs))
			last := map[int32]int64{}
			for _, r := range recs {
				seen++
				if h, ok := group[r.Partition]; ok && h != g {
					t.Fatalf("partition %d in groups %d and %d", r.Partition, h, g)
				}
				group[r.Partition] = g
				if l, ok := last[r.Partition]; ok && r.Offset != l+1 {
					t.Fatalf("partition %d: offset %d after %d", r.Partition, r.Offset, l)
				}
				last[r.Partition] = r.Offset
			}
		}
		if seen != len(records) {
			t.Fatalf("%d records in groups, %d polled", seen, len(records))
		}
		if hi-lo > largest {
			t.Fatalf("groups of %d to %d records; the largest partition has %d", lo, hi, largest)
		}
	})
}
