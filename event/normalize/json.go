package normalize

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf8"
)

// This file holds a small strict JSON parser. It exists instead of a general
// library because the engine needs, in one allocation-free pass: RFC 8259
// strictness (no NaN, no leading zeros, no control characters in strings),
// the depth limit, duplicate-key detection in every object, lone-surrogate
// detection, and the original text of every number (never a float64).
//
// The parsed document is a flat slice of nodes and members that index into
// the input; it lives in a pooled state and is only valid during one
// Normalize call, so anything returned to the caller is copied.

type jkind uint8

const (
	jNull jkind = iota
	jFalse
	jTrue
	jNumber
	jString
	jObject
	jArray
)

func (k jkind) String() string {
	switch k {
	case jNull:
		return "null"
	case jFalse, jTrue:
		return "a boolean"
	case jNumber:
		return "a number"
	case jString:
		return "a string"
	case jObject:
		return "an object"
	default:
		return "an array"
	}
}

type jnode struct {
	kind jkind
	esc  bool // string holds escape sequences
	ext  bool // string bytes are d.buf[start:end] (added by addString), not input
	// start, end: strings, the bytes between the quotes; numbers, their text.
	start, end int32
	// first, last: objects, the member list (indexes into doc.members).
	first, last int32
}

type jmember struct {
	keyStart, keyEnd int32
	keyDecoded       bool // key bytes live in doc.buf, not doc.data
	val              int32
	next             int32
}

// dupMapThreshold is the member count above which duplicate keys are found
// with a map instead of a linear scan, so huge objects stay O(n).
const dupMapThreshold = 16

type doc struct {
	data    []byte
	pos     int
	nodes   []jnode
	members []jmember
	buf     []byte // decoded (unescaped) keys and strings
	depth   int
	code    string
	msg     string
}

func (d *doc) reset(data []byte, maxDepth int) {
	d.data = data
	d.pos = 0
	d.nodes = d.nodes[:0]
	d.members = d.members[:0]
	d.buf = d.buf[:0]
	d.depth = maxDepth
	d.code, d.msg = "", ""
}

// release drops references to caller memory before the doc goes back to the pool.
func (d *doc) release() { d.data = nil }

func (d *doc) fail(code, msg string) int32 {
	if d.code == "" {
		d.code, d.msg = code, msg
	}
	return -1
}

// parse parses the whole input as one JSON value and returns the root node.
// On failure it returns -1 and d.code/d.msg say why.
func (d *doc) parse() int32 {
	d.skipWS()
	root := d.value(0)
	if root < 0 {
		return -1
	}
	d.skipWS()
	if d.pos != len(d.data) {
		return d.fail(CodeInvalidJSON, "trailing data after the JSON value")
	}
	return root
}

func (d *doc) skipWS() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *doc) newNode(n jnode) int32 {
	d.nodes = append(d.nodes, n)
	return int32(len(d.nodes) - 1)
}

func (d *doc) value(depth int) int32 {
	if d.pos >= len(d.data) {
		return d.fail(CodeInvalidJSON, "unexpected end of JSON input")
	}
	switch c := d.data[d.pos]; {
	case c == '{':
		return d.object(depth + 1)
	case c == '[':
		return d.array(depth + 1)
	case c == '"':
		d.pos++
		start := d.pos
		esc, ok := d.str()
		if !ok {
			return -1
		}
		return d.newNode(jnode{kind: jString, esc: esc, start: int32(start), end: int32(d.pos - 1)})
	case c == 't':
		return d.literal("true", jTrue)
	case c == 'f':
		return d.literal("false", jFalse)
	case c == 'n':
		return d.literal("null", jNull)
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	default:
		return d.fail(CodeInvalidJSON, "invalid character at the start of a JSON value")
	}
}

func (d *doc) literal(word string, k jkind) int32 {
	if len(d.data)-d.pos < len(word) || string(d.data[d.pos:d.pos+len(word)]) != word {
		return d.fail(CodeInvalidJSON, "invalid literal (only true, false and null exist in JSON)")
	}
	d.pos += len(word)
	return d.newNode(jnode{kind: k})
}

// number scans RFC 8259 number syntax: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (d *doc) number() int32 {
	s, i := d.data, d.pos
	start := i
	if s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		return d.fail(CodeInvalidJSON, "invalid number")
	}
	if i < len(s) && s[i] == '.' {
		i++
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == j {
			return d.fail(CodeInvalidJSON, "invalid number: no digits after the decimal point")
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == j {
			return d.fail(CodeInvalidJSON, "invalid number: no digits in the exponent")
		}
	}
	d.pos = i
	return d.newNode(jnode{kind: jNumber, start: int32(start), end: int32(i)})
}

// str scans a string body; d.pos is just past the opening quote and ends just
// past the closing quote. It reports whether the string holds escapes.
func (d *doc) str() (esc, ok bool) {
	s := d.data
	i := d.pos
	for i < len(s) {
		if i = skipPlain(s, i); i >= len(s) {
			break
		}
		c := s[i]
		switch {
		case c == '"':
			d.pos = i + 1
			return esc, true
		case c < 0x20:
			d.fail(CodeInvalidJSON, "control character in a string")
			return false, false
		case c == '\\':
			esc = true
			i++
			if i >= len(s) {
				d.fail(CodeInvalidJSON, "unterminated string")
				return false, false
			}
			switch s[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				r, ok := hex4(s, i+1)
				if !ok {
					d.fail(CodeInvalidJSON, `invalid \u escape`)
					return false, false
				}
				i += 5
				if r >= 0xDC00 && r <= 0xDFFF {
					d.fail(CodeInvalidUTF8, "lone UTF-16 surrogate in a string")
					return false, false
				}
				if r >= 0xD800 && r <= 0xDBFF {
					if i+1 >= len(s) || s[i] != '\\' || s[i+1] != 'u' {
						d.fail(CodeInvalidUTF8, "lone UTF-16 surrogate in a string")
						return false, false
					}
					r2, ok := hex4(s, i+2)
					if !ok || r2 < 0xDC00 || r2 > 0xDFFF {
						d.fail(CodeInvalidUTF8, "lone UTF-16 surrogate in a string")
						return false, false
					}
					i += 6
				}
			default:
				d.fail(CodeInvalidJSON, "invalid escape sequence in a string")
				return false, false
			}
		default:
			i++
		}
	}
	d.fail(CodeInvalidJSON, "unterminated string")
	return false, false
}

// skipPlain returns the index of the first byte from i on that a string
// scan must look at (a quote, a backslash or a control character), or
// len(s). It tests eight bytes at a time: the lowest byte flagged in a word
// is always a true match (borrows only flag bytes above one).
func skipPlain(s []byte, i int) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for ; i+8 <= len(s); i += 8 {
		x := binary.LittleEndian.Uint64(s[i:])
		q, b := x^(ones*'"'), x^(ones*'\\')
		if m := ((q-ones)&^q | (b-ones)&^b | (x-ones*0x20)&^x) & highs; m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for i < len(s) && plainStringByte[s[i]] {
		i++
	}
	return i
}

// plainStringByte marks bytes that need no attention inside a string: not
// the quote, not the backslash, not a control character.
var plainStringByte = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func hex4(s []byte, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range s[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// unescape appends the decoded form of a scanned string body to dst. The body
// was validated by str, so it cannot fail.
func unescape(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		switch s[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, _ := hex4(s, i+2)
			i += 6
			if r >= 0xD800 && r <= 0xDBFF {
				r2, _ := hex4(s, i+2)
				r = 0x10000 + (r-0xD800)<<10 + (r2 - 0xDC00)
				i += 6
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, s[i+1])
		}
		i += 2
	}
	return dst
}

func (d *doc) object(depth int) int32 {
	if depth > d.depth {
		return d.fail(CodeTooDeep, "JSON nesting is deeper than the limit")
	}
	d.pos++ // '{'
	obj := d.newNode(jnode{kind: jObject, first: -1, last: -1})
	d.skipWS()
	if d.pos < len(d.data) && d.data[d.pos] == '}' {
		d.pos++
		return obj
	}
	n := 0
	var seen map[string]struct{}
	for {
		if d.pos >= len(d.data) || d.data[d.pos] != '"' {
			return d.fail(CodeInvalidJSON, "expected a string key in an object")
		}
		d.pos++
		ks := d.pos
		esc, ok := d.str()
		if !ok {
			return -1
		}
		m := jmember{keyStart: int32(ks), keyEnd: int32(d.pos - 1), next: -1}
		if esc {
			b := len(d.buf)
			d.buf = unescape(d.buf, d.data[ks:d.pos-1])
			m.keyStart, m.keyEnd, m.keyDecoded = int32(b), int32(len(d.buf)), true
		}
		d.skipWS()
		if d.pos >= len(d.data) || d.data[d.pos] != ':' {
			return d.fail(CodeInvalidJSON, "expected ':' after an object key")
		}
		d.pos++
		d.skipWS()
		v := d.value(depth)
		if v < 0 {
			return -1
		}
		m.val = v
		key := d.memberKey(&m)
		// Duplicate keys make "which value counts" parser-dependent, so they
		// are rejected everywhere, not only in the fields the engine reads.
		switch {
		case n < dupMapThreshold:
			for j := d.nodes[obj].first; j >= 0; j = d.members[j].next {
				if string(d.memberKey(&d.members[j])) == string(key) {
					return d.fail(CodeDuplicateKey, "duplicate key "+quoteKey(key)+" in an object")
				}
			}
			if n == dupMapThreshold-1 {
				seen = make(map[string]struct{}, 2*dupMapThreshold)
				for j := d.nodes[obj].first; j >= 0; j = d.members[j].next {
					seen[string(d.memberKey(&d.members[j]))] = struct{}{}
				}
				seen[string(key)] = struct{}{}
			}
		default:
			if _, dup := seen[string(key)]; dup {
				return d.fail(CodeDuplicateKey, "duplicate key "+quoteKey(key)+" in an object")
			}
			seen[string(key)] = struct{}{}
		}
		d.members = append(d.members, m)
		mi := int32(len(d.members) - 1)
		if last := d.nodes[obj].last; last >= 0 {
			d.members[last].next = mi
		} else {
			d.nodes[obj].first = mi
		}
		d.nodes[obj].last = mi
		n++
		d.skipWS()
		if d.pos >= len(d.data) {
			return d.fail(CodeInvalidJSON, "unexpected end of JSON input in an object")
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
			d.skipWS()
		case '}':
			d.pos++
			return obj
		default:
			return d.fail(CodeInvalidJSON, "expected ',' or '}' in an object")
		}
	}
}

func quoteKey(k []byte) string {
	const max = 64
	if len(k) > max {
		k = k[:max]
	}
	return `"` + string(k) + `"`
}

func (d *doc) array(depth int) int32 {
	if depth > d.depth {
		return d.fail(CodeTooDeep, "JSON nesting is deeper than the limit")
	}
	d.pos++ // '['
	arr := d.newNode(jnode{kind: jArray, first: -1, last: -1})
	d.skipWS()
	if d.pos < len(d.data) && d.data[d.pos] == ']' {
		d.pos++
		return arr
	}
	for {
		if d.value(depth) < 0 {
			return -1
		}
		d.skipWS()
		if d.pos >= len(d.data) {
			return d.fail(CodeInvalidJSON, "unexpected end of JSON input in an array")
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
			d.skipWS()
		case ']':
			d.pos++
			return arr
		default:
			return d.fail(CodeInvalidJSON, "expected ',' or ']' in an array")
		}
	}
}

func (d *doc) memberKey(m *jmember) []byte {
	if m.keyDecoded {
		return d.buf[m.keyStart:m.keyEnd]
	}
	return d.data[m.keyStart:m.keyEnd]
}

// get returns the value of key in object obj, or -1.
func (d *doc) get(obj int32, key string) int32 {
	if obj < 0 || d.nodes[obj].kind != jObject {
		return -1
	}
	for j := d.nodes[obj].first; j >= 0; j = d.members[j].next {
		m := &d.members[j]
		if string(d.memberKey(m)) == key {
			return m.val
		}
	}
	return -1
}

// path follows object keys from obj; it returns -1 if any step is missing.
func (d *doc) path(obj int32, keys []string) int32 {
	for _, k := range keys {
		obj = d.get(obj, k)
		if obj < 0 {
			return -1
		}
	}
	return obj
}

// text returns the raw text of a number, or the decoded bytes of a string.
// The result aliases the input or d.buf.
func (d *doc) text(n int32) []byte {
	nd := &d.nodes[n]
	if nd.ext {
		return d.buf[nd.start:nd.end]
	}
	raw := d.data[nd.start:nd.end]
	if !nd.esc {
		return raw
	}
	b := len(d.buf)
	d.buf = unescape(d.buf, raw)
	return d.buf[b:]
}

// addString adds a string node that holds b (a value that came from
// outside the JSON, such as a CloudEvents header) and returns it.
func (d *doc) addString(b []byte) int32 {
	start := len(d.buf)
	d.buf = append(d.buf, b...)
	return d.newNode(jnode{kind: jString, ext: true, start: int32(start), end: int32(len(d.buf))})
}
