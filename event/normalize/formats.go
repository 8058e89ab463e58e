package normalize

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tally-dev/tally/event"
)

// Format says how a raw event is laid out. The mappings are documented in
// the package doc ("Producer formats") and docs/producers.md.
type Format uint8

const (
	// FormatTally is any JSON object, read through the alias config.
	FormatTally Format = iota
	// FormatCloudEvent is a CloudEvents 1.0 event in structured mode:
	// one JSON object holding the context attributes and data
	// (application/cloudevents+json, or a Kafka record with that content type).
	FormatCloudEvent
	// FormatCloudEventBinary is a CloudEvents 1.0 event in binary mode:
	// Input.Attributes hold the context (ce-* HTTP or ce_* Kafka headers),
	// Input.Raw the data.
	FormatCloudEventBinary
	// FormatSegment is a Segment track call (one message of /v1/track or
	// /v1/batch).
	FormatSegment
)

var formatNames = [...]string{"tally", "cloudevents", "cloudevents-binary", "segment"}

func (f Format) String() string {
	if int(f) < len(formatNames) {
		return formatNames[f]
	}
	return fmt.Sprintf("format(%d)", f)
}

// ParseFormat reads a Format from its String form (for a record header or
// a flag).
func ParseFormat(s string) (Format, error) {
	for i, n := range formatNames {
		if s == n {
			return Format(i), nil
		}
	}
	return 0, fmt.Errorf("unknown event format %q (want tally, cloudevents, cloudevents-binary or segment)", s)
}

// formatExtras carries what a format mapping adds to the common path.
type formatExtras struct {
	amountDefault *event.Amount      // the format's default amount, when set
	sentAt        int32              // Segment: the sentAt node, or -1
	tsPrefix      string             // names the timestamp's field in messages
	from          *[numFields]string // where each field came from; only when explaining
}

func (fx *formatExtras) setFrom(f fieldID, s string) {
	if fx.from != nil {
		fx.from[f] = s
	}
}

// formatRules is the compiled CloudEvents and Segment config.
type formatRules struct {
	ceClient        string
	ceAmount        []string // nil: data itself
	ceAmountDefault *event.Amount
	segClient       [][]string
	segAmount       [][]string
	segAmountDef    *event.Amount
	ceLooked        [numFields]string
	segLooked       [numFields]string
}

func compileFormats(c *Config) formatRules {
	r := formatRules{ceClient: c.CloudEvents.Client}
	if r.ceClient == "" {
		r.ceClient = "source"
	}
	amount := c.CloudEvents.Amount
	if amount == "" {
		amount = "amount"
	}
	if amount != "." {
		r.ceAmount = strings.Split(amount, ".")
	}
	if v := c.CloudEvents.AmountDefault; v != "" {
		a, _ := parseAmountString([]byte(v), nil, 0)
		r.ceAmountDefault = &a
	}
	clients := c.Segment.Client
	if len(clients) == 0 {
		clients = []string{"userId", "anonymousId"}
	}
	for _, p := range clients {
		r.segClient = append(r.segClient, strings.Split(p, "."))
	}
	amounts := c.Segment.Amount
	if len(amounts) == 0 {
		amounts = []string{"value"}
	}
	for _, p := range amounts {
		r.segAmount = append(r.segAmount, strings.Split(p, "."))
	}
	if v := c.Segment.AmountDefault; v != "" {
		a, _ := parseAmountString([]byte(v), nil, 0)
		r.segAmountDef = &a
	}
	dataPath := "data." + amount
	if amount == "." {
		dataPath = "data"
	}
	r.ceLooked = [numFields]string{"the attribute " + r.ceClient, "the attribute type", dataPath, "the attribute time", "the attribute id"}
	r.segLooked = [numFields]string{strings.Join(clients, ", "), "event", "properties." + strings.Join(amounts, ", properties."),
		"originalTimestamp, timestamp", "messageId"}
	return r
}

// lookedFor names where a missing field was looked for, for messages.
func (e *Engine) lookedFor(f Format, field fieldID) string {
	switch f {
	case FormatCloudEvent, FormatCloudEventBinary:
		return e.formats.ceLooked[field]
	case FormatSegment:
		return e.formats.segLooked[field]
	}
	return e.aliasHint(field)
}

// present returns n unless it is missing or JSON null (Segment and
// CloudEvents SDKs write null for an absent optional field).
func present(d *doc, n int32) int32 {
	if n >= 0 && d.nodes[n].kind == jNull {
		return -1
	}
	return n
}

// mapFormat finds the canonical fields of a CloudEvents or Segment event.
func (e *Engine) mapFormat(d *doc, root int32, in *Input, fv *[numFields]found, fx *formatExtras) *Rejection {
	for f := range fv {
		fv[f] = found{rank: noRank, node: -1}
	}
	r := &e.formats
	switch in.Format {
	case FormatCloudEvent:
		if d.nodes[root].kind != jObject {
			return reject(CodeNotObject, noField, "a structured CloudEvent must be a JSON object, got "+d.nodes[root].kind.String(), "")
		}
		if sv := d.get(root, "specversion"); sv < 0 || d.nodes[sv].kind != jString || string(d.text(sv)) != "1.0" {
			return reject(CodeUnsupportedEvent, noField, `CloudEvents specversion must be "1.0"`, "")
		}
		fv[fClient].node = present(d, d.get(root, r.ceClient))
		fv[fMetric].node = present(d, d.get(root, "type"))
		fv[fTimestamp].node = present(d, d.get(root, "time"))
		fv[fKey].node = present(d, d.get(root, "id"))
		if data := present(d, d.get(root, "data")); data >= 0 {
			fv[fAmount].node = ceAmount(d, data, r.ceAmount)
		}
		if fx.from != nil {
			*fx.from = [numFields]string{"attribute " + r.ceClient, "attribute type", "data." + strings.Join(r.ceAmount, "."), "attribute time", "attribute id"}
		}
	case FormatCloudEventBinary:
		attrs := in.Attributes
		if attrs["specversion"] != "1.0" {
			return reject(CodeUnsupportedEvent, noField, `CloudEvents specversion must be "1.0" (the ce-specversion or ce_specversion header)`, "")
		}
		for _, a := range [...]struct {
			f    fieldID
			name string
		}{{fClient, r.ceClient}, {fMetric, "type"}, {fTimestamp, "time"}, {fKey, "id"}} {
			v, ok := attrs[a.name]
			if !ok {
				continue
			}
			if !utf8.ValidString(v) {
				return reject(CodeInvalidUTF8, noField, "CloudEvents attribute "+a.name+" is not valid UTF-8", "")
			}
			fv[a.f].node = d.addString([]byte(v))
		}
		if root >= 0 {
			fv[fAmount].node = ceAmount(d, root, r.ceAmount)
		}
		if fx.from != nil {
			*fx.from = [numFields]string{"header attribute " + r.ceClient, "header attribute type", "data." + strings.Join(r.ceAmount, "."), "header attribute time", "header attribute id"}
		}
	case FormatSegment:
		if d.nodes[root].kind != jObject {
			return reject(CodeNotObject, noField, "a Segment message must be a JSON object, got "+d.nodes[root].kind.String(), "")
		}
		if t := present(d, d.get(root, "type")); t >= 0 && (d.nodes[t].kind != jString || string(d.text(t)) != "track") {
			return reject(CodeUnsupportedEvent, noField, "only Segment track calls are counted; this message's type is not track", "")
		}
		for i, p := range r.segClient {
			if n := present(d, d.path(root, p)); n >= 0 {
				fv[fClient].node = n
				if fx.from != nil {
					fx.from[fClient] = strings.Join(p, ".")
					if i > 0 {
						fx.from[fClient] += " (the ones before it were absent or null)"
					}
				}
				break
			}
		}
		fv[fMetric].node = present(d, d.get(root, "event"))
		fv[fKey].node = present(d, d.get(root, "messageId"))
		if props := present(d, d.get(root, "properties")); props >= 0 && d.nodes[props].kind == jObject {
			for _, p := range r.segAmount {
				if n := present(d, d.path(props, p)); n >= 0 {
					fv[fAmount].node = n
					if fx.from != nil {
						fx.from[fAmount] = "properties." + strings.Join(p, ".")
					}
					break
				}
			}
		}
		fx.tsPrefix = "originalTimestamp: "
		fx.setFrom(fTimestamp, "originalTimestamp")
		if fv[fTimestamp].node = present(d, d.get(root, "originalTimestamp")); fv[fTimestamp].node < 0 {
			fv[fTimestamp].node = present(d, d.get(root, "timestamp"))
			fx.tsPrefix = "timestamp: "
			fx.setFrom(fTimestamp, "timestamp")
		}
		if n := present(d, d.get(root, "sentAt")); n >= 0 {
			fx.sentAt = n
		} else if in.SentAt != "" && utf8.ValidString(in.SentAt) {
			fx.sentAt = d.addString([]byte(in.SentAt))
		}
		fx.amountDefault = r.segAmountDef
		fx.setFrom(fMetric, "event")
		fx.setFrom(fKey, "messageId")
		return nil
	}
	if in.Format == FormatCloudEvent || in.Format == FormatCloudEventBinary {
		fx.amountDefault = r.ceAmountDefault
		// Required by the CloudEvents spec; a guess would merge events.
		switch {
		case fv[fClient].node < 0 && r.ceClient == "source":
			return reject(CodeClientMissing, fClient, "CloudEvents attribute source is required", "")
		case fv[fMetric].node < 0:
			return reject(CodeMetricMissing, fMetric, "CloudEvents attribute type is required", "")
		case fv[fKey].node < 0 && in.IdempotencyKey == "":
			return reject(CodeIdempotencyKeyMissing, fKey, "CloudEvents attribute id is required", "")
		}
	}
	return nil
}

func ceAmount(d *doc, data int32, path []string) int32 {
	if path == nil {
		return data
	}
	if d.nodes[data].kind != jObject {
		return -1
	}
	return present(d, d.path(data, path))
}

// segmentSkew applies Segment's clock-skew rule to a track call's client
// time: timestamp = receivedAt − (sentAt − originalTimestamp), all in ms.
func (e *Engine) segmentSkew(d *doc, sentAt int32, clientMs int64, received time.Time, env *textEnv, sc *textScratch, ex *Explanation) (int64, string, string) {
	r, code, msg := e.timestamp(d, sentAt, env, sc)
	if code != "" {
		return 0, code, "sentAt: " + msg
	}
	ms := received.UnixMilli() - (r.ms - clientMs)
	if ms < e.minMs || ms >= e.maxMs {
		return 0, CodeTimestampOutOfRange, "timestamp corrected for clock skew is outside the accepted range"
	}
	if ex != nil {
		ex.Timestamp.Rule += fmt.Sprintf("; corrected for client clock skew: receivedAt − (sentAt − %s) = %s",
			ex.Timestamp.From, time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z"))
	}
	return ms, "", ""
}

// isJSONContentType reports whether a binary-mode CloudEvent's data is JSON:
// application/json, text/json, any +json type, or no content type at all.
func isJSONContentType(ct string) bool {
	if ct == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || mt == "text/json" || strings.HasSuffix(mt, "+json")
}

func isCEAttributeName(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// CloudEvents content types (HTTP structured and batched mode).
const (
	ContentTypeCloudEvent      = "application/cloudevents+json"
	ContentTypeCloudEventBatch = "application/cloudevents-batch+json"
)

// CloudEventMode tells from a Content-Type (HTTP header or Kafka
// content-type header) whether a body is one structured CloudEvent or a
// batch of them.
func CloudEventMode(contentType string) (structured, batch bool) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false, false
	}
	return mt == ContentTypeCloudEvent, mt == ContentTypeCloudEventBatch
}

// ErrCloudEventHeader reports a ce- header value that is not valid
// percent-encoded UTF-8; the caller answers 400.
var ErrCloudEventHeader = errors.New("invalid CloudEvents header")

// CloudEventHTTPAttributes returns the context attributes of a binary-mode
// HTTP request: each ce-<name> header (the name lower-cased, the value
// percent-decoded as the HTTP binding requires), plus datacontenttype from
// Content-Type. ok is false when there is no ce-specversion header (the
// request is not binary mode).
func CloudEventHTTPAttributes(h http.Header) (attrs map[string]string, ok bool, err error) {
	if h.Get("ce-specversion") == "" {
		return nil, false, nil
	}
	attrs = map[string]string{}
	for k, vs := range h {
		lk := strings.ToLower(k)
		if !strings.HasPrefix(lk, "ce-") || len(vs) == 0 {
			continue
		}
		name := lk[3:]
		if !isCEAttributeName(name) {
			return nil, true, fmt.Errorf("%w: %s is not an attribute name", ErrCloudEventHeader, k)
		}
		v, err := url.PathUnescape(vs[0])
		if err != nil || !utf8.ValidString(v) {
			return nil, true, fmt.Errorf("%w: %s is not percent-encoded UTF-8", ErrCloudEventHeader, k)
		}
		attrs[name] = v
	}
	if ct := h.Get("Content-Type"); ct != "" {
		attrs["datacontenttype"] = ct
	}
	return attrs, true, nil
}

// CloudEventKafkaAttributes returns the context attributes of a binary-mode
// Kafka record (the Kafka protocol binding): each ce_<name> header, plus
// datacontenttype from the content-type header. ok is false when there is
// no ce_specversion header.
func CloudEventKafkaAttributes(headers []kgo.RecordHeader) (attrs map[string]string, ok bool) {
	for _, h := range headers {
		if h.Key == "ce_specversion" {
			ok = true
			break
		}
	}
	if !ok {
		return nil, false
	}
	attrs = map[string]string{}
	for _, h := range headers {
		switch {
		case strings.HasPrefix(h.Key, "ce_") && isCEAttributeName(h.Key[3:]):
			attrs[h.Key[3:]] = string(h.Value)
		case h.Key == "content-type":
			attrs["datacontenttype"] = string(h.Value)
		}
	}
	return attrs, true
}

// SplitCloudEventBatch splits an application/cloudevents-batch+json body
// (a JSON array of structured events) into events for FormatCloudEvent.
func SplitCloudEventBatch(body []byte) ([][]byte, error) {
	var batch []json.RawMessage
	if err := json.Unmarshal(body, &batch); err != nil {
		return nil, fmt.Errorf("cloudevents batch: %w", err)
	}
	out := make([][]byte, len(batch))
	for i, m := range batch {
		out[i] = m
	}
	return out, nil
}

// SplitSegmentBatch splits a Segment /v1/batch body into its messages (for
// FormatSegment) and the batch's sentAt, which each message without one
// should carry in Input.SentAt.
func SplitSegmentBatch(body []byte) (msgs [][]byte, sentAt string, err error) {
	var b struct {
		Batch  []json.RawMessage `json:"batch"`
		SentAt *string           `json:"sentAt"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, "", fmt.Errorf("segment batch: %w", err)
	}
	if b.Batch == nil {
		return nil, "", errors.New("segment batch: no batch array")
	}
	msgs = make([][]byte, len(b.Batch))
	for i, m := range b.Batch {
		msgs[i] = m
	}
	if b.SentAt != nil {
		sentAt = *b.SentAt
	}
	return msgs, sentAt, nil
}
