package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/tally-dev/tally/bench/internal/load"
	"github.com/tally-dev/tally/event/localstack"
)

// authVariant is one way the ingestor is run in the auth step.
type authVariant struct {
	name string
	env  []string
}

// authVariants: authentication off (TALLY_AUTH=disabled, which the
// ingestor allows on loopback only), and on with every per-request check
// issue #17 adds — the key, the tenant signature, the per-key rate limit
// shared through Redis and a daily quota. Both limits are far above what
// this machine can offer, so they run (and cost what they cost) without
// ever refusing a request.
var authVariants = [2]authVariant{
	{"off", []string{"TALLY_AUTH=disabled"}},
	{"on", []string{"TALLY_AUTH=enabled", "TALLY_RATE_LIMIT_EVENTS_PER_SECOND=1000000", "TALLY_DAILY_QUOTA=1000000000000"}},
}

// authOverhead measures what authentication, rate limiting and the quota
// cost single-event ingest (issue #17: at most 5% of its throughput). The
// real ingestor is restarted with each variant in turn, round after round
// (the order alternates, so a drift of the machine's load during a round
// does not favour one), and each time takes single events twice:
//   - at one fixed rate for both variants (AuthRate, open loop): the CPU
//     time per request of the ingestor — whose capacity is its cores ÷
//     that time once it is the bottleneck, as in production where the
//     load and Kafka run elsewhere — and of Kafka and Redis, whose work
//     the checks also change (tenant headers on every record, limiter
//     calls). Equal rates keep batching alike, so the two are comparable;
//   - at maximum rate (64 connections): the throughput of this whole
//     machine, whose two cores the load generator and the broker share.
//
// A round's ratios (on ÷ off) pair runs a minute apart; the report gives
// their median and a bootstrap 95% interval of that median.
func (b *bench) authOverhead(ctx context.Context) (res map[string]any, err error) {
	d := time.Duration(b.prof.AuthSeconds) * time.Second
	res = map[string]any{}
	// The processors would consume what each run ingests while the next
	// runs, in bursts no pairing can cancel: they pause for the step and
	// drain its events afterwards (the next step waits for the books).
	resume, err := b.pauseProcessors(ctx, "auth")
	if err != nil {
		return res, err
	}
	defer func() {
		// Leave the ingestor as the stack runs it, and the processors running.
		b.mark("auth: restarting the ingestor as the stack runs it")
		if rerr := b.stack.Restart(ctx, "ingestor"); rerr != nil && err == nil {
			err = fmt.Errorf("restart ingestor: %w", rerr)
		}
		if rerr := resume(); rerr != nil && err == nil {
			err = rerr
		}
	}()
	var runs [][2]authRun
	var ing, pipe, thr []float64
	for i := range b.prof.AuthRounds {
		var pair [2]authRun
		order := []int{0, 1}
		if i%2 == 1 {
			order = []int{1, 0}
		}
		for _, v := range order {
			av := authVariants[v]
			r, err := b.measureAuth(ctx, av, fmt.Sprintf("auth: %s, round %d/%d", av.name, i+1, b.prof.AuthRounds), d)
			if err != nil {
				return res, err
			}
			pair[v] = r
		}
		runs = append(runs, pair)
		ing = append(ing, pair[1].IngestorUS/pair[0].IngestorUS)
		pipe = append(pipe, pair[1].pipeline()/pair[0].pipeline())
		thr = append(thr, pair[1].MaxReqPerSec/pair[0].MaxReqPerSec)
		fmt.Fprintf(b.log, "[bench]   round %d: on/off: ingestor CPU per request %.3f, ingestor+Kafka+Redis %.3f, max-rate throughput %.3f\n",
			i+1, ing[i], pipe[i], thr[i])
	}
	res["runs"] = runs
	ratio := func(name string, v []float64) {
		lo, hi := bootstrapMedian(v, 5000)
		res[name+"_ratio_median"], res[name+"_ratio_ci95"] = round(median(v), 3), []float64{round(lo, 3), round(hi, 3)}
	}
	ratio("ingestor_cpu", ing)
	ratio("pipeline_cpu", pipe)
	ratio("throughput", thr)
	var offs, ons []float64
	for _, p := range runs {
		offs, ons = append(offs, p[0].MaxReqPerSec), append(ons, p[1].MaxReqPerSec)
	}
	res["req_per_second_off_median"], res["req_per_second_on_median"] = round(median(offs), 0), round(median(ons), 0)
	res["rate"] = b.prof.AuthRate
	res["note"] = fmt.Sprintf("%d rounds, processors paused; each round restarts the ingestor with auth off (TALLY_AUTH=disabled) and on "+
		"(key, tenant signature, rate limit 1,000,000 events/s and a daily quota, both shared through Redis), order alternating; "+
		"each variant takes single events for %v at %s req/s (CPU per request) and for %v at max rate with 64 connections (throughput), "+
		"each after a 2 s warm-up; ratio = on ÷ off within a round; interval = 95%% percentile bootstrap of the median of the rounds' ratios",
		b.prof.AuthRounds, d, thousands(b.prof.AuthRate), d)
	return res, nil
}

// authRun is one variant's runs in one round.
type authRun struct {
	Variant      string  `json:"variant"`
	IngestorUS   float64 `json:"ingestor_cpu_us_per_request"` // at the fixed rate
	KafkaUS      float64 `json:"kafka_cpu_us_per_request"`
	RedisUS      float64 `json:"redis_cpu_us_per_request"`
	FixedP99ms   float64 `json:"fixed_rate_p99_ms"`
	MaxReqPerSec float64 `json:"max_requests_per_second"`
	MaxP99ms     float64 `json:"max_rate_p99_ms"`
}

func (r authRun) pipeline() float64 { return r.IngestorUS + r.KafkaUS + r.RedisUS }

// measureAuth restarts the ingestor as variant av and measures it.
func (b *bench) measureAuth(ctx context.Context, av authVariant, name string, d time.Duration) (authRun, error) {
	out := authRun{Variant: av.name}
	if err := b.stack.Restart(ctx, "ingestor", localstack.WithEnv(av.env...)); err != nil {
		return out, fmt.Errorf("%s: restart ingestor: %w", name, err)
	}
	fixed := load.Config{Batch: 1, Rate: b.prof.AuthRate, Duration: d}
	// A warm-up outside the measured window: connections, the key cache,
	// the first rate-limit leases, Kafka's producer.
	warm := fixed
	warm.Duration = 2 * time.Second
	if _, err := b.load(ctx, name+" (warm-up)", warm); err != nil {
		return out, err
	}
	cpu := func() (map[string]float64, error) {
		m := map[string]float64{}
		for _, n := range b.stack.Status() {
			kind, _, _ := strings.Cut(n.Name, "-")
			if !n.Running || (kind != string(localstack.Ingestor) && kind != string(localstack.Kafka) && kind != string(localstack.Redis)) {
				continue
			}
			c, err := cpuSeconds(n.PID)
			if err != nil {
				return nil, err
			}
			m[kind] += c
		}
		return m, nil
	}
	c0, err := cpu()
	if err != nil {
		return out, err
	}
	r, err := b.load(ctx, fmt.Sprintf("%s, %s req/s", name, thousands(b.prof.AuthRate)), fixed)
	if err != nil {
		return out, err
	}
	c1, err := cpu()
	if err != nil {
		return out, err
	}
	per := func(kind localstack.Kind) float64 {
		return round((c1[string(kind)]-c0[string(kind)])/float64(r.Requests)*1e6, 1)
	}
	out.IngestorUS, out.KafkaUS, out.RedisUS, out.FixedP99ms = per(localstack.Ingestor), per(localstack.Kafka), per(localstack.Redis), r.P99ms
	m, err := b.load(ctx, name+", max rate", load.Config{Batch: 1, Concurrency: 64, Duration: d})
	if err != nil {
		return out, err
	}
	out.MaxReqPerSec, out.MaxP99ms = m.ReqPerSec, m.P99ms
	return out, nil
}

// bootstrapMedian is the 95% percentile bootstrap interval of the median
// of v (n resamples, fixed seed so a report can be recomputed).
func bootstrapMedian(v []float64, n int) (lo, hi float64) {
	if len(v) == 0 {
		return 0, 0
	}
	rng := rand.New(rand.NewPCG(1, 2))
	meds := make([]float64, n)
	s := make([]float64, len(v))
	for i := range meds {
		for j := range s {
			s[j] = v[rng.IntN(len(v))]
		}
		meds[i] = median(s)
	}
	slices.Sort(meds)
	return meds[n*25/1000], meds[n*975/1000-1]
}
