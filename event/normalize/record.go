package normalize

import (
	"mime"
	"sort"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tally-dev/tally/event"
)

// A raw record must carry how its value is laid out, so that the processor
// builds the same Input the ingestor's preflight built (else the two would
// compute different ids). FormatHeaders writes that layout; RecordFormat
// reads it back, and also understands records of Kafka-native producers that
// follow the CloudEvents Kafka protocol binding without any tally-* header.

// FormatHeaders returns the record headers that carry an Input's layout
// (everything but Raw, ReceivedAt, IdempotencyKey and Tenant, which have
// their own headers): none for FormatTally; event.HeaderFormat otherwise;
// for FormatCloudEventBinary the attributes as the Kafka protocol binding
// writes them (ce_<name>, and datacontenttype as content-type), so the
// record is a valid binary-mode CloudEvent for any Kafka consumer; for
// FormatSegment the batch's sentAt, when there is one. Attribute headers
// are sorted by name, so equal inputs give equal records.
func FormatHeaders(in *Input) []kgo.RecordHeader {
	if in.Format == FormatTally {
		return nil
	}
	hs := []kgo.RecordHeader{{Key: event.HeaderFormat, Value: []byte(in.Format.String())}}
	switch in.Format {
	case FormatCloudEvent:
		hs = append(hs, kgo.RecordHeader{Key: event.HeaderContentType, Value: []byte(ContentTypeCloudEvent)})
	case FormatCloudEventBinary:
		names := make([]string, 0, len(in.Attributes))
		for name := range in.Attributes {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			v := []byte(in.Attributes[name])
			if name == "datacontenttype" {
				hs = append(hs, kgo.RecordHeader{Key: event.HeaderContentType, Value: v})
				continue
			}
			hs = append(hs, kgo.RecordHeader{Key: event.HeaderCloudEventPrefix + name, Value: v})
		}
	case FormatSegment:
		if in.SentAt != "" {
			hs = append(hs, kgo.RecordHeader{Key: event.HeaderSentAt, Value: []byte(in.SentAt)})
		}
	}
	return hs
}

// RecordFormat sets in.Format, in.Attributes and in.SentAt from a raw
// record's headers. The tally-format header wins when present; an unknown
// value, or one that is not UTF-8, is rejected (unsupported_event), never
// guessed. Without it, the CloudEvents Kafka protocol binding decides: a
// ce_specversion header makes the record binary mode (the attributes are the
// ce_* headers, datacontenttype the content-type header); a content-type of
// application/cloudevents+json makes it structured mode (the binding defines
// no batches: a batch content type is structured mode too, and its array is
// rejected as not_object). Anything else is Tally JSON.
func RecordFormat(headers []kgo.RecordHeader, in *Input) *Rejection {
	var format, contentType, sentAt []byte
	var hasFormat, hasContentType, hasSpec bool
	for _, h := range headers {
		switch h.Key {
		case event.HeaderFormat:
			format, hasFormat = h.Value, true
		case event.HeaderContentType:
			contentType, hasContentType = h.Value, true
		case event.HeaderSentAt:
			sentAt = h.Value
		case event.HeaderCloudEventPrefix + "specversion":
			hasSpec = true
		}
	}
	in.Format, in.Attributes, in.SentAt = FormatTally, nil, ""
	switch {
	case hasFormat:
		f, err := ParseFormat(string(format))
		if err != nil {
			if !utf8.Valid(format) {
				return reject(CodeUnsupportedEvent, noField, "the "+event.HeaderFormat+" header is not UTF-8", "")
			}
			return reject(CodeUnsupportedEvent, noField, "the "+event.HeaderFormat+" header: "+err.Error(), "")
		}
		in.Format = f
	case hasSpec:
		in.Format = FormatCloudEventBinary
	case hasContentType:
		if mt, _, err := mime.ParseMediaType(string(contentType)); err == nil &&
			(mt == ContentTypeCloudEvent || mt == ContentTypeCloudEventBatch) {
			in.Format = FormatCloudEvent
		}
	}
	switch in.Format {
	case FormatCloudEventBinary:
		// Without ce_specversion the attributes stay nil and the engine
		// answers unsupported_event with the header's name.
		in.Attributes, _ = CloudEventKafkaAttributes(headers)
	case FormatSegment:
		in.SentAt = string(sentAt)
	}
	return nil
}
