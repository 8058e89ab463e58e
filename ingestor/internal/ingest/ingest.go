// Package ingest is the ingestor's one use case: take the raw events of a
// request, preflight each through the normalization engine, and write every
// one of them — accepted and rejected alike, so the audit trail is complete —
// to the raw topic.
//
// Contract: Ingest returns an Outcome only after the broker acknowledged
// every record of the request. If any record fails or the deadline passes it
// returns ErrUnavailable and reports nothing as accepted. Some records of
// such a request may still have landed; that is safe, because the processor
// deduplicates by event id and a client retry produces the same ids.
//
// The preflight verdict is informational: the processor re-normalizes every
// record with the same configuration and decides authoritatively.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tally-dev/tally/event"
	"github.com/tally-dev/tally/event/normalize"
	"github.com/tally-dev/tally/ingestor/internal/body"
)

// Normalizer is the preflight: *normalize.Engine satisfies it.
type Normalizer interface {
	Normalize(normalize.Input) (event.Canonical, *normalize.Rejection)
}

// Producer writes records asynchronously and calls promise once per record
// with the broker's verdict; *kgo.Client satisfies it.
type Producer interface {
	Produce(ctx context.Context, r *kgo.Record, promise func(*kgo.Record, error))
}

// SeenChecker answers the duplicate hint; see package seen. Errors count as
// "not seen".
type SeenChecker interface {
	Seen(ctx context.Context, ids []string) ([]bool, error)
}

// Errors Ingest returns; the HTTP layer maps them to statuses.
var (
	// ErrUnavailable: the broker did not ack every record in time (503).
	ErrUnavailable = errors.New("event log unavailable")
	// ErrRecordTooLarge: the broker refused a record for its size (413).
	ErrRecordTooLarge = errors.New("record too large for the event log")
)

// Status of one event in a response.
const (
	StatusAccepted = "accepted"
	StatusRejected = "rejected"
)

// Request is one HTTP request's worth of raw events.
type Request struct {
	Elements        []body.Element
	Shape           body.Shape
	RequestID       string
	IdempotencyKey  string // from the Idempotency-Key header; may be empty
	SimulateFailure bool
	ReceivedAt      time.Time
	// Layout is how every element is laid out (format, CloudEvents
	// attributes, Segment sentAt); the zero value is Tally JSON.
	Layout Layout
}

// Result is the preflight verdict for one event.
type Result struct {
	Index     int
	EventID   string // empty when rejected
	Status    string
	Duplicate bool
	Rejection *normalize.Rejection // nil when accepted
}

// Outcome is the answer for a whole request.
type Outcome struct {
	Accepted, Rejected int
	Results            []Result
}

// Config wires a Service.
type Config struct {
	Normalizer     Normalizer
	Producer       Producer
	Seen           SeenChecker // nil disables the duplicate hint
	ProduceTimeout time.Duration
	Logger         *slog.Logger
	Metrics        *Metrics
}

// Service runs Ingest. It is safe for concurrent use.
type Service struct {
	cfg Config
}

// New returns a Service; every Config field except Seen is required.
func New(cfg Config) (*Service, error) {
	switch {
	case cfg.Normalizer == nil:
		return nil, errors.New("ingest: Normalizer is required")
	case cfg.Producer == nil:
		return nil, errors.New("ingest: Producer is required")
	case cfg.ProduceTimeout <= 0:
		return nil, errors.New("ingest: ProduceTimeout must be positive")
	case cfg.Logger == nil:
		return nil, errors.New("ingest: Logger is required")
	case cfg.Metrics == nil:
		return nil, errors.New("ingest: Metrics is required")
	}
	return &Service{cfg: cfg}, nil
}

// receivedAtLayout is RFC 3339 with milliseconds; with a UTC time it ends in "Z".
const receivedAtLayout = "2006-01-02T15:04:05.000Z07:00"

// Ingest preflights, produces and waits for every ack; see the package doc.
func (s *Service) Ingest(ctx context.Context, req Request) (Outcome, error) {
	n := len(req.Elements)
	out := Outcome{Results: make([]Result, n)}
	records := make([]kgo.Record, n)
	// One backing array for every record's headers saves an allocation per event.
	headers := make([]kgo.RecordHeader, 0, n*6)
	receivedAt := req.ReceivedAt.UTC().Truncate(time.Millisecond)
	receivedText := []byte(receivedAt.Format(receivedAtLayout))
	requestID := []byte(req.RequestID)
	var ids []string // accepted event ids, for the hint
	var idIdx []int  // their result index
	rejectedByCode := map[string]int{}

	clients := make([]string, len(req.Elements))
	layoutHeaders := req.Layout.headers()
	for i, el := range req.Elements {
		key := req.IdempotencyKey
		if key != "" && req.Shape == body.ShapeArray {
			key = key + ":" + strconv.Itoa(i)
		}
		res := Result{Index: i}
		if el.Issue != "" {
			res.Status = StatusRejected
			res.Rejection = &normalize.Rejection{Code: el.Issue, Message: el.Message}
		} else {
			c, rej := s.cfg.Normalizer.Normalize(req.Layout.input(el.Raw, receivedAt, key))
			if rej != nil {
				res.Status = StatusRejected
				res.Rejection = rej
			} else {
				res.Status = StatusAccepted
				res.EventID = c.EventID
				clients[i] = c.ClientID
			}
		}
		start := len(headers)
		headers = append(headers,
			kgo.RecordHeader{Key: event.HeaderReceivedAt, Value: receivedText},
			kgo.RecordHeader{Key: event.HeaderRequestID, Value: requestID},
			kgo.RecordHeader{Key: event.HeaderSource, Value: sourceHTTP},
		)
		if key != "" {
			headers = append(headers, kgo.RecordHeader{Key: event.HeaderIdempotencyKey, Value: []byte(key)})
		}
		if req.SimulateFailure {
			headers = append(headers, kgo.RecordHeader{Key: event.HeaderSimulateFailure, Value: trueValue})
		}
		headers = append(headers, layoutHeaders...)
		rec := &records[i]
		rec.Value = el.Raw
		if res.EventID != "" {
			headers = append(headers, kgo.RecordHeader{Key: event.HeaderEventID, Value: []byte(res.EventID)})
			// Keyed by client: every copy of an event, and every event of a
			// client, goes to the partition that owns it
			// (docs/design/read-model.md, R1).
			rec.Key = event.PartitionKey(clients[i])
			ids = append(ids, res.EventID)
			idIdx = append(idIdx, i)
			out.Accepted++
		} else {
			// No id: spread by request and index; the processor decides.
			rec.Key = []byte(req.RequestID + ":" + strconv.Itoa(i))
			out.Rejected++
			rejectedByCode[res.Rejection.Code]++
		}
		rec.Headers = headers[start:len(headers):len(headers)]
		out.Results[i] = res
	}

	// The duplicate hint runs beside the produce; it never delays the answer
	// by more than its own short timeout.
	var hint []bool
	var hintErr error
	var hintWG sync.WaitGroup
	if s.cfg.Seen != nil && len(ids) > 0 {
		hintWG.Add(1)
		go func() {
			defer hintWG.Done()
			hint, hintErr = s.cfg.Seen.Seen(ctx, ids)
		}()
	}

	start := time.Now()
	err := s.produce(ctx, records)
	s.cfg.Metrics.produceDuration.Observe(time.Since(start).Seconds())
	hintWG.Wait()
	if err != nil {
		s.cfg.Metrics.produceFailures.Inc()
		return Outcome{}, err
	}

	if hintErr != nil {
		s.cfg.Metrics.hintFailures.Inc()
		s.cfg.Logger.WarnContext(ctx, "duplicate hint unavailable; answering duplicate=false", "request_id", req.RequestID, "error", hintErr)
	}
	firstIndex := make(map[string]struct{}, len(ids))
	for j, id := range ids {
		r := &out.Results[idIdx[j]]
		_, again := firstIndex[id]
		firstIndex[id] = struct{}{}
		r.Duplicate = again || (hint != nil && hint[j])
	}
	s.cfg.Metrics.accepted.Add(float64(out.Accepted))
	for code, c := range rejectedByCode {
		s.cfg.Metrics.rejected.WithLabelValues(code).Add(float64(c))
	}
	return out, nil
}

var (
	sourceHTTP = []byte("http")
	trueValue  = []byte("true")
)

// produce hands every record to the producer and waits until each was
// acked, one failed, or the deadline passed — whichever comes first, so a
// request never waits longer than ProduceTimeout for a dead broker.
func (s *Service) produce(ctx context.Context, records []kgo.Record) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ProduceTimeout)
	defer cancel()
	var (
		remaining atomic.Int64
		once      sync.Once
		firstErr  error
		done      = make(chan struct{})
	)
	remaining.Store(int64(len(records)))
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			once.Do(func() { firstErr = err })
		}
		if remaining.Add(-1) == 0 {
			close(done)
		}
	}
	for i := range records {
		s.cfg.Producer.Produce(ctx, &records[i], promise)
	}
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("%w: no ack within %s: %w", ErrUnavailable, s.cfg.ProduceTimeout, ctx.Err())
	}
	if firstErr == nil {
		return nil
	}
	if errors.Is(firstErr, kerr.MessageTooLarge) || errors.Is(firstErr, kerr.RecordListTooLarge) {
		return fmt.Errorf("%w: %w", ErrRecordTooLarge, firstErr)
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, firstErr)
}

// Metrics are the ingest counters, registered on an injected registry.
type Metrics struct {
	accepted        prometheus.Counter
	rejected        *prometheus.CounterVec
	produceDuration prometheus.Histogram
	produceFailures prometheus.Counter
	hintFailures    prometheus.Counter
}

// NewMetrics registers the metrics on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tally_ingestor_events_accepted_total",
			Help: "Events acked by Kafka whose preflight normalization succeeded.",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tally_ingestor_events_rejected_total",
			Help: "Events acked by Kafka whose preflight normalization failed, by rejection code.",
		}, []string{"code"}),
		produceDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tally_ingestor_produce_duration_seconds",
			Help:    "Time from handing a request's records to the producer until every ack (or failure).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		produceFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tally_ingestor_produce_failures_total",
			Help: "Requests answered 503 because Kafka did not ack every record in time.",
		}),
		hintFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tally_ingestor_duplicate_hint_failures_total",
			Help: "Requests whose Redis duplicate hint failed (answered duplicate=false).",
		}),
	}
	for _, c := range []prometheus.Collector{m.accepted, m.rejected, m.produceDuration, m.produceFailures, m.hintFailures} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register ingest metrics: %w", err)
		}
	}
	return m, nil
}
