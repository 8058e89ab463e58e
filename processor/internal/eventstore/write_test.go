package eventstore

import (
	"context"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/tally-dev/tally/event"
	"github.com/tally-dev/tally/event/schema"
	"github.com/tally-dev/tally/processor/internal/pipeline"
)

// A batch's tables are written side by side; a duplicate whose original is
// in the same batch waits for the winners.
func TestWriteInsertsTablesSideBySide(t *testing.T) {
	src := pipeline.Source{Stream: "raw/abc", Topic: "raw", Partition: 1, Offset: 5, Received: time.Unix(0, 0)}
	winner := pipeline.Winner{Tenant: "t", Event: event.Canonical{EventID: "e", Timestamp: time.Unix(0, 0)}, Source: src}
	dup := func(original int64) pipeline.Duplicate {
		return pipeline.Duplicate{Tenant: "t", Event: winner.Event, Source: pipeline.Source{Stream: "raw/abc", Partition: 1, Offset: 9},
			Original: pipeline.Origin{Stream: pipeline.StreamTag("raw/abc"), Partition: 1, Offset: original}}
	}
	t.Run("original in an earlier batch", func(t *testing.T) {
		// The events insert finishes only once the duplicates insert has
		// been sent: written one after the other, this would never end.
		c := newOrderConn(map[string]string{"events": "duplicates"})
		if err := New(c, "db").Write(context.Background(), pipeline.Batch{Winners: []pipeline.Winner{winner},
			Duplicates: []pipeline.Duplicate{dup(2)}}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("original in this batch", func(t *testing.T) {
		c := newOrderConn(map[string]string{"events": "event_ids"})
		if err := New(c, "db").Write(context.Background(), pipeline.Batch{Winners: []pipeline.Winner{winner},
			Duplicates: []pipeline.Duplicate{dup(5)}}); err != nil {
			t.Fatal(err)
		}
		if c.prepared["duplicates"].Before(c.sent["events"]) {
			t.Fatal("the duplicate's row was written before its original's")
		}
	})
}

// orderConn records when each table's insert was prepared and sent; the
// insert of a table in waits does not finish before the named table's
// insert was sent (or ten seconds pass: a failure).
type orderConn struct {
	driver.Conn
	mu       sync.Mutex
	waits    map[string]string
	sentCh   map[string]chan struct{}
	prepared map[string]time.Time
	sent     map[string]time.Time
}

func newOrderConn(waits map[string]string) *orderConn {
	c := &orderConn{waits: waits, sentCh: map[string]chan struct{}{}, prepared: map[string]time.Time{}, sent: map[string]time.Time{}}
	for _, table := range []string{"events", "event_ids", "duplicates", "rejected_events", "dead_letters", "forwarded"} {
		c.sentCh[table] = make(chan struct{})
	}
	return c
}

func (c *orderConn) PrepareBatch(_ context.Context, query string, _ ...driver.PrepareBatchOption) (driver.Batch, error) {
	table := strings.Fields(strings.TrimPrefix(query, "INSERT INTO db."))[0]
	c.mu.Lock()
	c.prepared[table] = time.Now()
	c.mu.Unlock()
	return &orderBatch{c: c, table: table}, nil
}

type orderBatch struct {
	driver.Batch
	c     *orderConn
	table string
}

func (b *orderBatch) Column(int) driver.BatchColumn { return anyColumn{} }
func (b *orderBatch) Abort() error                  { return nil }

type anyColumn struct{ driver.BatchColumn }

func (anyColumn) Append(any) error { return nil }
func (b *orderBatch) Send() error {
	if other, ok := b.c.waits[b.table]; ok {
		select {
		case <-b.c.sentCh[other]:
		case <-time.After(10 * time.Second):
			return context.DeadlineExceeded
		}
	}
	b.c.mu.Lock()
	b.c.sent[b.table] = time.Now()
	b.c.mu.Unlock()
	close(b.c.sentCh[b.table])
	return nil
}

// Every insert's builder gives one column per name in its table's column
// list, each with one value per row. (Their types are checked by the
// integration tests, on a real server.)
func TestColumnBuildersMatchTheirTables(t *testing.T) {
	src := pipeline.Source{Stream: "raw/abc", Topic: "raw", Partition: 1, Offset: 5, Received: time.Unix(0, 0)}
	ev := event.Canonical{EventID: "e", ClientID: "c", Metric: "m", Amount: event.Amount{Units: 3}, Timestamp: time.Unix(60, 0)}
	winners := []pipeline.Winner{{Tenant: "t", Event: ev, Source: src}, {Tenant: "t", Event: ev, Source: src, Fingerprint: 9}}
	key := pipeline.StateKey{Tenant: "t", Client: "c", Metric: "m", Stream: "raw/abc", Part: 1}
	for _, c := range []struct {
		table string
		names []string
		cols  []any
	}{
		{"events", schema.EventsColumns, eventsColumns(winners, []int{1, 0}, 7)},
		{"event_ids", schema.EventIDsColumns, eventIDsColumns(winners, 7)},
		{"duplicates", schema.DuplicatesColumns, duplicatesColumns([]pipeline.Duplicate{{Event: ev, Source: src}, {Conflict: true}}, 7)},
		{"rejected_events", schema.RejectedColumns, rejectedColumns([]pipeline.Rejected{{Code: "x"}, {Raw: []byte("{")}}, 7)},
		{"dead_letters", schema.DeadLettersColumns, deadLettersColumns([]pipeline.DeadLetter{{Reason: "r"}, {}}, 7)},
		{"forwarded", schema.ForwardedColumns, forwardedColumns([]pipeline.ForwardedRow{{EventID: "e"}, {}}, 7)},
		{"state", schema.StateColumns, stateColumns([]pipeline.StateRow{{Key: key, Count: 1}, {Key: key}})},
	} {
		if len(c.cols) != len(c.names) {
			t.Errorf("%s: %d columns built for %d names", c.table, len(c.cols), len(c.names))
			continue
		}
		for i, col := range c.cols {
			if v := reflect.ValueOf(col); v.Kind() != reflect.Slice || v.Len() != 2 {
				t.Errorf("%s.%s: %T is not a slice of 2 values", c.table, c.names[i], col)
			}
		}
	}
	// The fingerprint is the pipeline's when it computed one, else the event's.
	fp := eventIDsColumns(winners, 7)[4].([]uint64)
	if fp[0] != ev.Fingerprint() || fp[1] != 9 {
		t.Errorf("fingerprints %v, want [%d 9]", fp, ev.Fingerprint())
	}
}
