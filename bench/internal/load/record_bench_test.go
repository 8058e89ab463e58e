package load

import "testing"

// The answers the load generator reads back for one single event: Tally's
// /v1/events answer and the ceiling server's.
var (
	tallyAnswer   = []byte(`{"accepted":1,"rejected":0,"failed":0,"results":[{"index":0,"eventId":"34fae253a432a22802d6f0aadd180d8371f8a3745737331b46259f380cd9d1f2","idSource":"content_coarse","coarseId":true,"status":"accepted"}]}`)
	ceilingAnswer = []byte(`{"results":[{"index":0,"eventId":"34fae253a432a22802d6f0aadd180d8371f8a3745737331b46259f380cd9d1f2","status":"accepted"}]}`)
)

func benchmarkRecord(b *testing.B, answer []byte) {
	events := []Event{{Client: "c", Metric: "m", Cents: 100}}
	truth := NewTruth()
	b.ReportAllocs()
	for b.Loop() {
		if record(answer, events, false, truth) != 1 {
			b.Fatal("not recorded")
		}
	}
}

func BenchmarkRecordTally(b *testing.B)   { benchmarkRecord(b, tallyAnswer) }
func BenchmarkRecordCeiling(b *testing.B) { benchmarkRecord(b, ceilingAnswer) }
