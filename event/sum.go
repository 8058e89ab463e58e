package event

import (
	"math/big"
	"math/bits"
)

// Sum is an exact running total of amounts: a signed 128-bit count of
// billionths, the unscaled value of a Decimal(38, 9). One int64 of units
// times 10^9 fits in 94 bits, so a Sum holds the total of billions of
// maximal amounts without overflow, and adding is two machine additions.
type Sum struct {
	hi int64
	lo uint64
}

// SumOf returns the Sum of one amount.
func SumOf(a Amount) Sum {
	var s Sum
	s.Add(a)
	return s
}

// Add adds an amount.
func (s *Sum) Add(a Amount) {
	// units*1e9 + nanos as a 128-bit product: both have the same sign.
	neg := a.Units < 0 || a.Nanos < 0
	u := uint64(a.Units)
	n := uint64(int64(a.Nanos))
	if neg {
		u, n = uint64(-a.Units), uint64(-int64(a.Nanos))
	}
	hi, lo := bits.Mul64(u, NanosPerUnit)
	var c uint64
	lo, c = bits.Add64(lo, n, 0)
	hi += c
	v := Sum{hi: int64(hi), lo: lo}
	if neg {
		v = v.neg()
	}
	s.AddSum(v)
}

// AddSum adds another Sum.
func (s *Sum) AddSum(o Sum) {
	var c uint64
	s.lo, c = bits.Add64(s.lo, o.lo, 0)
	s.hi = s.hi + o.hi + int64(c)
}

func (s Sum) neg() Sum {
	lo, b := bits.Sub64(0, s.lo, 0)
	return Sum{hi: -s.hi - int64(b), lo: lo}
}

// Big returns the total as an integer count of billionths.
func (s Sum) Big() *big.Int {
	v := new(big.Int).SetInt64(s.hi)
	v.Lsh(v, 64)
	return v.Add(v, new(big.Int).SetUint64(s.lo)) // two's complement: hi·2^64 + lo
}

// SumFromBig converts billionths back to a Sum; ok is false out of range.
func SumFromBig(v *big.Int) (Sum, bool) {
	if v.BitLen() > 126 {
		return Sum{}, false
	}
	neg := v.Sign() < 0
	a := new(big.Int).Abs(v)
	lo := a.Uint64()
	hi := new(big.Int).Rsh(a, 64).Uint64()
	s := Sum{hi: int64(hi), lo: lo}
	if neg {
		s = s.neg()
	}
	return s, true
}

// IsZero reports whether the total is zero.
func (s Sum) IsZero() bool { return s.hi == 0 && s.lo == 0 }
