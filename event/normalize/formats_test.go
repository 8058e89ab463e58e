package normalize

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tally-dev/tally/event"
)

const structuredCE = `{"specversion":"1.0","id":"A234-1234-1234","source":"/shop/orders","type":"com.example.order.paid",
"time":"2024-01-02T15:04:05Z","datacontenttype":"application/json","data":{"amount":"12.50","currency":"EUR"}}`

func TestCloudEventStructured(t *testing.T) {
	e := newEngine(t)
	ev, rej := e.Normalize(Input{Raw: []byte(structuredCE), ReceivedAt: received, Format: FormatCloudEvent})
	if rej != nil {
		t.Fatal(rej)
	}
	want := event.Canonical{
		EventID:  wantID('K', "/shop/orders", "A234-1234-1234"),
		ClientID: "/shop/orders", Metric: "com.example.order.paid", Amount: event.Amount{Units: 12, Nanos: 500_000_000},
		Timestamp: time.Date(2024, 1, 2, 15, 4, 5, 0, time.UTC), IdempotencyKey: "A234-1234-1234",
	}
	if ev != want {
		t.Fatalf("got  %+v\nwant %+v", ev, want)
	}
	for _, c := range []struct{ name, raw, code string }{
		{"specversion 0.3", strings.Replace(structuredCE, `"1.0"`, `"0.3"`, 1), CodeUnsupportedEvent},
		{"no specversion", strings.Replace(structuredCE, `"specversion":"1.0",`, ``, 1), CodeUnsupportedEvent},
		{"no id", strings.Replace(structuredCE, `"id":"A234-1234-1234",`, ``, 1), CodeIdempotencyKeyMissing},
		{"no type", strings.Replace(structuredCE, `"type":"com.example.order.paid",`, ``, 1), CodeMetricMissing},
		{"no source", strings.Replace(structuredCE, `"source":"/shop/orders",`, ``, 1), CodeClientMissing},
		{"bad time", strings.Replace(structuredCE, `2024-01-02T15:04:05Z`, `01/02/2024`, 1), CodeTimestampAmbiguous},
		{"array", `[` + structuredCE + `]`, CodeNotObject},
		{"amount object", strings.Replace(structuredCE, `"12.50"`, `{}`, 1), CodeAmountInvalid},
	} {
		if _, rej := e.Normalize(Input{Raw: []byte(c.raw), ReceivedAt: received, Format: FormatCloudEvent}); rej == nil || rej.Code != c.code {
			t.Errorf("%s: got %v, want %s", c.name, rej, c.code)
		}
	}
	// No amount in data (or binary data_base64): amountDefault 1. No time: the received time.
	ev, rej = e.Normalize(Input{Raw: []byte(`{"specversion":"1.0","id":"x","source":"s","type":"t","data_base64":"AAEC"}`), ReceivedAt: received, Format: FormatCloudEvent})
	if rej != nil || ev.Amount != (event.Amount{Units: 1}) || !ev.TimestampDefaulted {
		t.Fatalf("defaults: %+v %v", ev, rej)
	}
}

// The same CloudEvent in binary mode, over HTTP or Kafka, is the same event.
func TestCloudEventBinaryMatchesStructured(t *testing.T) {
	e := newEngine(t)
	want, rej := e.Normalize(Input{Raw: []byte(structuredCE), ReceivedAt: received, Format: FormatCloudEvent})
	if rej != nil {
		t.Fatal(rej)
	}
	h := http.Header{}
	h.Set("Ce-Specversion", "1.0")
	h.Set("Ce-Id", "A234-1234-1234")
	h.Set("Ce-Source", "%2Fshop%2Forders") // percent-encoding is allowed
	h.Set("Ce-Type", "com.example.order.paid")
	h.Set("Ce-Time", "2024-01-02T15:04:05Z")
	h.Set("Content-Type", "application/json; charset=utf-8")
	attrs, ok, err := CloudEventHTTPAttributes(h)
	if !ok || err != nil {
		t.Fatalf("http attributes: %v %v", ok, err)
	}
	data := []byte(`{"amount":"12.50","currency":"EUR"}`)
	got, rej := e.Normalize(Input{Raw: data, ReceivedAt: received, Format: FormatCloudEventBinary, Attributes: attrs})
	if rej != nil || got != want {
		t.Fatalf("http binary: %+v %v\nwant %+v", got, rej, want)
	}
	kattrs, ok := CloudEventKafkaAttributes([]kgo.RecordHeader{
		{Key: "ce_specversion", Value: []byte("1.0")}, {Key: "ce_id", Value: []byte("A234-1234-1234")},
		{Key: "ce_source", Value: []byte("/shop/orders")}, {Key: "ce_type", Value: []byte("com.example.order.paid")},
		{Key: "ce_time", Value: []byte("2024-01-02T15:04:05Z")}, {Key: "content-type", Value: []byte("application/json")},
	})
	if !ok {
		t.Fatal("kafka attributes not found")
	}
	got, rej = e.Normalize(Input{Raw: data, ReceivedAt: received, Format: FormatCloudEventBinary, Attributes: kattrs})
	if rej != nil || got != want {
		t.Fatalf("kafka binary: %+v %v", got, rej)
	}
	// Non-JSON data is not read: the amount default applies.
	kattrs["datacontenttype"] = "application/octet-stream"
	got, rej = e.Normalize(Input{Raw: []byte{0x01, 0x02}, ReceivedAt: received, Format: FormatCloudEventBinary, Attributes: kattrs})
	if rej != nil || got.Amount != (event.Amount{Units: 1}) || got.EventID != want.EventID {
		t.Fatalf("binary data: %+v %v", got, rej)
	}
	// JSON data that is not JSON is rejected.
	kattrs["datacontenttype"] = "application/json"
	if _, rej := e.Normalize(Input{Raw: []byte(`{`), Format: FormatCloudEventBinary, Attributes: kattrs}); rej == nil || rej.Code != CodeInvalidJSON {
		t.Fatalf("bad JSON data: %v", rej)
	}
	if _, ok, _ := CloudEventHTTPAttributes(http.Header{"Content-Type": {"application/json"}}); ok {
		t.Fatal("a request without ce-specversion is not binary mode")
	}
	bad := http.Header{}
	bad.Set("Ce-Specversion", "1.0")
	bad.Set("Ce-Source", "%zz")
	if _, _, err := CloudEventHTTPAttributes(bad); err == nil {
		t.Fatal("bad percent-encoding accepted")
	}
	delete(kattrs, "specversion")
	if _, rej := e.Normalize(Input{Raw: data, Format: FormatCloudEventBinary, Attributes: kattrs}); rej == nil || rej.Code != CodeUnsupportedEvent {
		t.Fatalf("no specversion: %v", rej)
	}
}

func TestCloudEventConfig(t *testing.T) {
	e := newEngine(t, func(c *Config) {
		c.CloudEvents = CloudEventRules{Client: "tenant", Amount: "."}
	})
	ev, rej := e.Normalize(Input{Raw: []byte(`{"specversion":"1.0","id":"1","source":"s","type":"t","tenant":"acme","data":42}`), Format: FormatCloudEvent, ReceivedAt: received})
	if rej != nil || ev.ClientID != "acme" || ev.Amount != (event.Amount{Units: 42}) {
		t.Fatalf("%+v %v", ev, rej)
	}
	// Zero-value config: no amountDefault, so fields.amount (required) decides.
	if _, rej := e.Normalize(Input{Raw: []byte(`{"specversion":"1.0","id":"1","source":"s","type":"t","tenant":"acme"}`), Format: FormatCloudEvent}); rej == nil || rej.Code != CodeAmountMissing {
		t.Fatalf("no amount: %v", rej)
	}
	for _, bad := range []CloudEventRules{{Client: "id"}, {Client: "Source"}, {Amount: "a..b"}, {AmountDefault: "x"}} {
		cfg := DefaultConfig()
		cfg.CloudEvents = bad
		if err := cfg.Validate(); err == nil {
			t.Errorf("cloudEvents %+v accepted", bad)
		}
	}
}

// A track call as analytics.js sends it (recorded shape).
const segmentTrack = `{"type":"track","event":"Order Completed","userId":"user-97","anonymousId":"507f191e810c19729de860ea",
"messageId":"ajs-next-1a2b3c","properties":{"value":19.99,"revenue":25,"currency":"USD"},
"context":{"library":{"name":"analytics.js","version":"next-1.70.0"},"timezone":"Europe/Amsterdam"},
"originalTimestamp":"2024-01-02T15:04:05.000Z","sentAt":"2024-01-02T15:04:07.500Z","integrations":{}}`

func TestSegmentTrack(t *testing.T) {
	e := newEngine(t)
	recv := time.Date(2024, 1, 2, 15, 0, 0, 0, time.UTC) // the device clock is 4m7.5s fast
	ev, rej := e.Normalize(Input{Raw: []byte(segmentTrack), ReceivedAt: recv, Format: FormatSegment})
	if rej != nil {
		t.Fatal(rej)
	}
	want := event.Canonical{
		EventID:  wantID('K', "user-97", "ajs-next-1a2b3c"),
		ClientID: "user-97", Metric: "Order Completed", Amount: event.Amount{Units: 19, Nanos: 990_000_000},
		// receivedAt − (sentAt − originalTimestamp) = 15:00:00 − 2.5 s
		Timestamp: time.Date(2024, 1, 2, 14, 59, 57, 500_000_000, time.UTC), IdempotencyKey: "ajs-next-1a2b3c",
	}
	if ev != want {
		t.Fatalf("got  %+v\nwant %+v", ev, want)
	}
	// A resend received later keeps its id (the key), whatever its corrected time.
	again, _ := e.Normalize(Input{Raw: []byte(segmentTrack), ReceivedAt: recv.Add(time.Minute), Format: FormatSegment})
	if again.EventID != ev.EventID {
		t.Fatal("resend changed the id")
	}

	for _, c := range []struct {
		name, raw, sentAt string
		check             func(event.Canonical) bool
	}{
		{"anonymous: userId null", strings.Replace(segmentTrack, `"userId":"user-97"`, `"userId":null`, 1), "",
			func(ev event.Canonical) bool { return ev.ClientID == "507f191e810c19729de860ea" }},
		{"no sentAt: client time as sent", strings.Replace(segmentTrack, `,"sentAt":"2024-01-02T15:04:07.500Z"`, ``, 1), "",
			func(ev event.Canonical) bool { return ev.Timestamp.Equal(time.Date(2024, 1, 2, 15, 4, 5, 0, time.UTC)) }},
		{"batch sentAt", strings.Replace(segmentTrack, `,"sentAt":"2024-01-02T15:04:07.500Z"`, ``, 1), "2024-01-02T15:04:06.000Z",
			func(ev event.Canonical) bool {
				return ev.Timestamp.Equal(time.Date(2024, 1, 2, 14, 59, 59, 0, time.UTC))
			}},
		{"timestamp instead of originalTimestamp", strings.Replace(segmentTrack, `originalTimestamp`, `timestamp`, 1), "",
			func(ev event.Canonical) bool { return ev.Timestamp.Equal(want.Timestamp) }},
		{"no messageId: no correction, content id", strings.Replace(segmentTrack, `"messageId":"ajs-next-1a2b3c",`, ``, 1), "",
			func(ev event.Canonical) bool {
				return ev.Timestamp.Equal(time.Date(2024, 1, 2, 15, 4, 5, 0, time.UTC)) && ev.IdempotencyKey == "" &&
					ev.EventID == wantID('C', "user-97", "Order Completed", "19.99", "1704207845000")
			}},
		{"no value property: counts 1", strings.Replace(segmentTrack, `"value":19.99,`, ``, 1), "",
			func(ev event.Canonical) bool { return ev.Amount == event.Amount{Units: 1} }},
		{"no type: the /v1/track route", strings.Replace(segmentTrack, `"type":"track",`, ``, 1), "",
			func(ev event.Canonical) bool { return ev.Metric == "Order Completed" }},
		{"integer userId", strings.Replace(segmentTrack, `"userId":"user-97"`, `"userId":97`, 1), "",
			func(ev event.Canonical) bool { return ev.ClientID == "97" }},
	} {
		ev, rej := e.Normalize(Input{Raw: []byte(c.raw), ReceivedAt: recv, Format: FormatSegment, SentAt: c.sentAt})
		if rej != nil || !c.check(ev) {
			t.Errorf("%s: %+v %v", c.name, ev, rej)
		}
	}
	for _, c := range []struct{ name, raw, code string }{
		{"identify", strings.Replace(segmentTrack, `"type":"track"`, `"type":"identify"`, 1), CodeUnsupportedEvent},
		{"no user", strings.Replace(strings.Replace(segmentTrack, `"userId":"user-97",`, ``, 1), `"anonymousId":"507f191e810c19729de860ea",`, ``, 1), CodeClientMissing},
		{"bad sentAt", strings.Replace(segmentTrack, `2024-01-02T15:04:07.500Z`, `soon`, 1), CodeTimestampUnparseable},
		{"event not a string", strings.Replace(segmentTrack, `"Order Completed"`, `{}`, 1), CodeMetricInvalid},
	} {
		if _, rej := e.Normalize(Input{Raw: []byte(c.raw), ReceivedAt: recv, Format: FormatSegment}); rej == nil || rej.Code != c.code {
			t.Errorf("%s: got %v, want %s", c.name, rej, c.code)
		}
	}
}

func TestSplitBatches(t *testing.T) {
	msgs, sentAt, err := SplitSegmentBatch([]byte(`{"batch":[` + segmentTrack + `,{"type":"track","event":"x","userId":"u","messageId":"m2"}],"sentAt":"2024-01-02T15:04:08Z","writeKey":"w"}`))
	if err != nil || len(msgs) != 2 || sentAt != "2024-01-02T15:04:08Z" {
		t.Fatalf("%d msgs, %q, %v", len(msgs), sentAt, err)
	}
	e := newEngine(t)
	if ev, rej := e.Normalize(Input{Raw: msgs[1], ReceivedAt: received, Format: FormatSegment, SentAt: sentAt}); rej != nil || ev.ClientID != "u" {
		t.Fatalf("batch message: %+v %v", ev, rej)
	}
	for _, bad := range []string{`[]`, `{"sentAt":"x"}`, `{"batch":{}}`, `{"batch":[],"sentAt":1}`} {
		if _, _, err := SplitSegmentBatch([]byte(bad)); err == nil {
			t.Errorf("segment batch %s accepted", bad)
		}
	}
	evs, err := SplitCloudEventBatch([]byte(`[` + structuredCE + `,` + structuredCE + `]`))
	if err != nil || len(evs) != 2 {
		t.Fatalf("ce batch: %d %v", len(evs), err)
	}
	if _, err := SplitCloudEventBatch([]byte(structuredCE)); err == nil {
		t.Fatal("a single event is not a batch")
	}
	if s, b := CloudEventMode("application/cloudevents+json; charset=UTF-8"); !s || b {
		t.Fatal("structured content type")
	}
	if s, b := CloudEventMode(ContentTypeCloudEventBatch); s || !b {
		t.Fatal("batch content type")
	}
	if f, err := ParseFormat("segment"); err != nil || f != FormatSegment || f.String() != "segment" {
		t.Fatal("ParseFormat")
	}
	if _, err := ParseFormat("avro"); err == nil {
		t.Fatal("ParseFormat accepted avro")
	}
}

func TestExplainFormats(t *testing.T) {
	e := newEngine(t)
	_, rej, ex := e.Explain(Input{Raw: []byte(segmentTrack), ReceivedAt: time.Date(2024, 1, 2, 15, 0, 0, 0, time.UTC), Format: FormatSegment})
	if rej != nil {
		t.Fatal(rej)
	}
	if ex.ClientID.From != "userId" || ex.Amount.From != "properties.value" || ex.IdempotencyKey.From != "messageId" ||
		!strings.Contains(ex.Timestamp.Rule, "clock skew") || !strings.HasPrefix(ex.EventID, "K:") {
		t.Fatalf("segment explanation: %+v", ex)
	}
	_, _, ex = e.Explain(Input{Raw: []byte(structuredCE), ReceivedAt: received, Format: FormatCloudEvent})
	if ex.ClientID.From != "attribute source" || ex.Amount.From != "data.amount" {
		t.Fatalf("cloudevents explanation: %+v", ex)
	}
}
