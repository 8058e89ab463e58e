package event

import (
	"math/big"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func TestSumMatchesBigIntegers(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 50).Draw(t, "n")
		var s Sum
		want := new(big.Int)
		for i := range n {
			units := rapid.Int64().Draw(t, "units")
			nanos := rapid.Int32Range(0, NanosPerUnit-1).Draw(t, "nanos")
			if units < 0 {
				nanos = -nanos
			}
			if units == 0 && rapid.Bool().Draw(t, "negfrac") {
				nanos = -nanos
			}
			a := Amount{Units: units, Nanos: nanos}
			s.Add(a)
			want.Add(want, a.BigScaled())
			_ = i
		}
		if got := s.Big(); got.Cmp(want) != 0 {
			t.Fatalf("sum = %s, want %s", got, want)
		}
		back, ok := SumFromBig(want)
		if !ok || back != s {
			t.Fatalf("SumFromBig(%s) = %v %v, want %v", want, back, ok, s)
		}
	})
}

func TestOwnerPartitionIsKafkaDefault(t *testing.T) {
	// Kafka's Java client puts key "client_A" on partition 3 of 8 and
	// "client_B" on 2 of 8 (murmur2 & 0x7fffffff % n, computed with an
	// independent implementation of Kafka's Utils.murmur2); check those and
	// the properties that matter: stable, in range, spreads.
	if a, b := OwnerPartition("client_A", 8), OwnerPartition("client_B", 8); a != 3 || b != 2 {
		t.Fatalf("owners = %d, %d; Kafka's default partitioner gives 3, 2", a, b)
	}
	seen := map[int32]bool{}
	for _, c := range []string{"client_A", "client_B", "c", "ünï", "42", "a-much-longer-client-identifier"} {
		p := OwnerPartition(c, 8)
		if p < 0 || p >= 8 {
			t.Fatalf("OwnerPartition(%q, 8) = %d", c, p)
		}
		if OwnerPartition(c, 8) != p {
			t.Fatalf("OwnerPartition(%q) not stable", c)
		}
		seen[p] = true
	}
	if len(seen) < 3 {
		t.Fatalf("six clients landed on %d partitions: %v", len(seen), seen)
	}
	if OwnerPartition("x", 1) != 0 || OwnerPartition("x", 0) != 0 {
		t.Fatal("a single partition owns everything")
	}
}

func TestFingerprintIgnoresOnlyDefaultedTimestamps(t *testing.T) {
	base := Canonical{EventID: "x", ClientID: "c", Metric: "m", Amount: Amount{Units: 12}}
	a, b := base, base
	a.Timestamp, b.Timestamp = time.UnixMilli(1700000000000), time.UnixMilli(1700000000001)
	a.TimestampDefaulted, b.TimestampDefaulted = true, true
	if a.Fingerprint() != b.Fingerprint() {
		t.Fatal("two copies of a timestamp-less event differ only in received time; fingerprints must match")
	}
	a.TimestampDefaulted, b.TimestampDefaulted = false, false
	if a.Fingerprint() == b.Fingerprint() {
		t.Fatal("different producer timestamps must change the fingerprint")
	}
	c := base
	c.Amount = Amount{Units: 13}
	if c.Fingerprint() == base.Fingerprint() {
		t.Fatal("a different amount must change the fingerprint")
	}
	d := base
	d.Metric = "n"
	if d.Fingerprint() == base.Fingerprint() {
		t.Fatal("a different metric must change the fingerprint")
	}
}

func TestSlotsAgreeWithOwnerPartitions(t *testing.T) {
	for _, n := range []int32{1, 2, 3, 8, 12, 16, 24, 32, 64, 96, 128} {
		if !ValidPartitionCount(n) {
			t.Fatalf("%d partitions should be valid", n)
		}
		for i := range 2000 {
			c := "client-" + string(rune('a'+i%26)) + string(rune('0'+i%10)) + string(rune(i))
			if got, want := SlotOwner(Slot(c), n), OwnerPartition(c, n); got != want {
				t.Fatalf("n=%d client %q: slot %d's owner = %d, owner = %d", n, c, Slot(c), got, want)
			}
		}
	}
	for _, n := range []int32{0, 11, 13, 17, 100, 256} {
		if ValidPartitionCount(n) {
			t.Errorf("%d partitions cannot own slots exactly", n)
		}
	}
	if got := len(OwnedSlots(3, 8)); got != Slots/8 {
		t.Fatalf("partition 3 of 8 owns %d slots, want %d", got, Slots/8)
	}
}
