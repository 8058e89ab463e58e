//go:build integration

package consumer_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tally-dev/tally/event"
	"github.com/tally-dev/tally/event/normalize"
)

// keyedID is the documented id of an event with an idempotency key (kind
// 'K', client id, key), computed independently of the engine; the
// ingestor's tests assert its HTTP answers against the same formula.
func keyedID(client, key string) string {
	b := append([]byte("tally-id-v1"), 0, 'K')
	for _, f := range []string{client, key} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func headers(kv ...string) []kgo.RecordHeader {
	var hs []kgo.RecordHeader
	for i := 0; i < len(kv); i += 2 {
		hs = append(hs, kgo.RecordHeader{Key: kv[i], Value: []byte(kv[i+1])})
	}
	return hs
}

// On the real Kafka, Redis and ClickHouse: one CloudEvent sent by a
// Kafka-native producer in binary and in structured mode, and as the
// ingestor writes what it received over HTTP (structured and binary mode),
// is stored once under the id the ingestor answers; a Segment message from
// a /v1/batch is stored with its clock-skew-corrected time. The values go
// unkeyed, so some copies are strays the pipeline forwards first.
func TestProducerFormatsEndToEnd(t *testing.T) {
	w := newWorld(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := w.run(t, ctx)

	received := time.Date(2025, 3, 4, 5, 6, 7, 891_000_000, time.UTC)
	ingestor := func(in normalize.Input) []kgo.RecordHeader {
		hs := headers(event.HeaderReceivedAt, received.Format("2006-01-02T15:04:05.000Z07:00"),
			event.HeaderRequestID, "it-formats", event.HeaderSource, "http")
		return append(hs, normalize.FormatHeaders(&in)...)
	}
	const data = `{"amount":"12.50"}`
	structured := `{"specversion":"1.0","id":"A234-1234-1234","source":"/shop/orders","type":"com.example.order.paid",` +
		`"time":"2024-01-02T15:04:05Z","data":` + data + `}`
	binaryAttrs := map[string]string{"specversion": "1.0", "id": "A234-1234-1234", "source": "/shop/orders",
		"type": "com.example.order.paid", "time": "2024-01-02T15:04:05Z", "datacontenttype": "application/json"}
	recs := []*kgo.Record{
		{Value: []byte(data), Headers: headers("ce_specversion", "1.0", "ce_id", "A234-1234-1234", "ce_source", "/shop/orders",
			"ce_type", "com.example.order.paid", "ce_time", "2024-01-02T15:04:05Z", "content-type", "application/json")},
		{Value: []byte(structured), Headers: headers("content-type", "application/cloudevents+json")},
		{Value: []byte(structured), Headers: ingestor(normalize.Input{Format: normalize.FormatCloudEvent})},
		{Value: []byte(data), Headers: ingestor(normalize.Input{Format: normalize.FormatCloudEventBinary, Attributes: binaryAttrs})},
		{Value: []byte(`{"type":"track","event":"Level Completed","userId":"device-user-9","messageId":"ios-1",` +
			`"originalTimestamp":"2025-03-04T05:04:00.000Z","properties":{"value":3}}`),
			Headers: ingestor(normalize.Input{Format: normalize.FormatSegment, SentAt: "2025-03-04T05:05:00.000Z"})},
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(w.brokers...), kgo.DefaultProduceTopic(w.topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	b := w.waitFor(t, func(b books) bool { return b.processed == 2 && b.duplicates == 3 })
	if b.rejected != 0 || b.dead != 0 || b.conflicts != 0 || b.sum != 15 {
		t.Fatalf("books %+v, want the CloudEvent (12.5) and the track call (3) once each", b)
	}

	rows, err := w.ch.Query(ctx, fmt.Sprintf("SELECT event_id, client_id, metric, toString(amount), ts_ms FROM %s.events FINAL ORDER BY client_id", w.db))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	type row struct {
		id, client, metric, amount string
		tsMs                       int64
	}
	var got []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.client, &r.metric, &r.amount, &r.tsMs); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	want := []row{
		{keyedID("/shop/orders", "A234-1234-1234"), "/shop/orders", "com.example.order.paid", "12.500000000",
			time.Date(2024, 1, 2, 15, 4, 5, 0, time.UTC).UnixMilli()},
		// receivedAt − (sentAt − originalTimestamp): one minute before receipt.
		{keyedID("device-user-9", "ios-1"), "device-user-9", "Level Completed", "3.000000000", received.Add(-time.Minute).UnixMilli()},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events\n got  %v\n want %v", got, want)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
