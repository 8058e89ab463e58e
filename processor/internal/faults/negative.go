package faults

import (
	"context"
	"fmt"
	"math"

	"github.com/tally-dev/tally/processor/internal/pipeline"
)

// NegativeControl wraps the seen-set in a deliberately broken one, so the
// chaos suite can prove its checker notices a broken pipeline:
//   - "claim-on-lookup": a filter that remembers every id the moment it is
//     asked about, before anything is durable — the toy "mark before write"
//     bug: a batch retried after a crash finds its own ids "seen" and drops
//     them (loss);
//   - "no-dedup": a filter that vouches for everything and knows nothing, so
//     every resend across batches is stored and counted again (double count).
//
// "" returns the seen-set unchanged. Never set in production.
func NegativeControl(name string, s pipeline.SeenSet) (pipeline.SeenSet, error) {
	switch name {
	case "":
		return s, nil
	case "claim-on-lookup", "mark-before-write":
		if s == nil {
			return nil, fmt.Errorf("negative control %q needs Redis", name)
		}
		return &claimOnLookup{SeenSet: s}, nil
	case "no-dedup":
		return noDedup{}, nil
	}
	return nil, fmt.Errorf("unknown negative control %q (want claim-on-lookup or no-dedup)", name)
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
