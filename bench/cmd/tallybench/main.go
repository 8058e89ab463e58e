// Command tallybench runs Tally's benchmark scenarios against a running local
// stack (scripts/bench.sh starts it; this command drives it through
// event/localstack) and writes bench/results/latest.{json,md,svg}.
//
// Scenarios, in order: ingest (single events at a fixed open-loop rate and at
// maximum rate, batches of 500 at maximum rate); end to end (batched ingest,
// then wait until every acknowledged event is accounted for and check exact
// counts against the load generator's ground truth); freshness (probe events
// under a steady 10k events/s, each polled until visible); processor drain
// (processors stopped, raw topic pre-filled with 10% duplicates, processors
// restarted); query latency; and cost (CPU seconds and peak RSS per process).
package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tally-dev/tally/bench/internal/load"
	"github.com/tally-dev/tally/event/localstack"
)

type profile struct {
	Name                                 string
	SingleRate                           float64
	IngestSeconds, E2ESeconds, FreshSecs int
	PrefillEvents                        int
	QueryRepeats                         int
	DrainTimeout                         time.Duration
}

var profiles = map[string]profile{
	"quick": {Name: "quick", SingleRate: 5000, IngestSeconds: 8, E2ESeconds: 10, FreshSecs: 10, PrefillEvents: 300_000, QueryRepeats: 10, DrainTimeout: 3 * time.Minute},
	"full":  {Name: "full", SingleRate: 20000, IngestSeconds: 30, E2ESeconds: 60, FreshSecs: 30, PrefillEvents: 2_000_000, QueryRepeats: 200, DrainTimeout: 10 * time.Minute},
}

type bench struct {
	prof     profile
	ingestor string
	key      string // the stack's default.key, for ingest and queries
	api      api
	brokers  []string
	topic    string
	stack    *localstack.Stack
	start    time.Time
	slot     int64
	base     time.Time
	truth    *load.Truth // acknowledged over HTTP
	extraN   int64       // distinct events produced straight to Kafka
	extraSum int64       // their cents
	baseN    int64       // events stored before this run
	baseSum  *big.Rat
	costs    *costTracker
	timeline []sample
	tlMu     sync.Mutex
	marks    []mark
}

type sample struct {
	T        float64 `json:"t"`
	Received int64   `json:"received"`
	Done     int64   `json:"accounted"`
	Pending  int64   `json:"pending"`
}

type mark struct {
	T    float64 `json:"t"`
	Name string  `json:"name"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "tallybench:", err)
		os.Exit(1)
	}
}

func run() error {
	b := &bench{truth: load.NewTruth(), start: time.Now()}
	var prof, outDir, brokers, stackDir string
	flag.StringVar(&prof, "profile", "full", "quick or full")
	flag.StringVar(&b.ingestor, "ingestor", "http://127.0.0.1:38080", "ingestor base URL")
	flag.StringVar(&b.api.query, "queryapi", "http://127.0.0.1:38081", "query API base URL")
	flag.StringVar(&brokers, "brokers", "127.0.0.1:39092", "Kafka brokers, comma-separated")
	flag.StringVar(&b.topic, "topic", "events.raw", "raw topic")
	flag.StringVar(&stackDir, "stack-dir", ".stack-bench", "the running stack's state directory (STACK_DIR)")
	flag.StringVar(&outDir, "out", "bench/results", "results directory")
	flag.Parse()
	p, ok := profiles[prof]
	if !ok {
		return fmt.Errorf("unknown profile %q", prof)
	}
	b.prof = p
	cfg, err := localstack.LoadConfig(stackDir)
	if err != nil {
		return fmt.Errorf("the stack under %s: %w", stackDir, err)
	}
	cfg.Log = os.Stderr
	if b.stack, err = localstack.New(cfg); err != nil {
		return err
	}
	// The stack's ingest+query key of the default tenant (make up writes it).
	if k, err := os.ReadFile(cfg.KeyPath("default")); err == nil {
		b.key = strings.TrimSpace(string(k))
		b.api.key = b.key
	}
	b.brokers = strings.Split(brokers, ",")
	b.api.client = load.NewHTTPClient(16, 30*time.Second)
	b.slot = time.Now().UnixNano() % 500
	b.base = time.Now().UTC().Add(-30 * 24 * time.Hour).Truncate(24 * time.Hour)
	b.costs = newCostTracker()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go b.sampleLoop(ctx)

	out := map[string]any{"profile": p.Name, "started": b.start.UTC().Format(time.RFC3339), "machine": machine()}
	if _, _, err := b.api.waitDrained(ctx, time.Minute); err != nil && !errors.Is(err, context.Canceled) {
		// An empty topic never "drains" (received 0); that is fine.
		fmt.Fprintln(os.Stderr, "note:", err)
	}
	// Rows left by an earlier run are the baseline; ground truth is
	// compared with what this run adds.
	if n, sum, err := b.api.total(ctx, nil); err == nil {
		b.baseN, b.baseSum = n, sum
	} else {
		b.baseSum = new(big.Rat)
	}
	out["baseline_count"] = b.baseN
	b.costs.sample(b.stack)

	// A failing scenario is recorded and the rest still run: a partial
	// result on a loaded machine is more useful than none.
	var failed []string
	step := func(name string, f func(context.Context) (map[string]any, error)) {
		r, err := f(ctx)
		if err != nil {
			fmt.Fprintf(os.Stderr, "[bench] %s failed: %v\n", name, err)
			failed = append(failed, name)
			if r == nil {
				r = map[string]any{}
			}
			r["error"] = err.Error()
		}
		out[name] = r
	}
	step("ingest", b.ingestScenarios)
	step("e2e", b.endToEnd)
	step("processor", b.drain)
	step("query", b.queries)
	out["failed"] = failed
	b.costs.sample(b.stack)
	out["cost"] = b.costs.report()
	out["finished"] = time.Now().UTC().Format(time.RFC3339)
	b.tlMu.Lock()
	out["timeline"] = b.timeline
	out["marks"] = b.marks
	b.tlMu.Unlock()
	return write(outDir, out)
}

func (b *bench) mark(name string) {
	b.tlMu.Lock()
	b.marks = append(b.marks, mark{T: time.Since(b.start).Seconds(), Name: name})
	b.tlMu.Unlock()
	fmt.Fprintf(os.Stderr, "[bench] %6.1fs %s\n", time.Since(b.start).Seconds(), name)
}

// sampleLoop records stats once a second for the plot, and CPU/RSS of every
// process (so a process that is stopped mid-run keeps its last reading).
func (b *bench) sampleLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		b.costs.sample(b.stack)
		sctx, cancel := context.WithTimeout(ctx, 900*time.Millisecond)
		s, err := b.api.stats(sctx)
		cancel()
		if err != nil {
			continue
		}
		b.tlMu.Lock()
		b.timeline = append(b.timeline, sample{T: time.Since(b.start).Seconds(), Received: s.Received, Done: s.accounted(), Pending: s.Pending})
		b.tlMu.Unlock()
	}
}

func (b *bench) nextSlot() int64 { b.slot++; return b.slot % 1000 }

func (b *bench) load(ctx context.Context, name string, c load.Config) (*load.Result, error) {
	b.mark(name)
	c.Target = b.ingestor
	c.APIKey = b.key
	c.Gen = load.GenOptions{Seed: uint64(b.slot), Slot: b.nextSlot(), Base: b.base}
	r, err := load.Run(ctx, c)
	if err != nil {
		return nil, err
	}
	b.truth.Merge(r.Truth)
	fmt.Fprintf(os.Stderr, "[bench]   %.0f req/s, %.0f acked events/s, p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, status %v\n",
		r.ReqPerSec, r.AckedPerSec, r.P50ms, r.P99ms, r.P999ms, r.Status)
	return r, nil
}

func (b *bench) ingestScenarios(ctx context.Context) (map[string]any, error) {
	d := time.Duration(b.prof.IngestSeconds) * time.Second
	fixed, err := b.load(ctx, "ingest: single events, fixed rate", load.Config{Batch: 1, Rate: b.prof.SingleRate, Duration: d, DupRatio: 0.1})
	if err != nil {
		return nil, err
	}
	maxSingle, err := b.load(ctx, "ingest: single events, max rate", load.Config{Batch: 1, Concurrency: 64, Duration: d, DupRatio: 0.1})
	if err != nil {
		return nil, err
	}
	batch, err := b.load(ctx, "ingest: batches of 500, max rate", load.Config{Batch: 500, Concurrency: 4, Duration: d, DupRatio: 0.1})
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"p99_ms":                         fixed.P99ms,
		"p50_ms":                         fixed.P50ms,
		"p99_9_ms":                       fixed.P999ms,
		"single_fixed_rate":              fixed,
		"single_max_requests_per_second": maxSingle.ReqPerSec,
		"single_max_p99_ms":              maxSingle.P99ms,
		"single_max":                     maxSingle,
		"batch_max_events_per_second":    batch.AckedPerSec,
		"batch_max_p99_ms":               batch.P99ms,
		"batch_max":                      batch,
	}, nil
}

// exact compares the query API's all-time count and sum with ground truth.
func (b *bench) exact(ctx context.Context) (map[string]any, bool, error) {
	n, sum, err := b.api.total(ctx, nil)
	if err != nil {
		return nil, false, err
	}
	wantN := int64(b.truth.Len()) + b.extraN + b.baseN
	wantSum := new(big.Rat).SetFrac64(b.truth.SumCents()+b.extraSum, 100)
	wantSum.Add(wantSum, b.baseSum)
	ok := n == wantN && sum.Cmp(wantSum) == 0
	return map[string]any{"count": n, "expected_count": wantN, "sum": sum.FloatString(2), "expected_sum": wantSum.FloatString(2)}, ok, nil
}

func (b *bench) endToEnd(ctx context.Context) (map[string]any, error) {
	if _, _, err := b.api.waitDrained(ctx, b.prof.DrainTimeout); err != nil {
		return nil, err
	}
	r, err := b.load(ctx, "e2e: batched ingest (500/request, max rate, 10% resends)", load.Config{
		Batch: 500, Concurrency: 4, Duration: time.Duration(b.prof.E2ESeconds) * time.Second, DupRatio: 0.1})
	if err != nil {
		return nil, err
	}
	s, seen, err := b.api.waitDrained(ctx, b.prof.DrainTimeout)
	if err != nil {
		return nil, err
	}
	b.mark("e2e: drained")
	res, ok, err := b.exact(ctx)
	if err != nil {
		return nil, err
	}
	secs := seen.Sub(r.FirstAck).Seconds()
	res["events_per_second"] = float64(r.AckedEvents) / secs
	res["exact"] = ok
	res["acked_events"] = r.AckedEvents
	res["seconds_first_ack_to_visible"] = secs
	res["ingest_acked_events_per_second"] = r.AckedPerSec
	res["stats"] = s
	res["note"] = "events/s = events acknowledged in this phase / (last accounted-for - first 202); visibility polled every 100 ms"

	fr, err := b.freshness(ctx)
	if err != nil {
		return nil, err
	}
	res["freshness"] = fr
	res["freshness_p50_ms"] = fr["p50_ms"]
	res["freshness_p99_ms"] = fr["p99_ms"]
	return res, nil
}

// freshness sends probe events (each with its own client id) while a steady
// background load runs, and polls each until the aggregation shows it.
func (b *bench) freshness(ctx context.Context) (map[string]any, error) {
	d := time.Duration(b.prof.FreshSecs) * time.Second
	var bg *load.Result
	var bgErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		bg, bgErr = b.load(ctx, "freshness: 10,000 events/s (batches of 100) + probes", load.Config{Batch: 100, Rate: 10000, Duration: d})
	})
	client := load.NewHTTPClient(8, 10*time.Second)
	gen := load.NewGenerator(load.GenOptions{Seed: 99, Slot: b.nextSlot(), Base: b.base, Clients: 1, Prefix: fmt.Sprintf("probe_%d_", time.Now().UnixNano())})
	var mu sync.Mutex
	var lat []float64
	var failures int
	probeTruth := load.NewTruth()
	tick := time.NewTicker(100 * time.Millisecond)
	end := time.Now().Add(d)
	var pw sync.WaitGroup
	for time.Now().Before(end) {
		<-tick.C
		e, _ := gen.Next()
		e.Client = fmt.Sprintf("%s_%d", e.Client, e.TS.UnixMilli())
		pw.Go(func() {
			id, err := load.SendOne(ctx, client, b.ingestor+"/v1/events", b.key, e, false)
			acked := time.Now()
			if err != nil {
				mu.Lock()
				failures++
				mu.Unlock()
				return
			}
			probeTruth.Add(id, e.Cents)
			deadline := acked.Add(60 * time.Second)
			for time.Now().Before(deadline) {
				n, _, err := b.api.total(ctx, url.Values{"clientId": {e.Client}})
				if err == nil && n == 1 {
					mu.Lock()
					lat = append(lat, float64(time.Since(acked))/1e6)
					mu.Unlock()
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
			mu.Lock()
			failures++
			mu.Unlock()
		})
	}
	tick.Stop()
	pw.Wait()
	wg.Wait()
	if bgErr != nil {
		return nil, bgErr
	}
	b.truth.Merge(probeTruth)
	slices.Sort(lat)
	return map[string]any{
		"probes": len(lat), "failed_probes": failures,
		"p50_ms": load.Quantile(lat, 0.5), "p99_ms": load.Quantile(lat, 0.99), "max_ms": load.Quantile(lat, 1),
		"background_acked_events_per_second": bg.AckedPerSec, "background_p99_ms": bg.P99ms,
		"note": "202 of the probe -> aggregation for its client id shows count 1; polled every 20 ms",
	}, nil
}

// processorNames lists the processors the stack has started.
func (b *bench) processorNames() []string {
	var names []string
	for _, n := range b.stack.Status() {
		if k, _, _ := strings.Cut(n.Name, "-"); k == string(localstack.Processor) {
			names = append(names, n.Name)
		}
	}
	return names
}

func (b *bench) drain(ctx context.Context) (map[string]any, error) {
	if _, _, err := b.api.waitDrained(ctx, b.prof.DrainTimeout); err != nil {
		return nil, err
	}
	names := b.processorNames()
	if len(names) == 0 {
		return nil, errors.New("the stack has started no processor")
	}
	b.mark("drain: stopping processors")
	for _, n := range names {
		pid, err := b.stack.PID(n)
		if err != nil {
			return nil, err
		}
		if err := b.stack.Stop(ctx, n); err != nil {
			return nil, err
		}
		b.costs.forget(n, pid) // keep its CPU, stop reading the dead pid
	}
	before, err := b.api.stats(ctx)
	if err != nil {
		return nil, err
	}
	b.mark("drain: pre-filling the raw topic")
	n := b.prof.PrefillEvents
	prodStart := time.Now()
	uniq, sum, err := b.prefill(ctx, n)
	if err != nil {
		return nil, err
	}
	prodSecs := time.Since(prodStart).Seconds()
	b.extraN += uniq
	b.extraSum += sum

	b.mark("drain: restarting processors")
	var first, seen time.Time
	launched := time.Now()
	var watchErr error
	var ww sync.WaitGroup
	wctx, stopWatch := context.WithCancel(ctx)
	ww.Go(func() {
		for wctx.Err() == nil {
			s, err := b.api.stats(wctx)
			if err == nil {
				if first.IsZero() && s.accounted() > before.accounted() {
					first = time.Now()
				}
				if s.Pending == 0 && s.accounted() >= before.accounted()+int64(n) {
					seen = time.Now()
					return
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		watchErr = wctx.Err()
	})
	if err := b.stack.Up(ctx); err != nil {
		stopWatch()
		return nil, fmt.Errorf("restart processors: %w", err)
	}
	timer := time.AfterFunc(b.prof.DrainTimeout, stopWatch)
	ww.Wait()
	timer.Stop()
	stopWatch()
	if watchErr != nil {
		return nil, fmt.Errorf("drain did not finish in %v", b.prof.DrainTimeout)
	}
	b.mark("drain: lag 0")
	b.costs.sample(b.stack)
	var rss float64
	for _, nm := range b.processorNames() {
		if pid, err := b.stack.PID(nm); err == nil {
			if r, err := peakRSSMB(pid); err == nil {
				rss = max(rss, r)
			}
		}
	}
	res, ok, err := b.exact(ctx)
	if err != nil {
		return nil, err
	}
	secs := seen.Sub(first).Seconds()
	res["exact"] = ok
	res["events"] = n
	res["distinct_events"] = uniq
	res["drain_events_per_second"] = float64(n) / secs
	res["drain_seconds"] = secs
	res["seconds_from_restart"] = seen.Sub(launched).Seconds()
	res["events_per_second_incl_startup"] = float64(n) / seen.Sub(launched).Seconds()
	res["peak_rss_mb"] = rss
	res["prefill_events_per_second"] = float64(n) / prodSecs
	res["processors"] = len(names)
	res["note"] = "drain time = first progress seen in /v1/stats -> lag 0 and every prefilled record accounted for (100 ms polls)"
	return res, nil
}

// prefill produces n raw events (10% exact resends) straight to the raw
// topic, as a Kafka-native producer would; it returns the distinct count and
// the sum of their amounts in cents.
func (b *bench) prefill(ctx context.Context, n int) (int64, int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.brokers...), kgo.DefaultProduceTopic(b.topic),
		kgo.ProducerLinger(5*time.Millisecond), kgo.ProducerBatchMaxBytes(1<<20), kgo.MaxBufferedRecords(200_000))
	if err != nil {
		return 0, 0, err
	}
	defer cl.Close()
	gen := load.NewGenerator(load.GenOptions{Seed: 7, Slot: b.nextSlot(), Base: b.base, DupRatio: 0.1})
	var uniq, sum int64
	var errMu sync.Mutex
	var firstErr error
	for range n {
		e, dup := gen.Next()
		if !dup {
			uniq++
			sum += e.Cents
		}
		v := e.AppendJSON(nil, false)
		k := sha256.Sum256(v) // every copy of an event on one partition, as the ingestor does
		cl.Produce(ctx, &kgo.Record{Key: k[:16], Value: v}, func(_ *kgo.Record, err error) {
			if err != nil {
				errMu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				errMu.Unlock()
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return 0, 0, err
	}
	return uniq, sum, firstErr
}

func (b *bench) queries(ctx context.Context) (map[string]any, error) {
	b.mark("query: aggregations")
	n, _, err := b.api.total(ctx, nil)
	if err != nil {
		return nil, err
	}
	day := b.base.Add(24 * time.Hour)
	cases := []struct {
		name string
		q    url.Values
	}{
		{"groupBy_both_all_time", url.Values{"groupBy": {"both"}}},
		{"groupBy_both_one_day", url.Values{"groupBy": {"both"}, "from": {day.Format(time.RFC3339)}, "to": {day.Add(24 * time.Hour).Format(time.RFC3339)}}},
		{"groupBy_none_all_time", url.Values{"groupBy": {"none"}}},
	}
	res := map[string]any{"stored_events": n}
	var worst95, worst50 float64
	for _, c := range cases {
		path := "/v1/aggregations?" + c.q.Encode()
		var lat []float64
		var groups, errs int
		var lastErr string
		for range b.prof.QueryRepeats {
			t := time.Now()
			var r struct {
				Groups []json.RawMessage `json:"groups"`
			}
			if err := b.api.getJSON(ctx, path, &r); err != nil {
				errs++
				lastErr = err.Error()
				continue
			}
			lat = append(lat, float64(time.Since(t))/1e6)
			groups = len(r.Groups)
		}
		slices.Sort(lat)
		p50, p95 := load.Quantile(lat, 0.5), load.Quantile(lat, 0.95)
		res[c.name] = map[string]any{"p50_ms": p50, "p95_ms": p95, "max_ms": load.Quantile(lat, 1), "groups": groups, "ok": len(lat), "errors": errs, "last_error": lastErr, "path": path}
		if c.name != "groupBy_none_all_time" {
			worst95, worst50 = max(worst95, p95), max(worst50, p50)
		}
	}
	res["p95_ms"] = worst95
	res["p50_ms"] = worst50
	res["note"] = "p50/p95 are the worse of groupBy=both all-time and one-day, sequential requests"
	return res, nil
}

func machine() map[string]any {
	m := map[string]any{}
	if h, err := os.Hostname(); err == nil {
		m["host"] = h
	}
	m["cpus"] = numCPU()
	return m
}
