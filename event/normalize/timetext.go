package normalize

import (
	"strings"
	"time"
	"unicode/utf8"
)

// This file reads timestamps written for people: RFC 1123/2822/850 and HTTP
// dates, ANSI C and Unix date, Go, JavaScript and Java default strings,
// month names, 12-hour clocks, numeric dates with a day/month order rule,
// ISO week and ordinal dates, EXIF and dotted dates, Apache/nginx log times,
// CJK dates, zone offsets, abbreviations and IANA names. The rules are in the
// package doc ("Timestamps"). The reader tokenizes once and fills date, time
// and zone slots; every slot may be filled once, every token must be used,
// and any doubt ends in a rejection, never in a guess.

// maxTextTimestamp bounds the text the reader looks at (a JavaScript
// Date.toString() with a long zone comment is about 80 bytes).
const maxTextTimestamp = 160

type tkind uint8

const (
	tNum   tkind = iota + 1
	tWord        // ASCII letters
	tSep         // one ASCII punctuation byte, in token.c
	tSpace       // a run of white space
	tMark        // a CJK marker, in token.c
	tZone        // an IANA name such as Europe/Paris
)

// CJK markers.
const (
	mkYear byte = iota + 1
	mkMonth
	mkDay
	mkHour
	mkMinute
	mkSecond
	mkAM
	mkPM
	mkWeekday // 星期 or 周: the weekday character that follows is skipped
)

var cjkMarks = []struct {
	s string
	m byte
}{
	{"年", mkYear}, {"月", mkMonth}, {"日", mkDay}, {"号", mkDay},
	{"時", mkHour}, {"时", mkHour}, {"点", mkHour}, {"點", mkHour},
	{"分", mkMinute}, {"秒", mkSecond},
	{"午前", mkAM}, {"上午", mkAM}, {"午後", mkPM}, {"下午", mkPM},
	{"년", mkYear}, {"월", mkMonth}, {"일", mkDay}, {"시", mkHour}, {"분", mkMinute}, {"초", mkSecond},
	{"오전", mkAM}, {"오후", mkPM},
	{"星期", mkWeekday}, {"周", mkWeekday},
}

type token struct {
	kind       tkind
	c          byte  // tSep: the byte; tMark: the marker
	n          uint8 // tNum: digit count
	start, end uint8 // byte span in the normalized text
	val        int64 // tNum: value of the first 18 digits
}

// Flags record how a timestamp was read, for --explain.
type tsFlags uint32

const (
	tfMonthName tsFlags = 1 << iota
	tfWeekday
	tfNumericDate
	tfOrderFromProfile
	tfTwoDigitYear
	tfWeekDate
	tfOrdinalDate
	tfCompact
	tfCJK
	tfClock12
	tfOffset
	tfAbbrev
	tfIANA
	tfComment
	tfMonotonic
	tfLogTime
	tfColonDate
	tfLeapSecond
)

var tsFlagNames = []string{"month name", "weekday checked", "numeric date", "day/month order from the profile",
	"two-digit year (pivot 69)", "ISO week date", "ISO ordinal date", "compact digits", "CJK date",
	"12-hour clock", "numeric offset", "zone abbreviation", "IANA zone", "comment ignored",
	"Go monotonic clock reading ignored", "log time (day/Mon/year:time)", "colon-separated date",
	"leap second"}

func (f tsFlags) String() string {
	var b strings.Builder
	for i, name := range tsFlagNames {
		if f&(1<<i) != 0 {
			if b.Len() > 0 {
				b.WriteString(", ")
			}
			b.WriteString(name)
		}
	}
	return b.String()
}

// Date orders for numeric dates whose parts could be read two ways.
const (
	orderNone uint8 = iota
	orderDMY
	orderMDY
	orderYMD
)

// textEnv is what the reader needs from the engine and the source's profile.
type textEnv struct {
	loc    *time.Location
	order  uint8
	abbrev map[string]zoneSpec // upper-case abbreviation → spec (config and profile); before the built-in table
	zones  *zoneCache
}

// textTime collects the slots a timestamp text fills.
type textTime struct {
	year, month, day           int
	yearSet, monthSet, daySet  bool
	hour, minute, second, nsec int
	hasTime                    bool
	ampm                       byte // 0, mkAM or mkPM
	weekday                    int  // -1 unset, else 0 = Sunday
	offset                     int  // seconds east of UTC, when hasOffset
	hasOffset                  bool
	loc                        *time.Location
	abbrev                     zoneSpec
	hasAbbrev                  bool
	abbrevName                 [5]byte
	abbrevLen                  uint8
	ambiguous                  bool  // a numeric date with two readings
	commentFrom, commentTo     uint8 // a comment's text, when it holds letters
	flags                      tsFlags
	loose                      [4]looseNum
	nLoose                     int
	monthTok                   int // token index of a month name, -1 none
}

// looseNum is a number standing alone beside a month name: a day or a year.
type looseNum struct {
	val  int64
	n    uint8
	kind uint8 // looseAny, looseDay (1st, 2nd) or looseYear ('70)
}

const (
	looseAny uint8 = iota
	looseDay
	looseYear
)

type textErr struct{ code, msg string }

func unparseable(msg string) *textErr { return &textErr{CodeTimestampUnparseable, msg} }

var errUnrecognized = &textErr{CodeTimestampUnparseable, "timestamp is not in a recognized format"}

// normalizeText copies s into buf with full-width digits, colon and space
// made ASCII. It returns nil if s is too long. (It writes by index, not
// append, so the buffer stays on the caller's stack.)
func normalizeText(s []byte, buf *[maxTextTimestamp]byte) []byte {
	n := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if n == maxTextTimestamp {
				return nil
			}
			buf[n] = c
			n++
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		var repl byte
		switch {
		case r >= '０' && r <= '９':
			repl = byte('0' + r - '０')
		case r == '：':
			repl = ':'
		case r == '\u3000':
			repl = ' '
		}
		if repl != 0 {
			if n == maxTextTimestamp {
				return nil
			}
			buf[n] = repl
			n++
		} else {
			if n+size > maxTextTimestamp {
				return nil
			}
			n += copy(buf[n:], s[i:i+size])
		}
		i += size
	}
	return buf[:n]
}

func isLetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

const maxTokens = 48

// tokenize splits s into toks and returns their count; it returns -1 when
// there are too many tokens or a byte no rule reads. Non-ASCII text that is
// not a CJK marker becomes a tMark with c == 0, which only a comment may hold.
func tokenize(s []byte, toks *[maxTokens]token) int {
	n := 0
	for i := 0; i < len(s); {
		if n == maxTokens {
			return -1
		}
		c := s[i]
		start := i
		switch {
		case isDigit(c):
			var v int64
			for i < len(s) && isDigit(s[i]) {
				if i-start < 18 {
					v = v*10 + int64(s[i]-'0')
				}
				i++
			}
			toks[n] = token{kind: tNum, n: uint8(min(i-start, 255)), start: uint8(start), end: uint8(i), val: v}
		case isLetter(c):
			for i < len(s) && isLetter(s[i]) {
				i++
			}
			toks[n] = token{kind: tWord, start: uint8(start), end: uint8(i)}
			// An IANA name: Area/Location[/More], with _ - + and digits inside.
			if c >= 'A' && c <= 'Z' && i+1 < len(s) && s[i] == '/' && isLetter(s[i+1]) {
				for i < len(s) && (isLetter(s[i]) || isDigit(s[i]) || s[i] == '_' || s[i] == '/' || s[i] == '-' || s[i] == '+') {
					i++
				}
				toks[n] = token{kind: tZone, start: uint8(start), end: uint8(i)}
			}
		case c == ' ' || c == '\t':
			for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
				i++
			}
			toks[n] = token{kind: tSpace, start: uint8(start), end: uint8(i)}
		case c < utf8.RuneSelf:
			switch c {
			case ',', '.', '/', '-', ':', '+', '(', ')', '[', ']', '=', '\'':
			default:
				return -1
			}
			i++
			toks[n] = token{kind: tSep, c: c, start: uint8(start), end: uint8(i)}
		default:
			m := byte(0)
			for _, cm := range cjkMarks {
				if len(s)-i >= len(cm.s) && string(s[i:i+len(cm.s)]) == cm.s {
					m = cm.m
					i += len(cm.s)
					break
				}
			}
			if m == 0 {
				_, size := utf8.DecodeRune(s[i:])
				i += size
			}
			toks[n] = token{kind: tMark, c: m, start: uint8(start), end: uint8(i)}
		}
		n++
	}
	return n
}

var monthNames = [...]string{"january", "february", "march", "april", "may", "june", "july", "august",
	"september", "october", "november", "december"}
var weekdayNames = [...]string{"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}

// lookupName matches w case-insensitively against full names or their
// first three letters; it also knows "sept", "tues", "weds", "thur(s)".
func lookupName(w []byte, names []string, extra map[string]int) int {
	if len(w) < 3 || len(w) > 9 {
		return -1
	}
	var low [9]byte
	for i, c := range w {
		low[i] = c | 0x20
	}
	lw := string(low[:len(w)])
	for i, n := range names {
		if lw == n || len(lw) == 3 && n[:3] == lw {
			return i
		}
	}
	if v, ok := extra[lw]; ok {
		return v
	}
	return -1
}

var monthExtra = map[string]int{"sept": 8}
var weekdayExtra = map[string]int{"tues": 2, "weds": 3, "thur": 4, "thurs": 4}

func wordIs(w []byte, s string) bool {
	if len(w) != len(s) {
		return false
	}
	for i := range w {
		if w[i]|0x20 != s[i] {
			return false
		}
	}
	return true
}

// parseText reads a timestamp written for people. It returns the instant
// in Unix milliseconds and how it was read, or why it cannot be read.
func parseText(raw []byte, env *textEnv, sc *textScratch) (int64, tsFlags, *textErr) {
	s := normalizeText(raw, &sc.buf)
	if s == nil {
		return 0, 0, unparseable("timestamp text is longer than 160 bytes")
	}
	n := tokenize(s, &sc.toks)
	if n < 0 {
		return 0, 0, errUnrecognized
	}
	p := textParser{s: s, toks: sc.toks[:n], env: env}
	p.t.weekday = -1
	p.t.monthTok = -1
	if err := p.run(); err != nil {
		return 0, p.t.flags, err
	}
	ms, err := p.finish()
	return ms, p.t.flags, err
}

// textScratch is the reader's working memory, kept in the engine's pooled
// per-call state so that reading allocates nothing.
type textScratch struct {
	buf  [maxTextTimestamp]byte
	toks [maxTokens]token
}

type textParser struct {
	s    []byte
	toks []token
	i    int
	env  *textEnv
	t    textTime
	// afterGMT: the previous token was GMT/UTC/UT, so a one-digit offset
	// hour (GMT+1) is allowed.
	afterGMT bool
}

func (p *textParser) tok(i int) token {
	if i >= 0 && i < len(p.toks) {
		return p.toks[i]
	}
	return token{}
}

func (p *textParser) text(t token) []byte { return p.s[t.start:t.end] }

func (p *textParser) isSep(i int, c byte) bool {
	t := p.tok(i)
	return t.kind == tSep && t.c == c
}

// skipSpace returns the index of the first non-space token at or after i.
func (p *textParser) skipSpace(i int) int {
	for i < len(p.toks) && p.toks[i].kind == tSpace {
		i++
	}
	return i
}

func (p *textParser) dateSet() bool { return p.t.yearSet || p.t.monthSet || p.t.daySet }

func (p *textParser) run() *textErr {
	for p.i < len(p.toks) {
		t := p.toks[p.i]
		gmt := false
		var err *textErr
		switch t.kind {
		case tSpace:
			p.i++
			continue
		case tSep:
			err = p.sep(t)
		case tWord:
			gmt, err = p.word(t)
		case tNum:
			err = p.number()
		case tMark:
			err = p.mark(t)
		case tZone:
			p.i++
			err = p.setLocation(p.text(t))
		}
		if err != nil {
			return err
		}
		p.afterGMT = gmt
	}
	return nil
}

func (p *textParser) sep(t token) *textErr {
	switch t.c {
	case ',':
		p.i++
		return nil
	case '(':
		return p.comment()
	case '[':
		// A bracketed IANA zone (Java's ZonedDateTime), or a log line's brackets.
		if z := p.tok(p.i + 1); z.kind == tZone && p.isSep(p.i+2, ']') {
			p.i += 3
			return p.setLocation(p.text(z))
		}
		if last := p.toks[len(p.toks)-1]; p.i == 0 && last.kind == tSep && last.c == ']' {
			p.toks = p.toks[:len(p.toks)-1]
			p.i++
			return nil
		}
	case '+', '-':
		// After a time, after GMT/UTC, or right after a date (XML Schema's
		// 2020-07-20+08:00).
		if p.t.hasTime || p.afterGMT || p.t.daySet && p.tok(p.i-1).kind == tNum {
			return p.offset()
		}
	case '\'':
		// An abbreviated year: '70.
		if y := p.tok(p.i + 1); y.kind == tNum && y.n == 2 && p.t.monthTok >= 0 {
			p.i += 2
			return p.addLoose(y, looseYear)
		}
	}
	return unparseable("unexpected '" + string(t.c) + "' in timestamp")
}

// comment skips a parenthesized comment (RFC 2822 "(CET)", JavaScript's
// "(Central European Standard Time)", a Japanese weekday "(火)"). A comment
// that holds letters may name the zone when the text has none; finish
// decides.
func (p *textParser) comment() *textErr {
	for j := p.i + 1; j < len(p.toks); j++ {
		if p.toks[j].kind == tSep && p.toks[j].c == ')' {
			from, to := p.toks[p.i].end, p.toks[j].start
			for _, c := range p.s[from:to] {
				if isLetter(c) {
					p.t.commentFrom, p.t.commentTo = from, to
					break
				}
			}
			p.t.flags |= tfComment
			p.i = j + 1
			return nil
		}
	}
	return unparseable("unclosed '(' in timestamp")
}

// word handles a run of letters. It reports whether the word was GMT/UTC/UT.
func (p *textParser) word(t token) (bool, *textErr) {
	w := p.text(t)
	p.i++
	switch {
	case wordIs(w, "t"):
		// Date/time separator, also in basic ISO (20240102T150405).
		if !p.dateSet() || p.t.hasTime {
			return false, errUnrecognized
		}
		if n := p.tok(p.i); n.kind == tNum && (n.n == 4 || n.n == 6) && !p.isSep(p.i+1, ':') {
			return false, p.compactTime(n)
		}
		return false, nil
	case wordIs(w, "z"):
		return false, p.setOffset(0, tfOffset)
	case wordIs(w, "utc"), wordIs(w, "gmt"), wordIs(w, "ut"):
		if n := p.tok(p.i); n.kind == tSep && (n.c == '+' || n.c == '-') {
			return true, nil // the offset follows: GMT+0100
		}
		return true, p.setOffset(0, tfOffset)
	case wordIs(w, "am"), wordIs(w, "pm"):
		return false, p.setAMPM(w[0]|0x20 == 'p')
	case wordIs(w, "a"), wordIs(w, "p"):
		// a.m. / p.m.
		if p.isSep(p.i, '.') && wordIs(p.text(p.tok(p.i+1)), "m") {
			pm := w[0]|0x20 == 'p'
			p.i += 2
			if p.isSep(p.i, '.') {
				p.i++
			}
			return false, p.setAMPM(pm)
		}
		return false, errUnrecognized
	case wordIs(w, "at"), wordIs(w, "of"):
		return false, nil
	case wordIs(w, "m"):
		// Go's time.String() ends with the monotonic clock: m=+0.000141.
		if p.isSep(p.i, '=') && (p.isSep(p.i+1, '+') || p.isSep(p.i+1, '-')) && p.tok(p.i+2).kind == tNum {
			j := p.i + 3
			if p.isSep(j, '.') && p.tok(j+1).kind == tNum {
				j += 2
			}
			if j == len(p.toks) && p.t.hasTime {
				p.i = j
				p.t.flags |= tfMonotonic
				return false, nil
			}
		}
		return false, errUnrecognized
	}
	if m := lookupName(w, monthNames[:], monthExtra); m >= 0 {
		if p.t.monthSet {
			return false, unparseable("timestamp names two months")
		}
		p.t.month, p.t.monthSet, p.t.monthTok = m+1, true, p.i-1
		p.t.flags |= tfMonthName
		if p.isSep(p.i, '.') {
			p.i++
		}
		return false, nil
	}
	if d := lookupName(w, weekdayNames[:], weekdayExtra); d >= 0 {
		if p.t.weekday >= 0 {
			return false, unparseable("timestamp names two weekdays")
		}
		p.t.weekday = d
		p.t.flags |= tfWeekday
		if p.isSep(p.i, '.') {
			p.i++
		}
		return false, nil
	}
	return false, p.setAbbrev(w)
}

func (p *textParser) setAMPM(pm bool) *textErr {
	if p.t.ampm != 0 {
		return unparseable("timestamp has two AM/PM markers")
	}
	p.t.ampm = mkAM
	if pm {
		p.t.ampm = mkPM
	}
	p.t.flags |= tfClock12
	return nil
}

func (p *textParser) mark(t token) *textErr {
	p.i++
	switch t.c {
	case mkAM, mkPM:
		return p.setAMPM(t.c == mkPM)
	case mkWeekday:
		// 星期二 / 周二: skip the weekday character.
		if n := p.tok(p.i); n.kind == tMark && n.c == 0 || n.kind == tMark && n.c == mkDay {
			p.i++
			return nil
		}
	}
	return errUnrecognized
}

// offset reads ±hh, ±hhmm or ±hh:mm at p.i (and ±h after GMT/UTC).
func (p *textParser) offset() *textErr {
	neg := p.toks[p.i].c == '-'
	n := p.tok(p.i + 1)
	if n.kind != tNum {
		return errUnrecognized
	}
	p.i += 2
	var h, m int
	switch {
	case n.n == 4:
		h, m = int(n.val/100), int(n.val%100)
	case n.n == 2 || n.n == 1 && p.afterGMT:
		h = int(n.val)
		if p.isSep(p.i, ':') {
			mm := p.tok(p.i + 1)
			if mm.kind != tNum || mm.n != 2 {
				return errUnrecognized
			}
			m = int(mm.val)
			p.i += 2
		}
	default:
		return errUnrecognized
	}
	if h > 23 || m > 59 {
		return unparseable("time zone offset out of range (at most ±23:59)")
	}
	off := h*3600 + m*60
	if neg {
		off = -off
	}
	return p.setOffset(off, tfOffset)
}

func (p *textParser) setOffset(off int, flag tsFlags) *textErr {
	if p.t.hasOffset {
		if p.t.offset != off {
			return unparseable("timestamp has two different offsets")
		}
		return nil
	}
	p.t.hasOffset, p.t.offset = true, off
	p.t.flags |= flag
	return nil
}

// setAbbrev reads a zone abbreviation (CET, PST). The profile's and the
// config's abbreviations come first, then the built-in table.
func (p *textParser) setAbbrev(w []byte) *textErr {
	if len(w) < 2 || len(w) > 5 {
		return errUnrecognized
	}
	var up [5]byte
	for i, c := range w {
		up[i] = c &^ 0x20
	}
	spec, ok := p.env.abbrev[string(up[:len(w)])]
	if !ok {
		if spec, ok = builtinAbbrev[string(up[:len(w)])]; !ok {
			return errUnrecognized
		}
	}
	if p.t.hasAbbrev {
		return unparseable("timestamp names two zones")
	}
	p.t.abbrev, p.t.hasAbbrev, p.t.abbrevName, p.t.abbrevLen = spec, true, up, uint8(len(w))
	p.t.flags |= tfAbbrev
	return nil
}

func (p *textParser) setLocation(name []byte) *textErr {
	if p.t.loc != nil {
		return unparseable("timestamp names two zones")
	}
	loc := p.env.zones.load(name)
	if loc == nil {
		return unparseable("unknown time zone " + string(name))
	}
	p.t.loc = loc
	p.t.flags |= tfIANA
	return nil
}

// number handles everything that starts with digits.
func (p *textParser) number() *textErr {
	i := p.i
	t := p.toks[i]
	n1 := p.tok(i + 1)
	// CJK: 2024年, 1月, 2日, 15時, 04分, 05秒.
	if n1.kind == tMark && n1.c >= mkYear && n1.c <= mkSecond {
		p.i += 2
		p.t.flags |= tfCJK
		return p.setCJK(n1.c, t)
	}
	if n1.kind == tSep {
		switch n1.c {
		case ':':
			return p.colonChain()
		case '/', '-', '.':
			if done, err := p.dateWithSeparators(); done || err != nil {
				return err
			}
		}
	}
	if n1.kind == tWord {
		w := p.text(n1)
		switch {
		case wordIs(w, "st") || wordIs(w, "nd") || wordIs(w, "rd") || wordIs(w, "th"):
			p.i += 2
			return p.addLoose(t, looseDay)
		case wordIs(w, "w") && t.n == 4:
			p.i += 2
			return p.weekDate(t, false)
		case wordIs(w, "t") && t.n == 8:
			p.i++
			return p.compactDate(t)
		}
	}
	// 8 digits alone in text: yyyymmdd.
	if t.n == 8 && !p.dateSet() {
		p.i++
		return p.compactDate(t)
	}
	// An hour alone before AM/PM: "11 PM", "3pm".
	if j := p.skipSpace(i + 1); t.n <= 2 && !p.t.hasTime {
		if w := p.tok(j); w.kind == tWord && (wordIs(p.text(w), "am") || wordIs(p.text(w), "pm") || wordIs(p.text(w), "a") || wordIs(p.text(w), "p")) {
			p.i++
			p.t.hour, p.t.hasTime = int(t.val), true
			return nil
		}
		if w := p.tok(j); w.kind == tMark && (w.c == mkAM || w.c == mkPM) {
			return errUnrecognized
		}
	}
	if t.n == 6 && !p.dateSet() {
		return &textErr{CodeTimestampAmbiguous, "a 6-digit date (yymmdd, ddmmyy or mmddyy) has several readings"}
	}
	p.i++
	return p.addLoose(t, looseAny)
}

func (p *textParser) addLoose(t token, kind uint8) *textErr {
	if p.t.nLoose == len(p.t.loose) || t.n > 4 || t.n == 3 {
		return errUnrecognized
	}
	p.t.loose[p.t.nLoose] = looseNum{val: t.val, n: t.n, kind: kind}
	p.t.nLoose++
	return nil
}

func (p *textParser) setCJK(m byte, t token) *textErr {
	v := int(t.val)
	switch m {
	case mkYear:
		if t.n != 4 || p.t.yearSet {
			return errUnrecognized
		}
		p.t.year, p.t.yearSet = v, true
	case mkMonth:
		if t.n > 2 || p.t.monthSet {
			return errUnrecognized
		}
		p.t.month, p.t.monthSet = v, true
	case mkDay:
		if t.n > 2 || p.t.daySet {
			return errUnrecognized
		}
		p.t.day, p.t.daySet = v, true
	case mkHour:
		if t.n > 2 || p.t.hasTime {
			return errUnrecognized
		}
		p.t.hour, p.t.hasTime = v, true
	case mkMinute:
		if t.n > 2 || !p.t.hasTime || p.t.minute != 0 {
			return errUnrecognized
		}
		p.t.minute = v
	case mkSecond:
		if t.n > 2 || !p.t.hasTime || p.t.second != 0 {
			return errUnrecognized
		}
		p.t.second = v
	}
	return nil
}

// colonChain reads n:n[:n[:n]] at p.i: a time (15:04[:05[.999]]), a
// year glued to the time in log lines (10/Oct/2000:13:55:36), or an EXIF
// date (2024:01:02).
func (p *textParser) colonChain() *textErr {
	var parts [4]token
	k := 0
	j := p.i
	for {
		t := p.tok(j)
		if t.kind != tNum || k == len(parts) {
			return errUnrecognized
		}
		parts[k] = t
		k++
		j++
		if !p.isSep(j, ':') || p.tok(j+1).kind != tNum {
			break
		}
		j++
	}
	if parts[0].n == 4 {
		if k == 3 && !p.dateSet() && parts[1].n <= 2 && parts[2].n <= 2 {
			p.i = j
			p.t.flags |= tfColonDate
			return p.setYMD(int(parts[0].val), int(parts[1].val), int(parts[2].val))
		}
		return errUnrecognized
	}
	p.i = j
	if k == 4 && parts[3].n == 3 {
		// hh:mm:ss:fff, milliseconds after a colon (some loggers).
		if err := p.setTime(parts[:3]); err != nil {
			return err
		}
		p.t.nsec = int(parts[3].val) * 1_000_000
		return nil
	}
	return p.setTime(parts[:k])
}

// setTime takes h:mm[:ss] parts and an optional fraction at p.i.
func (p *textParser) setTime(parts []token) *textErr {
	if p.t.hasTime || len(parts) < 2 || len(parts) > 3 || parts[0].n > 2 || parts[1].n != 2 || len(parts) == 3 && parts[2].n != 2 {
		return errUnrecognized
	}
	p.t.hour, p.t.minute, p.t.hasTime = int(parts[0].val), int(parts[1].val), true
	if len(parts) == 3 {
		p.t.second = int(parts[2].val)
		return p.fraction()
	}
	return nil
}

// fraction reads .ddd or ,ddd after seconds; more than 9 digits are refused.
func (p *textParser) fraction() *textErr {
	if !(p.isSep(p.i, '.') || p.isSep(p.i, ',')) || p.tok(p.i+1).kind != tNum {
		return nil
	}
	f := p.toks[p.i+1]
	if f.n > 9 {
		return unparseable("fraction of a second has more than 9 digits")
	}
	ns := 0
	for _, c := range p.s[f.start:f.end] {
		ns = ns*10 + int(c-'0')
	}
	for k := f.n; k < 9; k++ {
		ns *= 10
	}
	p.t.nsec = ns
	p.i += 2
	return nil
}

func (p *textParser) setYMD(y, m, d int) *textErr {
	if p.dateSet() {
		return unparseable("timestamp holds two dates")
	}
	p.t.year, p.t.month, p.t.day = y, m, d
	p.t.yearSet, p.t.monthSet, p.t.daySet = true, true, true
	return nil
}

// dateWithSeparators reads n/n/n, n-Mon-n, yyyy-Www-d, yyyy-ddd at p.i.
// It returns done=false when the tokens are no such date.
func (p *textParser) dateWithSeparators() (bool, *textErr) {
	i := p.i
	a := p.toks[i]
	sep := p.toks[i+1].c
	b := p.tok(i + 2)
	// yyyy-Www-d
	if a.n == 4 && sep == '-' && b.kind == tWord && wordIs(p.text(b), "w") {
		p.i = i + 3
		return true, p.weekDate(a, true)
	}
	// yyyy-ddd (ordinal)
	if a.n == 4 && sep == '-' && b.kind == tNum && b.n == 3 && !p.isSep(i+3, '-') {
		p.i = i + 3
		return true, p.ordinalDate(a, b)
	}
	// dd-Mon-yyyy, dd/Mon/yyyy, yyyy-Mon-dd
	if b.kind == tWord && p.isSep(i+3, sep) && p.tok(i+4).kind == tNum {
		m := lookupName(p.text(b), monthNames[:], monthExtra)
		c := p.toks[i+4]
		if m < 0 || p.dateSet() {
			return true, errUnrecognized
		}
		p.i = i + 5
		p.t.flags |= tfMonthName
		y, d := c, a
		if a.n == 4 {
			y, d = a, c
		}
		if d.n > 2 || y.n != 4 && y.n != 2 {
			return true, errUnrecognized
		}
		year := int(y.val)
		if y.n == 2 {
			year = pivotYear(year)
			p.t.flags |= tfTwoDigitYear
		}
		if err := p.setYMD(year, m+1, int(d.val)); err != nil {
			return true, err
		}
		// Apache/nginx: 10/Oct/2000:13:55:36
		if y == c && y.n == 4 && p.isSep(p.i, ':') && p.tok(p.i+1).kind == tNum {
			p.i++
			p.t.flags |= tfLogTime
			return true, p.colonChain()
		}
		return true, nil
	}
	// n/n/n (the same separator twice; after a dot, spaces may follow: 2024. 1. 2.)
	j := i + 2
	if sep == '.' {
		j = p.skipSpace(j)
	}
	b = p.tok(j)
	if b.kind != tNum || !p.isSep(j+1, sep) {
		return false, nil
	}
	j += 2
	if sep == '.' {
		j = p.skipSpace(j)
	}
	c := p.tok(j)
	if c.kind != tNum {
		return false, nil
	}
	j++
	if sep == '.' && a.n == 4 && p.isSep(j, '.') {
		j++ // 2024. 1. 2.
	}
	p.i = j
	p.t.flags |= tfNumericDate
	return true, p.numericDate(a, b, c)
}

func pivotYear(yy int) int {
	if yy < 69 {
		return 2000 + yy
	}
	return 1900 + yy
}

// numericDate applies the ambiguity rule to three numbers.
func (p *textParser) numericDate(a, b, c token) *textErr {
	if p.dateSet() {
		return unparseable("timestamp holds two dates")
	}
	if a.n == 4 {
		if b.n > 2 || c.n > 2 {
			return errUnrecognized
		}
		return p.setYMD(int(a.val), int(b.val), int(c.val))
	}
	if a.n > 2 || b.n > 2 || c.n != 4 && c.n != 2 {
		return errUnrecognized
	}
	type reading struct {
		order   uint8
		y, m, d int
	}
	var cands [3]reading
	nc := 0
	year := int(c.val)
	if c.n == 2 {
		year = pivotYear(year)
		p.t.flags |= tfTwoDigitYear
	}
	cands[nc] = reading{orderDMY, year, int(b.val), int(a.val)}
	nc++
	cands[nc] = reading{orderMDY, year, int(a.val), int(b.val)}
	nc++
	if c.n == 2 && a.n == 2 {
		cands[nc] = reading{orderYMD, pivotYear(int(a.val)), int(b.val), int(c.val)}
		nc++
	}
	var valid [3]reading
	nv := 0
	for _, r := range cands[:nc] {
		if r.m >= 1 && r.m <= 12 && r.d >= 1 && r.d <= daysIn(r.m, r.y) {
			if r.order == p.env.order {
				p.t.flags |= tfOrderFromProfile
				return p.setYMD(r.y, r.m, r.d)
			}
			valid[nv] = r
			nv++
		}
	}
	if nv == 0 {
		return unparseable("numeric date is not a valid date in any day/month order")
	}
	for _, r := range valid[1:nv] {
		if r.y != valid[0].y || r.m != valid[0].m || r.d != valid[0].d {
			// Two different dates: keep reading (the rest must still make
			// sense), then reject as ambiguous.
			p.t.ambiguous = true
		}
	}
	return p.setYMD(valid[0].y, valid[0].m, valid[0].d)
}

// compactDate reads yyyymmdd.
func (p *textParser) compactDate(t token) *textErr {
	p.t.flags |= tfCompact
	v := int(t.val)
	return p.setYMD(v/10000, v/100%100, v%100)
}

// compactTime reads hhmm or hhmmss (after T) and an optional fraction.
func (p *textParser) compactTime(t token) *textErr {
	p.i++
	v := int(t.val)
	if t.n == 4 {
		p.t.hour, p.t.minute = v/100, v%100
	} else {
		p.t.hour, p.t.minute, p.t.second = v/10000, v/100%100, v%100
	}
	p.t.hasTime = true
	p.t.flags |= tfCompact
	if t.n == 6 {
		return p.fraction()
	}
	return nil
}

// weekDate reads the rest of yyyy-Www-d (dashed) or yyyyWwwd at p.i.
func (p *textParser) weekDate(y token, dashed bool) *textErr {
	w := p.tok(p.i)
	if w.kind != tNum {
		return errUnrecognized
	}
	var week, wd int
	switch {
	case dashed && w.n == 2 && p.isSep(p.i+1, '-') && p.tok(p.i+2).kind == tNum && p.tok(p.i+2).n == 1:
		week, wd = int(w.val), int(p.toks[p.i+2].val)
		p.i += 3
	case !dashed && w.n == 3:
		week, wd = int(w.val/10), int(w.val%10)
		p.i++
	default:
		return unparseable("ISO week date needs a week and a day (2024-W01-2)")
	}
	year := int(y.val)
	jan4 := daysFromCivil(year, 1, 4)
	mon1 := jan4 - int64(isoWeekday(jan4)-1)
	weeks := 52
	if jan1 := isoWeekday(daysFromCivil(year, 1, 1)); jan1 == 4 || jan1 == 3 && daysIn(2, year) == 29 {
		weeks = 53
	}
	if week < 1 || week > weeks || wd < 1 || wd > 7 {
		return unparseable("ISO week date out of range")
	}
	p.t.flags |= tfWeekDate
	yy, mm, dd := civilFromDays(mon1 + int64((week-1)*7+wd-1))
	return p.setYMD(yy, mm, dd)
}

func (p *textParser) ordinalDate(y, d token) *textErr {
	year, day := int(y.val), int(d.val)
	days := 365
	if daysIn(2, year) == 29 {
		days = 366
	}
	if day < 1 || day > days {
		return unparseable("ordinal day out of range")
	}
	p.t.flags |= tfOrdinalDate
	yy, mm, dd := civilFromDays(daysFromCivil(year, 1, 1) + int64(day-1))
	return p.setYMD(yy, mm, dd)
}

// isoWeekday is 1 = Monday .. 7 = Sunday for days since 1970-01-01.
func isoWeekday(days int64) int {
	return int(((days%7)+7+3)%7) + 1
}

// civilFromDays is the inverse of daysFromCivil (H. Hinnant's algorithm).
func civilFromDays(z int64) (int, int, int) {
	z += 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d := doy - (153*mp+2)/5 + 1
	m := mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	return int(y), int(m), int(d)
}

// finish resolves loose numbers, checks every value, applies the clock and
// the zone, and returns Unix milliseconds.
func (p *textParser) finish() (int64, *textErr) {
	t := &p.t
	if err := p.resolveLoose(); err != nil {
		return 0, err
	}
	switch {
	case !t.yearSet && !t.monthSet && !t.daySet:
		return 0, unparseable("timestamp has no date")
	case !t.yearSet:
		return 0, unparseable("timestamp has no year")
	case !t.monthSet:
		return 0, unparseable("timestamp has no month")
	case !t.daySet:
		return 0, unparseable("timestamp has no day")
	case t.month < 1 || t.month > 12:
		return 0, unparseable("month out of range")
	case t.day < 1 || t.day > daysIn(t.month, t.year):
		return 0, unparseable("day out of range for its month")
	}
	if t.ambiguous {
		return 0, &textErr{CodeTimestampAmbiguous, "numeric date can be read day-first or month-first (or year-first); set timestamp.dateOrder for this source"}
	}
	if t.ampm != 0 {
		if !t.hasTime || t.hour < 1 || t.hour > 12 {
			return 0, unparseable("12-hour clock needs an hour from 1 to 12")
		}
		t.hour %= 12
		if t.ampm == mkPM {
			t.hour += 12
		}
	}
	switch {
	case t.hour > 23:
		return 0, unparseable("hour out of range (24:00 is not accepted)")
	case t.minute > 59:
		return 0, unparseable("minute out of range")
	case t.second > 60 || t.second == 60 && t.minute != 59:
		return 0, unparseable("second out of range")
	}
	if t.second == 60 {
		t.second, t.nsec = 59, 999_000_000
		t.flags |= tfLeapSecond
	}
	days := daysFromCivil(t.year, t.month, t.day)
	if t.weekday >= 0 && int(((days%7)+7+4)%7) != t.weekday {
		return 0, unparseable("weekday does not match the date")
	}
	local := days*86400 + int64(t.hour*3600+t.minute*60+t.second)
	msec := int64(t.nsec / 1_000_000)

	// The zone: a numeric offset wins; an abbreviation or IANA name beside
	// it must agree with it.
	if !t.hasAbbrev && t.loc == nil && !t.hasOffset && t.commentTo > 0 {
		if err := p.commentAsZone(); err != nil {
			return 0, err
		}
	}
	if t.hasAbbrev {
		switch a := &t.abbrev; {
		case t.hasOffset:
			if a.zone == "" && !a.ambiguous && a.offset != t.offset {
				return 0, unparseable("zone " + string(t.abbrevName[:t.abbrevLen]) + " contradicts the offset")
			}
		case a.ambiguous:
			return 0, &textErr{CodeTimestampAmbiguous, "zone abbreviation " + string(t.abbrevName[:t.abbrevLen]) + " names more than one zone; set timestamp.zoneAbbreviations for this source"}
		case a.zone != "":
			if t.loc != nil {
				return 0, unparseable("timestamp names two zones")
			}
			if t.loc = p.env.zones.load([]byte(a.zone)); t.loc == nil {
				return 0, unparseable("unknown time zone " + a.zone)
			}
		default:
			t.hasOffset, t.offset = true, a.offset
		}
	}
	if t.hasOffset {
		secs := local - int64(t.offset)
		if t.loc != nil {
			if _, off := time.Unix(secs, 0).In(t.loc).Zone(); off != t.offset {
				return 0, unparseable("offset contradicts the named zone")
			}
		}
		return secs*1000 + msec, nil
	}
	loc := t.loc
	if loc == nil {
		loc = p.env.loc
	}
	secs, err := localToUnix(local, loc)
	if err != nil {
		return 0, err
	}
	return secs*1000 + msec, nil
}

// commentAsZone reads a comment as the zone of a text that has none.
func (p *textParser) commentAsZone() *textErr {
	name := strings.TrimSpace(string(p.s[p.t.commentFrom:p.t.commentTo]))
	if strings.Contains(name, "/") {
		return p.setLocation([]byte(name))
	}
	if err := p.setAbbrev([]byte(name)); err != nil {
		return unparseable("the zone is only in a comment, and " + strings.TrimSpace(name) + " is not a known zone")
	}
	return nil
}

// localToUnix converts seconds of local wall time in loc to Unix seconds.
// A wall time that a DST change skips is refused, and one it repeats is
// ambiguous: neither is guessed.
func localToUnix(local int64, loc *time.Location) (int64, *textErr) {
	if loc == time.UTC {
		return local, nil
	}
	var found [2]int64
	n := 0
	for _, probe := range [...]int64{local - 86400, local + 86400} {
		_, off := time.Unix(probe, 0).In(loc).Zone()
		cand := local - int64(off)
		if _, o2 := time.Unix(cand, 0).In(loc).Zone(); o2 == off && (n == 0 || found[0] != cand) {
			found[n] = cand
			n++
		}
	}
	switch n {
	case 0:
		return 0, unparseable("local time does not exist in " + loc.String() + " (skipped by a daylight-saving change)")
	case 2:
		return 0, &textErr{CodeTimestampAmbiguous, "local time occurs twice in " + loc.String() + " (repeated by a daylight-saving change); send an offset"}
	}
	return found[0], nil
}

// resolveLoose assigns numbers that stood alone beside a month name: a
// number with an ordinal suffix is the day, a four-digit one the year; of
// two short numbers the first is the day and the second a two-digit year.
func (p *textParser) resolveLoose() *textErr {
	t := &p.t
	if t.nLoose == 0 {
		return nil
	}
	if t.monthTok < 0 || t.yearSet && t.daySet {
		return errUnrecognized
	}
	var rest [4]looseNum
	nr := 0
	for _, l := range t.loose[:t.nLoose] {
		switch {
		case l.kind == looseDay:
			if t.daySet || l.n > 2 {
				return errUnrecognized
			}
			t.day, t.daySet = int(l.val), true
		case l.kind == looseYear:
			if t.yearSet {
				return errUnrecognized
			}
			t.year, t.yearSet = pivotYear(int(l.val)), true
			t.flags |= tfTwoDigitYear
		case l.n == 4:
			if t.yearSet {
				return errUnrecognized
			}
			t.year, t.yearSet = int(l.val), true
		default:
			rest[nr] = l
			nr++
		}
	}
	for _, l := range rest[:nr] {
		switch {
		case !t.daySet:
			t.day, t.daySet = int(l.val), true
		case !t.yearSet && l.n == 2:
			t.year, t.yearSet = pivotYear(int(l.val)), true
			t.flags |= tfTwoDigitYear
		default:
			return errUnrecognized
		}
	}
	return nil
}
