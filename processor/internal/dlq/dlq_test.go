package dlq

import (
	"bytes"
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tally-dev/tally/event"
)

// Issue #15, defect 1: a 1.15 MB record and a 1,000,100-byte invalid-JSON
// record used to be produced to the dead-letter topic whole, fail with
// MESSAGE_TOO_LARGE, and be retried without end. Every dead letter now fits:
// values are cut to the limit (and marked), oversized headers dropped.
func TestDeadLettersAlwaysFit(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "events.dlq"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const maxRecord = 1 << 20
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchMaxBytes(maxRecord+64<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	p := NewProducer(cl, "events.dlq", maxRecord)
	huge := &kgo.Record{Topic: "events.raw", Partition: 3, Offset: 7, Value: bytes.Repeat([]byte("x"), 1_150_000)}
	invalid := &kgo.Record{Topic: "events.raw", Partition: 3, Offset: 8, Value: append([]byte("{"), bytes.Repeat([]byte("y"), 1_000_099)...)}
	manyHeaders := &kgo.Record{Topic: "events.raw", Partition: 3, Offset: 9, Value: []byte("{"),
		Headers: []kgo.RecordHeader{{Key: "big", Value: bytes.Repeat([]byte("h"), 900_000)}, {Key: event.HeaderReceivedAt, Value: []byte("x")}}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.DeadLetter(ctx, []*kgo.Record{huge, invalid, manyHeaders}, []string{"too_large", "invalid_json", "invalid_json"}); err != nil {
		t.Fatalf("dead-lettering poison failed: %v", err)
	}

	read, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics("events.dlq"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer read.Close()
	var got []*kgo.Record
	for len(got) < 3 {
		f := read.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d dead letters", len(got))
		}
		got = append(got, f.Records()...)
	}
	h := func(r *kgo.Record, key string) string {
		for _, kv := range r.Headers {
			if kv.Key == key {
				return string(kv.Value)
			}
		}
		return ""
	}
	if len(got[0].Value) != maxRecord || h(got[0], event.HeaderDLQTruncated) != strconv.Itoa(1_150_000) || !truncated(got[0]) {
		t.Fatalf("huge record: %d bytes, truncated header %q", len(got[0].Value), h(got[0], event.HeaderDLQTruncated))
	}
	if len(got[1].Value) != 1_000_100 || truncated(got[1]) {
		t.Fatalf("a record under the limit must be kept whole: %d bytes", len(got[1].Value))
	}
	if h(got[2], "big") != "" || h(got[2], event.HeaderReceivedAt) != "x" || h(got[2], event.HeaderDLQHeadersDropped) != "1" {
		t.Fatalf("oversized headers: %v", got[2].Headers)
	}
	for i, r := range got {
		if h(r, event.HeaderDLQOffset) != strconv.Itoa(7+i) {
			t.Fatalf("dead letter %d: offset header %q", i, h(r, event.HeaderDLQOffset))
		}
	}
}
