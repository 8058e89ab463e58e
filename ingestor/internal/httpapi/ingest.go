package httpapi

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

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
// simulateFailure parameter and the Idempotency-Key header.
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
	return ingest.Request{
		RequestID:       c.GetString(ctxRequestID),
		IdempotencyKey:  key,
		SimulateFailure: simulate,
		ReceivedAt:      h.cfg.Now(),
	}, true
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

// run ingests and maps failures; false means the response was written.
func (h *handler) run(c *gin.Context, req ingest.Request) (ingest.Outcome, bool) {
	out, err := h.cfg.Ingester.Ingest(c.Request.Context(), req)
	switch {
	case err == nil:
		return out, true
	case errors.Is(err, ingest.ErrRecordTooLarge):
		writeError(c, http.StatusRequestEntityTooLarge, body.CodeEventTooLarge,
			"an event is larger than the event log accepts; nothing was accepted")
	default:
		h.cfg.Logger.WarnContext(c.Request.Context(), "produce failed; answering 503",
			"request_id", req.RequestID, "events", len(req.Elements), "error", err)
		c.Header("Retry-After", h.retryAfter)
		writeError(c, http.StatusServiceUnavailable, "kafka_unavailable",
			"the event log did not acknowledge every event in time; nothing was accepted, retry the whole request")
	}
	return ingest.Outcome{}, false
}

type v1Response struct {
	Accepted int        `json:"accepted"`
	Rejected int        `json:"rejected"`
	Results  []v1Result `json:"results"`
}

type v1Result struct {
	Index     int          `json:"index"`
	EventID   string       `json:"eventId,omitempty"`
	Status    string       `json:"status"`
	Duplicate *bool        `json:"duplicate,omitempty"`
	Error     *errorDetail `json:"error,omitempty"`
}

func (h *handler) ingestV1(c *gin.Context) {
	req, ok := h.parseIngest(c)
	if !ok {
		return
	}
	out, ok := h.run(c, req)
	if !ok {
		return
	}
	c.JSON(http.StatusAccepted, newV1Response(out))
}

func newV1Response(out ingest.Outcome) v1Response {
	resp := v1Response{Accepted: out.Accepted, Rejected: out.Rejected, Results: make([]v1Result, len(out.Results))}
	for i, r := range out.Results {
		res := v1Result{Index: r.Index, EventID: r.EventID, Status: r.Status}
		if r.Rejection != nil {
			res.Error = &errorDetail{Code: r.Rejection.Code, Message: r.Rejection.Message, Field: r.Rejection.Field}
		} else {
			res.Duplicate = &out.Results[i].Duplicate
		}
		resp.Results[i] = res
	}
	return resp
}

type seedResponse struct {
	Success   bool         `json:"success"`
	Processed int          `json:"processed"`
	Failed    int          `json:"failed"`
	Results   []seedResult `json:"results"`
}

type seedResult struct {
	Success     bool    `json:"success"`
	EventID     *string `json:"eventId"`
	IsDuplicate bool    `json:"isDuplicate"`
	Error       *string `json:"error"`
}

func (h *handler) ingestSeed(c *gin.Context) {
	req, ok := h.parseIngest(c)
	if !ok {
		return
	}
	out, ok := h.run(c, req)
	if !ok {
		return
	}
	resp := seedResponse{Success: out.Rejected == 0, Processed: out.Accepted, Failed: out.Rejected,
		Results: make([]seedResult, len(out.Results))}
	for i := range out.Results {
		r := &out.Results[i]
		if r.Rejection != nil {
			msg := r.Rejection.Code + ": " + r.Rejection.Message
			resp.Results[i] = seedResult{Error: &msg}
			continue
		}
		resp.Results[i] = seedResult{Success: true, EventID: &r.EventID, IsDuplicate: r.Duplicate}
	}
	c.JSON(http.StatusOK, resp)
}
