package normalize

import (
	"bytes"
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"pgregory.net/rapid"

	"github.com/tally-dev/tally/event"
)

// What the ingestor writes, the processor reads back as the same Input.
func TestFormatHeadersRoundTrip(t *testing.T) {
	for _, in := range []Input{
		{Format: FormatTally},
		{Format: FormatCloudEvent},
		{Format: FormatCloudEventBinary, Attributes: map[string]string{
			"specversion": "1.0", "id": "A-1", "source": "/shop/orders", "type": "order.paid",
			"time": "2024-01-02T15:04:05Z", "datacontenttype": "application/json; charset=utf-8", "tenantid": "ü ✓",
		}},
		{Format: FormatCloudEventBinary, Attributes: map[string]string{"specversion": "1.0", "id": "1", "source": "s", "type": "t"}},
		{Format: FormatSegment, SentAt: "2024-01-02T15:04:06.100Z"},
		{Format: FormatSegment},
	} {
		hs := FormatHeaders(&in)
		var got Input
		if rej := RecordFormat(hs, &got); rej != nil {
			t.Fatalf("%s: %v", in.Format, rej)
		}
		if got.Format != in.Format || got.SentAt != in.SentAt || !reflect.DeepEqual(got.Attributes, in.Attributes) {
			t.Errorf("%s: headers %v read back as %+v", in.Format, hs, got)
		}
	}
}

// Kafka-native producers following the CloudEvents Kafka protocol binding
// need no tally-* header; an explicit tally-format wins over the binding.
func TestRecordFormat(t *testing.T) {
	h := func(kv ...string) []kgo.RecordHeader {
		var hs []kgo.RecordHeader
		for i := 0; i < len(kv); i += 2 {
			hs = append(hs, kgo.RecordHeader{Key: kv[i], Value: []byte(kv[i+1])})
		}
		return hs
	}
	for _, c := range []struct {
		name    string
		headers []kgo.RecordHeader
		format  Format
		attrs   map[string]string
		sentAt  string
		code    string
	}{
		{name: "no headers", format: FormatTally},
		{name: "plain json", headers: h("content-type", "application/json"), format: FormatTally},
		{name: "structured", headers: h("content-type", "application/cloudevents+json; charset=UTF-8"), format: FormatCloudEvent},
		{name: "batch content type", headers: h("content-type", "application/cloudevents-batch+json"), format: FormatCloudEvent},
		{name: "binary", headers: h("ce_specversion", "1.0", "ce_id", "1", "ce_source", "s", "ce_type", "t", "content-type", "application/json"),
			format: FormatCloudEventBinary,
			attrs:  map[string]string{"specversion": "1.0", "id": "1", "source": "s", "type": "t", "datacontenttype": "application/json"}},
		{name: "binary wins over content type", headers: h("content-type", "application/cloudevents+json", "ce_specversion", "1.0"),
			format: FormatCloudEventBinary, attrs: map[string]string{"specversion": "1.0", "datacontenttype": "application/cloudevents+json"}},
		{name: "tally-format wins", headers: h(event.HeaderFormat, "tally", "ce_specversion", "1.0"), format: FormatTally},
		{name: "segment", headers: h(event.HeaderFormat, "segment", event.HeaderSentAt, "2024-01-02T00:00:00Z"), format: FormatSegment,
			sentAt: "2024-01-02T00:00:00Z"},
		{name: "sent-at only for segment", headers: h(event.HeaderSentAt, "2024-01-02T00:00:00Z"), format: FormatTally},
		{name: "binary named without ce headers", headers: h(event.HeaderFormat, "cloudevents-binary"), format: FormatCloudEventBinary},
		{name: "unknown format", headers: h(event.HeaderFormat, "avro"), code: CodeUnsupportedEvent},
		{name: "format not utf-8", headers: h(event.HeaderFormat, "\xff"), code: CodeUnsupportedEvent},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := Input{Format: FormatSegment, SentAt: "stale", Attributes: map[string]string{"stale": "x"}}
			rej := RecordFormat(c.headers, &in)
			if c.code != "" {
				if rej == nil || rej.Code != c.code {
					t.Fatalf("got %v, want %s", rej, c.code)
				}
				return
			}
			if rej != nil {
				t.Fatal(rej)
			}
			if in.Format != c.format || in.SentAt != c.sentAt || !reflect.DeepEqual(in.Attributes, c.attrs) {
				t.Fatalf("got %s %q %v, want %s %q %v", in.Format, in.SentAt, in.Attributes, c.format, c.sentAt, c.attrs)
			}
		})
	}
}

// A binary-mode event without data (an empty body) counts with the amount
// default, whatever its content type says.
func TestCloudEventBinaryNoData(t *testing.T) {
	e := newEngine(t)
	for _, ct := range []string{"", "application/json"} {
		attrs := map[string]string{"specversion": "1.0", "id": "1", "source": "s", "type": "t"}
		if ct != "" {
			attrs["datacontenttype"] = ct
		}
		ev, rej := e.Normalize(Input{Format: FormatCloudEventBinary, Attributes: attrs, ReceivedAt: received})
		if rej != nil || ev.Amount != (event.Amount{Units: 1}) || ev.EventID != wantID('K', "s", "1") {
			t.Fatalf("content type %q: %+v %v", ct, ev, rej)
		}
	}
}

// Any layout the ingestor can write reads back the same, and so gives the
// processor the same Input: attribute names as CloudEventHTTPAttributes
// admits them, any UTF-8 values (headers are not percent-encoded on
// Kafka), any sentAt.
func TestPropertyFormatHeadersRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		in := Input{Format: Format(rapid.IntRange(0, int(FormatSegment)).Draw(t, "format"))}
		switch in.Format {
		case FormatCloudEventBinary:
			in.Attributes = rapid.MapOf(rapid.StringMatching(`[a-z0-9]{1,20}`), rapid.String()).Draw(t, "attributes")
			in.Attributes["specversion"] = rapid.SampledFrom([]string{"1.0", "0.3", ""}).Draw(t, "specversion")
		case FormatSegment:
			in.SentAt = rapid.String().Draw(t, "sentAt")
		}
		var got Input
		if rej := RecordFormat(FormatHeaders(&in), &got); rej != nil {
			t.Fatal(rej)
		}
		if got.Format != in.Format || got.SentAt != in.SentAt || !maps.Equal(got.Attributes, in.Attributes) {
			t.Fatalf("wrote %+v, read %+v", in, got)
		}
	})
}

// Whatever headers a Kafka-native producer sends, reading them never
// panics, and the format is either one the engine knows or a rejection.
func FuzzRecordFormat(f *testing.F) {
	f.Add("tally-format", "segment", "tally-sent-at", "x")
	f.Add("ce_specversion", "1.0", "content-type", "application/json")
	f.Add("content-type", "application/cloudevents+json; charset=utf-8", "ce_", "")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		var in Input
		rej := RecordFormat([]kgo.RecordHeader{{Key: k1, Value: []byte(v1)}, {Key: k2, Value: []byte(v2)}}, &in)
		if rej == nil && in.Format > FormatSegment {
			t.Fatalf("format %d", in.Format)
		}
		if rej != nil && rej.Code != CodeUnsupportedEvent {
			t.Fatalf("rejection %v", rej)
		}
	})
}

// The dry run reads binary-mode data with the given attributes, and
// Segment lines with the given batch sentAt, as the pipeline would.
func TestRunCLIFormatOptions(t *testing.T) {
	var out bytes.Buffer
	attrs := map[string]string{"specversion": "1.0", "id": "A1", "source": "/shop", "type": "paid", "datacontenttype": "application/json"}
	if err := RunCLI(DefaultConfig(), strings.NewReader(`{"amount":"12.50"}`+"\n"), &out,
		CLIOptions{Format: FormatCloudEventBinary, Attributes: attrs}); err != nil {
		t.Fatal(err)
	}
	if want := `"eventId":"` + wantID('K', "/shop", "A1") + `"`; !strings.Contains(out.String(), want) || !strings.Contains(out.String(), `"amount":12.5`) {
		t.Fatalf("binary: %s", out.String())
	}
	out.Reset()
	// sentAt one minute after the client time: received − 1 minute.
	clock := func() time.Time { return received }
	if err := runCLI(DefaultConfig(), strings.NewReader(`{"userId":"u","event":"e","messageId":"m","timestamp":"2024-01-01T00:00:00Z"}`+"\n"),
		&out, clock, CLIOptions{Format: FormatSegment, SentAt: "2024-01-01T00:01:00Z"}); err != nil {
		t.Fatal(err)
	}
	if want := received.Add(-time.Minute).Truncate(time.Millisecond).Format("2006-01-02T15:04:05.000Z"); !strings.Contains(out.String(), want) {
		t.Fatalf("segment: %s, want timestamp %s", out.String(), want)
	}
}
