package seen

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

func benchIDs(n, salt int) []string {
	ids := make([]string, n)
	for i := range ids {
		h := sha256.Sum256([]byte{byte(i), byte(i >> 8), byte(i >> 16), byte(salt)})
		ids[i] = hex.EncodeToString(h[:])
	}
	return ids
}

// BenchmarkSeenLookup is one MGET of 1000 ids, half of them marked, against
// miniredis: the client-side cost (encoding, parsing, the result map) plus
// miniredis, not a real server's latency. Compare runs with benchstat.
func BenchmarkSeenLookup(b *testing.B) {
	mr := miniredis.RunT(b)
	s := NewRedis(redis.NewClient(&redis.Options{Addr: mr.Addr()}), time.Hour)
	ctx := context.Background()
	ids := benchIDs(1000, 1)
	marks := make(map[string]Origin, 500)
	for i, id := range ids[:500] {
		marks[id] = Origin{Partition: 1, Offset: int64(i)}
	}
	if err := s.Mark(ctx, marks); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		found, err := s.Lookup(ctx, ids)
		if err != nil || len(found) != 500 {
			b.Fatalf("found %d, err %v", len(found), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ids)), "ns/id")
}

// BenchmarkSeenMark is one pipelined SET NX of 1000 ids against miniredis.
func BenchmarkSeenMark(b *testing.B) {
	mr := miniredis.RunT(b)
	s := NewRedis(redis.NewClient(&redis.Options{Addr: mr.Addr()}), time.Hour)
	ctx := context.Background()
	ids := benchIDs(1000, 2)
	marks := make(map[string]Origin, len(ids))
	for i, id := range ids {
		marks[id] = Origin{Partition: 3, Offset: int64(i)}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := s.Mark(ctx, marks); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ids)), "ns/id")
}
