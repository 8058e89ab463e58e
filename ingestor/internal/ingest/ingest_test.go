package ingest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tally-dev/tally/event"
	"github.com/tally-dev/tally/event/normalize"
	"github.com/tally-dev/tally/ingestor/internal/body"
	"github.com/tally-dev/tally/ingestor/internal/seen"
)

// fakeNormalizer rejects {"bad":1} and accepts anything else, with the raw
// text as its id, and records what it was given.
type fakeNormalizer struct {
	mu   sync.Mutex
	keys []string
}

func (f *fakeNormalizer) Normalize(in normalize.Input) (event.Canonical, *normalize.Rejection) {
	f.mu.Lock()
	f.keys = append(f.keys, in.IdempotencyKey+in.FallbackIdempotencyKey)
	f.mu.Unlock()
	if string(in.Raw) == `{"bad":1}` {
		return event.Canonical{}, &normalize.Rejection{Code: "amount_missing", Field: "amount", Message: "no amount"}
	}
	return event.Canonical{EventID: "id-" + string(in.Raw), ClientID: "client-" + string(in.Raw)}, nil
}

// fakeProducer answers each record with err after delay; a negative delay
// never answers.
type fakeProducer struct {
	mu      sync.Mutex
	records []*kgo.Record
	err     error
	failAt  int // index of the one record that fails with err; -1: all get err
	delay   time.Duration
}

func (p *fakeProducer) Produce(_ context.Context, r *kgo.Record, promise func(*kgo.Record, error)) {
	p.mu.Lock()
	i := len(p.records)
	p.records = append(p.records, r)
	p.mu.Unlock()
	if p.delay < 0 {
		return
	}
	var err error
	if p.failAt < 0 || p.failAt == i {
		err = p.err
	}
	go func() {
		time.Sleep(p.delay)
		promise(r, err)
	}()
}

type fakeSeen struct {
	seen map[string]bool
	err  error
}

func (f fakeSeen) Claim(_ context.Context, copies []seen.Copy) ([]seen.Verdict, error) {
	if f.err != nil {
		return nil, f.err
	}
	out := make([]seen.Verdict, len(copies))
	for i, c := range copies {
		out[i] = seen.New
		if f.seen[c.ID] {
			out[i] = seen.Duplicate
		}
	}
	return out, nil
}

func newService(t *testing.T, p Producer, s Claimer) (*Service, *fakeNormalizer) {
	t.Helper()
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	n := &fakeNormalizer{}
	svc, err := New(Config{Normalizer: n, Producer: p, Seen: s, ProduceTimeout: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	return svc, n
}

func elements(raws ...string) []body.Element {
	out := make([]body.Element, len(raws))
	for i, r := range raws {
		out[i] = body.Element{Raw: []byte(r)}
	}
	return out
}

// A failure answers within the produce timeout, and no event is reported
// accepted unless its record was acknowledged.
func TestIngestFailureIsBoundedAndTruthful(t *testing.T) {
	tests := []struct {
		name       string
		p          *fakeProducer
		want       error
		wantStatus []string
	}{
		{"one record fails", &fakeProducer{err: errors.New("broker gone"), failAt: 1}, ErrUnavailable,
			[]string{StatusAccepted, StatusFailed, StatusAccepted}},
		{"no ack in time", &fakeProducer{delay: -1}, ErrUnavailable, []string{StatusFailed, StatusFailed, StatusFailed}},
		{"record too large", &fakeProducer{err: kerr.MessageTooLarge, failAt: 0}, ErrRecordTooLarge,
			[]string{StatusFailed, StatusAccepted, StatusAccepted}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc, _ := newService(t, tt.p, nil)
			start := time.Now()
			out, err := svc.Ingest(context.Background(), Request{Elements: elements(`{"a":1}`, `{"a":2}`, `{"a":3}`), RequestID: "r"})
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			for i, r := range out.Results {
				if r.Status != tt.wantStatus[i] {
					t.Errorf("result %d = %+v, want %s", i, r, tt.wantStatus[i])
				}
			}
			if time.Since(start) > 2*time.Second {
				t.Errorf("Ingest took %s with a 200ms produce timeout", time.Since(start))
			}
		})
	}
}

func TestIngestRecordsAndHint(t *testing.T) {
	p := &fakeProducer{failAt: -1}
	svc, n := newService(t, p, fakeSeen{seen: map[string]bool{`id-{"a":2}`: true}})
	at := time.Date(2024, 1, 2, 3, 4, 5, 678_900_000, time.FixedZone("x", 3600))
	out, err := svc.Ingest(context.Background(), Request{
		Elements: append(elements(`{"a":1}`, `{"a":2}`, `{"bad":1}`, `{"a":1}`), body.Element{Raw: []byte(`7`), Issue: body.IssueNotObject, Message: "m"}),
		Shape:    body.ShapeArray, RequestID: "req", IdempotencyKey: "k", SimulateFailure: true, ReceivedAt: at,
		DuplicateHint: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if out.Accepted != 3 || out.Rejected != 2 {
		t.Errorf("accepted %d rejected %d", out.Accepted, out.Rejected)
	}
	wantDup := []Duplicate{DuplicateNo, DuplicateYes, DuplicateUnknown, DuplicateYes, DuplicateUnknown}
	for i, r := range out.Results {
		if r.Duplicate != wantDup[i] || r.Index != i {
			t.Errorf("result %d = %+v, want duplicate %v", i, r, wantDup[i])
		}
	}
	if out.Results[4].Rejection.Code != body.IssueNotObject {
		t.Errorf("scanner issue not reported: %+v", out.Results[4])
	}
	// The scanner-rejected element never reaches the engine.
	if want := []string{"k:0", "k:1", "k:2", "k:3"}; len(n.keys) != 4 || n.keys[3] != want[3] || n.keys[0] != want[0] {
		t.Errorf("engine saw keys %v, want %v", n.keys, want)
	}
	if len(p.records) != 5 {
		t.Fatalf("produced %d records, want 5", len(p.records))
	}
	h := map[string]string{}
	for _, hd := range p.records[2].Headers {
		h[hd.Key] = string(hd.Value)
	}
	if h[event.HeaderReceivedAt] != "2024-01-02T02:04:05.678Z" || h[event.HeaderFallbackIdempotencyKey] != "k:2" ||
		h[event.HeaderSimulateFailure] != "true" || h[event.HeaderSource] != "http" || h[event.HeaderRequestID] != "req" {
		t.Errorf("headers = %v", h)
	}
	if _, ok := h[event.HeaderEventID]; ok || string(p.records[2].Key) != "req:2" {
		t.Errorf("rejected record: key %q headers %v", p.records[2].Key, h)
	}
	if string(p.records[0].Key) != `client-{"a":1}` {
		t.Errorf("accepted record key = %q, want its client id (the owner partition's key)", p.records[0].Key)
	}
}

func TestIngestHintFailsOpen(t *testing.T) {
	svc, _ := newService(t, &fakeProducer{failAt: -1}, fakeSeen{err: errors.New("redis down")})
	out, err := svc.Ingest(context.Background(), Request{Elements: elements(`{"a":1}`), Shape: body.ShapeObject, IdempotencyKey: "k"})
	if err != nil || out.Accepted != 1 || out.Results[0].Duplicate != DuplicateUnknown {
		t.Fatalf("out %+v err %v", out, err)
	}
}

// claimCounter fails the test if the hint reaches Redis.
type claimCounter struct{ calls atomic.Int64 }

func (c *claimCounter) Claim(_ context.Context, copies []seen.Copy) ([]seen.Verdict, error) {
	c.calls.Add(1)
	out := make([]seen.Verdict, len(copies))
	for i := range out {
		out[i] = seen.New
	}
	return out, nil
}

// The hint costs Redis two commands per event, so it is asked only when the
// request asks; a repeat within the request is still known without it.
func TestDuplicateHintOnlyWhenAsked(t *testing.T) {
	claims := &claimCounter{}
	svc, _ := newService(t, &fakeProducer{failAt: -1}, claims)
	req := Request{Elements: elements(`{"a":1}`, `{"a":2}`, `{"a":1}`), Shape: body.ShapeArray, RequestID: "r"}
	out, err := svc.Ingest(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	want := []Duplicate{DuplicateUnknown, DuplicateUnknown, DuplicateYes}
	for i, r := range out.Results {
		if r.Duplicate != want[i] {
			t.Errorf("not asked: result %d duplicate %v, want %v", i, r.Duplicate, want[i])
		}
	}
	if n := claims.calls.Load(); n != 0 {
		t.Fatalf("not asked: the Claimer was called %d times, want 0", n)
	}
	req.DuplicateHint = true
	if out, err = svc.Ingest(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	want = []Duplicate{DuplicateNo, DuplicateNo, DuplicateYes}
	for i, r := range out.Results {
		if r.Duplicate != want[i] {
			t.Errorf("asked: result %d duplicate %v, want %v", i, r.Duplicate, want[i])
		}
	}
	if n := claims.calls.Load(); n != 1 {
		t.Errorf("asked: the Claimer was called %d times, want 1", n)
	}
}

// Requests of one millisecond share the received-at text; a request of
// another millisecond gets its own, never the one before.
func TestReceivedAtHeaderFollowsEachRequest(t *testing.T) {
	p := &fakeProducer{failAt: -1}
	svc, _ := newService(t, p, nil)
	base := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	at := []time.Time{
		base.Add(100 * time.Microsecond), base.Add(900 * time.Microsecond), // same millisecond
		base.Add(time.Millisecond), base.Add(time.Hour).In(time.FixedZone("x", -7200)),
		base.Add(100 * time.Microsecond), // back to the first
	}
	want := []string{"2026-12-03T10:00:00.000Z", "2026-12-03T10:00:00.000Z", "2026-12-03T10:00:00.001Z",
		"2026-12-03T11:00:00.000Z", "2026-12-03T10:00:00.000Z"}
	for i, a := range at {
		if _, err := svc.Ingest(context.Background(), Request{Elements: elements(`{"a":1}`), Shape: body.ShapeObject, ReceivedAt: a}); err != nil {
			t.Fatal(err)
		}
		var got string
		for _, h := range p.records[i].Headers {
			if h.Key == event.HeaderReceivedAt {
				got = string(h.Value)
			}
		}
		if got != want[i] {
			t.Errorf("request %d received at %v: header %q, want %q", i, a, got, want[i])
		}
	}
}

// A client that hangs up does not cut the wait short: the records are on
// their way, and Ingest still reports the broker's verdicts.
func TestIngestWaitsForVerdictsAfterTheClientLeft(t *testing.T) {
	p := &fakeProducer{failAt: -1, delay: 50 * time.Millisecond}
	svc, _ := newService(t, p, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out, err := svc.Ingest(ctx, Request{Elements: elements(`{"a":1}`, `{"a":2}`), Shape: body.ShapeArray})
	if err != nil || out.Accepted != 2 {
		t.Fatalf("canceled request: out %+v, err %v; want both acknowledged events accepted", out, err)
	}
}
