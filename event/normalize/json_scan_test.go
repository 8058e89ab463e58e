package normalize

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"pgregory.net/rapid"
)

// skipPlainByByte is skipPlain's definition, one byte at a time.
func skipPlainByByte(s []byte, i int) int {
	for i < len(s) && plainStringByte[s[i]] {
		i++
	}
	return i
}

// TestSkipPlain checks the eight-bytes-at-a-time scan against the byte loop,
// with the bytes that matter (quote, backslash, every control byte, DEL,
// bytes above 0x7f) at every offset of a word.
func TestSkipPlain(t *testing.T) {
	interesting := []byte{'"', '\\', 0x00, 0x01, 0x1f, 0x20, 0x21, 0x5b, 0x5d, 0x7f, 0x80, 0xa2, 0xdc, 0xff}
	for _, c := range interesting {
		for n := 0; n <= 24; n++ {
			for at := 0; at < n; at++ {
				s := make([]byte, n)
				for k := range s {
					s[k] = 'a' + byte(k%26)
				}
				s[at] = c
				for from := 0; from <= n; from++ {
					if got, want := skipPlain(s, from), skipPlainByByte(s, from); got != want {
						t.Fatalf("byte %#x at %d of %d, from %d: got %d, want %d", c, at, n, from, got, want)
					}
				}
			}
		}
	}
	rapid.Check(t, func(t *rapid.T) {
		s := rapid.SliceOf(rapid.SampledFrom(interesting)).Draw(t, "s")
		from := rapid.IntRange(0, len(s)).Draw(t, "from")
		if got, want := skipPlain(s, from), skipPlainByByte(s, from); got != want {
			t.Fatalf("%q from %d: got %d, want %d", s, from, got, want)
		}
	})
}

// TestEncodeID checks the table encoder against encoding/hex.
func TestEncodeID(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var sum [sha256.Size]byte
		copy(sum[:], rapid.SliceOfN(rapid.Byte(), sha256.Size, sha256.Size).Draw(t, "sum"))
		var got [2 * sha256.Size]byte
		encodeID(&got, &sum)
		if want := hex.EncodeToString(sum[:]); string(got[:]) != want {
			t.Fatalf("got %s, want %s", got, want)
		}
	})
}
