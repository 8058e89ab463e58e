package event

import (
	"errors"
	"math/big"
	"strconv"
	"strings"
)

// NanosPerUnit is the fixed scale of Amount: nine fractional digits, the same
// as the ClickHouse column type Decimal(38, 9).
const NanosPerUnit = 1_000_000_000

// Amount is an exact decimal with nine fractional digits: Units whole units
// plus Nanos billionths. Both have the same sign (or are zero), so every value
// has exactly one representation and compares with ==.
type Amount struct {
	Units int64
	Nanos int32
}

// String returns the shortest exact decimal text: "1200", "-0.5", "3.000000001".
// It is the form hashed into event ids, so it must never change.
func (a Amount) String() string { return string(a.AppendTo(nil)) }

// AppendTo appends the amount as String writes it.
func (a Amount) AppendTo(b []byte) []byte {
	u, n := a.Units, int64(a.Nanos)
	if a.Units < 0 || a.Nanos < 0 {
		b = append(b, '-')
		// Units may be MinInt64; format via uint64 to avoid overflow.
		b = strconv.AppendUint(b, uint64(-(u+1))+1, 10)
		n = -n
	} else {
		b = strconv.AppendInt(b, u, 10)
	}
	if n != 0 {
		b = append(b, '.')
		start := len(b)
		b = strconv.AppendInt(b, n+NanosPerUnit, 10) // zero-padded to 9 digits after its leading 1
		copy(b[start:], b[start+1:])
		b = b[:len(b)-1]
		for b[len(b)-1] == '0' {
			b = b[:len(b)-1]
		}
	}
	return b
}

// MarshalJSON writes the amount as a JSON number with no loss of precision.
func (a Amount) MarshalJSON() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalJSON reads a plain JSON number (as written by MarshalJSON).
func (a *Amount) UnmarshalJSON(b []byte) error {
	v, err := ParseAmount(strings.Trim(string(b), `"`))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// BigScaled returns the amount as an integer count of billionths, the
// unscaled value of a Decimal(38, 9).
func (a Amount) BigScaled() *big.Int {
	v := big.NewInt(a.Units)
	v.Mul(v, big.NewInt(NanosPerUnit))
	return v.Add(v, big.NewInt(int64(a.Nanos)))
}

// ErrAmountSyntax and ErrAmountRange are returned by ParseAmount.
var (
	ErrAmountSyntax    = errors.New("not a plain decimal number")
	ErrAmountRange     = errors.New("amount out of range")
	ErrAmountPrecision = errors.New("more than 9 fractional digits")
)

// ParseAmount parses plain decimal text: an optional sign, digits, an optional
// fraction. It accepts no exponent, separators or spaces; the normalization
// engine handles those spellings before calling it.
func ParseAmount(s string) (Amount, error) {
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	intPart, frac, hasDot := strings.Cut(s, ".")
	if intPart == "" && frac == "" || (hasDot && frac == "" && intPart == "") {
		return Amount{}, ErrAmountSyntax
	}
	if !allDigits(intPart) || !allDigits(frac) {
		return Amount{}, ErrAmountSyntax
	}
	// Range before precision: an input wrong on both counts reports range,
	// as the normalization engine does.
	intPart = strings.TrimLeft(intPart, "0")
	var units uint64
	if intPart != "" {
		u, err := strconv.ParseUint(intPart, 10, 64)
		if err != nil || u > 1<<63-1 {
			return Amount{}, ErrAmountRange
		}
		units = u
	}
	frac = strings.TrimRight(frac, "0")
	if len(frac) > 9 {
		return Amount{}, ErrAmountPrecision
	}
	var nanos int64
	if frac != "" {
		f, _ := strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
		nanos = f
	}
	a := Amount{Units: int64(units), Nanos: int32(nanos)}
	if neg {
		a.Units, a.Nanos = -a.Units, -a.Nanos
	}
	return a, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
