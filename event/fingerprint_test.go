package event

import (
	"crypto/sha256"
	"encoding/binary"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// amountV1 is how amounts were first written: the text every stored
// fingerprint hashed.
func amountV1(a Amount) string {
	var b strings.Builder
	u, n := a.Units, int64(a.Nanos)
	if a.Units < 0 || a.Nanos < 0 {
		b.WriteByte('-')
		b.WriteString(strconv.FormatUint(uint64(-(u+1))+1, 10))
		n = -n
	} else {
		b.WriteString(strconv.FormatInt(u, 10))
	}
	if n != 0 {
		b.WriteByte('.')
		b.WriteString(strings.TrimRight(strconv.FormatInt(n+NanosPerUnit, 10)[1:], "0"))
	}
	return b.String()
}

// fingerprintV1 is the fingerprint as first defined, hashed field by field:
// stored fingerprints were computed this way, so every later
// implementation must give the same value.
func fingerprintV1(c Canonical) uint64 {
	h := sha256.New()
	for _, part := range []string{"tally-fp-v1", "\x00", c.Metric, "\x00", amountV1(c.Amount), "\x00"} {
		h.Write([]byte(part))
	}
	if !c.TimestampDefaulted {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(c.Timestamp.UnixMilli()))
		h.Write(b[:])
	}
	return binary.BigEndian.Uint64(h.Sum(nil))
}

func drawAmount(t *rapid.T) Amount {
	units := rapid.OneOf(rapid.Int64(), rapid.Int64Range(-5, 5), rapid.SampledFrom([]int64{math.MinInt64, math.MaxInt64})).Draw(t, "units")
	nanos := rapid.OneOf(rapid.Int32Range(0, NanosPerUnit-1), rapid.SampledFrom([]int32{0, 1, 10, 500_000_000, NanosPerUnit - 1})).Draw(t, "nanos")
	if units < 0 || (units == 0 && rapid.Bool().Draw(t, "negative")) {
		nanos = -nanos
	}
	return Amount{Units: units, Nanos: nanos}
}

func TestAmountTextIsUnchanged(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a := drawAmount(t)
		if got, want := a.String(), amountV1(a); got != want {
			t.Fatalf("%#v: %q, first written as %q", a, got, want)
		}
	})
}

func TestFingerprintIsUnchanged(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := Canonical{
			Metric:             rapid.StringN(0, 300, -1).Draw(t, "metric"), // longer than the stack buffer too
			Amount:             drawAmount(t),
			Timestamp:          time.UnixMilli(rapid.Int64Range(-1e13, 1e13).Draw(t, "ms")),
			TimestampDefaulted: rapid.Bool().Draw(t, "defaulted"),
		}
		if got, want := c.Fingerprint(), fingerprintV1(c); got != want {
			t.Fatalf("%+v: fingerprint %x, first defined as %x", c, got, want)
		}
	})
}

func BenchmarkFingerprint(b *testing.B) {
	c := Canonical{Metric: "api_calls", Amount: Amount{Units: 1234, Nanos: 500_000_000}, Timestamp: time.UnixMilli(1_700_000_000_123)}
	b.ReportAllocs()
	for b.Loop() {
		c.Fingerprint()
	}
}
