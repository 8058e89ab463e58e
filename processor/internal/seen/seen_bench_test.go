package seen

import (
	"context"
	"log/slog"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/tally-dev/tally/processor/internal/pipeline"
)

func slogDiscard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// BenchmarkSeenLookup is one lookup of 1000 ids, half of them marked,
// against miniredis: the client-side cost (encoding, the Lua call, parsing)
// plus miniredis, not a real server's latency. Compare runs with benchstat.
func BenchmarkSeenLookup(b *testing.B) {
	mr := miniredis.RunT(b)
	s := NewRedis(redis.NewClient(&redis.Options{Addr: mr.Addr()}))
	ctx := context.Background()
	ids := make([]string, 1000)
	marks := map[string]pipeline.Origin{}
	for i := range ids {
		ids[i] = id(i)
		if i%2 == 0 {
			marks[ids[i]] = pipeline.Origin{Partition: 1, Offset: int64(i)}
		}
	}
	if err := s.Mark(ctx, []pipeline.Marks{{Stream: "s", N: 8, Winners: marks}}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Lookup(ctx, []pipeline.Probe{{Stream: "s", N: 8, IDs: ids}}); err != nil {
			b.Fatal(err)
		}
	}
}
