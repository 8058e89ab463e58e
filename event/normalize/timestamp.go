package normalize

import (
	"time"
)

// isoStatus tells whether text had the built-in ISO 8601 shape and, if so,
// whether its values were valid.
type isoStatus uint8

const (
	isoNoMatch isoStatus = iota // other shape: try configured layouts
	isoInvalid                  // ISO shape, impossible value: reject
	isoOK
)

// parseISO reads the built-in forms (t = T, t or space; Z = Z or z):
//
//	YYYY-MM-DD | YYYY/MM/DD                     (month and day may have one digit)
//	<date>tHH:MM[:SS[.fraction]][Z | ±HH:MM | ±HHMM | ±HH]
//
// A missing offset means loc. Second 60 is a leap second: accepted only at
// minute 59 and read as the last millisecond of that minute (hh:59:59.999),
// so it sorts before the next minute and stays on its own day.
func parseISO(s []byte, loc *time.Location) (int64, isoStatus, string) {
	p := 0
	// num reads minD..maxD digits; more digits right after are a mismatch
	// unless the field is followed by another fixed-width one (±HHMM).
	numOpen := func(minD, maxD int) (int, bool) {
		v, n := 0, 0
		for p < len(s) && n < maxD && s[p] >= '0' && s[p] <= '9' {
			v = v*10 + int(s[p]-'0')
			p++
			n++
		}
		return v, n >= minD
	}
	num := func(minD, maxD int) (int, bool) {
		v, ok := numOpen(minD, maxD)
		return v, ok && !(p < len(s) && s[p] >= '0' && s[p] <= '9')
	}
	year, ok := num(4, 4)
	if !ok || p >= len(s) || (s[p] != '-' && s[p] != '/') {
		return 0, isoNoMatch, ""
	}
	sep := s[p]
	p++
	month, ok := num(1, 2)
	if !ok || p >= len(s) || s[p] != sep {
		return 0, isoNoMatch, ""
	}
	p++
	day, ok := num(1, 2)
	if !ok {
		return 0, isoNoMatch, ""
	}
	var hour, minute, sec, nsec int
	zoned, offset := false, 0
	if p < len(s) {
		if c := s[p]; c != 'T' && c != 't' && c != ' ' {
			return 0, isoNoMatch, ""
		}
		p++
		if hour, ok = num(2, 2); !ok || p >= len(s) || s[p] != ':' {
			return 0, isoNoMatch, ""
		}
		p++
		if minute, ok = num(2, 2); !ok {
			return 0, isoNoMatch, ""
		}
		if p < len(s) && s[p] == ':' {
			p++
			if sec, ok = num(2, 2); !ok {
				return 0, isoNoMatch, ""
			}
			if p < len(s) && (s[p] == '.' || s[p] == ',') {
				p++
				digits := 0
				for p < len(s) && s[p] >= '0' && s[p] <= '9' {
					if digits < 9 {
						nsec = nsec*10 + int(s[p]-'0')
					}
					digits++
					p++
				}
				if digits == 0 || digits > 9 {
					return 0, isoNoMatch, ""
				}
				for ; digits < 9; digits++ {
					nsec *= 10
				}
			}
		}
		if p < len(s) {
			switch c := s[p]; c {
			case 'Z', 'z':
				p++
				zoned = true
			case '+', '-':
				p++
				oh, ok := numOpen(2, 2)
				if !ok {
					return 0, isoNoMatch, ""
				}
				om := 0
				if p < len(s) && s[p] == ':' {
					p++
					if om, ok = num(2, 2); !ok {
						return 0, isoNoMatch, ""
					}
				} else if p < len(s) {
					if om, ok = num(2, 2); !ok {
						return 0, isoNoMatch, ""
					}
				}
				if oh > 23 || om > 59 {
					return 0, isoInvalid, "time zone offset out of range (at most ±23:59)"
				}
				offset = oh*3600 + om*60
				if c == '-' {
					offset = -offset
				}
				zoned = true
			default:
				return 0, isoNoMatch, ""
			}
		}
		if p != len(s) {
			return 0, isoNoMatch, ""
		}
	}
	switch {
	case month < 1 || month > 12:
		return 0, isoInvalid, "month out of range"
	case day < 1 || day > daysIn(month, year):
		return 0, isoInvalid, "day out of range for its month"
	case hour > 23:
		return 0, isoInvalid, "hour out of range (24:00 is not accepted)"
	case minute > 59:
		return 0, isoInvalid, "minute out of range"
	case sec > 60 || sec == 60 && minute != 59:
		return 0, isoInvalid, "second out of range"
	}
	if sec == 60 {
		sec, nsec = 59, 999_000_000
	}
	if zoned || loc == time.UTC {
		secs := daysFromCivil(year, month, day)*86400 + int64(hour*3600+minute*60+sec-offset)
		return secs*1000 + int64(nsec/1_000_000), isoOK, ""
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, loc).UnixMilli(), isoOK, ""
}

// daysFromCivil returns the days from 1970-01-01 to a proleptic Gregorian
// date (H. Hinnant's algorithm), for years 0..9999.
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	y += 400 // keep y non-negative for the divisions; undone below
	era := y / 400
	yoe := y - era*400
	doy := (153*((m+9)%12)+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468 - 146097
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	default:
		return 31
	}
}

// looksAmbiguous reports text that starts like N/N/YY[YY] or N.N.YYYY or
// N-N-YYYY, where day and month order cannot be known.
func looksAmbiguous(s []byte) bool {
	p := 0
	part := func(minD, maxD int) bool {
		n := 0
		for p < len(s) && s[p] >= '0' && s[p] <= '9' {
			p++
			n++
		}
		return n >= minD && n <= maxD
	}
	if !part(1, 2) || p >= len(s) {
		return false
	}
	sep := s[p]
	if sep != '/' && sep != '.' && sep != '-' {
		return false
	}
	p++
	if !part(1, 2) || p >= len(s) || s[p] != sep {
		return false
	}
	p++
	return part(2, 4)
}

// epochMillis converts a numeric timestamp to Unix milliseconds, picking its
// unit by magnitude. Fractions below a millisecond are dropped (floor).
func (e *Engine) epochMillis(dec *decimal) (int64, string, string) {
	// Integer part's magnitude, saturated.
	intLen := dec.sig + dec.exp
	var mag int64
	if intLen > 18 {
		mag = 1<<63 - 1
	} else {
		for k := 0; k < intLen; k++ {
			d := int64(0)
			if k < dec.n {
				d = int64(dec.digits[k] - '0')
			}
			mag = mag*10 + d
		}
	}
	var shift int // value × 10^shift = milliseconds
	switch {
	case mag < e.epoch.SecondsBelow:
		shift = 3
	case mag < e.epoch.MillisBelow:
		shift = 0
	case mag < e.epoch.MicrosBelow:
		shift = -3
	default:
		shift = -6
	}
	exp := dec.exp + shift
	if dec.sig+exp > 18 {
		return 0, CodeTimestampOutOfRange, "numeric timestamp out of range"
	}
	var ms int64
	keep := dec.sig + exp // digits that stay left of the decimal point
	dropped := false
	for k := 0; k < dec.n; k++ {
		if k < keep {
			ms = ms*10 + int64(dec.digits[k]-'0')
		} else if dec.digits[k] != '0' {
			dropped = true
		}
	}
	for k := dec.n; k < keep; k++ {
		ms *= 10
	}
	if dec.neg {
		ms = -ms
		if dropped {
			ms-- // floor, so every instant maps to the millisecond that contains it
		}
	}
	return ms, "", ""
}
