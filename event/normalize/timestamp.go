package normalize

import (
	"time"
)

// isoStatus tells whether text had the built-in ISO 8601 shape and, if so,
// whether its values were valid.
type isoStatus uint8

const (
	isoNoMatch   isoStatus = iota // other shape: try configured layouts
	isoInvalid                    // ISO shape, impossible value: reject
	isoAmbiguous                  // ISO shape, local time repeated by a DST change: reject
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
	secs := daysFromCivil(year, month, day)*86400 + int64(hour*3600+minute*60+sec)
	if zoned || loc == time.UTC {
		return (secs-int64(offset))*1000 + int64(nsec/1_000_000), isoOK, ""
	}
	u, err := localToUnix(secs, loc)
	if err != nil {
		if err.code == CodeTimestampAmbiguous {
			return 0, isoAmbiguous, err.msg
		}
		return 0, isoInvalid, err.msg
	}
	return u*1000 + int64(nsec/1_000_000), isoOK, ""
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

// epochMillis converts a numeric timestamp to Unix milliseconds, picking its
// unit by magnitude. Fractions below a millisecond are dropped (floor).
func (e *Engine) epochMillis(dec *decimal) (int64, tsRule, string, string) {
	mag := dec.magnitude()
	var shift int // value × 10^shift = milliseconds
	var rule tsRule
	switch {
	case mag < e.epoch.SecondsBelow:
		shift, rule = 3, ruleEpochSeconds
	case mag < e.epoch.MillisBelow:
		shift, rule = 0, ruleEpochMillis
	case mag < e.epoch.MicrosBelow:
		shift, rule = -3, ruleEpochMicros
	default:
		shift, rule = -6, ruleEpochNanos
	}
	exp := dec.exp + shift
	if dec.sig+exp > 18 {
		return 0, rule, CodeTimestampOutOfRange, "numeric timestamp out of range"
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
	return ms, rule, "", ""
}

// magnitude is the integer part of |dec|, saturated at the int64 maximum.
func (dec *decimal) magnitude() int64 {
	intLen := dec.sig + dec.exp
	if intLen > 18 {
		return 1<<63 - 1
	}
	var mag int64
	for k := 0; k < intLen; k++ {
		d := int64(0)
		if k < dec.n {
			d = int64(dec.digits[k] - '0')
		}
		mag = mag*10 + d
	}
	return mag
}

// tsRule names the rule that read a timestamp, for --explain.
type tsRule uint8

const (
	ruleNone tsRule = iota
	ruleEpochSeconds
	ruleEpochMillis
	ruleEpochMicros
	ruleEpochNanos
	ruleCompactDate     // 8 digits: yyyymmdd
	ruleCompactDateTime // 14 digits: yyyymmddhhmmss
	ruleISO
	ruleLayout
	ruleText
)

var tsRuleNames = [...]string{"", "epoch seconds", "epoch milliseconds", "epoch microseconds", "epoch nanoseconds",
	"compact yyyymmdd", "compact yyyymmddhhmmss", "ISO 8601 / RFC 3339", "configured layout", "text reader"}

func (r tsRule) String() string { return tsRuleNames[r] }

// tsResult is a read timestamp and how it was read.
type tsResult struct {
	ms     int64
	rule   tsRule
	layout int16 // ruleLayout: index into timestamp.layouts
	flags  tsFlags
}

// timestamp reads a timestamp value as Unix milliseconds.
func (e *Engine) timestamp(d *doc, n int32, env *textEnv, sc *textScratch) (tsResult, string, string) {
	var r tsResult
	switch d.nodes[n].kind {
	case jNumber:
		var code, msg string
		if r, code, msg = e.numericTimestamp(d.text(n), env); code != "" {
			return r, code, msg
		}
	case jString:
		s := trimSpace(d.text(n))
		if len(s) == 0 {
			return r, CodeTimestampUnparseable, "timestamp is empty"
		}
		if isEpochText(s) {
			var code, msg string
			if r, code, msg = e.numericTimestamp(s, env); code != "" {
				return r, code, msg
			}
			break
		}
		ms, status, msg := parseISO(s, env.loc)
		switch status {
		case isoOK:
			r = tsResult{ms: ms, rule: ruleISO}
		case isoInvalid:
			return r, CodeTimestampUnparseable, "timestamp is not a valid date: " + msg
		case isoAmbiguous:
			return r, CodeTimestampAmbiguous, msg
		case isoNoMatch:
			ok := false
			for i, layout := range e.layouts {
				if t, err := time.ParseInLocation(layout, string(s), env.loc); err == nil {
					if y := t.Year(); y < 0 || y > 9999 {
						return r, CodeTimestampOutOfRange, "timestamp is out of range"
					}
					r, ok = tsResult{ms: t.UnixMilli(), rule: ruleLayout, layout: int16(i)}, true
					break
				}
			}
			if !ok {
				ms, flags, err := parseText(s, env, sc)
				r = tsResult{ms: ms, rule: ruleText, flags: flags}
				if err != nil {
					return r, err.code, err.msg
				}
			}
		}
	default:
		return r, CodeTimestampUnparseable, "timestamp must be a string or a number, got " + d.nodes[n].kind.String()
	}
	if r.ms < e.minMs || r.ms >= e.maxMs {
		return r, CodeTimestampOutOfRange, "timestamp is outside the accepted range"
	}
	return r, "", ""
}

// numericTimestamp reads a JSON number or a string that is a plain number.
// Digit strings that could be dates follow the rule in the package doc:
// 8 digits are yyyymmdd, 14 digits yyyymmddhhmmss (when valid), 12 digits
// that spell yyyymmddhhmm are ambiguous, and any other value from 1,000 to
// 99,999,999 is ambiguous (a year, a compact date, or seconds in 1970–73).
func (e *Engine) numericTimestamp(raw []byte, env *textEnv) (tsResult, string, string) {
	var r tsResult
	neg := false
	if raw[0] == '-' || raw[0] == '+' {
		neg, raw = raw[0] == '-', raw[1:]
	}
	if !neg && allDigits(raw) {
		switch len(raw) {
		case 8:
			v := atoiDigits(raw)
			y, m, d := int(v/10000), int(v/100%100), int(v%100)
			if m < 1 || m > 12 || d < 1 || d > daysIn(m, y) {
				return r, CodeTimestampUnparseable, "an 8-digit number is read as yyyymmdd, and this is not a valid date"
			}
			secs, err := localToUnix(daysFromCivil(y, m, d)*86400, env.loc)
			if err != nil {
				return r, err.code, err.msg
			}
			r = tsResult{ms: secs * 1000, rule: ruleCompactDate}
			if r.ms < e.minMs || r.ms >= e.maxMs {
				return r, CodeTimestampOutOfRange, "timestamp is outside the accepted range"
			}
			return r, "", ""
		case 12:
			v := atoiDigits(raw)
			y, mo, d, h, mi := int(v/100000000), int(v/1000000%100), int(v/10000%100), int(v/100%100), int(v%100)
			if y >= 1900 && y <= 2099 && mo >= 1 && mo <= 12 && d >= 1 && d <= daysIn(mo, y) && h <= 23 && mi <= 59 {
				return r, CodeTimestampAmbiguous, "a 12-digit number that spells yyyymmddhhmm is also an epoch in milliseconds (1976); send an ISO 8601 date"
			}
		case 14:
			v := atoiDigits(raw)
			y, mo, d := int(v/10000000000), int(v/100000000%100), int(v/1000000%100)
			h, mi, sec := int(v/10000%100), int(v/100%100), int(v%100)
			if mo >= 1 && mo <= 12 && d >= 1 && d <= daysIn(mo, y) && h <= 23 && mi <= 59 && sec <= 59 {
				secs, err := localToUnix(daysFromCivil(y, mo, d)*86400+int64(h*3600+mi*60+sec), env.loc)
				if err != nil {
					return r, err.code, err.msg
				}
				r = tsResult{ms: secs * 1000, rule: ruleCompactDateTime}
				if r.ms < e.minMs || r.ms >= e.maxMs {
					return r, CodeTimestampOutOfRange, "timestamp is outside the accepted range"
				}
				return r, "", ""
			}
		}
	}
	var dec decimal
	dec.neg = neg
	if !scanDecimal(raw, false, &dec) {
		return r, CodeTimestampUnparseable, "numeric timestamp is malformed"
	}
	if mag := dec.magnitude(); !neg && mag >= 1000 && mag < 100_000_000 {
		return r, CodeTimestampAmbiguous, "a number from 1000 to 99999999 may be a year, a compact date or an epoch in 1970-1973; send an ISO 8601 date or a full epoch"
	}
	ms, rule, code, msg := e.epochMillis(&dec)
	r = tsResult{ms: ms, rule: rule}
	if code != "" {
		return r, code, msg
	}
	if r.ms < e.minMs || r.ms >= e.maxMs {
		return r, CodeTimestampOutOfRange, "timestamp is outside the accepted range"
	}
	return r, "", ""
}

// atoiDigits reads at most 18 ASCII digits.
func atoiDigits(b []byte) int64 {
	var v int64
	for _, c := range b {
		v = v*10 + int64(c-'0')
	}
	return v
}
