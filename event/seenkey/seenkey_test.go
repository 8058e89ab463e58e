package seenkey

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

func TestSplitIsInjective(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a := rapid.StringMatching(`[0-9a-f]{64}`).Draw(t, "a")
		b := rapid.StringMatching(`[0-9a-f]{64}`).Draw(t, "b")
		ka, fa, err := Split(a)
		if err != nil {
			t.Fatal(err)
		}
		kb, fb, err := Split(b)
		if err != nil {
			t.Fatal(err)
		}
		if (ka == kb && fa == fb) != (a == b) {
			t.Fatalf("%s and %s map to (%q,%x) and (%q,%x)", a, b, ka, fa, kb, fb)
		}
		if len(fa) != 30 || !strings.HasPrefix(ka, "tally:s:") || len(ka) != len("tally:s:")+5 {
			t.Fatalf("layout: key %q field %d bytes", ka, len(fa))
		}
	})
}

func TestSplitRejectsNonIDs(t *testing.T) {
	for _, id := range []string{"", "abc", strings.Repeat("A", 64), strings.Repeat("g", 64), strings.Repeat("a", 65)} {
		if _, _, err := Split(id); err == nil {
			t.Errorf("Split(%q) accepted", id)
		}
	}
}

func TestEncodeRoundTrips(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		o := Origin{Stream: rapid.Uint32().Draw(t, "s"), Partition: rapid.Int32().Draw(t, "p"), Offset: rapid.Int64().Draw(t, "o"), Fingerprint: rapid.Uint64().Draw(t, "f")}
		got, ok := Decode(Encode(o))
		if !ok || got != o {
			t.Fatalf("Decode(Encode(%+v)) = %+v, %v", o, got, ok)
		}
	})
	for _, bad := range []string{"", "\x01", "\x00\x00\x00\x01\x02\x04", "\x00\x00\x00\x01\x02\x04short"} {
		if _, ok := Decode(bad); ok {
			t.Errorf("Decode(%q) accepted", bad)
		}
	}
}

// Claim keys are one per id and never collide with the seen-set's keys,
// watermarks or heal tokens, so the ingestor cannot corrupt the seen-set.
func TestClaimKeyIsApart(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a := rapid.StringMatching(`[0-9a-f]{64}`).Draw(t, "a")
		b := rapid.StringMatching(`[0-9a-f]{64}`).Draw(t, "b")
		ka, err := ClaimKey(a)
		if err != nil {
			t.Fatal(err)
		}
		kb, _ := ClaimKey(b)
		if (ka == kb) != (a == b) {
			t.Fatalf("%s and %s share claim key %q", a, b, ka)
		}
		bucket, _, _ := Split(a)
		if !strings.HasPrefix(ka, "tally:c:") || len(ka) != len("tally:c:")+32 || ka == bucket ||
			strings.HasPrefix(ka, "tally:s:") || strings.HasPrefix(ka, "tally:wm:") || strings.HasPrefix(ka, "tally:heal:") {
			t.Fatalf("claim key %q is not apart from the seen-set layout", ka)
		}
	})
	for _, id := range []string{"", strings.Repeat("A", 64), strings.Repeat("a", 63)} {
		if _, err := ClaimKey(id); err == nil {
			t.Errorf("ClaimKey(%q) accepted", id)
		}
	}
}

// An id decodes as encoding/hex would, and only in lower case.
func TestDecodeIDMatchesHex(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		raw := rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "raw")
		id := hex.EncodeToString(raw)
		b, ok := decodeID(id)
		if !ok || !bytes.Equal(b[:], raw) {
			t.Fatalf("decodeID(%s) = %x, %v", id, b, ok)
		}
		i := rapid.IntRange(0, 63).Draw(t, "i")
		bad := []byte(id)
		bad[i] = rapid.SampledFrom([]byte("ABCDEFgxz /:\x00\xff")).Draw(t, "c")
		if _, ok := decodeID(string(bad)); ok {
			t.Fatalf("decodeID(%q) accepted", bad)
		}
	})
}
