package eventstore

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tally-dev/tally/processor/internal/pipeline"
)

// shardFake is one shard's store in memory: what was written to it, and
// state and winners to answer from.
type shardFake struct {
	mu      sync.Mutex
	batches []pipeline.Batch
	state   map[pipeline.StateKey]pipeline.StateRow
	tables  map[string][]pipeline.StateRow
	ids     map[pipeline.TenantID]pipeline.Origin
	slots   map[int32]string // slot → the id of its one winner
	asked   [][]pipeline.StateKey
	fail    error
}

func newShardFake() *shardFake {
	return &shardFake{state: map[pipeline.StateKey]pipeline.StateRow{}, tables: map[string][]pipeline.StateRow{},
		ids: map[pipeline.TenantID]pipeline.Origin{}, slots: map[int32]string{}}
}

func (f *shardFake) Write(_ context.Context, b pipeline.Batch) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.batches = append(f.batches, b)
	return nil
}

func (f *shardFake) Permanent(err error) bool { return errors.Is(err, errPermanentFake) }

var errPermanentFake = errors.New("refused")

func (f *shardFake) WriteState(ctx context.Context, rows []pipeline.StateRow) error {
	return f.WriteStateTo(ctx, "state", rows)
}

func (f *shardFake) WriteStateTo(_ context.Context, table string, rows []pipeline.StateRow) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.tables[table] = append(f.tables[table], rows...)
	return nil
}

func (f *shardFake) LoadState(_ context.Context, keys []pipeline.StateKey) ([]pipeline.StateRow, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, keys)
	out := make([]pipeline.StateRow, len(keys))
	for i, k := range keys {
		out[i] = f.state[k]
	}
	return out, nil
}

func (f *shardFake) RollupIndex(_ context.Context, stream string, part int32, _, _ int) (pipeline.RollupIndex, error) {
	return pipeline.RollupIndex{High: map[pipeline.TenantLevel]uint32{{Tenant: stream, Level: uint8(part)}: 1}}, nil
}

func (f *shardFake) Lookup(_ context.Context, ids []pipeline.TenantID) (map[pipeline.TenantID]pipeline.Origin, error) {
	out := map[pipeline.TenantID]pipeline.Origin{}
	for _, id := range ids {
		if o, ok := f.ids[id]; ok {
			out[id] = o
		}
	}
	return out, nil
}

func (f *shardFake) Winners(_ context.Context, slots []int32, _ string, _ int64, each func(string, pipeline.Origin) error) error {
	for _, s := range slots {
		if id, ok := f.slots[s]; ok {
			if err := each(id, pipeline.Origin{}); err != nil {
				return err
			}
		}
	}
	return nil
}

func src(part int32) pipeline.Source {
	return pipeline.Source{Partition: part, Offset: int64(part) * 10}
}

// Every row lands on the shard of its partition, once; a shard with
// nothing to write is not asked to.
func TestShardedWritesEachRowToItsPartitionsShard(t *testing.T) {
	a, b, c := newShardFake(), newShardFake(), newShardFake()
	s := NewSharded(a, b, c)
	var batch pipeline.Batch
	for _, p := range []int32{0, 1, 3, 4, 6, 7} { // none of shard 3's (2, 5)
		batch.Winners = append(batch.Winners, pipeline.Winner{Source: src(p)})
		batch.Duplicates = append(batch.Duplicates, pipeline.Duplicate{Source: src(p)})
	}
	batch.Rejected = []pipeline.Rejected{{Source: src(4)}}
	batch.DeadLetters = []pipeline.DeadLetter{{Source: src(3)}}
	batch.Forwarded = []pipeline.ForwardedRow{{Source: src(7)}}
	if err := s.Write(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	parts := func(f *shardFake) (out []int32) {
		for _, b := range f.batches {
			for _, w := range b.Winners {
				out = append(out, w.Source.Partition)
			}
			for _, d := range b.Duplicates {
				out = append(out, -1-d.Source.Partition)
			}
			for _, r := range b.Rejected {
				out = append(out, 100+r.Source.Partition)
			}
			for _, d := range b.DeadLetters {
				out = append(out, 200+d.Source.Partition)
			}
			for _, f := range b.Forwarded {
				out = append(out, 300+f.Source.Partition)
			}
		}
		slices.Sort(out)
		return out
	}
	for i, tc := range []struct {
		f    *shardFake
		want []int32
	}{
		{a, []int32{-7, -4, -1, 0, 3, 6, 203}},
		{b, []int32{-8, -5, -2, 1, 4, 7, 104, 307}},
		{c, nil},
	} {
		if got := parts(tc.f); !slices.Equal(got, tc.want) {
			t.Errorf("shard %d got %v, want %v", i+1, got, tc.want)
		}
		if want := min(1, len(tc.want)); len(tc.f.batches) != want {
			t.Errorf("shard %d: %d inserts of the batch, want %d", i+1, len(tc.f.batches), want)
		}
	}
}

func TestShardedState(t *testing.T) {
	a, b := newShardFake(), newShardFake()
	s := NewSharded(a, b)
	ctx := context.Background()
	key := func(part int32) pipeline.StateKey { return pipeline.StateKey{Tenant: "t", Stream: "s", Part: part} }
	rows := []pipeline.StateRow{{Key: key(0), Count: 1}, {Key: key(1), Count: 2}, {Key: key(2), Count: 3}}
	if err := s.WriteState(ctx, rows); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteStateTo(ctx, "copy", rows[1:2]); err != nil {
		t.Fatal(err)
	}
	if len(a.tables["state"]) != 2 || len(b.tables["state"]) != 1 || b.tables["state"][0].Count != 2 ||
		len(b.tables["copy"]) != 1 || len(a.tables["copy"]) != 0 {
		t.Fatalf("state rows not placed by partition: shard 1 %v, shard 2 %v", a.tables, b.tables)
	}
	// A key is read from its partition's shard only; rows of the other
	// shard under the same key would be a placement error, never read.
	a.state[key(0)] = pipeline.StateRow{Key: key(0), Count: 10}
	b.state[key(1)] = pipeline.StateRow{Key: key(1), Count: 11}
	b.state[key(0)] = pipeline.StateRow{Key: key(0), Count: 99}
	got, err := s.LoadState(ctx, []pipeline.StateKey{key(1), key(3), key(0)})
	if err != nil {
		t.Fatal(err)
	}
	// In the order asked, each from its own shard; key 3 has no row.
	if len(got) != 3 || got[0].Count != 11 || got[1] != (pipeline.StateRow{}) || got[2].Count != 10 {
		t.Errorf("LoadState = %v", got)
	}
	if len(a.asked) != 1 || len(a.asked[0]) != 1 || len(b.asked) != 1 || len(b.asked[0]) != 2 {
		t.Errorf("keys asked: shard 1 %v, shard 2 %v", a.asked, b.asked)
	}
	idx, err := s.RollupIndex(ctx, "s", 3, 10, 10)
	if err != nil || idx.High[pipeline.TenantLevel{Tenant: "s", Level: 3}] != 1 {
		t.Errorf("RollupIndex of partition 3: %v, %v", idx, err)
	}
}

func TestShardedFailureNamesTheShard(t *testing.T) {
	a, b := newShardFake(), newShardFake()
	b.fail = errPermanentFake
	s := NewSharded(a, b)
	err := s.Write(context.Background(), pipeline.Batch{Winners: []pipeline.Winner{{Source: src(0)}, {Source: src(1)}}})
	if err == nil || !strings.Contains(err.Error(), "clickhouse shard 2") {
		t.Fatalf("err = %v, want one naming shard 2", err)
	}
	if !s.Permanent(err) {
		t.Error("a permanent error of a shard lost its class")
	}
	if err := s.WriteState(context.Background(), []pipeline.StateRow{{Key: pipeline.StateKey{Part: 3}}}); err == nil {
		t.Error("a failed state write succeeded")
	}
}

func TestShardedLookupsAndWinners(t *testing.T) {
	a, b := newShardFake(), newShardFake()
	s := NewSharded(a, b)
	ctx := context.Background()
	x, y, z := pipeline.TenantID{Tenant: "t", EventID: "x"}, pipeline.TenantID{Tenant: "t", EventID: "y"}, pipeline.TenantID{Tenant: "t", EventID: "z"}
	a.ids[x] = pipeline.Origin{Partition: 0, Offset: 1}
	b.ids[y] = pipeline.Origin{Partition: 1, Offset: 2}
	got, err := s.Lookup(ctx, []pipeline.TenantID{x, y, z})
	if err != nil || len(got) != 2 || got[x].Offset != 1 || got[y].Offset != 2 {
		t.Fatalf("Lookup = %v, %v", got, err)
	}
	b.ids[x] = pipeline.Origin{Partition: 1, Offset: 7}
	if _, err := s.Lookup(ctx, []pipeline.TenantID{x}); err == nil {
		t.Error("an id with winners on two shards was not reported")
	}
	// Slot s lives on shard s mod 2; a winner stored on the wrong shard is
	// never read.
	a.slots[4], a.slots[5], b.slots[5], b.slots[8] = "four", "misplaced", "five", "eight"
	var ids []string
	if err := s.Winners(ctx, []int32{4, 5, 8}, "", 0, func(id string, _ pipeline.Origin) error {
		ids = append(ids, id)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"five", "four"}) {
		t.Errorf("winners %v, want four (shard 1) and five (shard 2); slot 8 is shard 1's", ids)
	}
}
