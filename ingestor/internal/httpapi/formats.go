package httpapi

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/tally-dev/tally/event/normalize"
	"github.com/tally-dev/tally/ingestor/internal/body"
	"github.com/tally-dev/tally/ingestor/internal/ingest"
)

// Producer formats other than Tally JSON (docs/producers.md). Each request
// is read into elements plus an ingest.Layout; the layout rides in record
// headers so the processor normalizes each record exactly as the preflight
// did. Bodies obey the same limits as Tally JSON, and the whole body is
// refused only when its envelope cannot be trusted; a bad event inside a
// good envelope is a per-event rejection, produced raw for the audit trail.

// CodeInvalidCloudEventHeader answers a ce-* header that is not
// percent-encoded UTF-8 or names no valid attribute.
const CodeInvalidCloudEventHeader = "invalid_cloudevent_header"

// isCloudEvents reports whether a request uses the CloudEvents HTTP
// protocol binding: a structured or batched content type, or binary mode
// (a ce-specversion header). The content type decides first, as the
// binding says: a structured request with stray ce-* headers is structured.
func isCloudEvents(h http.Header) bool {
	structured, batch := normalize.CloudEventMode(h.Get("Content-Type"))
	return structured || batch || h.Get("Ce-Specversion") != ""
}

// parseCloudEvents reads a CloudEvents request to POST /v1/events.
func (h *handler) parseCloudEvents(c *gin.Context, req ingest.Request) (ingest.Request, bool) {
	structured, batch := normalize.CloudEventMode(c.GetHeader("Content-Type"))
	if !structured && !batch {
		// Binary mode: the attributes are headers, the body is the data,
		// whatever its media type (the engine reads JSON data only).
		attrs, _, err := normalize.CloudEventHTTPAttributes(c.Request.Header)
		if err != nil {
			writeError(c, http.StatusBadRequest, CodeInvalidCloudEventHeader, err.Error())
			return ingest.Request{}, false
		}
		data, ok := h.readBody(c)
		if !ok {
			return ingest.Request{}, false
		}
		if len(data) > h.cfg.Limits.MaxEventBytes {
			writeError(c, http.StatusRequestEntityTooLarge, body.CodeEventTooLarge,
				"the event's data is "+strconv.Itoa(len(data))+" bytes; the limit is "+strconv.Itoa(h.cfg.Limits.MaxEventBytes))
			return ingest.Request{}, false
		}
		req.Elements = []body.Element{{Raw: data}}
		req.Shape = body.ShapeObject
		req.Layout = ingest.Layout{Format: normalize.FormatCloudEventBinary, Attributes: attrs}
		return req, true
	}
	data, ok := h.readBody(c)
	if !ok {
		return ingest.Request{}, false
	}
	elements, shape, berr := body.NewSplitter(h.cfg.Limits).Split(data, body.JSON)
	switch {
	case berr != nil:
		writeError(c, berr.Status, berr.Code, berr.Message)
		return ingest.Request{}, false
	case structured && shape != body.ShapeObject:
		writeError(c, http.StatusBadRequest, body.CodeInvalidBody,
			normalize.ContentTypeCloudEvent+" carries one event object; send an array as "+normalize.ContentTypeCloudEventBatch)
		return ingest.Request{}, false
	case batch && shape != body.ShapeArray:
		writeError(c, http.StatusBadRequest, body.CodeInvalidBody,
			normalize.ContentTypeCloudEventBatch+" is a JSON array of events; send one event as "+normalize.ContentTypeCloudEvent)
		return ingest.Request{}, false
	}
	req.Elements, req.Shape = elements, shape
	req.Layout = ingest.Layout{Format: normalize.FormatCloudEvent}
	return req, true
}

// segmentResponse is what Segment's tracking API answers (200 with
// "success": true, which Segment's libraries expect), plus Tally's
// per-event verdicts: a rejected message is visible here, although the
// request as a whole was taken (every message, rejected or not, was
// durably written for the audit trail).
type segmentResponse struct {
	Success bool `json:"success"`
	v1Response
}

// segmentTrack is POST /v1/track: one Segment track call.
func (h *handler) segmentTrack(c *gin.Context) {
	req, ok := h.requestOptions(c)
	if !ok {
		return
	}
	if !h.segmentContentType(c) {
		return
	}
	data, ok := h.readBody(c)
	if !ok {
		return
	}
	elements, shape, berr := body.NewSplitter(h.cfg.Limits).Split(data, body.JSON)
	switch {
	case berr != nil:
		writeError(c, berr.Status, berr.Code, berr.Message)
		return
	case shape != body.ShapeObject:
		writeError(c, http.StatusBadRequest, body.CodeInvalidBody, "POST /v1/track takes one track call object; send several to /v1/batch")
		return
	}
	req.Elements, req.Shape = elements, shape
	req.Layout = ingest.Layout{Format: normalize.FormatSegment}
	h.answerSegment(c, req)
}

// segmentBatch is POST /v1/batch: {"batch": [messages...], "sentAt": ...}.
// The batch's sentAt travels with each message that has none of its own,
// for the clock-skew correction.
func (h *handler) segmentBatch(c *gin.Context) {
	req, ok := h.requestOptions(c)
	if !ok {
		return
	}
	if !h.segmentContentType(c) {
		return
	}
	data, ok := h.readBody(c)
	if !ok {
		return
	}
	limits := h.cfg.Limits
	msgs, sentAt, err := normalize.SplitSegmentBatch(data)
	switch {
	case err != nil:
		writeError(c, http.StatusBadRequest, body.CodeInvalidJSON, "body is not a Segment batch: "+err.Error())
		return
	case len(msgs) == 0:
		writeError(c, http.StatusBadRequest, body.CodeEmptyArray, "the batch array is empty; send at least one message")
		return
	case len(msgs) > limits.MaxEvents:
		writeError(c, http.StatusRequestEntityTooLarge, body.CodeTooManyEvents,
			"the batch holds more than "+strconv.Itoa(limits.MaxEvents)+" messages; split it")
		return
	}
	sp := body.NewSplitter(limits)
	req.Elements = make([]body.Element, len(msgs))
	for i, m := range msgs {
		if len(m) > limits.MaxEventBytes {
			writeError(c, http.StatusRequestEntityTooLarge, body.CodeEventTooLarge,
				"message "+strconv.Itoa(i)+" is "+strconv.Itoa(len(m))+" bytes; the limit is "+strconv.Itoa(limits.MaxEventBytes))
			return
		}
		// The envelope was valid JSON, so each message is one valid value
		// (json.RawMessage holds it without surrounding space).
		if m[0] != '{' {
			req.Elements[i] = body.Element{Raw: m, Issue: body.IssueNotObject, Message: "a Segment message must be a JSON object"}
			continue
		}
		els, _, berr := sp.Split(m, body.JSON) // marks a message nested too deep
		if berr != nil {
			req.Elements[i] = body.Element{Raw: m, Issue: body.IssueInvalid, Message: berr.Message}
			continue
		}
		req.Elements[i] = els[0]
	}
	req.Shape = body.ShapeArray
	req.Layout = ingest.Layout{Format: normalize.FormatSegment, SentAt: sentAt}
	h.answerSegment(c, req)
}

// segmentContentType admits JSON (Segment's API requires
// application/json; its libraries always send it) or no Content-Type.
func (h *handler) segmentContentType(c *gin.Context) bool {
	f, berr := body.ParseFormat(c.GetHeader("Content-Type"))
	if berr == nil && f != body.JSON {
		berr = &body.Error{Status: http.StatusUnsupportedMediaType, Code: body.CodeUnsupportedMedia,
			Message: "Segment routes take application/json"}
	}
	if berr != nil {
		writeError(c, berr.Status, berr.Code, berr.Message)
		return false
	}
	return true
}

func (h *handler) answerSegment(c *gin.Context, req ingest.Request) {
	if !h.admitRequest(c, &req) {
		return
	}
	out, fail := h.run(c, req)
	resp := segmentResponse{Success: fail == nil, v1Response: newV1Response(out)}
	if fail != nil {
		// Some events were not acknowledged: the per-event results say which
		// (the same partial-failure answer as /v1/events).
		resp.Error = &fail.err
		h.writeSegmentResponse(c, fail.status, &resp)
		return
	}
	h.writeSegmentResponse(c, http.StatusOK, &resp)
}
