package event

import (
	"crypto/sha256"
	"encoding/binary"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

// keyPartitioner is Kafka's default partitioner for keyed records (murmur2,
// as in the Java client and franz-go's default). It is stateless for keyed
// records, so one value serves every caller.
var keyPartitioner = kgo.StickyKeyPartitioner(nil).ForTopic("")

// PartitionKey is the Kafka record key that sends an event to its owner
// partition: the canonical client id. Every copy of an event id has the
// same client, so every copy has the same owner (docs/design/read-model.md,
// R1), and all of one client's events are counted by one writer.
func PartitionKey(clientID string) []byte { return []byte(clientID) }

// OwnerPartition is the partition, of a topic with n partitions, that owns
// events of clientID: where Kafka's default partitioner puts a record keyed
// by PartitionKey(clientID).
func OwnerPartition(clientID string, n int32) int32 {
	if n <= 1 {
		return 0
	}
	return int32(keyPartitioner.Partition(&kgo.Record{Key: PartitionKey(clientID)}, int(n)))
}

// Slots is the fixed number of owner slots. A client's slot never changes;
// partition p of a topic with n partitions owns the slots s with s mod n = p,
// which is exactly the clients OwnerPartition gives it when n divides Slots
// (8! = 40320: every partition count up to 10, and 12, 14, 15, 16, 20, 24,
// 28, 30, 32, 36, 40, 48, 56, 60, 64, 70, 72, 80, 84, 90, 96, 112, 120,
// 126, 128, …). Winners are indexed by slot, so a change of partition count
// moves slots between partitions without losing track of any winner.
const Slots = 40320

// Slot is the owner slot of clientID.
func Slot(clientID string) int32 {
	return int32(keyPartitioner.Partition(&kgo.Record{Key: PartitionKey(clientID)}, Slots))
}

// SlotOwner is the partition, of a topic with n partitions, that owns
// slot. When ValidPartitionCount(n) it is OwnerPartition of the slot's
// clients (TestSlotsAgreeWithOwnerPartitions), without hashing the client
// again.
func SlotOwner(slot, n int32) int32 { return slot % max(n, 1) }

// ValidPartitionCount reports whether a topic with n partitions can own
// slots exactly (n divides Slots).
func ValidPartitionCount(n int32) bool { return n >= 1 && Slots%n == 0 }

// OwnedSlots lists the slots partition p of n owns.
func OwnedSlots(p, n int32) []int32 {
	out := make([]int32, 0, Slots/max(n, 1))
	for s := p; s < Slots; s += n {
		out = append(out, s)
	}
	return out
}

// Fingerprint identifies the content of an event beyond what its id fixes:
// the metric, the amount, and the timestamp when the producer sent one. Two
// copies of one id with different fingerprints are a conflict (an
// idempotency key reused for other content); a timestamp-less event's
// copies differ only in received time, which is not content, so they match.
func (c Canonical) Fingerprint() uint64 {
	// One buffer on the stack, hashed at once: the processor computes a
	// fingerprint per event (issue #14).
	var buf [128]byte
	b := append(buf[:0], "tally-fp-v1\x00"...)
	b = append(b, c.Metric...)
	b = append(b, 0)
	b = c.Amount.AppendTo(b)
	b = append(b, 0)
	if !c.TimestampDefaulted {
		b = binary.BigEndian.AppendUint64(b, uint64(c.Timestamp.UnixMilli()))
	}
	sum := sha256.Sum256(b)
	return binary.BigEndian.Uint64(sum[:8])
}

// MaxCopiedHeaderBytes bounds the producer headers the processor copies
// when it produces a raw record again (to its owner, or to the dead-letter
// topic), so the copy always fits: raw value limit + this + Tally's own.
const MaxCopiedHeaderBytes = 32 << 10

// BoundHeaders returns hs if its keys and values total at most max bytes,
// else only the tally-*, ce_* and content-type headers among them (the ones
// normalization reads) if those fit, else none.
func BoundHeaders(hs []kgo.RecordHeader, max int) []kgo.RecordHeader {
	if headerBytes(hs) <= max {
		return append([]kgo.RecordHeader(nil), hs...)
	}
	var own []kgo.RecordHeader
	for _, h := range hs {
		if strings.HasPrefix(h.Key, "tally-") || strings.HasPrefix(h.Key, HeaderCloudEventPrefix) || h.Key == HeaderContentType {
			own = append(own, h)
		}
	}
	if headerBytes(own) <= max {
		return own
	}
	return nil
}

func headerBytes(hs []kgo.RecordHeader) int {
	n := 0
	for _, h := range hs {
		n += len(h.Key) + len(h.Value)
	}
	return n
}
