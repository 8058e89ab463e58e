// Package forward is the pipeline's Forwarder: it produces strays — events
// found outside their owner partition — to the partition that owns them, so
// that every copy of an event id is decided by one consumer in one order
// (docs/design/read-model.md, R1).
//
// The copy keeps the stray's value and headers, gains the stray's received
// time (so a timestamp-less event keeps its first received time) and a
// tally-forwarded-from header naming the stray, and is keyed by the client
// id, like the ingestor's records. Production waits for acks=all; a copy
// produced twice (a crash before the stray's outcome was written) is a
// duplicate of the first in the owner partition, never a second count.
package forward

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tally-dev/tally/event"
	"github.com/tally-dev/tally/processor/internal/pipeline"
)

// Producer forwards strays with a client that sends each record to the
// partition set on it (kgo.ManualPartitioner), acks=all and idempotent.
type Producer struct {
	cl   *kgo.Client
	sign Signer
}

// Signer signs a copy's tenant (auth.TenantSignature with the shared
// secret), so the owner trusts the tenant the stray was resolved to; nil
// signs nothing (authentication disabled).
type Signer func(tenant string, value []byte) []byte

// New wraps a producing client built with kgo.RecordPartitioner(kgo.ManualPartitioner()).
func New(cl *kgo.Client, sign Signer) *Producer { return &Producer{cl: cl, sign: sign} }

var _ pipeline.Forwarder = (*Producer)(nil)

// Forward produces every stray to its owner and waits for every ack.
func (p *Producer) Forward(ctx context.Context, strays []pipeline.Stray) ([]pipeline.Forwarded, error) {
	recs := make([]*kgo.Record, len(strays))
	for i, s := range strays {
		recs[i] = Copy(s, p.sign)
	}
	res := p.cl.ProduceSync(ctx, recs...)
	if err := res.FirstErr(); err != nil {
		return nil, fmt.Errorf("forward to owner partitions: %w", err)
	}
	out := make([]pipeline.Forwarded, len(strays))
	for i, r := range res {
		out[i] = pipeline.Forwarded{Partition: r.Record.Partition, Offset: r.Record.Offset}
	}
	return out, nil
}

// Copy is the record a stray is forwarded as.
func Copy(s pipeline.Stray, sign Signer) *kgo.Record {
	r := s.Record
	h := slices.DeleteFunc(event.BoundHeaders(r.Headers, event.MaxCopiedHeaderBytes), func(h kgo.RecordHeader) bool {
		switch h.Key {
		case event.HeaderForwardedFrom, event.HeaderReceivedAt, event.HeaderTenant, event.HeaderTenantSignature:
			return true
		}
		return false
	})
	if sign != nil {
		h = append(h, kgo.RecordHeader{Key: event.HeaderTenantSignature, Value: sign(s.Tenant, r.Value)})
	}
	h = append(h,
		kgo.RecordHeader{Key: event.HeaderReceivedAt, Value: []byte(s.Source.Received.UTC().Format(time.RFC3339Nano))},
		kgo.RecordHeader{Key: event.HeaderTenant, Value: []byte(s.Tenant)},
		kgo.RecordHeader{Key: event.HeaderForwardedFrom, Value: []byte(r.Topic + "/" + strconv.Itoa(int(r.Partition)) + "/" +
			strconv.FormatInt(r.Offset, 10))},
	)
	return &kgo.Record{Topic: r.Topic, Partition: s.Owner, Key: event.PartitionKey(s.ClientID), Value: r.Value, Headers: h}
}
