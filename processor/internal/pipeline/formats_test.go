package pipeline_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"net/http"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tally-dev/tally/event"
	"github.com/tally-dev/tally/event/normalize"
)

// keyedID is the documented id of an event with an idempotency key (kind
// 'K', client id, key), computed independently of the engine; the ingestor's
// tests assert its HTTP answers against the same formula.
func keyedID(client, key string) string {
	b := append([]byte("tally-id-v1"), 0, 'K')
	for _, f := range []string{client, key} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func hdr(kv ...string) []kgo.RecordHeader {
	var hs []kgo.RecordHeader
	for i := 0; i < len(kv); i += 2 {
		hs = append(hs, kgo.RecordHeader{Key: kv[i], Value: []byte(kv[i+1])})
	}
	return hs
}

// httpRecordHeaders are the headers the ingestor writes for an event it
// received over HTTP in the given layout (ingest.Service: received-at,
// request id, source, then normalize.FormatHeaders).
func httpRecordHeaders(received time.Time, in normalize.Input) []kgo.RecordHeader {
	hs := hdr(event.HeaderReceivedAt, received.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		event.HeaderRequestID, "req-1", event.HeaderSource, "http")
	return append(hs, normalize.FormatHeaders(&in)...)
}

// A CloudEvent is one logical event however it arrives: from a Kafka-native
// producer in binary mode (ce_* headers) or structured mode (content-type
// application/cloudevents+json), or through the ingestor's HTTP structured
// or binary mode. The records go through a real Kafka protocol round trip
// (kfake) and the pipeline stores one winner with the id the ingestor
// answers; the other copies are duplicates of it. Segment records carry
// their batch's sentAt, and a format the processor does not know is a
// rejection, not a guess.
func TestProducerFormatsOverKafka(t *testing.T) {
	const parts = 4
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(parts, topic))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	received := time.Date(2025, 3, 4, 5, 6, 7, 891_000_000, time.UTC)

	const data = `{"amount":"12.50","currency":"EUR"}`
	structured := `{"specversion":"1.0","id":"A234-1234-1234","source":"/shop/orders","type":"com.example.order.paid",` +
		`"time":"2024-01-02T15:04:05Z","datacontenttype":"application/json","data":` + data + `}`
	httpHeader := http.Header{}
	for k, v := range map[string]string{"Ce-Specversion": "1.0", "Ce-Id": "A234-1234-1234", "Ce-Source": "%2Fshop%2Forders",
		"Ce-Type": "com.example.order.paid", "Ce-Time": "2024-01-02T15:04:05Z", "Content-Type": "application/json"} {
		httpHeader.Set(k, v)
	}
	httpAttrs, _, err := normalize.CloudEventHTTPAttributes(httpHeader)
	if err != nil {
		t.Fatal(err)
	}
	segment := `{"type":"track","event":"Level Completed","userId":"device-user-9","messageId":"ios-1",` +
		`"originalTimestamp":"2025-03-04T05:04:00.000Z","properties":{"value":3}}`

	type rec struct {
		name    string
		client  string // owner: the partition the record is written to
		value   string
		headers []kgo.RecordHeader
	}
	recs := []rec{
		{"kafka binary", "/shop/orders", data, hdr("ce_specversion", "1.0", "ce_id", "A234-1234-1234", "ce_source", "/shop/orders",
			"ce_type", "com.example.order.paid", "ce_time", "2024-01-02T15:04:05Z", "content-type", "application/json")},
		{"kafka structured", "/shop/orders", structured, hdr("content-type", "application/cloudevents+json; charset=UTF-8")},
		{"http structured", "/shop/orders", structured, httpRecordHeaders(received, normalize.Input{Format: normalize.FormatCloudEvent})},
		{"http binary", "/shop/orders", data, httpRecordHeaders(received,
			normalize.Input{Format: normalize.FormatCloudEventBinary, Attributes: httpAttrs})},
		{"kafka binary without data", "s", "", hdr("ce_specversion", "1.0", "ce_id", "ping-1", "ce_source", "s", "ce_type", "ping")},
		{"segment", "device-user-9", segment, httpRecordHeaders(received,
			normalize.Input{Format: normalize.FormatSegment, SentAt: "2025-03-04T05:05:00.000Z"})},
		{"unknown format", "x", `{"clientId":"x","amount":1}`, hdr(event.HeaderFormat, "avro")},
	}
	prod, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	for _, r := range recs {
		kr := &kgo.Record{Partition: event.OwnerPartition(r.client, parts), Key: event.PartitionKey(r.client),
			Value: []byte(r.value), Headers: r.headers}
		if err := prod.ProduceSync(context.Background(), kr).FirstErr(); err != nil {
			t.Fatalf("%s: %v", r.name, err)
		}
	}

	cons, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var got []*kgo.Record
	for len(got) < len(recs) && ctx.Err() == nil {
		cons.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = append(got, r) })
	}
	if len(got) != len(recs) {
		t.Fatalf("consumed %d records, want %d", len(got), len(recs))
	}

	rg := newRig(t, parts)
	if _, err := rg.processor().Process(context.Background(), got); err != nil {
		t.Fatal(err)
	}

	winners := map[string]event.Canonical{}
	for _, w := range rg.store.winners {
		if _, again := winners[w.Event.EventID]; again {
			t.Errorf("two winners for %s", w.Event.EventID)
		}
		winners[w.Event.EventID] = w.Event
	}
	// The data-less ping has no time attribute: it gets its record's time.
	var pingTime time.Time
	for _, r := range got {
		if len(r.Value) == 0 {
			pingTime = r.Timestamp.UTC().Truncate(time.Millisecond)
		}
	}
	ceID := keyedID("/shop/orders", "A234-1234-1234")
	want := map[string]event.Canonical{
		ceID: {EventID: ceID, ClientID: "/shop/orders", Metric: "com.example.order.paid",
			Amount: event.Amount{Units: 12, Nanos: 500_000_000}, Timestamp: time.Date(2024, 1, 2, 15, 4, 5, 0, time.UTC),
			IdempotencyKey: "A234-1234-1234"},
		keyedID("s", "ping-1"): {EventID: keyedID("s", "ping-1"), ClientID: "s", Metric: "ping", Amount: event.Amount{Units: 1},
			Timestamp: pingTime, TimestampDefaulted: true, IdempotencyKey: "ping-1"},
		// Segment's clock-skew rule: receivedAt − (sentAt − originalTimestamp).
		keyedID("device-user-9", "ios-1"): {EventID: keyedID("device-user-9", "ios-1"), ClientID: "device-user-9",
			Metric: "Level Completed", Amount: event.Amount{Units: 3}, Timestamp: received.Add(-time.Minute), IdempotencyKey: "ios-1"},
	}
	if len(winners) != len(want) {
		t.Errorf("winners %v, want %d", winners, len(want))
	}
	for id, w := range want {
		if g, ok := winners[id]; !ok || g != w {
			t.Errorf("winner %s:\n got  %+v\n want %+v", id, g, w)
		}
	}
	if len(rg.store.dups) != 3 {
		t.Errorf("%d duplicates, want the 3 other copies of the CloudEvent", len(rg.store.dups))
	}
	for _, d := range rg.store.dups {
		if d.Event.EventID != ceID || d.Conflict {
			t.Errorf("duplicate %+v, want a copy of %s", d.Event, ceID)
		}
	}
	if len(rg.store.rejected) != 1 || len(rg.store.dead) != 0 {
		t.Fatalf("rejected %v, dead %v; want one rejection", rg.store.rejected, rg.store.dead)
	}
	for _, r := range rg.store.rejected {
		if r.Code != normalize.CodeUnsupportedEvent {
			t.Errorf("rejection %s: %s, want %s", r.Code, r.Message, normalize.CodeUnsupportedEvent)
		}
	}
}
