package eventstore

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	chproto "github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"

	"github.com/tally-dev/tally/event"
)

// eventColumns mirrors the events table (docs/contracts.md) in the order
// writeEvents lists them.
var eventColumns = []struct {
	name string
	typ  column.Type
}{
	{"event_id", "String"}, {"client_id", "String"}, {"metric", "String"}, {"amount", "Decimal(38, 9)"},
	{"ts", "DateTime"}, {"ts_ms", "Int64"}, {"ts_defaulted", "UInt8"}, {"idempotency_key", "String"},
	{"received_ms", "Int64"}, {"topic", "String"}, {"partition", "Int32"}, {"offset", "Int64"},
	{"raw", "String"}, {"inserted_ms", "Int64"},
}

func benchRows(n int) []EventRow {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rows := make([]EventRow, n)
	for i := range rows {
		h := sha256.Sum256([]byte(fmt.Sprint(i)))
		ts := base.Add(time.Duration(i) * time.Second)
		raw := fmt.Appendf(nil, `{"clientId":"client_%02d","metric":"purchase","amount":%d.%02d,"timestamp":%q}`, i%20, i%5000, i%100, ts.Format(time.RFC3339))
		rows[i] = EventRow{
			Event: event.Canonical{EventID: hex.EncodeToString(h[:]), ClientID: fmt.Sprintf("client_%02d", i%20), Metric: "purchase",
				Amount: event.Amount{Units: int64(i % 5000), Nanos: int32(i%100) * 10_000_000}, Timestamp: ts},
			Source: event.Source{Topic: "events.raw", Partition: int32(i % 8), Offset: int64(i), Received: base},
			Raw:    raw,
		}
	}
	return rows
}

// BenchmarkEncodeBatch appends 1000 event rows to a native-protocol block
// exactly as writeEvents does (same values, same column types) and encodes
// the block to wire bytes: the client-side CPU of one insert, without a
// server. (Compression and the socket write are not included.)
func BenchmarkEncodeBatch(b *testing.B) {
	rows := benchRows(1000)
	now := time.Now().UnixMilli()
	var buf chproto.Buffer
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		block := proto.NewBlock()
		for _, c := range eventColumns {
			if err := block.AddColumn(c.name, c.typ); err != nil {
				b.Fatal(err)
			}
		}
		for _, r := range rows {
			e := r.Event
			var defaulted uint8
			if e.TimestampDefaulted {
				defaulted = 1
			}
			if err := block.Append(e.EventID, e.ClientID, e.Metric, Decimal(e.Amount), e.Timestamp.UTC(), e.Timestamp.UnixMilli(),
				defaulted, e.IdempotencyKey, r.Source.Received.UnixMilli(), r.Source.Topic, r.Source.Partition, r.Source.Offset,
				string(r.Raw), now); err != nil {
				b.Fatal(err)
			}
		}
		buf.Reset()
		if err := block.Encode(&buf, proto.DBMS_TCP_PROTOCOL_VERSION); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(rows)), "ns/row")
	b.ReportMetric(float64(len(buf.Buf))/float64(len(rows)), "bytes/row")
}

// BenchmarkDecimal is the exact amount conversion for the Decimal(38, 9)
// column, on the fast (int64) path and on the big.Int path.
func BenchmarkDecimal(b *testing.B) {
	for _, tc := range []struct {
		name string
		a    event.Amount
	}{
		{"integer", event.Amount{Units: 1200}},
		{"fraction", event.Amount{Units: 12, Nanos: 340_000_000}},
		{"huge", event.Amount{Units: 9_223_372_036, Nanos: 854_775_807}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = Decimal(tc.a)
			}
		})
	}
}
