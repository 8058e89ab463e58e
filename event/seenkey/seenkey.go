// Package seenkey is the Redis layout of Tally's seen-set, shared by the
// processor (which writes it) and the ingestor (which reads it for its
// duplicate hint). See docs/design/read-model.md, R3.
//
// One entry per stored event (its winner): the 32-byte binary id is split
// into a bucket — the hash key "tally:s:" plus the first 20 bits as five hex
// digits — and a field, the remaining 30 bytes. The value is the winner's
// origin: a 4-byte tag of its stream (the topic incarnation), partition and
// offset as varints, and the 8-byte content fingerprint. With 2^20 buckets, 100M ids make hashes of about a hundred
// entries, which Redis keeps as compact listpacks: about 50 bytes per id,
// under the 64-byte budget of issue #14.
//
// Beside the entries, one watermark per owner partition, partition count
// and topic incarnation ("tally:wm:<stream>:<n>:<partition>") says that
// every winner owned by that partition below the watermark's offset is
// present; the processor trusts a miss only below it.
//
// Apart from the seen-set, the ingestor keeps short-lived claims
// ("tally:c:<binary id>", ClaimKey) for its duplicate hint.
package seenkey

import (
	"encoding/binary"
	"errors"
	"strconv"
)

// BucketBits is how many leading bits of the id select the hash.
const BucketBits = 20

// Origin locates an event's winner — its stream (a tag of the topic
// incarnation), partition and offset — and fingerprints its content.
type Origin struct {
	Stream      uint32
	Partition   int32
	Offset      int64
	Fingerprint uint64
}

// ErrBadID is returned for an id that is not 64 lowercase hex digits.
var ErrBadID = errors.New("seenkey: event id is not 64 lowercase hex digits")

// Split returns the hash key and field of an event id.
func Split(id string) (key string, field string, err error) {
	b, ok := decodeID(id)
	if !ok {
		return "", "", ErrBadID
	}
	return "tally:s:" + id[:5], string(b[2:]), nil
}

// decodeID decodes a 64-digit lower-case hex id.
func decodeID(id string) (b [32]byte, ok bool) {
	if len(id) != 64 {
		return b, false
	}
	for i := range b {
		hi, lo := hexValue[id[2*i]], hexValue[id[2*i+1]]
		if hi|lo > 0xf {
			return b, false
		}
		b[i] = hi<<4 | lo
	}
	return b, true
}

// hexValue maps a lower-case hex digit to its value and every other byte
// to 0xff: one pass decodes an id and refuses upper case (an id has one
// spelling).
var hexValue = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := byte('0'); c <= '9'; c++ {
		t[c] = c - '0'
	}
	for c := byte('a'); c <= 'f'; c++ {
		t[c] = c - 'a' + 10
	}
	return t
}()

// Encode renders an origin as an entry value.
func Encode(o Origin) string {
	b := make([]byte, 0, 2*binary.MaxVarintLen64+12)
	b = binary.BigEndian.AppendUint32(b, o.Stream)
	b = binary.AppendVarint(b, int64(o.Partition))
	b = binary.AppendVarint(b, o.Offset)
	b = binary.BigEndian.AppendUint64(b, o.Fingerprint)
	return string(b)
}

// Decode reads an entry value written by Encode.
func Decode(v string) (Origin, bool) {
	b := []byte(v)
	if len(b) < 4 {
		return Origin{}, false
	}
	stream := binary.BigEndian.Uint32(b)
	b = b[4:]
	p, n := binary.Varint(b)
	if n <= 0 || p < -1<<31 || p > 1<<31-1 {
		return Origin{}, false
	}
	b = b[n:]
	off, n := binary.Varint(b)
	if n <= 0 {
		return Origin{}, false
	}
	b = b[n:]
	if len(b) != 8 {
		return Origin{}, false
	}
	return Origin{Stream: stream, Partition: int32(p), Offset: off, Fingerprint: binary.BigEndian.Uint64(b)}, true
}

// Watermark is the key of the watermark of partition p of a topic with n
// partitions: another partition count means other owned slots, so another
// watermark (and a full heal).
func Watermark(stream string, n, p int32) string {
	return "tally:wm:" + stream + ":" + strconv.FormatInt(int64(n), 10) + ":" + strconv.FormatInt(int64(p), 10)
}

// HealToken is the key a heal of a partition holds while it runs; a flush
// removes it, and the heal then refuses to set the watermark.
func HealToken(stream string, n, p int32) string {
	return "tally:heal:" + stream + ":" + strconv.FormatInt(int64(n), 10) + ":" + strconv.FormatInt(int64(p), 10)
}

// ClaimKey is the key of the ingestor's claim on an event id (for its
// duplicate hint): "tally:c:" plus the 32-byte binary id, a plain string
// holding the claiming copy's 8-byte content fingerprint, set with SET NX
// GET and a short expiry when an acknowledged copy of the event is answered
// "new" (a later copy with another fingerprint is a conflict). It is not
// part of the seen-set: the processor neither reads nor writes it, and
// losing it costs a wrong hint, never data.
func ClaimKey(id string) (string, error) {
	b, ok := decodeID(id)
	if !ok {
		return "", ErrBadID
	}
	return "tally:c:" + string(b[:]), nil
}
