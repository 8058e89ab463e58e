package ingest

import (
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tally-dev/tally/event/normalize"
)

// Layout says how a request's events are laid out, for the preflight and
// for the processor: it travels in record headers (normalize.FormatHeaders)
// so the processor builds the same normalize.Input and so the same id.
type Layout struct {
	Format normalize.Format
	// Attributes of a CloudEvents binary-mode request (its ce-* headers).
	Attributes map[string]string
	// SentAt of a Segment batch, for messages without their own.
	SentAt string
}

func (l Layout) input(raw []byte, receivedAt time.Time, key string) normalize.Input {
	return normalize.Input{Raw: raw, ReceivedAt: receivedAt, IdempotencyKey: key,
		Format: l.Format, Attributes: l.Attributes, SentAt: l.SentAt}
}

func (l Layout) headers() []kgo.RecordHeader {
	in := l.input(nil, time.Time{}, "")
	return normalize.FormatHeaders(&in)
}
