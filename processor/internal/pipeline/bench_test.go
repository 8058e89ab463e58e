package pipeline_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/tally-dev/tally/processor/internal/pipeline"
)

// BenchmarkProcess measures the pipeline's cost per record: batches of
// 20,000 records over 8 partitions with 10% resends, 500 clients, from an
// in-memory log into an in-memory store.
//   - redis: the seen-set on miniredis, whose Lua runs in this process and
//     takes most of the profile;
//   - store: no seen-set, every decision from the in-memory store, so the
//     figure is the pipeline's own classify, decide and state;
//   - store-cached: as store, but the timed batch is the processor's second
//     one, into the minutes of the first (its read-model rows in the cache,
//     as in a live stream).
func BenchmarkProcess(b *testing.B) {
	const batch = 20_000
	records := func(round int) [][]byte {
		var recs [][]byte
		for i := range batch {
			n := i
			if i%10 == 9 {
				n = i - 1 // a resend
			}
			recs = append(recs, fmt.Appendf(nil, `{"clientId":"client_%d","metric":"api_calls","amount":%d.25,"timestamp":"2026-01-02T03:%02d:05Z","idempotencyKey":"k-%d-%d"}`,
				n%500, n%97, n%60, round, n))
		}
		return recs
	}
	first, second := records(0), records(1)
	for _, bc := range []struct {
		name           string
		seenOff, again bool
	}{{"redis", false, false}, {"store", true, false}, {"store-cached", true, true}} {
		b.Run(bc.name, func(b *testing.B) {
			r := newRig(b, 8)
			r.seenOff = bc.seenOff
			all := make([]int32, r.n)
			for i := range all {
				all[i] = int32(i)
			}
			send := func(p *pipeline.Pipeline, recs [][]byte, timed bool) {
				for _, v := range recs {
					r.send(string(v))
				}
				polled := r.log.poll(all, batch)
				if timed {
					b.StartTimer()
				}
				if _, err := p.Process(context.Background(), polled); err != nil {
					b.Fatal(err)
				}
				if timed {
					b.StopTimer()
				}
				r.log.commit(polled)
			}
			b.ReportAllocs()
			b.StopTimer()
			for range b.N {
				r.store, r.log = newStore(), newLog(int(r.n))
				r.fwd.log = r.log
				r.mr.FlushAll()
				p := r.processor()
				if bc.again {
					send(p, first, false)
					send(p, second, true)
				} else {
					send(p, first, true)
				}
			}
			b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
