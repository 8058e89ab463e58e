package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/tally-dev/tally/event"
	"github.com/tally-dev/tally/ingestor/internal/body"
	"github.com/tally-dev/tally/ingestor/internal/ingest"
)

// maxIdempotencyKey matches the OpenAPI document's maxLength.
const maxIdempotencyKey = 256

// parseIngest turns the request into an ingest.Request, or writes the error
// response and returns false. CloudEvents requests (by the HTTP protocol
// binding) are read by parseCloudEvents.
func (h *handler) parseIngest(c *gin.Context) (ingest.Request, bool) {
	req, ok := h.requestOptions(c)
	if !ok {
		return req, false
	}
	if isCloudEvents(c.Request.Header) {
		return h.parseCloudEvents(c, req)
	}
	format, berr := body.ParseFormat(c.GetHeader("Content-Type"))
	if berr != nil {
		writeError(c, berr.Status, berr.Code, berr.Message)
		return ingest.Request{}, false
	}
	data, ok := h.readBody(c)
	if !ok {
		return ingest.Request{}, false
	}
	elements, shape, berr := body.NewSplitter(h.cfg.Limits).Split(data, format)
	if berr != nil {
		writeError(c, berr.Status, berr.Code, berr.Message)
		return ingest.Request{}, false
	}
	req.Elements, req.Shape = elements, shape
	return req, true
}

// requestOptions reads what every ingest route takes besides the body: the
// simulateFailure parameter, the Idempotency-Key header and the
// duplicate-hint preference (Prefer, RFC 7240), which it confirms with
// Preference-Applied.
func (h *handler) requestOptions(c *gin.Context) (ingest.Request, bool) {
	simulate := false
	if v := c.Query("simulateFailure"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			writeError(c, http.StatusBadRequest, "invalid_parameter", "simulateFailure must be true or false")
			return ingest.Request{}, false
		}
		simulate = b
	}
	if simulate && !h.cfg.FaultInjection {
		writeError(c, http.StatusForbidden, "fault_injection_disabled",
			"simulateFailure needs the ingestor to run with TALLY_FAULT_INJECTION=true")
		return ingest.Request{}, false
	}
	key := c.GetHeader("Idempotency-Key")
	if len(key) > maxIdempotencyKey {
		writeError(c, http.StatusBadRequest, "invalid_idempotency_key",
			"Idempotency-Key is longer than "+strconv.Itoa(maxIdempotencyKey)+" bytes")
		return ingest.Request{}, false
	}
	hint := prefers(c.Request.Header, preferDuplicateHint)
	if hint {
		c.Header("Preference-Applied", preferDuplicateHint)
	}
	return ingest.Request{
		RequestID:       c.GetString(ctxRequestID),
		IdempotencyKey:  key,
		SimulateFailure: simulate,
		ReceivedAt:      h.cfg.Now(),
		DuplicateHint:   hint,
	}, true
}

// preferDuplicateHint is the preference that asks for the duplicate hint
// (a Redis round trip per request, two commands per event) on the /v1 ingest
// routes; /api/events always answers it, as the seed did.
const preferDuplicateHint = "duplicate-hint"

// prefers reports whether the Prefer headers hold the preference token
// (RFC 7240: comma-separated preferences, each "token[=value][; params]",
// tokens compared case-insensitively).
func prefers(header http.Header, token string) bool {
	for _, v := range header.Values("Prefer") {
		for pref := range strings.SplitSeq(v, ",") {
			name, _, _ := strings.Cut(pref, ";")
			name, _, _ = strings.Cut(name, "=")
			if strings.EqualFold(strings.TrimSpace(name), token) {
				return true
			}
		}
	}
	return false
}

// readBody reads the (possibly gzipped) body within the limits.
func (h *handler) readBody(c *gin.Context) ([]byte, bool) {
	limits := h.cfg.Limits
	// The wire cap: MaxBytesReader also tells net/http to close the
	// connection instead of draining an oversized upload.
	r := http.MaxBytesReader(c.Writer, c.Request.Body, limits.MaxBodyBytes)
	data, berr := body.Read(r, c.GetHeader("Content-Encoding"), c.Request.ContentLength, limits.MaxBodyBytes)
	if berr != nil {
		writeError(c, berr.Status, berr.Code, berr.Message)
		return nil, false
	}
	return data, true
}

// admitRequest applies the authenticated caller's tenant, rate limit and
// quota to req; false means the response was written.
func (h *handler) admitRequest(c *gin.Context, req *ingest.Request) bool {
	who, ok := callerOf(c)
	if !ok {
		h.cfg.Logger.ErrorContext(c.Request.Context(), "ingest route without authentication", "route", c.FullPath())
		writeError(c, http.StatusInternalServerError, "internal", "internal error")
		return false
	}
	if !h.admit(c, who, len(req.Elements)) {
		return false
	}
	req.Tenant = who.Tenant
	return true
}

// run ingests and maps failures. On success it returns true; otherwise it
// returns the (partial) outcome with the status and error to answer with:
// 413 when the log refused a record for its size, else 503. The outcome
// then says per event what was acknowledged (Kafka cannot take it back) and
// what failed and may be resent (ingest package doc).
func (h *handler) run(c *gin.Context, req ingest.Request) (ingest.Outcome, *failure) {
	out, err := h.cfg.Ingester.Ingest(c.Request.Context(), req)
	if err == nil {
		return out, nil
	}
	h.cfg.Logger.WarnContext(c.Request.Context(), "produce failed",
		"request_id", req.RequestID, "events", len(req.Elements), "failed", out.Failed, "error", err)
	if errors.Is(err, ingest.ErrRecordTooLarge) {
		return out, &failure{status: http.StatusRequestEntityTooLarge, err: errorDetail{Code: body.CodeEventTooLarge,
			Message: failureMessage(out, "the event log refused an event for its size")}}
	}
	c.Header("Retry-After", h.retryAfter)
	return out, &failure{status: http.StatusServiceUnavailable, err: errorDetail{Code: ingest.CodeUnavailable,
		Message: failureMessage(out, "the event log did not acknowledge every event in time")}}
}

type failure struct {
	status int
	err    errorDetail
}

func failureMessage(out ingest.Outcome, what string) string {
	if out.Accepted+out.Rejected == 0 {
		return what + "; no event was acknowledged: resend the request (it deduplicates)"
	}
	return what + "; " + strconv.Itoa(out.Failed) + " of " + strconv.Itoa(len(out.Results)) +
		" events failed and the others were acknowledged: see results, resend the failed ones with their idempotencyKey or the whole request unchanged (both deduplicate)"
}

type v1Response struct {
	// Error is set (with status 503 or 413) when some events failed.
	Error    *errorDetail `json:"error,omitempty"`
	Accepted int          `json:"accepted"`
	Rejected int          `json:"rejected"`
	Failed   int          `json:"failed"`
	Results  []v1Result   `json:"results"`
}

type v1Result struct {
	Index          int    `json:"index"`
	EventID        string `json:"eventId,omitempty"`
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
	IDSource       string `json:"idSource,omitempty"`
	CoarseID       bool   `json:"coarseId,omitempty"`
	Status         string `json:"status"`
	// Duplicate is present only when known (ingest.Duplicate).
	Duplicate *bool `json:"duplicate,omitempty"`
	// Conflict (with Duplicate true): the id is known with other content,
	// so this copy is an idempotency_conflict and will not be counted.
	Conflict bool         `json:"conflict,omitempty"`
	Error    *errorDetail `json:"error,omitempty"`
}

var (
	trueValue  = true
	falseValue = false
)

func (h *handler) ingestV1(c *gin.Context) {
	req, ok := h.parseIngest(c)
	if !ok {
		return
	}
	if !h.admitRequest(c, &req) {
		return
	}
	out, fail := h.run(c, req)
	resp := newV1Response(out)
	if fail != nil {
		resp.Error = &fail.err
		h.writeV1Response(c, fail.status, &resp)
		return
	}
	h.writeV1Response(c, http.StatusAccepted, &resp)
}

func newV1Response(out ingest.Outcome) v1Response {
	resp := v1Response{Accepted: out.Accepted, Rejected: out.Rejected, Failed: out.Failed, Results: make([]v1Result, len(out.Results))}
	for i := range out.Results {
		r := &out.Results[i]
		res := v1Result{Index: r.Index, EventID: r.EventID, IdempotencyKey: r.IdempotencyKey, IDSource: r.IDSource,
			CoarseID: coarse(r.IDSource), Status: r.Status}
		switch {
		case r.Failure != nil:
			res.Error = &errorDetail{Code: r.Failure.Code, Message: r.Failure.Message}
		case r.Rejection != nil:
			res.Error = &errorDetail{Code: r.Rejection.Code, Message: r.Rejection.Message, Field: r.Rejection.Field}
		case r.Duplicate.Copy():
			res.Duplicate = &trueValue
			res.Conflict = r.Duplicate == ingest.DuplicateConflict
		case r.Duplicate == ingest.DuplicateNo:
			res.Duplicate = &falseValue
		}
		resp.Results[i] = res
	}
	return resp
}

func coarse(idSource string) bool {
	return idSource == event.IDSourceContentCoarse || idSource == event.IDSourceContentNoTimestamp
}

type seedResponse struct {
	// Error is set (with status 503 or 413) when some events failed.
	Error     *errorDetail `json:"error,omitempty"`
	Success   bool         `json:"success"`
	Processed int          `json:"processed"`
	Failed    int          `json:"failed"`
	Results   []seedResult `json:"results"`
}

// seedResult keeps the seed's four keys (null included) and adds Tally's.
type seedResult struct {
	Success bool    `json:"success"`
	EventID *string `json:"eventId"`
	// IsDuplicate is true only when known to be a duplicate or a conflict;
	// Duplicate says "new", "duplicate", "conflict" (a duplicate id with
	// other content, never counted) or "unknown".
	IsDuplicate bool    `json:"isDuplicate"`
	Error       *string `json:"error"`
	Duplicate   string  `json:"duplicate,omitempty"`
	IDSource    string  `json:"idSource,omitempty"`
	CoarseID    bool    `json:"coarseId,omitempty"`
}

var duplicateText = [...]string{ingest.DuplicateUnknown: "unknown", ingest.DuplicateNo: "new", ingest.DuplicateYes: "duplicate",
	ingest.DuplicateConflict: "conflict"}

func (h *handler) ingestSeed(c *gin.Context) {
	req, ok := h.parseIngest(c)
	if !ok {
		return
	}
	// The seed answered isDuplicate on every request; its clients keep it.
	req.DuplicateHint = true
	if !h.admitRequest(c, &req) {
		return
	}
	out, fail := h.run(c, req)
	resp := seedResponse{Success: out.Rejected+out.Failed == 0 && fail == nil, Processed: out.Accepted, Failed: out.Rejected + out.Failed,
		Results: make([]seedResult, len(out.Results))}
	for i := range out.Results {
		r := &out.Results[i]
		var msg string
		switch {
		case r.Failure != nil:
			msg = r.Failure.Code + ": " + r.Failure.Message
		case r.Rejection != nil:
			msg = r.Rejection.Code + ": " + r.Rejection.Message
		default:
			resp.Results[i] = seedResult{Success: true, EventID: &r.EventID, IsDuplicate: r.Duplicate.Copy(),
				Duplicate: duplicateText[r.Duplicate], IDSource: r.IDSource, CoarseID: coarse(r.IDSource)}
			continue
		}
		res := seedResult{Error: &msg}
		if r.EventID != "" {
			res.EventID = &r.EventID
		}
		resp.Results[i] = res
	}
	if fail != nil {
		resp.Error = &fail.err
		c.JSON(fail.status, resp)
		return
	}
	c.JSON(http.StatusOK, resp)
}
