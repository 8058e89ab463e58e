// Package publish builds the Kafka producer the ingestor writes raw events
// with, and answers readiness from the broker's point of view.
//
// Delivery contract: records are produced with acks=all and the idempotent
// producer (franz-go's default, stated explicitly here so nobody turns it
// off), so a record the broker acked survives the loss of the leader and a
// retried batch is never written twice by this client. The HTTP layer
// answers 202 only after every record of the request was acked.
package publish

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"

	"github.com/tally-dev/tally/event/kafkaconn"
)

// ClientConfig is what NewClient needs.
type ClientConfig struct {
	Brokers            []string
	Topic              string
	ProduceTimeout     time.Duration
	Linger             time.Duration
	MaxBufferedRecords int
	// MaxRecordBytes is the largest raw event accepted; batches are sized so
	// such a record (plus key and headers) still fits in one.
	MaxRecordBytes int
	SASLMechanism  string // "", PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
	SASLUser       string
	SASLPassword   string
	TLS            bool
	// Metrics, when set, hooks franz-go's own metrics into the registry.
	Metrics *kprom.Metrics
	// Extra are more client options (main adds the tracing hooks when trace
	// export is configured).
	Extra []kgo.Opt
}

// recordOverhead leaves room for key, headers and batch framing beside the
// largest value.
const recordOverhead = 64 << 10

// minRecordTimeout is franz-go's floor for RecordDeliveryTimeout; shorter
// produce timeouts are still enforced by the caller's context.
const minRecordTimeout = time.Second

// NewClient returns a producer for cfg.Topic. It does not connect; the first
// produce or Ping does.
func NewClient(cfg ClientConfig) (*kgo.Client, error) {
	opts, err := kafkaconn.Options(kafkaconn.Settings{Brokers: cfg.Brokers, TLS: cfg.TLS,
		SASLMechanism: cfg.SASLMechanism, SASLUser: cfg.SASLUser, SASLPassword: cfg.SASLPassword})
	if err != nil {
		return nil, err
	}
	opts = append(opts,
		kgo.DefaultProduceTopic(cfg.Topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(cfg.Linger),
		// The record timeout bounds how long one record may sit unacked; the
		// HTTP handler gives up at the same deadline and answers 503.
		kgo.RecordDeliveryTimeout(max(cfg.ProduceTimeout, minRecordTimeout)),
		kgo.RecordRetries(10),
		kgo.MaxBufferedRecords(cfg.MaxBufferedRecords),
		kgo.ProducerBatchMaxBytes(int32(cfg.MaxRecordBytes+recordOverhead)),
		kgo.ProduceRequestTimeout(max(cfg.ProduceTimeout, minRecordTimeout)),
		kgo.ClientID("tally-ingestor"),
	)
	if cfg.Metrics != nil {
		opts = append(opts, kgo.WithHooks(cfg.Metrics))
	}
	opts = append(opts, cfg.Extra...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("create kafka client: %w", err)
	}
	return cl, nil
}

// Pinger is the part of *kgo.Client readiness needs.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Readiness answers "is a broker reachable?" with a cheap metadata request,
// cached for a short while so a busy probe (or many replicas' probes) never
// turns into load on the brokers.
type Readiness struct {
	pinger  Pinger
	timeout time.Duration
	ttl     time.Duration
	now     func() time.Time

	mu      sync.Mutex
	checked time.Time
	err     error
}

// NewReadiness checks with a ping bounded by timeout and reuses an answer for ttl.
func NewReadiness(p Pinger, timeout, ttl time.Duration) *Readiness {
	return &Readiness{pinger: p, timeout: timeout, ttl: ttl, now: time.Now}
}

// Check returns nil when a broker answered within the cache window. Callers
// arriving while a check runs wait for it rather than starting their own.
func (r *Readiness) Check(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.checked.IsZero() && r.now().Sub(r.checked) < r.ttl {
		return r.err
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	r.err = r.pinger.Ping(ctx)
	if r.err != nil {
		r.err = fmt.Errorf("kafka unreachable: %w", r.err)
	}
	r.checked = r.now()
	return r.err
}
