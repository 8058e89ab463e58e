package eventstore

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/tally-dev/tally/processor/internal/pipeline"
)

// ShardStore is what Sharded needs of each shard's store.
type ShardStore interface {
	pipeline.Store
	WriteStateTo(ctx context.Context, table string, rows []pipeline.StateRow) error
}

// Sharded is the pipeline's Store on a ClickHouse cluster of more than one
// shard: partition p of the raw topic lives on shard p mod len(shards)
// (docs/scaling.md, "More than one shard"). Every row goes to the shard of
// its partition — a batch's winners, duplicates, rejections, dead letters
// and strays by their source partition, read-model rows by theirs — each
// shard's share as one insert per table, the shards side by side. A
// partition's rows are all on one shard, so what the pipeline relies on per
// partition (its state rows are one insert; its rows below the position are
// durable before the position) holds as on one server. The topic's
// partition count must be a multiple of the shard count (the pipeline's
// Shards option checks it), so that a partition's slots (slot mod count =
// partition) are also on its shard (slot mod shards = partition mod shards).
type Sharded struct {
	shards []ShardStore
}

// NewSharded routes over shards, in shard order.
func NewSharded(shards ...ShardStore) *Sharded { return &Sharded{shards: shards} }

var _ pipeline.Store = (*Sharded)(nil)

// Shards is the shard count.
func (s *Sharded) Shards() int { return len(s.shards) }

// of is the shard of partition part (or of slot part).
func (s *Sharded) of(part int32) int { return int(part) % len(s.shards) }

// each runs f for every shard i with want(i), side by side, and returns the
// first error, naming its shard.
func (s *Sharded) each(ctx context.Context, want func(i int) bool, f func(ctx context.Context, i int) error) error {
	g, ctx := errgroup.WithContext(ctx)
	for i := range s.shards {
		if !want(i) {
			continue
		}
		g.Go(func() error {
			if err := f(ctx, i); err != nil {
				return fmt.Errorf("clickhouse shard %d: %w", i+1, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// split groups xs by shard, by the partition part(x) names.
func split[T any](s *Sharded, xs []T, part func(T) int32) [][]T {
	out := make([][]T, len(s.shards))
	for _, x := range xs {
		i := s.of(part(x))
		out[i] = append(out[i], x)
	}
	return out
}

// Write writes each shard's share of the batch. A failure leaves some
// shards written: the caller retries the whole batch, and a rewrite
// collapses like any retried write.
func (s *Sharded) Write(ctx context.Context, b pipeline.Batch) error {
	winners := split(s, b.Winners, func(w pipeline.Winner) int32 { return w.Source.Partition })
	dups := split(s, b.Duplicates, func(d pipeline.Duplicate) int32 { return d.Source.Partition })
	rejected := split(s, b.Rejected, func(r pipeline.Rejected) int32 { return r.Source.Partition })
	dead := split(s, b.DeadLetters, func(d pipeline.DeadLetter) int32 { return d.Source.Partition })
	forwarded := split(s, b.Forwarded, func(f pipeline.ForwardedRow) int32 { return f.Source.Partition })
	shares := make([]pipeline.Batch, len(s.shards))
	for i := range shares {
		shares[i] = pipeline.Batch{Winners: winners[i], Duplicates: dups[i], Rejected: rejected[i], DeadLetters: dead[i],
			Forwarded: forwarded[i], Simulate: b.Simulate}
	}
	return s.each(ctx, func(i int) bool {
		sh := shares[i]
		return len(sh.Winners)+len(sh.Duplicates)+len(sh.Rejected)+len(sh.DeadLetters)+len(sh.Forwarded) > 0
	}, func(ctx context.Context, i int) error { return s.shards[i].Write(ctx, shares[i]) })
}

// Permanent classifies an error as every shard's store does (they are the
// same kind of store).
func (s *Sharded) Permanent(err error) bool { return s.shards[0].Permanent(err) }

// WriteState writes each shard's read-model rows as one insert.
func (s *Sharded) WriteState(ctx context.Context, rows []pipeline.StateRow) error {
	return s.writeState(ctx, rows, func(ctx context.Context, sh ShardStore, rows []pipeline.StateRow) error {
		return sh.WriteState(ctx, rows)
	})
}

// WriteStateTo writes state rows into a copy of the state table on every
// shard (processor rebuild).
func (s *Sharded) WriteStateTo(ctx context.Context, table string, rows []pipeline.StateRow) error {
	return s.writeState(ctx, rows, func(ctx context.Context, sh ShardStore, rows []pipeline.StateRow) error {
		return sh.WriteStateTo(ctx, table, rows)
	})
}

func (s *Sharded) writeState(ctx context.Context, rows []pipeline.StateRow, write func(context.Context, ShardStore, []pipeline.StateRow) error) error {
	shares := split(s, rows, func(r pipeline.StateRow) int32 { return r.Key.Part })
	return s.each(ctx, func(i int) bool { return len(shares[i]) > 0 },
		func(ctx context.Context, i int) error { return write(ctx, s.shards[i], shares[i]) })
}

// LoadState reads each key from the shard of its partition.
func (s *Sharded) LoadState(ctx context.Context, keys []pipeline.StateKey) ([]pipeline.StateRow, error) {
	at := make([]int, len(keys))
	for i := range at {
		at[i] = i
	}
	shares := split(s, at, func(i int) int32 { return keys[i].Part })
	out := make([]pipeline.StateRow, len(keys))
	err := s.each(ctx, func(i int) bool { return len(shares[i]) > 0 }, func(ctx context.Context, i int) error {
		share := make([]pipeline.StateKey, len(shares[i]))
		for j, at := range shares[i] {
			share[j] = keys[at]
		}
		rows, err := s.shards[i].LoadState(ctx, share)
		if err != nil {
			return err
		}
		if len(rows) != len(share) {
			return fmt.Errorf("load state: shard %d answered %d rows for %d keys", i+1, len(rows), len(share))
		}
		// Each shard writes its own positions of out.
		for j, r := range rows {
			out[shares[i][j]] = r
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RollupIndex reads the index from the partition's shard.
func (s *Sharded) RollupIndex(ctx context.Context, stream string, part int32, maxSeries, maxWords int) (pipeline.RollupIndex, error) {
	return s.shards[s.of(part)].RollupIndex(ctx, stream, part, maxSeries, maxWords)
}

// Lookup asks every shard: an id does not say its partition, and an id is
// on at most one shard. The pipeline looks ids up only when the seen-set
// cannot answer.
func (s *Sharded) Lookup(ctx context.Context, ids []pipeline.TenantID) (map[pipeline.TenantID]pipeline.Origin, error) {
	out := make(map[pipeline.TenantID]pipeline.Origin)
	var mu sync.Mutex
	err := s.each(ctx, func(int) bool { return len(ids) > 0 }, func(ctx context.Context, i int) error {
		found, err := s.shards[i].Lookup(ctx, ids)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		for id, o := range found {
			if prev, dup := out[id]; dup && prev != o {
				return errors.New("event " + id.EventID + " has winners on two shards: the data was not placed by partition")
			}
			out[id] = o
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Winners streams the winners of the slots from the shard of each slot, one
// shard after another (each is not called concurrently).
func (s *Sharded) Winners(ctx context.Context, slots []int32, stream string, from int64, each func(string, pipeline.Origin) error) error {
	for i, share := range split(s, slots, func(slot int32) int32 { return slot }) {
		if len(share) == 0 {
			continue
		}
		if err := s.shards[i].Winners(ctx, share, stream, from, each); err != nil {
			return fmt.Errorf("clickhouse shard %d: %w", i+1, err)
		}
	}
	return nil
}
