package body

import (
	"fmt"
	"net/http"
	"strconv"
)

// scanError is a JSON syntax error at a byte offset of the scanned input.
type scanError struct {
	offset int
	msg    string
}

func syntaxErr(offset int, msg string) *scanError {
	return &scanError{offset: offset, msg: msg + " at byte " + strconv.Itoa(offset)}
}

func (e *scanError) whole() *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeInvalidJSON, Message: "body is not valid JSON: " + e.msg}
}

// scanValue validates the JSON value starting at data[i] (no leading space)
// and returns the offset just past it and its nesting depth (an object or
// array is depth 1). It is iterative, with an explicit stack, so hostile
// nesting costs memory proportional to the body (already capped) and never
// overflows the goroutine stack. Grammar: RFC 8259, as encoding/json reads it.
func (s *Splitter) scanValue(data []byte, i int) (end, depth int, err *scanError) {
	stack := s.stack[:0]
	defer func() { s.stack = stack[:0] }()
	for {
		// Expect a value at i.
		if i >= len(data) {
			return 0, 0, syntaxErr(i, "unexpected end of input")
		}
		switch c := data[i]; c {
		case '{', '[':
			stack = append(stack, c)
			if len(stack) > depth {
				depth = len(stack)
			}
			i = skipWS(data, i+1)
			if i < len(data) && data[i] == c+2 { // '{'+2 == '}', '['+2 == ']'
				stack = stack[:len(stack)-1]
				i++
				break
			}
			if c == '{' {
				if i, err = scanKey(data, i); err != nil {
					return 0, 0, err
				}
			}
			continue
		case '"':
			if i, err = scanString(data, i); err != nil {
				return 0, 0, err
			}
		case 't':
			if i, err = scanLiteral(data, i, "true"); err != nil {
				return 0, 0, err
			}
		case 'f':
			if i, err = scanLiteral(data, i, "false"); err != nil {
				return 0, 0, err
			}
		case 'n':
			if i, err = scanLiteral(data, i, "null"); err != nil {
				return 0, 0, err
			}
		default:
			if c != '-' && (c < '0' || c > '9') {
				return 0, 0, syntaxErr(i, fmt.Sprintf("invalid character %s looking for a value", quoteByte(c)))
			}
			if i, err = scanNumber(data, i); err != nil {
				return 0, 0, err
			}
		}
		// A value ended at i: close containers or move to the next value.
	closing:
		for {
			if len(stack) == 0 {
				return i, depth, nil
			}
			i = skipWS(data, i)
			if i >= len(data) {
				return 0, 0, syntaxErr(i, "unexpected end of input")
			}
			top := stack[len(stack)-1]
			switch c := data[i]; {
			case c == ',':
				i = skipWS(data, i+1)
				if top == '{' {
					if i, err = scanKey(data, i); err != nil {
						return 0, 0, err
					}
				}
				break closing
			case c == top+2:
				stack = stack[:len(stack)-1]
				i++
			default:
				return 0, 0, syntaxErr(i, fmt.Sprintf("invalid character %s after %s value", quoteByte(c), containerName(top)))
			}
		}
		i = skipWS(data, i)
	}
}

// scanKey reads `"key" :` and the space after it, returning the offset of
// the member's value.
func scanKey(data []byte, i int) (int, *scanError) {
	if i >= len(data) {
		return 0, syntaxErr(i, "unexpected end of input looking for an object key")
	}
	if data[i] != '"' {
		return 0, syntaxErr(i, fmt.Sprintf("invalid character %s looking for an object key", quoteByte(data[i])))
	}
	i, err := scanString(data, i)
	if err != nil {
		return 0, err
	}
	i = skipWS(data, i)
	if i >= len(data) || data[i] != ':' {
		return 0, syntaxErr(i, "expected ':' after object key")
	}
	return skipWS(data, i+1), nil
}

// scanString reads a string starting at its opening quote.
func scanString(data []byte, i int) (int, *scanError) {
	start := i
	i++
	for i < len(data) {
		c := data[i]
		switch {
		case c == '"':
			return i + 1, nil
		case c == '\\':
			if i+1 >= len(data) {
				return 0, syntaxErr(i, "unterminated escape in string")
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(data) {
					return 0, syntaxErr(i, "truncated \\u escape in string")
				}
				for _, h := range data[i+2 : i+6] {
					if !isHex(h) {
						return 0, syntaxErr(i, "invalid \\u escape in string")
					}
				}
				i += 6
			default:
				return 0, syntaxErr(i, fmt.Sprintf("invalid escape \\%c in string", data[i+1]))
			}
		case c < 0x20:
			return 0, syntaxErr(i, "control character in string")
		default:
			i++
		}
	}
	return 0, syntaxErr(start, "unterminated string")
}

func scanLiteral(data []byte, i int, lit string) (int, *scanError) {
	if len(data)-i < len(lit) || string(data[i:i+len(lit)]) != lit {
		return 0, syntaxErr(i, fmt.Sprintf("invalid literal, expected %q", lit))
	}
	return i + len(lit), nil
}

// scanNumber reads -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?
func scanNumber(data []byte, i int) (int, *scanError) {
	start := i
	if data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && data[i] >= '1' && data[i] <= '9':
		i = digits(data, i)
	default:
		return 0, syntaxErr(start, "invalid number")
	}
	if i < len(data) && data[i] == '.' {
		j := digits(data, i+1)
		if j == i+1 {
			return 0, syntaxErr(start, "invalid number: no digits after '.'")
		}
		i = j
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		j := digits(data, i)
		if j == i {
			return 0, syntaxErr(start, "invalid number: no digits in exponent")
		}
		i = j
	}
	return i, nil
}

func digits(data []byte, i int) int {
	for i < len(data) && data[i] >= '0' && data[i] <= '9' {
		i++
	}
	return i
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipWS(data []byte, i int) int {
	for i < len(data) && isWS(data[i]) {
		i++
	}
	return i
}

func trimWS(b []byte) []byte {
	i, j := 0, len(b)
	for i < j && isWS(b[i]) {
		i++
	}
	for j > i && isWS(b[j-1]) {
		j--
	}
	return b[i:j]
}

func containerName(c byte) string {
	if c == '{' {
		return "object"
	}
	return "array"
}

func quoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return strconv.QuoteRune(rune(c))
	}
	return fmt.Sprintf("0x%02x", c)
}
