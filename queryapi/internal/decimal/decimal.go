// Package decimal does exact arithmetic on amounts read from ClickHouse's
// Decimal(38, 9) columns. Tally must write them back as JSON numbers (and
// exact strings) without ever passing through float64, so values are kept
// as integer counts of billionths (big.Int).
package decimal

import (
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
)

// Scale is the number of fractional digits of every Tally amount.
const Scale = 9

var unit = big.NewInt(1_000_000_000)

// Value is an exact decimal with Scale fractional digits. The zero value is 0.
type Value struct {
	scaled big.Int // value × 10^Scale
}

// Parse reads plain decimal text such as ClickHouse's toString output
// ("12.500000000", "-3", "0.000000001"). More than Scale fractional digits,
// exponents and spaces are rejected: they never come from a Decimal(38, 9).
func Parse(s string) (Value, error) {
	orig := s
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	intPart, frac, _ := strings.Cut(s, ".")
	if intPart == "" && frac == "" || !digits(intPart) || !digits(frac) {
		return Value{}, fmt.Errorf("decimal %q: not a plain decimal number", orig)
	}
	frac = strings.TrimRight(frac, "0")
	if len(frac) > Scale {
		return Value{}, fmt.Errorf("decimal %q: more than %d fractional digits", orig, Scale)
	}
	var v Value
	if _, ok := v.scaled.SetString(intPart+frac+strings.Repeat("0", Scale-len(frac)), 10); !ok {
		return Value{}, fmt.Errorf("decimal %q: not a plain decimal number", orig)
	}
	if neg {
		v.scaled.Neg(&v.scaled)
	}
	return v, nil
}

// FromScaled returns the value whose count of billionths is scaled.
func FromScaled(scaled *big.Int) Value {
	var v Value
	v.scaled.Set(scaled)
	return v
}

// MustParse is Parse for constants in tests and fixed values; it panics on
// malformed input.
func MustParse(s string) Value {
	v, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return v
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Add returns v + w.
func (v Value) Add(w Value) Value {
	var r Value
	r.scaled.Add(&v.scaled, &w.scaled)
	return r
}

// Accumulate adds w to v in place. v must own its storage: a Value
// copied from another shares it, so take a Clone first.
func (v *Value) Accumulate(w *Value) { v.scaled.Add(&v.scaled, &w.scaled) }

// Clone returns v with storage of its own.
func (v Value) Clone() Value {
	var r Value
	r.scaled.Set(&v.scaled)
	return r
}

// Cmp compares v and w like big.Int.Cmp.
func (v Value) Cmp(w Value) int { return v.scaled.Cmp(&w.scaled) }

// Div returns v / n rounded half away from zero to Scale digits. It is how
// averages are computed: exact sum, one rounding. n must be positive.
func (v Value) Div(n uint64) Value {
	var r Value
	if n == 0 {
		return r
	}
	d := new(big.Int).SetUint64(n)
	q, m := new(big.Int).QuoRem(&v.scaled, d, new(big.Int))
	// Round half away from zero: |2m| >= d bumps the magnitude.
	m2 := new(big.Int).Abs(m)
	m2.Lsh(m2, 1)
	if m2.Cmp(d) >= 0 {
		if v.scaled.Sign() < 0 {
			q.Sub(q, big.NewInt(1))
		} else {
			q.Add(q, big.NewInt(1))
		}
	}
	r.scaled.Set(q)
	return r
}

// String returns the shortest exact text: "1200", "-0.5", "3.000000001".
func (v Value) String() string {
	// The digits of |scaled|, at least Scale+1 of them, with the point
	// put Scale from the right; trailing fractional zeros dropped.
	var buf [64]byte
	digits := v.scaled.Append(buf[:0], 10)
	neg := len(digits) > 0 && digits[0] == '-'
	if neg {
		digits = digits[1:]
	}
	var out []byte
	if neg {
		out = append(out, '-')
	}
	if pad := Scale + 1 - len(digits); pad > 0 {
		out = append(out, "0000000000"[:pad]...)
		out = append(out, digits...)
	} else {
		out = append(out, digits...)
	}
	intLen := len(out) - Scale
	frac := out[intLen:]
	for len(frac) > 0 && frac[len(frac)-1] == '0' {
		frac = frac[:len(frac)-1]
	}
	if len(frac) == 0 {
		return string(out[:intLen])
	}
	return string(out[:intLen]) + "." + string(frac)
}

// MarshalJSON writes the value as a JSON number, exactly.
func (v Value) MarshalJSON() ([]byte, error) { return []byte(v.String()), nil }

// UnmarshalJSON reads a JSON number (tests decode responses with it).
func (v *Value) UnmarshalJSON(b []byte) error {
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	p, err := Parse(n.String())
	if err != nil {
		return err
	}
	*v = p
	return nil
}
