package pipeline

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tally-dev/tally/event/normalize"
	"github.com/tally-dev/tally/processor/internal/eventstore"
	"github.com/tally-dev/tally/processor/internal/seen"
)

// benchStore and benchSeen are allocation-light fakes: the benchmarks below
// measure normalize + hash + classification, not the fakes.
type benchStore struct{}

func (benchStore) Write(context.Context, eventstore.Batch) error { return nil }

type benchSeen struct{ m map[string]seen.Origin }

func (s *benchSeen) Lookup(_ context.Context, ids []string) (map[string]seen.Origin, error) {
	out := make(map[string]seen.Origin)
	for _, id := range ids {
		if o, ok := s.m[id]; ok {
			out[id] = o
		}
	}
	return out, nil
}

func (s *benchSeen) Mark(_ context.Context, origins map[string]seen.Origin) error {
	for id, o := range origins {
		if _, ok := s.m[id]; !ok {
			s.m[id] = o
		}
	}
	return nil
}

// mixedCorpus is the normalization golden corpus (every alias, nesting,
// amount and timestamp form, plus rejections) followed by canonical-shaped
// and seed-shaped events, with 10% resends, n records in all.
func mixedCorpus(b *testing.B, n int) []*kgo.Record {
	b.Helper()
	var raw [][]byte
	f, err := os.ReadFile("../../../event/normalize/testdata/corpus.ndjson")
	if err != nil {
		b.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(f))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
			raw = append(raw, append([]byte(nil), line...))
		}
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; len(raw) < n*9/10; i++ {
		ts := base.Add(time.Duration(i) * time.Second).Format("2006-01-02T15:04:05.000Z")
		if i%2 == 0 {
			raw = append(raw, fmt.Appendf(nil, `{"clientId":"client_%02d","metric":"purchase","amount":%d.%02d,"timestamp":%q}`, i%20, i%5000, i%100, ts))
		} else {
			raw = append(raw, fmt.Appendf(nil, `{"source":"client_%02d","payload":{"metric":"click","amount":"%d","timestamp":%q}}`, i%20, i%777, ts))
		}
	}
	for i := 0; len(raw) < n; i++ {
		raw = append(raw, raw[(i*7919)%len(raw)])
	}
	recs := make([]*kgo.Record, n)
	for i, v := range raw[:n] {
		recs[i] = &kgo.Record{Topic: "events.raw", Partition: 0, Offset: int64(i), Value: v, Timestamp: base}
	}
	return recs
}

func benchPipeline(b *testing.B) *Pipeline {
	e, err := normalize.New(normalize.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	return New(Options{Normalizer: e, Store: benchStore{}, Seen: &benchSeen{m: map[string]seen.Origin{}}, DeadLetters: &fakeDLQ{}})
}

// BenchmarkPipelinePlan is the processor's CPU path per batch of 1000
// records: headers, normalize + SHA-256 id, one seen-set lookup, in-batch
// dedup, row building. ns/event is the figure to hold against the mission's
// "normalize + hash ≤ 1 µs/event".
func BenchmarkPipelinePlan(b *testing.B) {
	recs := mixedCorpus(b, 1000)
	p := benchPipeline(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		p.plan(ctx, recs)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/event")
}

// BenchmarkNormalizeHash is normalize + hash alone over the same corpus.
func BenchmarkNormalizeHash(b *testing.B) {
	recs := mixedCorpus(b, 1000)
	e, err := normalize.New(normalize.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, r := range recs {
			e.Normalize(normalize.Input{Raw: r.Value, ReceivedAt: now})
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/event")
}

// BenchmarkPipelineProcess is a whole Process call (plan, fake write, mark,
// metrics) per batch of 1000.
func BenchmarkPipelineProcess(b *testing.B) {
	recs := mixedCorpus(b, 1000)
	p := benchPipeline(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := p.Process(ctx, recs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/event")
}
