package seen

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/tally-dev/tally/processor/internal/pipeline"
)

func id(i int) string {
	h := sha256.Sum256([]byte{byte(i), byte(i >> 8), byte(i >> 16)})
	return hex.EncodeToString(h[:])
}

func newSeen(t *testing.T) (*Redis, *miniredis.Miniredis) {
	t.Helper()
	mr := miniredis.RunT(t)
	return NewRedis(redis.NewClient(&redis.Options{Addr: mr.Addr()})), mr
}

func lookup(t *testing.T, s *Redis, ids ...string) pipeline.Answer {
	t.Helper()
	a, err := s.Lookup(context.Background(), []pipeline.Probe{{Stream: "raw/x", N: 8, Part: 3, IDs: ids}})
	if err != nil {
		t.Fatal(err)
	}
	return a[0]
}

func winners(ids ...string) func(func(string, pipeline.Origin) error) error {
	return func(each func(string, pipeline.Origin) error) error {
		for i, id := range ids {
			if err := each(id, pipeline.Origin{Stream: 7, Partition: 3, Offset: int64(i), Fingerprint: uint64(i)}); err != nil {
				return err
			}
		}
		return nil
	}
}

func TestWatermarkProtocol(t *testing.T) {
	s, mr := newSeen(t)
	ctx := context.Background()
	if a := lookup(t, s, id(1)); a.Watermark != -1 || len(a.Found) != 0 {
		t.Fatalf("empty redis: %+v", a)
	}
	// A mark while the watermark is missing adds entries but vouches for
	// nothing: the next lookup must still heal.
	if err := s.Mark(ctx, []pipeline.Marks{{Stream: "raw/x", N: 8, Part: 3, From: 0, To: 5,
		Winners: map[string]pipeline.Origin{id(1): {Stream: 7, Partition: 3, Offset: 4, Fingerprint: 9}}}}); err != nil {
		t.Fatal(err)
	}
	a := lookup(t, s, id(1), id(2))
	if a.Watermark != -1 || a.Found[id(1)] != (pipeline.Origin{Stream: 7, Partition: 3, Offset: 4, Fingerprint: 9}) {
		t.Fatalf("after a mark without watermark: %+v", a)
	}
	if err := s.Heal(ctx, "raw/x", 8, 3, 5, winners(id(2), id(3))); err != nil {
		t.Fatal(err)
	}
	if a := lookup(t, s, id(2), id(4)); a.Watermark != 5 || len(a.Found) != 1 {
		t.Fatalf("after heal: %+v", a)
	}
	// HSETNX: a heal never overwrites the first original.
	if a := lookup(t, s, id(1)); a.Found[id(1)].Offset != 4 {
		t.Fatalf("heal overwrote an entry: %+v", a)
	}
	// The watermark moves from 5 only.
	mark := func(from, to int64) {
		if err := s.Mark(ctx, []pipeline.Marks{{Stream: "raw/x", N: 8, Part: 3, From: from, To: to}}); err != nil {
			t.Fatal(err)
		}
	}
	mark(7, 9)
	if a := lookup(t, s); a.Watermark != 5 {
		t.Fatalf("a mark from 7 moved a watermark at 5: %d", a.Watermark)
	}
	mark(5, 9)
	mark(3, 6) // a zombie's older mark never moves it back
	if a := lookup(t, s); a.Watermark != 9 {
		t.Fatalf("watermark = %d, want 9", a.Watermark)
	}
	// Another partition count is another watermark.
	if a, _ := s.Lookup(ctx, []pipeline.Probe{{Stream: "raw/x", N: 16, Part: 3}}); a[0].Watermark != -1 {
		t.Fatalf("watermark of another partition count: %d", a[0].Watermark)
	}
	mr.FlushAll()
	if a := lookup(t, s, id(2)); a.Watermark != -1 || len(a.Found) != 0 {
		t.Fatalf("after a flush: %+v", a)
	}
}

func TestHealRefusesWhenRedisLosesDataMeanwhile(t *testing.T) {
	s, mr := newSeen(t)
	flushing := func(each func(string, pipeline.Origin) error) error {
		if err := each(id(1), pipeline.Origin{Offset: 1}); err != nil {
			return err
		}
		mr.FlushAll() // after the token was set, before the heal finishes
		return each(id(2), pipeline.Origin{Offset: 2})
	}
	if err := s.Heal(context.Background(), "raw/x", 8, 3, 5, flushing); err == nil {
		t.Fatal("a heal that lost its token set the watermark")
	}
	if a := lookup(t, s, id(1)); a.Watermark != -1 {
		t.Fatalf("watermark = %d after a failed heal", a.Watermark)
	}
}

func TestScriptsReloadAfterRedisForgetsThem(t *testing.T) {
	s, mr := newSeen(t)
	lookup(t, s, id(1))
	mr.FlushAll()
	if _, err := s.client.ScriptFlush(context.Background()).Result(); err != nil {
		t.Fatal(err)
	}
	lookup(t, s, id(1))
	if err := s.Mark(context.Background(), []pipeline.Marks{{Stream: "raw/x", N: 8, Part: 3, From: 0, To: 1}}); err != nil {
		t.Fatal(err)
	}
}

func TestRedisDownIsAnError(t *testing.T) {
	s, mr := newSeen(t)
	mr.Close()
	if _, err := s.Lookup(context.Background(), []pipeline.Probe{{Stream: "raw/x", N: 8, IDs: []string{id(1)}}}); err == nil {
		t.Fatal("lookup against a stopped Redis returned no error")
	}
}

func TestGuardedDeclinesUntilItTrustsRedis(t *testing.T) {
	s, _ := newSeen(t)
	g := NewGuarded(s, slogDiscard())
	if _, err := g.Lookup(context.Background(), nil); err == nil {
		t.Fatal("an unchecked guard trusted redis")
	}
	if err := g.Heal(context.Background(), "raw/x", 8, 3, 5, winners()); err == nil {
		t.Fatal("an unchecked guard healed")
	}
}
