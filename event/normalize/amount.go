package normalize

import (
	"strconv"

	"github.com/tally-dev/tally/event"
)

// maxSigDigits bounds the significant digits kept while scanning. An Amount
// holds at most 19 integer and 9 fractional digits, so anything longer is a
// range or precision rejection and its exact digits no longer matter.
const maxSigDigits = 40

// decimal is an exact number: (-1)^neg × digits × 10^exp, with no leading or
// trailing zeros in digits (an empty digits is zero).
type decimal struct {
	neg    bool
	digits [maxSigDigits]byte
	n      int // digits stored
	sig    int // significant digits seen (may exceed n)
	exp    int
}

// expLimit caps exponent arithmetic; any larger magnitude is out of range or
// beyond precision whatever the digits are.
const expLimit = 100_000

// scanDecimal reads digits [',' grouping] ['.' digits] [e|E [+-] digits] from
// s (no sign: the caller handles it). grouping allows "1,200,000" style
// thousands separators in the integer part (groups of exactly three).
func scanDecimal(s []byte, grouping bool, dec *decimal) bool {
	i := 0
	intDigits, fracDigits := 0, 0
	zeros := 0 // pending zeros after the last nonzero digit
	fracLen := 0
	add := func(c byte, frac bool) {
		if frac {
			fracLen++
		}
		if c == '0' {
			if dec.sig > 0 {
				zeros++
			}
			return
		}
		for ; zeros > 0; zeros-- {
			dec.push('0')
		}
		dec.push(c)
	}
	group := -1 // digits in the current group once a separator was seen
	for i < len(s) {
		c := s[i]
		if c >= '0' && c <= '9' {
			add(c, false)
			intDigits++
			if group >= 0 {
				group++
			}
			i++
			continue
		}
		if c == ',' && grouping {
			if intDigits == 0 || intDigits > 3 && group < 0 || group >= 0 && group != 3 {
				return false
			}
			group = 0
			i++
			continue
		}
		break
	}
	if group >= 0 && group != 3 {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			add(s[i], true)
			fracDigits++
			i++
		}
	}
	if intDigits+fracDigits == 0 {
		return false
	}
	e := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		eneg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			eneg = s[i] == '-'
			i++
		}
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			if e < expLimit {
				e = e*10 + int(s[i]-'0')
			}
			i++
		}
		if i == j {
			return false
		}
		if eneg {
			e = -e
		}
	}
	if i != len(s) {
		return false
	}
	// value = sigdigits × 10^(zeros) × 10^(e - fracLen)
	dec.exp = e - fracLen + zeros
	if dec.sig == 0 {
		dec.exp = 0
	}
	return true
}

func (dec *decimal) push(c byte) {
	if dec.n < maxSigDigits {
		dec.digits[dec.n] = c
		dec.n++
	}
	dec.sig++
}

// amount converts dec × 10^shift to an event.Amount, exactly or not at all.
func (dec *decimal) amount(shift int) (event.Amount, string) {
	if dec.sig == 0 {
		return event.Amount{}, ""
	}
	exp := dec.exp + shift
	intLen := dec.sig + exp // digits left of the decimal point
	if intLen > 19 {
		return event.Amount{}, CodeAmountRange
	}
	if exp < -9 {
		return event.Amount{}, CodeAmountPrecision
	}
	// From here sig <= 28 <= maxSigDigits, so all digits are stored.
	var units uint64
	var nanos int64
	for k := 0; k < dec.n; k++ {
		d := uint64(dec.digits[k] - '0')
		if k < intLen {
			if units > (1<<63-1-d)/10 {
				return event.Amount{}, CodeAmountRange
			}
			units = units*10 + d
		} else {
			nanos = nanos*10 + int64(d)
		}
	}
	for k := dec.n; k < intLen; k++ { // trailing zeros of a large integer
		if units > (1<<63-1)/10 {
			return event.Amount{}, CodeAmountRange
		}
		units *= 10
	}
	for k := 0; k < 9+exp && exp < 0; k++ { // scale the fraction digits to billionths
		nanos *= 10
	}
	a := event.Amount{Units: int64(units), Nanos: int32(nanos)}
	if dec.neg {
		a.Units, a.Nanos = -a.Units, -a.Nanos
	}
	return a, ""
}

// parseAmountNumber parses the original text of a JSON number.
func parseAmountNumber(raw []byte, shift int) (event.Amount, string) {
	var dec decimal
	if len(raw) > 0 && raw[0] == '-' {
		dec.neg = true
		raw = raw[1:]
	}
	if !scanDecimal(raw, false, &dec) {
		return event.Amount{}, CodeAmountInvalid
	}
	return dec.amount(shift)
}

// parseAmountString parses the lenient string spellings: surrounding
// whitespace, a sign before or after one currency symbol, thousands
// separators, an exponent.
func parseAmountString(s []byte, currency []string, shift int) (event.Amount, string) {
	s = trimSpace(s)
	var dec decimal
	sign := func() bool {
		if len(s) > 0 && (s[0] == '-' || s[0] == '+') {
			dec.neg = s[0] == '-'
			s = s[1:]
			return true
		}
		return false
	}
	signed := sign()
	for _, cur := range currency {
		if len(s) >= len(cur) && string(s[:len(cur)]) == cur {
			s = s[len(cur):]
			if !signed {
				sign()
			}
			break
		}
	}
	if !scanDecimal(s, true, &dec) {
		return event.Amount{}, CodeAmountInvalid
	}
	return dec.amount(shift)
}

// appendAmount appends a.String() without allocating; the two must agree
// (tested), since this text is hashed into event ids.
func appendAmount(dst []byte, a event.Amount) []byte {
	u, n := a.Units, int64(a.Nanos)
	if u < 0 || n < 0 {
		dst = append(dst, '-')
		dst = strconv.AppendUint(dst, uint64(-(u+1))+1, 10)
		n = -n
	} else {
		dst = strconv.AppendInt(dst, u, 10)
	}
	if n != 0 {
		dst = append(dst, '.')
		var frac [9]byte
		for k := 8; k >= 0; k-- {
			frac[k] = byte('0' + n%10)
			n /= 10
		}
		end := 9
		for end > 0 && frac[end-1] == '0' {
			end--
		}
		dst = append(dst, frac[:end]...)
	}
	return dst
}

func trimSpace(s []byte) []byte {
	for len(s) > 0 && isSpace(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
