package pipeline

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the pipeline's Prometheus collectors.
type Metrics struct {
	Consumed, Processed, Duplicates, Conflicts, Rejected, DeadLettered   prometheus.Counter
	Forwarded, Skipped, Retries, RedisFailOpen, Heals, SimulatedFailures prometheus.Counter
	BatchSeconds, InsertSeconds, BatchRecords                            prometheus.Histogram
	// RecordDelay is, per record, the time from its Kafka timestamp (the
	// ingestor's produce time) to its batch's read-model write: the
	// processor's share of 202 → visible.
	RecordDelay prometheus.Histogram
	// Phase times each step of a batch attempt: where a slow batch spends
	// its time (classify, lookup, load_state, write_rows, write_state,
	// forward, dead_letter, mark).
	Phase *prometheus.HistogramVec
}

// NewMetrics creates the collectors and registers them on reg (nil: none).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "tally", Subsystem: "processor", Name: name, Help: help})
	}
	m := &Metrics{
		Consumed:          counter("records_consumed_total", "Raw records made durable (any outcome)."),
		Processed:         counter("events_processed_total", "Event rows written (first copies)."),
		Duplicates:        counter("events_duplicate_total", "Copies recorded as duplicates of a stored event."),
		Conflicts:         counter("events_conflict_total", "Copies of a stored event id with other content (idempotency_conflict)."),
		Forwarded:         counter("records_forwarded_total", "Records found outside their owner partition and produced to it."),
		Skipped:           counter("offsets_skipped_total", "Offsets without a data record: transaction markers, aborted or expired records."),
		Heals:             counter("redis_heals_total", "Times the Redis seen-set was refilled from ClickHouse after losing data."),
		SimulatedFailures: counter("simulated_failures_total", "First write attempts failed on purpose (simulateFailure)."),
		Rejected:          counter("events_rejected_total", "Records stored as rejections."),
		DeadLettered:      counter("events_dead_lettered_total", "Records sent to the dead-letter topic."),
		Retries:           counter("write_retries_total", "Failed batch write attempts that were retried."),
		RedisFailOpen:     counter("redis_fail_open_total", "Redis calls that failed and were skipped (fail open)."),
		BatchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "tally", Subsystem: "processor", Name: "batch_seconds",
			Help: "Time to make one batch durable, retries included.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}),
		InsertSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "tally", Subsystem: "processor", Name: "insert_seconds",
			Help: "ClickHouse write time per successful attempt (per partition group).", Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}),
		Phase: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "tally", Subsystem: "processor", Name: "phase_seconds",
			Help: "Time per step of a batch attempt, by phase (a batch's partition groups run side by side, each observed).", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 18)}, []string{"phase"}),
		RecordDelay: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "tally", Subsystem: "processor", Name: "record_delay_seconds",
			Help:    "Per record, Kafka timestamp (the ingestor's produce time) to the read-model write of its batch.",
			Buckets: prometheus.ExponentialBuckets(0.01, 1.5, 20)}),
		BatchRecords: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "tally", Subsystem: "processor", Name: "batch_records",
			Help: "Records per batch.", Buckets: prometheus.ExponentialBuckets(1, 4, 10)}),
	}
	if reg != nil {
		reg.MustRegister(m.Consumed, m.Processed, m.Duplicates, m.Conflicts, m.Rejected, m.DeadLettered, m.Forwarded,
			m.Skipped, m.Retries, m.RedisFailOpen, m.Heals, m.SimulatedFailures, m.BatchSeconds, m.InsertSeconds, m.BatchRecords, m.Phase,
			m.RecordDelay)
	}
	return m
}

// since observes the time since start under phase.
func (m *Metrics) since(phase string, start time.Time) {
	m.Phase.WithLabelValues(phase).Observe(time.Since(start).Seconds())
}
