// Package dlq sends records the processor cannot store to the dead-letter
// topic, and replays them to the raw topic (after a configuration fix, say).
//
// A dead-lettered record keeps its value, key and headers, and gains headers
// with the reason and its original topic/partition/offset. Production waits
// for the broker's acknowledgement (acks=all) before the pipeline counts the
// record as handled, so a dead letter is never lost.
package dlq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tally-dev/tally/event"
)

// Producer writes to the dead-letter topic.
type Producer struct {
	cl       *kgo.Client
	topic    string
	maxValue int
}

// NewProducer wraps a producing client (acks=all, idempotent). Values above
// maxValue bytes are cut to it — and to what the client's
// ProducerBatchMaxBytes leaves after MaxHeaderBytes and Tally's own
// headers, so a dead letter never exceeds what this client can send.
func NewProducer(cl *kgo.Client, topic string, maxValue int) *Producer {
	if batch, ok := cl.OptValue(kgo.ProducerBatchMaxBytes).(int32); ok && batch > 0 {
		if room := int(batch) - MaxHeaderBytes - reserved; room > 0 && (maxValue <= 0 || room < maxValue) {
			maxValue = room
		}
	}
	return &Producer{cl: cl, topic: topic, maxValue: maxValue}
}

// reserved is room for the record's key, Tally's dead-letter headers and
// the batch overhead.
const reserved = 8 << 10

// MaxHeaderBytes bounds the producer headers a dead letter copies; beyond
// it only Tally's own headers are kept (event.BoundHeaders).
const MaxHeaderBytes = event.MaxCopiedHeaderBytes

// DeadLetter produces records with their reasons and waits for every ack.
// Every dead letter fits the dead-letter topic — values are cut to the
// limit, oversized producer headers dropped (both marked in headers) — so a
// poison record can never stall the pipeline by failing to dead-letter.
func (p *Producer) DeadLetter(ctx context.Context, records []*kgo.Record, reasons []string) error {
	out := make([]*kgo.Record, len(records))
	for i, r := range records {
		out[i] = p.letter(r, reasons[i])
	}
	if err := p.cl.ProduceSync(ctx, out...).FirstErr(); err != nil {
		return fmt.Errorf("produce to %s: %w", p.topic, err)
	}
	return nil
}

func truncated(r *kgo.Record) bool {
	for _, h := range r.Headers {
		if h.Key == event.HeaderDLQTruncated {
			return true
		}
	}
	return false
}

// letter is the dead letter of r.
func (p *Producer) letter(r *kgo.Record, reason string) *kgo.Record {
	h := event.BoundHeaders(r.Headers, MaxHeaderBytes)
	if len(h) < len(r.Headers) {
		h = append(h, kgo.RecordHeader{Key: event.HeaderDLQHeadersDropped, Value: []byte(strconv.Itoa(len(r.Headers) - len(h)))})
	}
	value := r.Value
	if p.maxValue > 0 && len(value) > p.maxValue {
		h = append(h, kgo.RecordHeader{Key: event.HeaderDLQTruncated, Value: []byte(strconv.Itoa(len(value)))})
		value = value[:p.maxValue]
	}
	key := r.Key
	if len(key) > 1024 {
		key = key[:1024]
	}
	h = append(h,
		kgo.RecordHeader{Key: event.HeaderDLQReason, Value: []byte(reason)},
		kgo.RecordHeader{Key: event.HeaderDLQTopic, Value: []byte(r.Topic)},
		kgo.RecordHeader{Key: event.HeaderDLQPartition, Value: []byte(strconv.Itoa(int(r.Partition)))},
		kgo.RecordHeader{Key: event.HeaderDLQOffset, Value: []byte(strconv.FormatInt(r.Offset, 10))},
	)
	return &kgo.Record{Topic: p.topic, Key: key, Value: value, Headers: h}
}

// ReplayOptions configure Replay.
type ReplayOptions struct {
	Client   []kgo.Opt
	DLQTopic string
	RawTopic string
	// Group remembers what was replayed, so a second run replays only newer
	// dead letters.
	Group  string
	DryRun bool
	Logger *slog.Logger
}

// Replay re-produces every dead letter not yet replayed to the raw topic,
// without the dead-letter headers, and returns how many it replayed. It stops
// at the end offsets it saw when it started.
func Replay(ctx context.Context, o ReplayOptions) (int, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	admin, err := kgo.NewClient(o.Client...)
	if err != nil {
		return 0, err
	}
	ends, err := kadm.NewClient(admin).ListEndOffsets(ctx, o.DLQTopic)
	admin.Close()
	if err != nil {
		return 0, fmt.Errorf("list end offsets: %w", err)
	}
	if err := ends.Error(); err != nil {
		return 0, fmt.Errorf("list end offsets: %w", err)
	}
	target := map[int32]int64{}
	ends.Each(func(lo kadm.ListedOffset) {
		if lo.Offset > 0 {
			target[lo.Partition] = lo.Offset
		}
	})
	if len(target) == 0 {
		return 0, nil
	}

	opts := append(slices.Clone(o.Client),
		kgo.ConsumerGroup(o.Group),
		kgo.ConsumeTopics(o.DLQTopic),
		kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return 0, err
	}
	defer cl.Close()

	// Find where the group stands so we know when we are done.
	committed, err := kadm.NewClient(cl).FetchOffsets(ctx, o.Group)
	if err == nil {
		committed.Each(func(or kadm.OffsetResponse) {
			if or.Topic == o.DLQTopic && target[or.Partition] <= or.At {
				delete(target, or.Partition)
			}
		})
	}
	replayed := 0
	for len(target) > 0 {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return replayed, err
		}
		var ferr error
		fetches.EachError(func(_ string, _ int32, err error) { ferr = errors.Join(ferr, err) })
		if ferr != nil {
			return replayed, fmt.Errorf("fetch dead letters: %w", ferr)
		}
		var batch []*kgo.Record
		fetches.EachRecord(func(r *kgo.Record) {
			end, ok := target[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			batch = append(batch, r)
			if r.Offset+1 >= end {
				delete(target, r.Partition)
			}
		})
		if len(batch) == 0 {
			continue
		}
		out := make([]*kgo.Record, 0, len(batch))
		for _, r := range batch {
			if truncated(r) {
				// Only part of the value was kept: replaying it would store
				// something the producer never sent.
				o.Logger.Warn("not replaying a truncated dead letter; its whole value is in the raw topic while retained",
					"partition", r.Partition, "offset", r.Offset)
				continue
			}
			h := make([]kgo.RecordHeader, 0, len(r.Headers))
			for _, kv := range r.Headers {
				if !strings.HasPrefix(kv.Key, "tally-dlq-") {
					h = append(h, kv)
				}
			}
			out = append(out, &kgo.Record{Topic: o.RawTopic, Key: r.Key, Value: r.Value, Headers: h})
		}
		if !o.DryRun {
			if err := cl.ProduceSync(ctx, out...).FirstErr(); err != nil {
				return replayed, fmt.Errorf("produce to %s: %w", o.RawTopic, err)
			}
			if err := cl.CommitRecords(ctx, batch...); err != nil {
				return replayed, fmt.Errorf("commit replay progress: %w", err)
			}
		}
		replayed += len(out)
		o.Logger.Info("replayed dead letters", "count", len(out), "dry_run", o.DryRun)
	}
	return replayed, nil
}
