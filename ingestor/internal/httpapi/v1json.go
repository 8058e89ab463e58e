package httpapi

import (
	"encoding/json"
	"strconv"
	"sync"

	"github.com/gin-gonic/gin"
)

// The /v1 ingest answer (v1Response, and segmentResponse around it) is
// encoded by hand: encoding/json's reflection over it cost about 9.5% of the
// ingestor's CPU with 500-event batches and 5% with single events.
//
// The rule that keeps this safe: the bytes are exactly json.Marshal's, so
// clients see no change. Field order, omitempty and null-for-nil follow the
// struct tags (v1json_test.go compares against json.Marshal on random
// values and fuzzed strings), and every string goes through
// appendJSONString, which copies plain printable ASCII and hands anything
// else to encoding/json, so HTML escaping, U+2028/U+2029 and invalid UTF-8
// are never hand-written here. A field added to v1Response, v1Result or
// errorDetail must be added below and to the test's generator
// (v1Responses); the property test catches a field without omitempty that
// is missing here, but an omitempty one only once the generator sets it.

// contentTypeJSON is what gin's c.JSON sends (render.JSON).
const contentTypeJSON = "application/json; charset=utf-8"

// maxPooledResponse bounds the buffers kept for reuse: a response to a
// 10,000-event batch (TALLY_MAX_EVENTS) is about 1.5 MB, and keeping such
// buffers would hold that much per concurrent request until the next GCs.
const maxPooledResponse = 1 << 20

// bufferPool keeps encoding buffers between requests; its zero value
// is ready. gin's c.Data writes the bytes before it returns (render.Data
// calls Write once) and net/http copies them into its own buffer, so a
// buffer is free again once c.Data has returned.
type bufferPool struct{ pool sync.Pool }

func (p *bufferPool) get() *[]byte {
	if buf, ok := p.pool.Get().(*[]byte); ok {
		return buf
	}
	buf := make([]byte, 0, 4096)
	return &buf
}

func (p *bufferPool) put(buf *[]byte) {
	if cap(*buf) > maxPooledResponse {
		return
	}
	*buf = (*buf)[:0]
	p.pool.Put(buf)
}

// writeV1Response answers with resp as c.JSON(status, resp) would: same
// status, Content-Type and body. c.Data adds Content-Length, which net/http
// otherwise sets itself only when the body fits its 2 KB buffer (larger
// answers went out chunked).
func (h *handler) writeV1Response(c *gin.Context, status int, resp *v1Response) {
	buf := h.responseBuffers.get()
	*buf = appendV1Response(*buf, resp)
	c.Data(status, contentTypeJSON, *buf)
	h.responseBuffers.put(buf)
}

// writeSegmentResponse answers with resp as c.JSON(status, resp) would.
func (h *handler) writeSegmentResponse(c *gin.Context, status int, resp *segmentResponse) {
	buf := h.responseBuffers.get()
	*buf = appendSegmentResponse(*buf, resp)
	c.Data(status, contentTypeJSON, *buf)
	h.responseBuffers.put(buf)
}

// appendV1Response appends json.Marshal(resp).
func appendV1Response(dst []byte, resp *v1Response) []byte {
	dst = append(dst, '{')
	dst = appendV1Fields(dst, resp)
	return append(dst, '}')
}

// appendSegmentResponse appends json.Marshal(resp): success first, then
// the embedded v1Response's fields, as encoding/json orders an embedded
// struct's promoted fields by their position.
func appendSegmentResponse(dst []byte, resp *segmentResponse) []byte {
	dst = append(dst, `{"success":`...)
	dst = strconv.AppendBool(dst, resp.Success)
	dst = append(dst, ',')
	dst = appendV1Fields(dst, &resp.v1Response)
	return append(dst, '}')
}

// appendV1Fields appends resp's members without the braces.
func appendV1Fields(dst []byte, resp *v1Response) []byte {
	if resp.Error != nil {
		dst = append(dst, `"error":`...)
		dst = appendErrorDetail(dst, resp.Error)
		dst = append(dst, ',')
	}
	dst = append(dst, `"accepted":`...)
	dst = strconv.AppendInt(dst, int64(resp.Accepted), 10)
	dst = append(dst, `,"rejected":`...)
	dst = strconv.AppendInt(dst, int64(resp.Rejected), 10)
	dst = append(dst, `,"failed":`...)
	dst = strconv.AppendInt(dst, int64(resp.Failed), 10)
	dst = append(dst, `,"results":`...)
	// newV1Response always makes the slice, so clients get an array; a nil
	// one would be null, as json.Marshal writes it.
	if resp.Results == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '[')
	for i := range resp.Results {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendV1Result(dst, &resp.Results[i])
	}
	return append(dst, ']')
}

func appendV1Result(dst []byte, r *v1Result) []byte {
	dst = append(dst, `{"index":`...)
	dst = strconv.AppendInt(dst, int64(r.Index), 10)
	if r.EventID != "" {
		dst = append(dst, `,"eventId":`...)
		dst = appendJSONString(dst, r.EventID)
	}
	if r.IdempotencyKey != "" {
		dst = append(dst, `,"idempotencyKey":`...)
		dst = appendJSONString(dst, r.IdempotencyKey)
	}
	if r.IDSource != "" {
		dst = append(dst, `,"idSource":`...)
		dst = appendJSONString(dst, r.IDSource)
	}
	if r.CoarseID {
		dst = append(dst, `,"coarseId":true`...)
	}
	dst = append(dst, `,"status":`...)
	dst = appendJSONString(dst, r.Status)
	if r.Duplicate != nil {
		dst = append(dst, `,"duplicate":`...)
		dst = strconv.AppendBool(dst, *r.Duplicate)
	}
	if r.Conflict {
		dst = append(dst, `,"conflict":true`...)
	}
	if r.Error != nil {
		dst = append(dst, `,"error":`...)
		dst = appendErrorDetail(dst, r.Error)
	}
	return append(dst, '}')
}

func appendErrorDetail(dst []byte, e *errorDetail) []byte {
	dst = append(dst, `{"code":`...)
	dst = appendJSONString(dst, e.Code)
	dst = append(dst, `,"message":`...)
	dst = appendJSONString(dst, e.Message)
	if e.Field != "" {
		dst = append(dst, `,"field":`...)
		dst = appendJSONString(dst, e.Field)
	}
	return append(dst, '}')
}

// plainJSON marks the bytes json.Marshal copies into a string unchanged
// that appendJSONString copies itself: printable ASCII except '"' and '\'
// (escaped by JSON) and '<', '>', '&' (escaped by encoding/json for HTML).
// DEL (0x7f) is copied unchanged by encoding/json too, but is left to it.
var plainJSON = func() (plain [256]bool) {
	for b := ' '; b <= '~'; b++ {
		plain[b] = true
	}
	for _, b := range `"\<>&` {
		plain[b] = false
	}
	return plain
}()

// appendJSONString appends json.Marshal(s). Ids, codes, statuses and
// messages are almost always plain ASCII and are copied; any other string
// is marshaled by encoding/json, so its escaping is the standard library's
// by construction.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if !plainJSON[s[i]] {
			return appendMarshaledString(dst, s)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

func appendMarshaledString(dst []byte, s string) []byte {
	quoted, err := json.Marshal(s)
	if err != nil {
		// Marshal fails only for unsupported types and values; every
		// string, valid UTF-8 or not, encodes.
		panic("httpapi: json.Marshal of a string failed: " + err.Error())
	}
	return append(dst, quoted...)
}
