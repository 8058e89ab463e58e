// Command loadgen offers JSON events to an HTTP endpoint — Tally's ingestor,
// the seed, or any other system — at a fixed open-loop rate or at the maximum
// a number of connections sustain, and reports throughput, latency
// percentiles, status counts and the acknowledged event ids (ground truth).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/tally-dev/tally/bench/internal/load"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run() error {
	var c load.Config
	var mode, out, idsOut, cpuProfile string
	var slot int64
	var seed uint64
	flag.StringVar(&c.Target, "target", "http://127.0.0.1:8080", "base URL of the service under test")
	flag.StringVar(&c.Path, "path", "/v1/events", "request path (e.g. /api/events for seed-style endpoints)")
	flag.StringVar(&mode, "mode", "single", "single (one event per request) or batch")
	flag.IntVar(&c.Batch, "batch", 500, "events per request in batch mode")
	flag.Float64Var(&c.Rate, "rate", 0, "offered events per second, open loop (0 = as fast as --concurrency allows)")
	flag.IntVar(&c.Concurrency, "concurrency", 0, "senders (default 32 at max rate, 1024 in-flight limit at a fixed rate)")
	flag.DurationVar(&c.Duration, "duration", 10*time.Second, "how long to offer load")
	flag.Float64Var(&c.DupRatio, "dup-ratio", 0, "fraction of events that resend an earlier event's exact body")
	flag.BoolVar(&c.SeedStyle, "seed-style", false, `seed-shaped bodies {"source":…,"payload":{"metric","amount","timestamp"}} and responses`)
	flag.StringVar(&c.APIKey, "key", os.Getenv("TALLY_API_KEY"), "API key with the ingest scope, sent as Authorization: Bearer (default $TALLY_API_KEY; e.g. .stack/default.key)")
	flag.StringVar(&out, "out", "", "write results as JSON to this file")
	flag.StringVar(&idsOut, "ids-out", "", "write the distinct acknowledged event ids, one per line, to this file")
	flag.Int64Var(&slot, "slot", time.Now().UnixNano()%1000, "0..999: distinguishes this run's events from other runs' in one database")
	flag.Uint64Var(&seed, "seed", uint64(time.Now().UnixNano()), "random seed")
	flag.BoolVar(&c.Gen.Live, "live", true, "live events: timestamped now, kept distinct by an idempotency key (false: history, one second of event time apart)")
	flag.IntVar(&c.Gen.Clients, "clients", 20, "distinct client ids in the events (the ingestor keys records by client, so this sets how they spread over partitions)")
	var start string
	flag.StringVar(&start, "start", "", "with -live=false, the first history event's time (RFC 3339; default 30 days ago, midnight UTC)")
	flag.StringVar(&cpuProfile, "cpuprofile", "", "write the load generator's own CPU profile to this file (where a request's client-side CPU goes)")
	flag.Parse()
	var base time.Time
	if start != "" && c.Gen.Live {
		return fmt.Errorf("--start sets the time of history events: use it with -live=false")
	}
	if start != "" {
		t, err := time.Parse(time.RFC3339, start)
		if err != nil {
			return fmt.Errorf("--start: %w", err)
		}
		base = t.UTC()
	}
	switch mode {
	case "single":
		c.Batch = 1
	case "batch":
	default:
		return fmt.Errorf("--mode must be single or batch, got %q", mode)
	}
	c.Gen = load.GenOptions{Seed: seed, Slot: slot, Live: c.Gen.Live, Base: base, Clients: c.Gen.Clients}

	if cpuProfile != "" {
		stop, err := load.StartCPUProfile(cpuProfile)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer stop()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := load.Run(ctx, c)
	if err != nil {
		return err
	}
	fmt.Printf("%s %s batch=%d: %.0f req/s, %.0f events/s sent, %.0f acked/s; latency p50 %.2f ms p99 %.2f ms p99.9 %.2f ms max %.2f ms; status %v; distinct acked ids %d, sum %s; connections %d\n",
		res.Mode, res.Target, res.Batch, res.ReqPerSec, res.EventsPerSec, res.AckedPerSec,
		res.P50ms, res.P99ms, res.P999ms, res.MaxMs, res.Status, res.DistinctAcked, res.AckedSum, res.Connections)
	if out != "" {
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if idsOut != "" {
		f, err := os.Create(idsOut)
		if err != nil {
			return err
		}
		if err := res.Truth.WriteIDs(f); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	return nil
}
