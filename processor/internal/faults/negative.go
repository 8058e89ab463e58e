package faults

import (
	"context"
	"fmt"
	"math"
	"sync"

	"github.com/tally-dev/tally/processor/internal/pipeline"
)

// NegativeControl wraps the store or the seen-set in a deliberately broken
// one — the bugs toy pipelines ship — so the chaos suite can prove its
// checker notices a broken pipeline:
//   - "mark-before-write" (alias "claim-on-lookup"): a filter that remembers
//     every id the moment it is asked about, before anything is durable: a
//     batch retried after a crash finds its own ids "seen" and drops them
//     (loss);
//   - "ack-before-write": a store that reports an event write as done and
//     writes it behind, at the start of the next write (an async insert
//     nobody waits for); the read model is written as usual, so counts look
//     right, but a crash loses the last batch's rows after its offsets were
//     committed (loss of the durable record);
//   - "no-dedup": a filter that vouches for everything and knows nothing, so
//     every resend across batches is stored and counted again (double count).
//
// "" returns both unchanged. Never set in production.
func NegativeControl(name string, store pipeline.Store, s pipeline.SeenSet) (pipeline.Store, pipeline.SeenSet, error) {
	switch name {
	case "":
		return store, s, nil
	case "claim-on-lookup", "mark-before-write":
		if s == nil {
			return nil, nil, fmt.Errorf("negative control %q needs Redis", name)
		}
		return store, &claimOnLookup{SeenSet: s}, nil
	case "ack-before-write":
		return &writeBehind{Store: store}, s, nil
	case "no-dedup":
		return store, noDedup{}, nil
	}
	return nil, nil, fmt.Errorf("unknown negative control %q (want mark-before-write, ack-before-write or no-dedup)", name)
}

// writeBehind acknowledges a batch's event rows before they are written.
type writeBehind struct {
	pipeline.Store
	mu      sync.Mutex
	pending *pipeline.Batch
}

// Write writes the previous batch, then keeps this one for later and
// reports success.
func (w *writeBehind) Write(ctx context.Context, b pipeline.Batch) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pending != nil {
		if err := w.Store.Write(ctx, *w.pending); err != nil {
			return err
		}
	}
	w.pending = &b
	return nil
}

type claimOnLookup struct{ pipeline.SeenSet }

// Lookup answers, then marks every asked id as stored elsewhere.
func (c *claimOnLookup) Lookup(ctx context.Context, probes []pipeline.Probe) ([]pipeline.Answer, error) {
	answers, err := c.SeenSet.Lookup(ctx, probes)
	if err != nil {
		return nil, err
	}
	claims := make([]pipeline.Marks, 0, len(probes))
	for i, p := range probes {
		m := pipeline.Marks{Stream: p.Stream, N: p.N, Part: p.Part, From: math.MaxInt64, To: math.MaxInt64, Winners: map[string]pipeline.Origin{}}
		for _, id := range p.IDs {
			if _, ok := answers[i].Found[id]; !ok {
				m.Winners[id] = pipeline.Origin{Partition: -1, Offset: -1}
			}
		}
		claims = append(claims, m)
	}
	if err := c.Mark(ctx, claims); err != nil {
		return nil, err
	}
	return answers, nil
}

type noDedup struct{}

func (noDedup) Lookup(_ context.Context, probes []pipeline.Probe) ([]pipeline.Answer, error) {
	out := make([]pipeline.Answer, len(probes))
	for i := range out {
		out[i] = pipeline.Answer{Watermark: math.MaxInt64, Found: map[string]pipeline.Origin{}}
	}
	return out, nil
}
func (noDedup) Mark(context.Context, []pipeline.Marks) error { return nil }
func (noDedup) Heal(context.Context, string, int32, int32, int64, func(func(string, pipeline.Origin) error) error) error {
	return nil
}
