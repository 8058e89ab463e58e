package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tally-dev/tally/event"
	"github.com/tally-dev/tally/event/normalize"
	"github.com/tally-dev/tally/processor/internal/eventstore"
	"github.com/tally-dev/tally/processor/internal/faults"
	"github.com/tally-dev/tally/processor/internal/seen"
)

// fakeStore records successful writes; failures makes the next n calls fail.
type fakeStore struct {
	mu       sync.Mutex
	failures int
	calls    int
	batches  []eventstore.Batch
	log      *[]string
}

func (s *fakeStore) Write(_ context.Context, b eventstore.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.failures > 0 {
		s.failures--
		return errors.New("clickhouse: connection refused")
	}
	s.batches = append(s.batches, b)
	if s.log != nil {
		*s.log = append(*s.log, "write")
	}
	return nil
}

func (s *fakeStore) events() []eventstore.EventRow {
	var out []eventstore.EventRow
	for _, b := range s.batches {
		out = append(out, b.Events...)
	}
	return out
}

func (s *fakeStore) duplicates() []eventstore.DuplicateRow {
	var out []eventstore.DuplicateRow
	for _, b := range s.batches {
		out = append(out, b.Duplicates...)
	}
	return out
}

type fakeSeen struct {
	m       map[string]seen.Origin
	failing bool
	log     *[]string
}

func (f *fakeSeen) Lookup(_ context.Context, ids []string) (map[string]seen.Origin, error) {
	if f.failing {
		return nil, errors.New("redis: connection refused")
	}
	out := map[string]seen.Origin{}
	for _, id := range ids {
		if o, ok := f.m[id]; ok {
			out[id] = o
		}
	}
	return out, nil
}

func (f *fakeSeen) Mark(_ context.Context, origins map[string]seen.Origin) error {
	if f.failing {
		return errors.New("redis: connection refused")
	}
	if f.log != nil {
		*f.log = append(*f.log, "mark")
	}
	for id, o := range origins {
		if _, ok := f.m[id]; !ok {
			f.m[id] = o
		}
	}
	return nil
}

type fakeDLQ struct{ records []*kgo.Record }

func (d *fakeDLQ) DeadLetter(_ context.Context, rs []*kgo.Record, _ []string) error {
	d.records = append(d.records, rs...)
	return nil
}

func engine(t *testing.T) *normalize.Engine {
	t.Helper()
	e, err := normalize.New(normalize.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func rec(partition int32, offset int64, value string, headers ...kgo.RecordHeader) *kgo.Record {
	return &kgo.Record{Topic: "events.raw", Partition: partition, Offset: offset, Value: []byte(value),
		Timestamp: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Headers: headers}
}

func ev(client string, amount int) string {
	return fmt.Sprintf(`{"source":%q,"payload":{"metric":"purchase","amount":"%d","timestamp":"2024/01/01"}}`, client, amount)
}

type harness struct {
	store *fakeStore
	seen  *fakeSeen
	dlq   *fakeDLQ
	p     *Pipeline
	log   []string
}

func newHarness(t *testing.T, mod func(*Options)) *harness {
	h := &harness{}
	h.store = &fakeStore{log: &h.log}
	h.seen = &fakeSeen{m: map[string]seen.Origin{}, log: &h.log}
	h.dlq = &fakeDLQ{}
	o := Options{Normalizer: engine(t), Store: h.store, Seen: h.seen, DeadLetters: h.dlq,
		RetryInitial: time.Millisecond, RetryMax: 2 * time.Millisecond, MaxRecordBytes: 4096}
	if mod != nil {
		mod(&o)
	}
	h.p = New(o)
	return h
}

func TestResendsInOneBatchAreStoredOnce(t *testing.T) {
	h := newHarness(t, nil)
	res, err := h.p.Process(context.Background(), []*kgo.Record{rec(0, 0, ev("a", 1)), rec(0, 1, ev("a", 1)), rec(1, 0, ev("b", 2))})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stored != 2 || res.Duplicates != 1 {
		t.Fatalf("result = %+v, want 2 stored 1 duplicate", res)
	}
	d := h.store.duplicates()
	if len(d) != 1 || d[0].Source.Offset != 1 || d[0].OriginalPartition != 0 || d[0].OriginalOffset != 0 {
		t.Fatalf("duplicate lineage = %+v", d)
	}
}

func TestResendAcrossBatchesLinksToOriginal(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	if _, err := h.p.Process(ctx, []*kgo.Record{rec(3, 10, ev("a", 1))}); err != nil {
		t.Fatal(err)
	}
	res, err := h.p.Process(ctx, []*kgo.Record{rec(5, 7, ev("a", 1))})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stored != 0 || res.Duplicates != 1 {
		t.Fatalf("second batch = %+v", res)
	}
	d := h.store.duplicates()[0]
	if d.OriginalPartition != 3 || d.OriginalOffset != 10 {
		t.Fatalf("lineage points at %d/%d, want 3/10", d.OriginalPartition, d.OriginalOffset)
	}
}

func TestReprocessedOriginalIsNotADuplicate(t *testing.T) {
	// Crash after marking, before commit: the same record comes back and
	// Redis names it as its own origin.
	h := newHarness(t, nil)
	ctx := context.Background()
	batch := []*kgo.Record{rec(2, 4, ev("a", 1))}
	if _, err := h.p.Process(ctx, batch); err != nil {
		t.Fatal(err)
	}
	res, err := h.p.Process(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if res.Stored != 1 || res.Duplicates != 0 {
		t.Fatalf("reprocessed original = %+v, want stored again (idempotent), no duplicate", res)
	}
}

func TestWriteIsRetriedAndRedisMarkedOnlyAfterIt(t *testing.T) {
	h := newHarness(t, nil)
	h.store.failures = 3
	res, err := h.p.Process(context.Background(), []*kgo.Record{rec(0, 0, ev("a", 1))})
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 4 || h.p.Retries() != 3 {
		t.Fatalf("attempts = %d, retries = %d, want 4 and 3", res.Attempts, h.p.Retries())
	}
	if fmt.Sprint(h.log) != "[write mark]" {
		t.Fatalf("order of effects = %v, want [write mark]", h.log)
	}
	if !h.p.Healthy() {
		t.Fatal("pipeline unhealthy after a successful retry")
	}
}

func TestShutdownDuringOutageMarksNothing(t *testing.T) {
	h := newHarness(t, nil)
	h.store.failures = 1 << 30
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := h.p.Process(ctx, []*kgo.Record{rec(0, 0, ev("a", 1))})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's error", err)
	}
	if len(h.seen.m) != 0 || len(h.store.batches) != 0 {
		t.Fatal("something was marked or stored although the write never succeeded")
	}
	if h.p.Healthy() {
		t.Fatal("pipeline reports healthy during an outage")
	}
}

func TestRedisDownFailsOpen(t *testing.T) {
	h := newHarness(t, nil)
	h.seen.failing = true
	res, err := h.p.Process(context.Background(), []*kgo.Record{rec(0, 0, ev("a", 1)), rec(0, 1, ev("a", 1))})
	if err != nil {
		t.Fatal(err)
	}
	// The in-batch duplicate is still caught without Redis.
	if res.Stored != 1 || res.Duplicates != 1 {
		t.Fatalf("result = %+v", res)
	}
}

func TestUnparseableRecordsAreDeadLettered(t *testing.T) {
	h := newHarness(t, nil)
	big := `{"source":"a","payload":"` + string(make([]byte, 5000)) + `"}`
	res, err := h.p.Process(context.Background(), []*kgo.Record{
		rec(0, 0, "not json"), rec(0, 1, ""), rec(0, 2, big), rec(0, 3, `{"source":"a","amount":"abc"}`), rec(0, 4, ev("a", 1)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.DeadLettered != 3 || len(h.dlq.records) != 3 || res.Rejected != 1 || res.Stored != 1 {
		t.Fatalf("result = %+v, dlq = %d", res, len(h.dlq.records))
	}
	rej := h.store.batches[0].Rejected[0]
	if rej.Code != "amount_invalid" || rej.Source.Offset != 3 {
		t.Fatalf("rejection = %+v", rej)
	}
}

func TestSimulatedFailureFailsFirstAttemptOnly(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Faults = faults.NewBoard() })
	sim := kgo.RecordHeader{Key: event.HeaderSimulateFailure, Value: []byte("true")}
	res, err := h.p.Process(context.Background(), []*kgo.Record{rec(0, 0, ev("a", 1), sim)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 2 || len(h.store.events()) != 1 {
		t.Fatalf("attempts = %d, stored = %d; want 2 attempts, 1 stored", res.Attempts, len(h.store.events()))
	}
}

func TestSimulatedFailureIgnoredWithoutFaultInjection(t *testing.T) {
	h := newHarness(t, nil)
	sim := kgo.RecordHeader{Key: event.HeaderSimulateFailure, Value: []byte("true")}
	res, err := h.p.Process(context.Background(), []*kgo.Record{rec(0, 0, ev("a", 1), sim)})
	if err != nil || res.Attempts != 1 {
		t.Fatalf("attempts = %d, err = %v; a Kafka header alone must not inject faults", res.Attempts, err)
	}
}

func TestFaultBoardClickHouseFailure(t *testing.T) {
	board := faults.NewBoard()
	if _, err := board.Apply(faults.Request{Target: "clickhouse", Mode: faults.Fail}); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(o *Options) { o.Faults = board })
	done := make(chan error, 1)
	go func() {
		_, err := h.p.Process(context.Background(), []*kgo.Record{rec(0, 0, ev("a", 1))})
		done <- err
	}()
	time.Sleep(30 * time.Millisecond)
	if h.p.Healthy() || h.store.calls != 0 {
		t.Fatalf("healthy=%v calls=%d while ClickHouse is failing", h.p.Healthy(), h.store.calls)
	}
	board.Clear()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(h.store.events()) != 1 {
		t.Fatal("event not stored after the fault cleared")
	}
}

func TestNegativeControlNoDedupStoresEveryCopy(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.NegativeControl = "no-dedup" })
	res, err := h.p.Process(context.Background(), []*kgo.Record{rec(0, 0, ev("a", 1)), rec(0, 1, ev("a", 1))})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stored != 2 {
		t.Fatalf("no-dedup stored %d rows, want 2", res.Stored)
	}
}

func TestMarkBeforeWriteControlMarksFirst(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.NegativeControl = "mark-before-write" })
	h.store.failures = 1
	if _, err := h.p.Process(context.Background(), []*kgo.Record{rec(0, 0, ev("a", 1))}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(h.log) != "[mark write]" {
		t.Fatalf("order = %v, want [mark write]", h.log)
	}
}
