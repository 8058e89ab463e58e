// Package body turns an HTTP request body into raw events without ever
// re-encoding them: every element it returns is a sub-slice of the bytes the
// client sent (after gzip decoding), so the raw topic holds exactly what was
// received.
//
// Decisions, each with its reason:
//   - The whole body is rejected (Error, a 4xx) when its envelope cannot be
//     trusted: invalid JSON or trailing data in a JSON body (element
//     boundaries would be a guess), an empty body or array, a top-level
//     scalar, or any limit exceeded (too large, too many events, one event too
//     large — these are caller mistakes that would otherwise fail at the
//     broker).
//   - A single element is rejected (Element.Issue) when the envelope is fine
//     but the element is not an object, is nested deeper than the limit, or,
//     in NDJSON, one line is not valid JSON. Those events are still produced
//     raw for the audit trail; the processor rejects them again on its own.
//   - Invalid UTF-8 and duplicate keys are left to the normalization engine,
//     which rejects them per event with its own codes. The scanner follows
//     encoding/json's grammar, which accepts any byte >= 0x20 inside strings.
package body

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// Error codes for a rejected body. Status gives the HTTP status for each.
const (
	CodeBodyTooLarge        = "body_too_large"         // 413
	CodeTooManyEvents       = "too_many_events"        // 413
	CodeEventTooLarge       = "event_too_large"        // 413
	CodeUnsupportedMedia    = "unsupported_media_type" // 415
	CodeUnsupportedEncoding = "unsupported_encoding"   // 415
	CodeInvalidGzip         = "invalid_gzip"           // 400
	CodeEmptyBody           = "empty_body"             // 400
	CodeEmptyArray          = "empty_array"            // 400
	CodeInvalidJSON         = "invalid_json"           // 400 (whole body) or per NDJSON line
	CodeTrailingData        = "trailing_data"          // 400
	CodeInvalidBody         = "invalid_body"           // 400: top level is not an object or array
	CodeReadFailed          = "read_failed"            // 400: the client's upload broke off
)

// Per-element issue codes (the element is still produced raw).
const (
	IssueNotObject = "not_object"
	IssueTooDeep   = "too_deep"
	IssueInvalid   = CodeInvalidJSON
)

// Error rejects a whole request body.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Limits bound one body. Every field must be positive.
type Limits struct {
	MaxBodyBytes  int64 // on the wire and again after decompression
	MaxEvents     int
	MaxEventBytes int
	MaxDepth      int
}

// Format is how events are laid out in the body.
type Format int

const (
	// JSON is one object or an array of objects.
	JSON Format = iota
	// NDJSON is one JSON value per line; blank lines are skipped.
	NDJSON
)

// Shape tells how the events arrived, which decides idempotency-key suffixes.
type Shape int

const (
	ShapeObject Shape = iota // one object: the key applies as is
	ShapeArray               // array or NDJSON: element i without a key of its own gets "<key>:<i>"
)

// Element is one raw event.
type Element struct {
	// Raw aliases the decoded body; it is never modified.
	Raw []byte
	// Issue is empty, or the code of a per-event rejection found while
	// scanning (IssueNotObject, IssueTooDeep, IssueInvalid).
	Issue   string
	Message string
}

// ParseFormat maps a Content-Type header to a Format. A missing header is
// taken as JSON, since many seed-era clients send none.
func ParseFormat(contentType string) (Format, *Error) {
	if strings.TrimSpace(contentType) == "" {
		return JSON, nil
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return 0, errorf(http.StatusUnsupportedMediaType, CodeUnsupportedMedia, "cannot parse Content-Type %q", contentType)
	}
	switch {
	case mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")):
		return JSON, nil
	case mt == "application/x-ndjson" || mt == "application/ndjson" || mt == "application/jsonl" ||
		mt == "application/x-jsonlines" || mt == "application/jsonlines":
		return NDJSON, nil
	}
	return 0, errorf(http.StatusUnsupportedMediaType, CodeUnsupportedMedia,
		"Content-Type %q is not supported; use application/json or application/x-ndjson", mt)
}

// Read returns the decoded body. r should already be capped on the wire
// (http.MaxBytesReader); Read caps the decompressed size again at
// MaxBodyBytes so a small gzip bomb cannot expand without bound.
func Read(r io.Reader, contentEncoding string, contentLength int64, maxBytes int64) ([]byte, *Error) {
	enc := strings.ToLower(strings.TrimSpace(contentEncoding))
	switch enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			if e := readError(err, maxBytes); e.Code != CodeReadFailed {
				return nil, e
			}
			return nil, errorf(http.StatusBadRequest, CodeInvalidGzip, "body is not valid gzip: %v", err)
		}
		defer zr.Close()
		data, err := readCapped(zr, 0, maxBytes)
		if err != nil {
			var tooLarge *Error
			if errors.As(err, &tooLarge) {
				tooLarge.Message = fmt.Sprintf("decompressed body exceeds %d bytes", maxBytes)
				return nil, tooLarge
			}
			if e := readError(err, maxBytes); e.Code != CodeReadFailed {
				return nil, e
			}
			return nil, errorf(http.StatusBadRequest, CodeInvalidGzip, "body is not valid gzip: %v", err)
		}
		return data, nil
	default:
		return nil, errorf(http.StatusUnsupportedMediaType, CodeUnsupportedEncoding,
			"Content-Encoding %q is not supported; use gzip or none", contentEncoding)
	}
	data, err := readCapped(r, contentLength, maxBytes)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return nil, e
		}
		return nil, readError(err, maxBytes)
	}
	return data, nil
}

// readCapped reads at most maxBytes; one byte more is an Error 413. With a
// size hint (Content-Length) the body lands in one buffer of that size plus
// the byte that shows EOF, with no growing and no second allocation.
func readCapped(r io.Reader, sizeHint, maxBytes int64) ([]byte, error) {
	n := int64(bytes.MinRead)
	if sizeHint > 0 && sizeHint <= maxBytes {
		n = sizeHint + 1
	}
	buf := make([]byte, 0, n)
	lr := io.LimitReader(r, maxBytes+1)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		m, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if int64(len(buf)) > maxBytes {
		return nil, errorf(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, "body exceeds %d bytes", maxBytes)
	}
	return buf, nil
}

func readError(err error, maxBytes int64) *Error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errorf(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, "body exceeds %d bytes", maxBytes)
	}
	return errorf(http.StatusBadRequest, CodeReadFailed, "reading body: %v", err)
}

// Splitter splits bodies. It keeps a reusable scan stack, so one Splitter
// must not be used by two goroutines at once; it is cheap to create.
type Splitter struct {
	limits Limits
	stack  []byte
}

// NewSplitter returns a Splitter enforcing limits.
func NewSplitter(l Limits) *Splitter { return &Splitter{limits: l} }

// Split returns the events in data, or an Error rejecting the whole body.
func (s *Splitter) Split(data []byte, f Format) ([]Element, Shape, *Error) {
	if f == NDJSON {
		els, err := s.splitLines(data)
		return els, ShapeArray, err
	}
	return s.splitJSON(data)
}

func (s *Splitter) splitJSON(data []byte) ([]Element, Shape, *Error) {
	data = bytes.TrimPrefix(data, utf8BOM)
	i := skipWS(data, 0)
	if i == len(data) {
		return nil, 0, errorf(http.StatusBadRequest, CodeEmptyBody, "body is empty")
	}
	switch data[i] {
	case '{':
		end, depth, err := s.scanValue(data, i)
		if err != nil {
			return nil, 0, err.whole()
		}
		if j := skipWS(data, end); j != len(data) {
			return nil, 0, trailing(j)
		}
		if end-i > s.limits.MaxEventBytes {
			return nil, 0, tooLarge(0, end-i, s.limits.MaxEventBytes)
		}
		return []Element{s.element(data[i:end], depth)}, ShapeObject, nil
	case '[':
		els, err := s.splitArray(data, i)
		return els, ShapeArray, err
	}
	end, _, err := s.scanValue(data, i)
	if err != nil {
		return nil, 0, err.whole()
	}
	if j := skipWS(data, end); j != len(data) {
		return nil, 0, trailing(j)
	}
	return nil, 0, errorf(http.StatusBadRequest, CodeInvalidBody, "body must be a JSON object or an array of objects")
}

func (s *Splitter) splitArray(data []byte, i int) ([]Element, *Error) {
	i = skipWS(data, i+1)
	if i < len(data) && data[i] == ']' {
		if j := skipWS(data, i+1); j != len(data) {
			return nil, trailing(j)
		}
		return nil, errorf(http.StatusBadRequest, CodeEmptyArray, "body is an empty array; send at least one event")
	}
	var els []Element
	for {
		if len(els) == s.limits.MaxEvents {
			return nil, tooMany(s.limits.MaxEvents)
		}
		start := skipWS(data, i)
		end, depth, err := s.scanValue(data, start)
		if err != nil {
			return nil, err.whole()
		}
		if end-start > s.limits.MaxEventBytes {
			return nil, tooLarge(len(els), end-start, s.limits.MaxEventBytes)
		}
		els = append(els, s.element(data[start:end], depth))
		i = skipWS(data, end)
		if i == len(data) {
			return nil, syntaxErr(i, "unexpected end of input in array").whole()
		}
		switch data[i] {
		case ',':
			i++
			continue
		case ']':
			if j := skipWS(data, i+1); j != len(data) {
				return nil, trailing(j)
			}
			return els, nil
		default:
			return nil, syntaxErr(i, fmt.Sprintf("invalid character %s after array element", quoteByte(data[i]))).whole()
		}
	}
}

func (s *Splitter) splitLines(data []byte) ([]Element, *Error) {
	var els []Element
	for len(data) > 0 {
		line := data
		if nl := bytes.IndexByte(data, '\n'); nl >= 0 {
			line, data = data[:nl], data[nl+1:]
		} else {
			data = nil
		}
		line = trimWS(line)
		if len(els) == 0 {
			line = bytes.TrimPrefix(line, utf8BOM)
		}
		if len(line) == 0 {
			continue
		}
		if len(els) == s.limits.MaxEvents {
			return nil, tooMany(s.limits.MaxEvents)
		}
		if len(line) > s.limits.MaxEventBytes {
			return nil, tooLarge(len(els), len(line), s.limits.MaxEventBytes)
		}
		end, depth, err := s.scanValue(line, 0)
		switch {
		case err != nil:
			els = append(els, Element{Raw: line, Issue: IssueInvalid, Message: err.msg})
		case end != len(line):
			els = append(els, Element{Raw: line, Issue: IssueInvalid,
				Message: fmt.Sprintf("unexpected data after the JSON value at byte %d of the line", end)})
		default:
			els = append(els, s.element(line, depth))
		}
	}
	if len(els) == 0 {
		return nil, errorf(http.StatusBadRequest, CodeEmptyBody, "body has no events")
	}
	return els, nil
}

func (s *Splitter) element(raw []byte, depth int) Element {
	switch {
	case raw[0] != '{':
		return Element{Raw: raw, Issue: IssueNotObject, Message: "event must be a JSON object"}
	case depth > s.limits.MaxDepth:
		return Element{Raw: raw, Issue: IssueTooDeep,
			Message: fmt.Sprintf("event nests %d levels deep; the limit is %d", depth, s.limits.MaxDepth)}
	}
	return Element{Raw: raw}
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

func trailing(at int) *Error {
	return errorf(http.StatusBadRequest, CodeTrailingData, "unexpected data after the JSON value at byte %d", at)
}

func tooMany(limit int) *Error {
	return errorf(http.StatusRequestEntityTooLarge, CodeTooManyEvents, "body holds more than %d events; split it", limit)
}

func tooLarge(index, size, limit int) *Error {
	return errorf(http.StatusRequestEntityTooLarge, CodeEventTooLarge, "event %d is %d bytes; the limit is %d", index, size, limit)
}
