// Package lag publishes the consumer group's lag per partition as a
// Prometheus gauge, computed with kadm from committed and end offsets — the
// same numbers the query API uses for "pending".
package lag

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
)

// Reporter refreshes the lag gauge periodically.
type Reporter struct {
	adm   *kadm.Client
	group string
	topic string
	gauge *prometheus.GaugeVec
}

// NewReporter registers tally_processor_consumer_lag{partition} on reg.
func NewReporter(reg prometheus.Registerer, adm *kadm.Client, group, topic string) *Reporter {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "tally", Subsystem: "processor", Name: "consumer_lag",
		Help: "Records in the raw topic not yet committed by the consumer group, per partition."}, []string{"partition"})
	reg.MustRegister(g)
	return &Reporter{adm: adm, group: group, topic: topic, gauge: g}
}

// Run refreshes every interval until ctx ends. Errors leave the last values.
func (r *Reporter) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		r.refresh(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *Reporter) refresh(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	lags, err := r.adm.Lag(ctx, r.group)
	if err != nil {
		return
	}
	lags.Each(func(l kadm.DescribedGroupLag) {
		for _, pl := range l.Lag[r.topic] {
			if pl.Err == nil {
				r.gauge.WithLabelValues(strconv.Itoa(int(pl.Partition))).Set(float64(pl.Lag))
			}
		}
	})
}
