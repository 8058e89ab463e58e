package normalize

// Rejection codes. They are stable, machine-readable, and stored with every
// rejected event; add new ones, never rename.
const (
	CodeTooLarge     = "too_large"     // input longer than limits.maxBytes
	CodeInvalidUTF8  = "invalid_utf8"  // input bytes, or a \u escape, are not valid UTF-8/Unicode
	CodeInvalidJSON  = "invalid_json"  // not one RFC 8259 JSON value (incl. trailing data)
	CodeTooDeep      = "too_deep"      // nesting deeper than limits.maxDepth
	CodeDuplicateKey = "duplicate_key" // an object, anywhere, repeats a key
	CodeNotObject    = "not_object"    // the value is not a JSON object
	// CodeUnsupportedEvent: a producer shape Tally reads, but an event it
	// does not count (a Segment identify call, CloudEvents specversion 0.3).
	CodeUnsupportedEvent = "unsupported_event"

	CodeClientMissing = "client_missing"
	CodeClientInvalid = "client_invalid"

	CodeMetricMissing = "metric_missing" // only when fields.metric.required and no default
	CodeMetricInvalid = "metric_invalid"

	CodeAmountMissing   = "amount_missing"
	CodeAmountInvalid   = "amount_invalid"   // not a number spelling the engine accepts
	CodeAmountPrecision = "amount_precision" // more than 9 fractional digits after scaling; never rounded
	CodeAmountRange     = "amount_range"     // |units| beyond int64
	CodeAmountNegative  = "amount_negative"  // negative while amount.allowNegative is false

	CodeTimestampMissing     = "timestamp_missing"     // timestamp.missing: reject (or no received time)
	CodeTimestampUnparseable = "timestamp_unparseable" // not a date, or an impossible one (2024-02-30, +24:00)
	CodeTimestampAmbiguous   = "timestamp_ambiguous"   // e.g. 01/02/2024 with no layout configured for it
	CodeTimestampOutOfRange  = "timestamp_out_of_range"

	CodeIdempotencyKeyMissing = "idempotency_key_missing" // only when fields.idempotencyKey.required
	CodeIdempotencyKeyInvalid = "idempotency_key_invalid"
)

// Rejection explains why one raw event cannot be normalized. It is data for
// the caller to store and show, not a failure of the engine.
type Rejection struct {
	Code    string `json:"code"`
	Field   string `json:"field,omitempty"` // canonical field name ("amount"), empty for whole-input problems
	Message string `json:"message"`
	// ClientHint is the client id as far as it could be read, for auditing
	// rejected events per producer; it is best effort and may be empty.
	ClientHint string `json:"clientHint,omitempty"`
}

func (r *Rejection) Error() string {
	if r.Field == "" {
		return r.Code + ": " + r.Message
	}
	return r.Code + ": " + r.Field + ": " + r.Message
}
