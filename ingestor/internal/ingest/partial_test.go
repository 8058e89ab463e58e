package ingest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tally-dev/tally/event"
	"github.com/tally-dev/tally/event/normalize"
	"github.com/tally-dev/tally/ingestor/internal/body"
	"github.com/tally-dev/tally/ingestor/internal/seen"
)

// logProducer is a fake event log: it acks every record except those whose
// value is in fail (answered with failErr) or in hang (never answered), and
// keeps the acked ones, as the raw topic would.
type logProducer struct {
	mu      sync.Mutex
	fail    map[string]bool
	hang    map[string]bool
	failErr error
	acked   []*kgo.Record
}

func (p *logProducer) Produce(_ context.Context, r *kgo.Record, promise func(*kgo.Record, error)) {
	p.mu.Lock()
	fail, hang := p.fail[string(r.Value)], p.hang[string(r.Value)]
	if !fail && !hang {
		c := *r
		p.acked = append(p.acked, &c)
	}
	p.mu.Unlock()
	if hang {
		return
	}
	var err error
	if fail {
		err = p.failErr
	}
	go promise(r, err)
}

// processed is what the processor would count from the log: one per
// distinct event id among records it accepts, re-normalizing each record
// from its value and headers exactly as the processor does.
func (p *logProducer) processed(t *testing.T, e *normalize.Engine) map[string]int {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	copies := map[string]int{}
	for _, r := range p.acked {
		in := normalize.Input{Raw: r.Value, ReceivedAt: time.Unix(1, 0)}
		for _, h := range r.Headers {
			switch h.Key {
			case event.HeaderIdempotencyKey:
				in.IdempotencyKey = string(h.Value)
			case event.HeaderFallbackIdempotencyKey:
				in.FallbackIdempotencyKey = string(h.Value)
			}
		}
		c, rej := e.Normalize(in)
		if rej != nil {
			continue
		}
		copies[c.EventID]++
	}
	return copies
}

func engineService(t *testing.T, p Producer, c Claimer) (*Service, *normalize.Engine) {
	t.Helper()
	e, err := normalize.New(normalize.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(Config{Normalizer: e, Producer: p, Seen: c, ProduceTimeout: 300 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	return svc, e
}

// Defect 3 of issue #15: after a partial failure the answer says, per
// event, what was acknowledged and what must be resent; resending the same
// array counts every event once.
func TestPartialFailureIsTruthful(t *testing.T) {
	const (
		a = `{"clientId":"c","metric":"m","amount":1,"timestamp":"2024-01-01T00:00:00.001Z"}`
		b = `{"clientId":"c","metric":"m","amount":2}`
		c = `{"clientId":"c","metric":"m","amount":3,"idempotencyKey":"own-c"}`
		d = `{"clientId":"c","metric":"m","amount":4,"timestamp":"2024-01-01T00:00:00.004Z"}`
	)
	tests := []struct {
		name       string
		fail, hang map[string]bool
		failErr    error
		wantErr    error
		wantCode   string
	}{
		{"broker error", map[string]bool{b: true, d: true}, nil, errors.New("NOT_ENOUGH_REPLICAS"), ErrUnavailable, CodeUnavailable},
		{"no ack in time", nil, map[string]bool{b: true, d: true}, nil, ErrUnavailable, CodeUnavailable},
		{"record too large", map[string]bool{b: true}, nil, kerr.MessageTooLarge, ErrRecordTooLarge, CodeEventTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &logProducer{fail: tt.fail, hang: tt.hang, failErr: tt.failErr}
			svc, e := engineService(t, p, nil)
			req := Request{Elements: elements(a, b, c, d, `{"bad":1}`), Shape: body.ShapeArray, RequestID: "r1",
				IdempotencyKey: "batch-7", ReceivedAt: time.Unix(1, 0)}
			out, err := svc.Ingest(context.Background(), req)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			failed := map[int]bool{}
			for i, raw := range []string{a, b, c, d} {
				failed[i] = tt.fail[raw] || tt.hang[raw]
			}
			if out.Failed != len(tt.fail)+len(tt.hang) || out.Accepted != 4-out.Failed || out.Rejected != 1 || len(out.Results) != 5 {
				t.Fatalf("outcome accepted %d failed %d rejected %d results %d", out.Accepted, out.Failed, out.Rejected, len(out.Results))
			}
			for i := 0; i < 4; i++ {
				r := out.Results[i]
				if r.EventID == "" || r.IdempotencyKey == "" {
					t.Errorf("result %d: no id or key to resend with: %+v", i, r)
				}
				switch {
				case failed[i] && (r.Status != StatusFailed || r.Failure == nil || r.Failure.Code != tt.wantCode):
					t.Errorf("result %d = %+v, want failed with %s", i, r, tt.wantCode)
				case !failed[i] && r.Status != StatusAccepted:
					t.Errorf("result %d = %+v, want accepted (the log acknowledged it)", i, r)
				}
			}
			if out.Results[2].IdempotencyKey != "own-c" || out.Results[0].IdempotencyKey != "batch-7:0" {
				t.Errorf("keys %q %q: an element's own key wins, else <key>:<index>", out.Results[2].IdempotencyKey, out.Results[0].IdempotencyKey)
			}
			if out.Results[4].Status != StatusRejected {
				t.Errorf("rejected element: %+v", out.Results[4])
			}

			// The client resends the identical array once the log is back.
			p.mu.Lock()
			p.fail, p.hang = nil, nil
			p.mu.Unlock()
			req.RequestID = "r2"
			again, err := svc.Ingest(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 4; i++ {
				if again.Results[i].EventID != out.Results[i].EventID {
					t.Errorf("resent event %d has id %s, first %s", i, again.Results[i].EventID, out.Results[i].EventID)
				}
			}
			copies := p.processed(t, e)
			if len(copies) != 4 {
				t.Errorf("the log holds %d distinct events after the resend, want 4 (each counted once): %v", len(copies), copies)
			}
		})
	}
}

// Defect 3 of issue #15: a resend of a reordered and changed array must not
// count twice the events that carry their own keys.
func TestChangedArrayKeepsOwnKeys(t *testing.T) {
	const (
		a = `{"clientId":"c","metric":"m","amount":1,"idempotencyKey":"a"}`
		b = `{"clientId":"c","metric":"m","amount":2,"event_id":"b"}`
		n = `{"clientId":"c","metric":"m","amount":3}`
		m = `{"clientId":"c","metric":"m","amount":9,"idempotencyKey":"m"}`
	)
	p := &logProducer{}
	svc, e := engineService(t, p, nil)
	first, err := svc.Ingest(context.Background(), Request{Elements: elements(a, b, n), Shape: body.ShapeArray,
		RequestID: "r1", IdempotencyKey: "k", ReceivedAt: time.Unix(1, 0)})
	if err != nil {
		t.Fatal(err)
	}
	second, err := svc.Ingest(context.Background(), Request{Elements: elements(m, b, a), Shape: body.ShapeArray,
		RequestID: "r2", IdempotencyKey: "k", ReceivedAt: time.Unix(2, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if first.Results[0].EventID != second.Results[2].EventID || first.Results[1].EventID != second.Results[1].EventID {
		t.Errorf("events with their own keys changed ids when the array changed: %+v / %+v", first.Results, second.Results)
	}
	// a, b, n and m: four events, whatever the order they came in.
	if copies := p.processed(t, e); len(copies) != 4 {
		t.Errorf("the log holds %d distinct events, want 4: %v", len(copies), copies)
	}
	// Every element's record carries "<key>:<index>" only as the fallback,
	// never as the winning header, so the processor, too, lets an
	// element's own key win.
	for i, r := range p.acked[:3] {
		h := map[string]string{}
		for _, kv := range r.Headers {
			h[kv.Key] = string(kv.Value)
		}
		if _, ok := h[event.HeaderIdempotencyKey]; ok {
			t.Errorf("record %s carries the winning header key %q; an element's own key must win", r.Value, h[event.HeaderIdempotencyKey])
		}
		if want := "k:" + strconv.Itoa(i); h[event.HeaderFallbackIdempotencyKey] != want {
			t.Errorf("record %s: fallback header %q, want %q", r.Value, h[event.HeaderFallbackIdempotencyKey], want)
		}
	}
}

// claimSet is an in-memory Claimer with the Redis one's semantics: an id
// stored or claimed is a duplicate, or a conflict when the fingerprint it
// was stored or claimed with is another.
type claimSet struct {
	mu     sync.Mutex
	stored map[string]uint64
	claims map[string]uint64
	err    error
}

func (c *claimSet) Claim(_ context.Context, copies []seen.Copy) ([]seen.Verdict, error) {
	if c.err != nil {
		return nil, c.err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]seen.Verdict, len(copies))
	for i, cp := range copies {
		fp, known := c.stored[cp.ID]
		if !known {
			fp, known = c.claims[cp.ID]
		}
		switch {
		case !known:
			out[i] = seen.New
			c.claims[cp.ID] = cp.Fingerprint
		case fp != cp.Fingerprint:
			out[i] = seen.Conflict
		default:
			out[i] = seen.Duplicate
		}
	}
	return out, nil
}

// Defect 5 of issue #15: concurrent identical requests are not all "new";
// an event whose copy failed claims nothing; an unavailable hint is unknown.
func TestDuplicateHintClaims(t *testing.T) {
	const ev = `{"clientId":"c","metric":"m","amount":1,"timestamp":"2024-01-01T00:00:00.001Z"}`
	claims := &claimSet{claims: map[string]uint64{}}
	p := &logProducer{fail: map[string]bool{ev: true}, failErr: errors.New("down")}
	svc, _ := engineService(t, p, claims)
	req := Request{Elements: elements(ev), Shape: body.ShapeObject, ReceivedAt: time.Unix(1, 0), DuplicateHint: true}
	out, err := svc.Ingest(context.Background(), req)
	if err == nil || out.Results[0].Duplicate != DuplicateUnknown || len(claims.claims) != 0 {
		t.Fatalf("a failed copy: err %v result %+v claims %v; it must claim nothing", err, out.Results[0], claims.claims)
	}
	p.mu.Lock()
	p.fail = nil
	p.mu.Unlock()

	var wg sync.WaitGroup
	answers := make([]Duplicate, 16)
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := svc.Ingest(context.Background(), req)
			if err != nil {
				t.Error(err)
				return
			}
			answers[i] = out.Results[0].Duplicate
		}()
	}
	wg.Wait()
	news := 0
	for _, a := range answers {
		if a == DuplicateNo {
			news++
		} else if a != DuplicateYes {
			t.Errorf("answer %v, want known", a)
		}
	}
	if news != 1 {
		t.Errorf("%d of 16 identical concurrent requests were answered new, want exactly 1", news)
	}

	claims.err = errors.New("redis down")
	out, err = svc.Ingest(context.Background(), req)
	if err != nil || out.Results[0].Duplicate != DuplicateUnknown {
		t.Errorf("redis down: %+v %v, want duplicate unknown", out.Results[0], err)
	}
}

// Issue #13: a copy that reuses a stored or claimed id with other content
// is reported to the producer as a conflict, from Redis and within one
// request, and a copy with the same content stays a duplicate.
func TestDuplicateHintConflicts(t *testing.T) {
	const (
		first = `{"clientId":"c","metric":"m","amount":1,"idempotencyKey":"k","timestamp":"2024-01-01T00:00:00.001Z"}`
		same  = `{"clientId":"c","metric":"m","amount":"1.0","idempotencyKey":"k","timestamp":"2024-01-01T00:00:00.001Z"}`
		other = `{"clientId":"c","metric":"m","amount":2,"idempotencyKey":"k","timestamp":"2024-01-01T00:00:00.001Z"}`
	)
	claims := &claimSet{claims: map[string]uint64{}, stored: map[string]uint64{}}
	svc, _ := engineService(t, &logProducer{}, claims)
	ask := func(hint bool, raws ...string) []Duplicate {
		t.Helper()
		shape := body.ShapeObject
		if len(raws) > 1 {
			shape = body.ShapeArray
		}
		out, err := svc.Ingest(context.Background(), Request{Elements: elements(raws...), Shape: shape,
			ReceivedAt: time.Unix(1, 0), DuplicateHint: hint})
		if err != nil {
			t.Fatal(err)
		}
		got := make([]Duplicate, len(out.Results))
		for i, r := range out.Results {
			got[i] = r.Duplicate
		}
		return got
	}
	if got := ask(true, first); got[0] != DuplicateNo {
		t.Fatalf("first copy: %v, want new", got)
	}
	if got := ask(true, same); got[0] != DuplicateYes {
		t.Errorf("same content (amount spelled another way) against the claim: %v, want duplicate", got)
	}
	if got := ask(true, other); got[0] != DuplicateConflict {
		t.Errorf("other amount against the claim: %v, want conflict", got)
	}
	// Within one request, without asking Redis: the repeat is compared with
	// the earlier element.
	if got := ask(false, first, same, other); got[0] != DuplicateUnknown || got[1] != DuplicateYes || got[2] != DuplicateConflict {
		t.Errorf("repeats within a request: %v, want [unknown duplicate conflict]", got)
	}
	// Against the seen-set's stored winner, after the claim expired.
	for id, fp := range claims.claims {
		claims.stored[id] = fp
		delete(claims.claims, id)
	}
	if got := ask(true, other); got[0] != DuplicateConflict {
		t.Errorf("other amount against the stored winner: %v, want conflict", got)
	}
	if got := ask(true, first); got[0] != DuplicateYes {
		t.Errorf("the winner's content against the stored winner: %v, want duplicate", got)
	}
	var m dto.Metric
	if err := svc.cfg.Metrics.conflicts.Write(&m); err != nil {
		t.Fatal(err)
	}
	if n := m.GetCounter().GetValue(); n != 3 {
		t.Errorf("conflict hints counted %v, want 3 (claim, within the request, stored winner)", n)
	}
}

// Defect 4 of issue #15: the answer says when an id came from coarse content.
func TestResultSaysIDSource(t *testing.T) {
	svc, _ := engineService(t, &logProducer{}, nil)
	out, err := svc.Ingest(context.Background(), Request{Elements: elements(
		`{"source":"client_A","payload":{"metric":"purchase","amount":"1200","timestamp":"2024/01/01"}}`,
		`{"clientId":"c","amount":1,"ts":"2024-01-01T10:30:00.123Z"}`,
		`{"clientId":"c","amount":1}`,
		`{"clientId":"c","amount":1,"idempotencyKey":"k"}`,
	), Shape: body.ShapeArray, ReceivedAt: time.Unix(1, 0)})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{event.IDSourceContentCoarse, event.IDSourceContent, event.IDSourceContentNoTimestamp, event.IDSourceKey}
	for i, w := range want {
		if out.Results[i].IDSource != w {
			t.Errorf("result %d: idSource %q, want %q", i, out.Results[i].IDSource, w)
		}
	}
}
