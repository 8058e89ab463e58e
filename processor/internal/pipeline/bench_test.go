package pipeline_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tally-dev/tally/processor/internal/pipeline"
)

// BenchmarkProcess measures the pipeline's own cost per record (in-memory
// store and Redis, so the CPU of planning, normalizing and state), batches
// of 20,000 records over 8 partitions with 10% resends.
func BenchmarkProcess(b *testing.B) {
	r := newRig(b, 8)
	const batch = 20_000
	var recs [][]byte
	for i := range batch {
		n := i
		if i%10 == 9 {
			n = i - 1 // a resend
		}
		recs = append(recs, []byte(fmt.Sprintf(`{"clientId":"client_%d","metric":"api_calls","amount":%d.25,"timestamp":"2026-01-02T03:%02d:05Z","idempotencyKey":"k-%d"}`,
			n%500, n%97, n%60, n)))
	}
	b.ResetTimer()
	b.ReportAllocs()
	for it := range b.N {
		b.StopTimer()
		r.store = newStore()
		r.mr.FlushAll()
		p := r.processor()
		var polled []*pipeline.Source
		_ = polled
		for i, v := range recs {
			_ = i
			r.send(string(v))
		}
		all := make([]int32, r.n)
		for i := range all {
			all[i] = int32(i)
		}
		batchRecs := r.log.poll(all, batch)
		b.StartTimer()
		if _, err := p.Process(context.Background(), batchRecs); err != nil {
			b.Fatal(err)
		}
		_ = it
	}
	b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "records/s")
	_ = time.Now
}
