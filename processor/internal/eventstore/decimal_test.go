package eventstore

import (
	"math/big"
	"testing"

	"pgregory.net/rapid"

	"github.com/tally-dev/tally/event"
)

func TestSumsRoundTripThroughTheDriverDecimal(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		v := new(big.Int).SetUint64(rapid.Uint64().Draw(t, "hi") >> 8)
		v.Lsh(v, 64).Or(v, new(big.Int).SetUint64(rapid.Uint64().Draw(t, "lo")))
		if rapid.Bool().Draw(t, "neg") {
			v.Neg(v)
		}
		s, ok := event.SumFromBig(v)
		if !ok {
			t.Fatalf("SumFromBig(%s) failed", v)
		}
		back, ok := SumOf(SumDecimal(s))
		if !ok || back.Big().Cmp(v) != 0 {
			t.Fatalf("SumOf(SumDecimal(%s)) = %s, %v", v, back.Big(), ok)
		}
	})
}

func TestAmountsRoundTripThroughTheDriverDecimal(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		units := rapid.Int64().Draw(t, "units")
		nanos := rapid.Int32Range(0, event.NanosPerUnit-1).Draw(t, "nanos")
		if units < 0 {
			nanos = -nanos
		}
		a := event.Amount{Units: units, Nanos: nanos}
		if back, ok := AmountOf(Decimal(a)); !ok || back != a {
			t.Fatalf("AmountOf(Decimal(%v)) = %v, %v", a, back, ok)
		}
	})
}

// BenchmarkDecimal is the exact amount conversion for the Decimal(38, 9)
// column, on the fast (int64) path and on the big.Int path.
func BenchmarkDecimal(b *testing.B) {
	for _, tc := range []struct {
		name string
		a    event.Amount
	}{
		{"integer", event.Amount{Units: 1200}},
		{"fraction", event.Amount{Units: 12, Nanos: 340_000_000}},
		{"huge", event.Amount{Units: 9_223_372_036, Nanos: 854_775_807}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = Decimal(tc.a)
			}
		})
	}
}
