// Package ingest is the ingestor's one use case: take the raw events of a
// request, preflight each through the normalization engine, and write every
// one of them — accepted and rejected alike, so the audit trail is complete —
// to the raw topic.
//
// Contract: Ingest waits until the broker answered every record of the
// request, or the produce deadline passed, and then tells the truth per
// event. Kafka cannot take back a record it acknowledged, so a request is
// not all-or-nothing: when some records failed, Ingest returns ErrUnavailable
// (or ErrRecordTooLarge) together with a complete Outcome in which every
// acknowledged event is accepted (or rejected) and every other one is
// failed. A failed event may still have landed (a timed-out record can be
// written after the deadline); resending it is safe because the resend has
// the same event id and the processor deduplicates by id.
//
// Per-event keys: with an Idempotency-Key on a single object, the key is the
// event's key. On an array (or NDJSON), an element's own key (a payload
// idempotency key, a Segment messageId, a CloudEvents id) wins; an element
// without one gets "<Idempotency-Key>:<index>", which is stable only for a
// resend of the identical array. Each result reports the key its id was
// formed from, so a client can resend a subset, each event with its key.
//
// The preflight verdict is informational: the processor re-normalizes every
// record with the same configuration and the same keys (the fallback key
// travels in its own header) and decides authoritatively. So is the
// duplicate hint (see Claimer): it is asked only when the request asks for
// it (Request.DuplicateHint), only for acknowledged events, after the ack,
// and says "unknown" when it cannot answer. It costs Redis two commands per
// event, which at batched rates doubled Redis's work and halved the
// ingestor's throughput (docs/benchmarks/2026-12-02-duplicate-hint.md), so
// a request that does not ask gets only what the request itself shows: an
// element repeating an earlier element's id is a duplicate.
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
	"github.com/tally-dev/tally/ingestor/internal/seen"
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

// Claimer answers the duplicate hint for acknowledged events (see package
// seen). For each copy it reports Duplicate when its id is known — a copy
// is stored, or another acknowledged copy claimed it first — or Conflict
// when that copy's content (fingerprint) is another, and otherwise claims
// the id for this copy and reports New, so that of concurrent identical
// requests exactly one is answered "new". On error every answer is
// unknown.
type Claimer interface {
	Claim(ctx context.Context, copies []seen.Copy) ([]seen.Verdict, error)
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
	StatusAccepted = "accepted" // acknowledged by the log; preflight accepted
	StatusRejected = "rejected" // preflight rejected; resending it unchanged cannot help
	StatusFailed   = "failed"   // not acknowledged; see Failure
)

// Failure codes of failed events.
const (
	// CodeUnavailable: no ack (broker error or deadline). The event may
	// still land; resend it with the same key: the resend deduplicates.
	CodeUnavailable = "kafka_unavailable"
	// CodeEventTooLarge: the log refuses records this large; it was not
	// stored, and resending it unchanged fails again.
	CodeEventTooLarge = body.CodeEventTooLarge
)

// Duplicate is the duplicate hint of an accepted event.
type Duplicate uint8

const (
	// DuplicateUnknown: no answer (no Redis, Redis failed, or the event was
	// not acknowledged).
	DuplicateUnknown Duplicate = iota
	// DuplicateNo: no stored copy is known and this copy claimed the id.
	DuplicateNo
	// DuplicateYes: an earlier element of this request, a stored copy, or
	// another acknowledged copy has the same id.
	DuplicateYes
	// DuplicateConflict: as DuplicateYes, but that copy has other content
	// (metric, amount or timestamp): the id's key was reused. The processor
	// records this copy as an idempotency_conflict and never counts it.
	DuplicateConflict
)

// Known reports whether the hint has an answer.
func (d Duplicate) Known() bool { return d != DuplicateUnknown }

// Copy reports whether another copy of the id is known: DuplicateYes or
// DuplicateConflict.
func (d Duplicate) Copy() bool { return d == DuplicateYes || d == DuplicateConflict }

// Request is one HTTP request's worth of raw events.
type Request struct {
	Elements        []body.Element
	Shape           body.Shape
	RequestID       string
	IdempotencyKey  string // from the Idempotency-Key header; may be empty
	SimulateFailure bool
	ReceivedAt      time.Time
	// Tenant the request's key acts for ("" or event.DefaultTenant: the
	// default tenant). It is part of every event id, and the records carry
	// it signed (Config.SignTenant) so the processor trusts it.
	Tenant string
	// Layout is how every element is laid out (format, CloudEvents
	// attributes, Segment sentAt); the zero value is Tally JSON.
	Layout Layout
	// DuplicateHint asks the Claimer (Redis) whether each acknowledged
	// event is a duplicate. Without it only repeats within the request are
	// answered, and every other hint is unknown.
	DuplicateHint bool
}

// Result is the verdict for one event.
type Result struct {
	Index   int
	EventID string // empty when rejected
	// IdempotencyKey is the key the id was formed from (empty for a
	// content id): resend the event with it to keep its id.
	IdempotencyKey string
	// IDSource says what the id hashes (event.IDSource*); empty when rejected.
	IDSource  string
	Status    string
	Duplicate Duplicate
	Rejection *normalize.Rejection // set when the preflight rejected it
	Failure   *Failure             // set when failed (its record was not acknowledged)
	// fingerprint is the accepted event's content fingerprint, computed
	// when the hint can use it (more than one element, or a hint asked).
	fingerprint uint64
}

// Failure says why an event was not acknowledged.
type Failure struct {
	Code, Message string
}

// Outcome is the answer for a whole request.
type Outcome struct {
	Accepted, Rejected, Failed int
	Results                    []Result
}

// Config wires a Service.
type Config struct {
	Normalizer     Normalizer
	Producer       Producer
	Seen           Claimer // nil: every duplicate hint is unknown
	ProduceTimeout time.Duration
	Logger         *slog.Logger
	Metrics        *Metrics
	// SignTenant signs a record's tenant (auth.TenantSignature with the
	// secret ingestors and processors share); nil (authentication
	// disabled) sends no tenant header, and the processor gives the record
	// its topic's tenant.
	SignTenant func(tenant string, value []byte) []byte
}

// Service runs Ingest. It is safe for concurrent use.
type Service struct {
	cfg Config
	// stamp is the last received-at header text: the requests of one
	// millisecond share it.
	stamp atomic.Pointer[stamp]
}

// stamp is a received-at time and its header text. The text is never
// written after it is made, so records of many requests can hold it.
type stamp struct {
	at   time.Time
	text []byte
}

// receivedText is at as the received-at header holds it
// (receivedAtLayout), formatted once per millisecond rather than once per
// request.
func (s *Service) receivedText(at time.Time) []byte {
	if st := s.stamp.Load(); st != nil && st.at.Equal(at) {
		return st.text
	}
	text := at.AppendFormat(make([]byte, 0, len(receivedAtLayout)), receivedAtLayout)
	s.stamp.Store(&stamp{at: at, text: text})
	return text
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

// Ingest preflights, produces and waits for every verdict; see the package doc.
func (s *Service) Ingest(ctx context.Context, req Request) (Outcome, error) {
	n := len(req.Elements)
	out := Outcome{Results: make([]Result, n)}
	records := make([]kgo.Record, n)
	// One backing array for every record's headers saves an allocation per event.
	headers := make([]kgo.RecordHeader, 0, n*8)
	receivedAt := req.ReceivedAt.UTC().Truncate(time.Millisecond)
	receivedText := s.receivedText(receivedAt)
	requestID := []byte(req.RequestID)

	layoutHeaders := req.Layout.headers()
	// Fingerprints tell a conflict from a duplicate: between elements of
	// the request, and against Redis when the hint is asked. A single event
	// that does not ask needs none.
	prints := n > 1 || (req.DuplicateHint && s.cfg.Seen != nil)
	for i, el := range req.Elements {
		// A single object's key is the event's key (it wins over a payload
		// key); an array element's is only a fallback for an element
		// without a key of its own.
		// The key travels in the header of the same meaning, so the
		// processor builds the same Input.
		in := req.Layout.input(el.Raw, receivedAt, "")
		in.Tenant = req.Tenant
		var keyHeader, key string
		switch {
		case req.IdempotencyKey == "":
		case req.Shape == body.ShapeArray:
			keyHeader, key = event.HeaderFallbackIdempotencyKey, req.IdempotencyKey+":"+strconv.Itoa(i)
			in.FallbackIdempotencyKey = key
		default:
			keyHeader, key = event.HeaderIdempotencyKey, req.IdempotencyKey
			in.IdempotencyKey = key
		}
		res := Result{Index: i}
		var client string
		if el.Issue != "" {
			res.Status = StatusRejected
			res.Rejection = &normalize.Rejection{Code: el.Issue, Message: el.Message}
		} else if c, rej := s.cfg.Normalizer.Normalize(in); rej != nil {
			res.Status = StatusRejected
			res.Rejection = rej
		} else {
			res.Status = StatusAccepted
			res.EventID, res.IdempotencyKey, res.IDSource = c.EventID, c.IdempotencyKey, c.IDSource()
			client = c.ClientID
			if prints {
				res.fingerprint = c.Fingerprint()
			}
		}
		start := len(headers)
		headers = append(headers,
			kgo.RecordHeader{Key: event.HeaderReceivedAt, Value: receivedText},
			kgo.RecordHeader{Key: event.HeaderRequestID, Value: requestID},
			kgo.RecordHeader{Key: event.HeaderSource, Value: sourceHTTP},
		)
		if keyHeader != "" {
			headers = append(headers, kgo.RecordHeader{Key: keyHeader, Value: []byte(key)})
		}
		if req.SimulateFailure {
			headers = append(headers, kgo.RecordHeader{Key: event.HeaderSimulateFailure, Value: trueValue})
		}
		if req.Tenant != "" && s.cfg.SignTenant != nil {
			headers = append(headers, kgo.RecordHeader{Key: event.HeaderTenant, Value: []byte(req.Tenant)},
				kgo.RecordHeader{Key: event.HeaderTenantSignature, Value: s.cfg.SignTenant(req.Tenant, el.Raw)})
		}
		headers = append(headers, layoutHeaders...)
		rec := &records[i]
		rec.Value = el.Raw
		if res.EventID != "" {
			headers = append(headers, kgo.RecordHeader{Key: event.HeaderEventID, Value: []byte(res.EventID)})
			// Keyed by client: every copy of an event, and every event of a
			// client, goes to the partition that owns it
			// (docs/design/read-model.md, R1).
			rec.Key = event.PartitionKey(client)
		} else {
			// No id: spread by request and index; the processor decides.
			rec.Key = []byte(req.RequestID + ":" + strconv.Itoa(i))
		}
		rec.Headers = headers[start:len(headers):len(headers)]
		out.Results[i] = res
	}

	start := time.Now()
	errs, timedOut := s.produce(ctx, records)
	s.cfg.Metrics.produceDuration.Observe(time.Since(start).Seconds())

	var failure error
	acked := make([]int, 0, n) // accepted and acknowledged, for the hint
	for i := range out.Results {
		r := &out.Results[i]
		err := errs[i]
		if err == nil {
			if r.Status == StatusAccepted {
				acked = append(acked, i)
			}
			continue
		}
		tooLarge := errors.Is(err, kerr.MessageTooLarge) || errors.Is(err, kerr.RecordListTooLarge)
		switch {
		case tooLarge:
			failure = ErrRecordTooLarge
		case failure == nil:
			failure = ErrUnavailable
		}
		// A rejected event whose audit record failed is failed too: its
		// rejection was not stored, and the resend stores it.
		r.Status = StatusFailed
		switch {
		case tooLarge:
			r.Failure = &Failure{Code: CodeEventTooLarge, Message: "the event log refuses records this large; the event was not stored"}
		case errors.Is(err, errNoVerdict):
			r.Failure = &Failure{Code: CodeUnavailable, Message: "not acknowledged within " + s.cfg.ProduceTimeout.String() +
				"; it may still be stored: resend it with the same key, the resend deduplicates"}
		default:
			r.Failure = &Failure{Code: CodeUnavailable, Message: "the event log refused it: " + err.Error() + "; resend it with the same key"}
		}
	}
	for i := range out.Results {
		switch out.Results[i].Status {
		case StatusAccepted:
			out.Accepted++
		case StatusRejected:
			out.Rejected++
			s.cfg.Metrics.rejected.WithLabelValues(out.Results[i].Rejection.Code).Inc()
		case StatusFailed:
			out.Failed++
		}
	}
	s.cfg.Metrics.accepted.Add(float64(out.Accepted))
	if failure != nil {
		s.cfg.Metrics.produceFailures.Inc()
		s.cfg.Metrics.failed.Add(float64(out.Failed))
	}
	s.hint(ctx, req, out.Results, acked)
	if failure != nil {
		if timedOut {
			return out, fmt.Errorf("%w: %d of %d records failed or were not acknowledged within %s", failure, out.Failed, n, s.cfg.ProduceTimeout)
		}
		return out, fmt.Errorf("%w: %d of %d records failed", failure, out.Failed, n)
	}
	return out, nil
}

// hint fills the duplicate hint of the acknowledged, accepted results (at
// acked). A repeat of an id within the request is a duplicate of its first
// element, or a conflict when its content differs; when req asks for the
// hint, the first of each id asks the Claimer. It runs after the ack, so a
// copy that failed never claims an id and only stored-or-storing copies
// compete for "new".
func (s *Service) hint(ctx context.Context, req Request, results []Result, acked []int) {
	if len(acked) == 0 {
		return
	}
	ask := s.cfg.Seen != nil && req.DuplicateHint
	first := make(map[string]uint64, len(acked)) // id → the first element's fingerprint
	var copies []seen.Copy                       // the first of each id, when the Claimer is asked
	var idx []int
	conflicts := 0
	for _, i := range acked {
		r := &results[i]
		if fp, again := first[r.EventID]; again {
			r.Duplicate = DuplicateYes
			if fp != r.fingerprint {
				r.Duplicate = DuplicateConflict
				conflicts++
			}
			continue
		}
		first[r.EventID] = r.fingerprint
		if ask {
			copies = append(copies, seen.Copy{ID: r.EventID, Fingerprint: r.fingerprint})
			idx = append(idx, i)
		}
	}
	if ask {
		conflicts += s.claim(ctx, req, results, copies, idx)
	}
	if conflicts > 0 {
		s.cfg.Metrics.conflicts.Add(float64(conflicts))
	}
}

// claim asks the Claimer about copies (the results at idx), fills their
// hints and returns how many are conflicts.
func (s *Service) claim(ctx context.Context, req Request, results []Result, copies []seen.Copy, idx []int) int {
	verdicts, err := s.cfg.Seen.Claim(ctx, copies)
	if err != nil {
		s.cfg.Metrics.hintFailures.Inc()
		s.cfg.Logger.DebugContext(ctx, "duplicate hint unavailable; answering unknown", "request_id", req.RequestID, "error", err)
		return 0
	}
	conflicts := 0
	for j, i := range idx {
		switch verdicts[j] {
		case seen.New:
			results[i].Duplicate = DuplicateNo
		case seen.Duplicate:
			results[i].Duplicate = DuplicateYes
		case seen.Conflict:
			results[i].Duplicate = DuplicateConflict
			conflicts++
		}
	}
	return conflicts
}

var (
	sourceHTTP = []byte("http")
	trueValue  = []byte("true")
)

// errNoVerdict marks a record the broker had not answered by the deadline.
var errNoVerdict = errors.New("no verdict before the deadline")

// produce hands every record to the producer and waits until each was
// answered or the deadline passed, so a request never waits longer than
// ProduceTimeout for a dead broker. It returns each record's error (nil:
// acknowledged; errNoVerdict: unanswered at the deadline) and whether the
// deadline passed. Promises that arrive after the deadline are ignored.
//
// The wait is bounded by ProduceTimeout alone: a client that hangs up does
// not cut it short. Its records are already on their way, and waiting for
// their verdicts keeps the metrics true; not deriving from the request's
// cancelable context also saves registering with it on every request
// (about 2% of the ingestor's CPU at single-event rates).
func (s *Service) produce(ctx context.Context, records []kgo.Record) ([]error, bool) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ProduceTimeout)
	defer cancel()
	var (
		mu        sync.Mutex
		errs      = make([]error, len(records))
		answered  = make([]bool, len(records))
		remaining = len(records)
		closed    bool
		done      = make(chan struct{})
	)
	for i := range records {
		s.cfg.Producer.Produce(ctx, &records[i], func(_ *kgo.Record, err error) {
			mu.Lock()
			defer mu.Unlock()
			if closed || answered[i] {
				return
			}
			answered[i], errs[i] = true, err
			if remaining--; remaining == 0 {
				close(done)
			}
		})
	}
	timedOut := false
	select {
	case <-done:
	case <-ctx.Done():
		timedOut = true
	}
	mu.Lock()
	defer mu.Unlock()
	closed = true
	out := make([]error, len(records))
	for i := range records {
		switch {
		case answered[i]:
			out[i] = errs[i]
		default:
			out[i] = errNoVerdict
		}
	}
	return out, timedOut && remaining > 0
}

// Metrics are the ingest counters, registered on an injected registry.
type Metrics struct {
	accepted        prometheus.Counter
	rejected        *prometheus.CounterVec
	produceDuration prometheus.Histogram
	produceFailures prometheus.Counter
	failed          prometheus.Counter
	hintFailures    prometheus.Counter
	conflicts       prometheus.Counter
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
			Help: "Requests answered 503 or 413 because Kafka did not ack every record.",
		}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tally_ingestor_events_failed_total",
			Help: "Accepted events answered failed because Kafka did not acknowledge them (the client may resend).",
		}),
		hintFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tally_ingestor_duplicate_hint_failures_total",
			Help: "Requests whose Redis duplicate hint failed (answered duplicate unknown).",
		}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tally_ingestor_conflict_hints_total",
			Help: "Acknowledged events answered as an idempotency conflict: their id is known with other content, and the processor will not count them.",
		}),
	}
	for _, c := range []prometheus.Collector{m.accepted, m.rejected, m.produceDuration, m.produceFailures, m.failed, m.hintFailures, m.conflicts} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register ingest metrics: %w", err)
		}
	}
	return m, nil
}
