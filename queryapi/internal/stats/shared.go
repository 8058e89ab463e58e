package stats

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Source produces snapshots; Reconciler is the real one.
type Source interface {
	Snapshot(ctx context.Context) (Snapshot, error)
}

// Shared puts one snapshot computation in front of any number of callers.
// A snapshot counts distinct source offsets over every table, which costs
// ClickHouse a scan; without sharing, each dashboard's stream and each API
// poller would run its own scan every second, and N viewers would cost N
// scans. Callers within MaxAge of the last snapshot get it again; callers
// that arrive while a computation runs wait for it instead of starting
// another. A failure (ClickHouse down or too slow) is remembered for
// ErrorHold, so callers do not pile new scans onto a struggling server.
type Shared struct {
	src     Source
	maxAge  time.Duration
	timeout time.Duration
	now     func() time.Time

	mu        sync.Mutex
	last      Snapshot
	lastAt    time.Time
	inflight  chan struct{}
	lastErr   error
	lastErrAt time.Time
}

// ErrorHold is how long a failed snapshot is answered from memory.
const ErrorHold = 2 * time.Second

// SnapshotTimeout bounds one snapshot computation.
const SnapshotTimeout = 10 * time.Second

// NewShared wraps src; maxAge is how old a reused snapshot may be.
func NewShared(src Source, maxAge time.Duration) *Shared {
	return &Shared{src: src, maxAge: maxAge, timeout: SnapshotTimeout, now: time.Now}
}

// Snapshot returns a snapshot at most maxAge old.
func (s *Shared) Snapshot(ctx context.Context) (Snapshot, error) {
	for {
		s.mu.Lock()
		if !s.lastAt.IsZero() && s.now().Sub(s.lastAt) < s.maxAge {
			snap := s.last
			s.mu.Unlock()
			return snap, nil
		}
		if s.lastErr != nil && s.now().Sub(s.lastErrAt) < ErrorHold {
			err := s.lastErr
			s.mu.Unlock()
			return Snapshot{}, err
		}
		if wait := s.inflight; wait != nil {
			s.mu.Unlock()
			select {
			case <-wait:
				s.mu.Lock()
				err, snap, fresh := s.lastErr, s.last, !s.lastAt.IsZero() && s.now().Sub(s.lastAt) < s.maxAge
				s.mu.Unlock()
				if err != nil {
					return Snapshot{}, err
				}
				if fresh {
					return snap, nil
				}
				continue
			case <-ctx.Done():
				return Snapshot{}, ctx.Err()
			}
		}
		done := make(chan struct{})
		s.inflight = done
		s.mu.Unlock()

		// The snapshot serves every waiter, so it must not die with the
		// caller that happened to start it (a browser navigating away):
		// its own deadline, not the caller's cancellation.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
		snap, err := s.src.Snapshot(sctx)
		cancel()

		s.mu.Lock()
		s.inflight = nil
		s.lastErr = err
		if err == nil {
			s.last, s.lastAt = snap, s.now()
		} else {
			s.lastErrAt = s.now()
		}
		s.mu.Unlock()
		close(done)
		return snap, err
	}
}

// Collector exports the books as Prometheus gauges, from the shared
// snapshot (so a scrape costs at most one snapshot per maxAge):
// tally_queryapi_reconciled (1 or 0), and the received and pending records.
// When no snapshot can be taken it exports nothing, so an alert on the
// gauge's absence tells "not watched" from "not reconciled".
func (s *Shared) Collector(timeout time.Duration) prometheus.Collector { return collector{s, timeout} }

var (
	reconciledDesc = prometheus.NewDesc("tally_queryapi_reconciled",
		"1 when the last /v1/stats snapshot reconciled (received = every outcome + pending), 0 when not.", nil, nil)
	receivedDesc = prometheus.NewDesc("tally_queryapi_received_records",
		"Offsets ever written to the raw topic (its high watermarks).", nil, nil)
	pendingDesc = prometheus.NewDesc("tally_queryapi_pending_records",
		"Raw-topic offsets not yet counted by the processors.", nil, nil)
)

type collector struct {
	s       *Shared
	timeout time.Duration
}

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- reconciledDesc
	ch <- receivedDesc
	ch <- pendingDesc
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	snap, err := c.s.Snapshot(ctx)
	if err != nil {
		return
	}
	v := 0.0
	if snap.Reconciled {
		v = 1
	}
	ch <- prometheus.MustNewConstMetric(reconciledDesc, prometheus.GaugeValue, v)
	ch <- prometheus.MustNewConstMetric(receivedDesc, prometheus.GaugeValue, float64(snap.Received))
	ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(snap.Pending))
}
