package main

// ceiling-e2e is the bound for the end-to-end step: the two ceilings of
// ceiling.go chained, on the e2e step's terms. The same load generator
// offers the same batches to the ceiling server (HTTP, produce with
// acks=all, 202), and a bare sink, running as its own process as the
// processor does, consumes what the load produces and inserts it into a
// fresh scratch copy of the events table: no normalization beyond the four
// fields, no dedup (resends are inserted again), one table, no lineage, no
// read model. The rate is events acknowledged / (the last of them inserted
// - the first 202), the e2e step's definition with "inserted" in place of
// "books balanced"; its CPU per event is counted over the same window, so
// the merges ClickHouse runs meanwhile are in it, as they are in Tally's.

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tally-dev/tally/bench/internal/load"
	"github.com/tally-dev/tally/event/schema"
)

// ceilingE2ETable is the scratch table the streaming bare sink fills; it is
// created afresh for every run, so each run's merges start from nothing,
// as the ceiling-sink's do.
const ceilingE2ETable = "bench_ceiling_e2e"

// ceilingSinkProcessName names the streaming bare sink, as a subcommand and
// in the cost table.
const ceilingSinkProcessName = "ceiling-sink"

// Streaming sink batches: as large as the bare sink's, but never older than
// sinkMaxAge, so a slow trickle is still inserted promptly (the processor's
// linger is 50 ms).
const (
	sinkMaxRows = 100_000
	sinkMaxAge  = 100 * time.Millisecond
)

func (b *bench) ceilingEndToEnd(ctx context.Context) (map[string]any, error) {
	if b.ceilingProduced == 0 {
		// ceiling-ingest did not run (a selection of steps): the topic may
		// not exist.
		if err := b.createCeilingTopic(ctx); err != nil {
			return nil, err
		}
	}
	conn, err := b.openClickHouse()
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	tbl := b.db + "." + ceilingE2ETable
	res := map[string]any{"table": tbl}
	var rates []float64
	for i := range b.prof.Runs {
		name := fmt.Sprintf("ceiling-e2e: HTTP batches (500/request, max rate, 10%% resends) → Kafka → bare sink, run %d/%d", i+1, b.prof.Runs)
		rate, err := b.ceilingE2EOnce(ctx, conn, tbl, name)
		if err != nil {
			return res, err
		}
		fmt.Fprintf(b.log, "[bench]   %.0f events/s inserted\n", rate)
		rates = append(rates, rate)
	}
	_ = conn.Exec(ctx, "DROP TABLE IF EXISTS "+tbl)
	res["events_per_second"] = rates
	res["note"] = "ceiling server (own process) → scratch topic → streaming bare sink (own process: franz-go from the topic's end offsets at the start of the run, the ceiling-sink's decoding, clickhouse-go columnar inserts of up to 100,000 rows or 100 ms) into a fresh copy of the events table; same load as the e2e step; events/s = events acknowledged / (last inserted - first 202)"
	b.measure("ceiling.e2e", "ceiling: HTTP batches → Kafka → bare sink, end to end", "events/s", rates, nil, "", "")
	return res, nil
}

func (b *bench) ceilingE2EOnce(ctx context.Context, conn driver.Conn, tbl, name string) (float64, error) {
	if err := conn.Exec(ctx, "DROP TABLE IF EXISTS "+tbl); err != nil {
		return 0, err
	}
	if err := conn.Exec(ctx, "CREATE TABLE "+tbl+" AS "+b.db+"."+schema.Events); err != nil {
		return 0, fmt.Errorf("create %s: %w", tbl, err)
	}
	from, err := b.ceilingEndOffsets(ctx)
	if err != nil {
		return 0, err
	}
	sink, err := b.startCeilingSinkProcess(tbl, from)
	if err != nil {
		return 0, err
	}
	defer sink.stop()
	srv, err := b.startCeilingProcess()
	if err != nil {
		return 0, err
	}
	defer srv.close()

	// The CPU window runs until the last event is inserted, as the e2e
	// step's runs until the books balance.
	var inserted time.Time
	r, err := b.withCPU(name, func() (*load.Result, error) {
		r, err := b.loadRun(ctx, name, srv.url, load.Config{Batch: 500, Concurrency: 4,
			Duration: time.Duration(b.prof.E2ESeconds) * time.Second, DupRatio: 0.1}, false)
		if err != nil {
			return nil, err
		}
		if inserted, err = waitInserted(ctx, sink, r.Events, b.prof.DrainTimeout); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return r, nil
	})
	if err != nil {
		return 0, err
	}
	return float64(r.AckedEvents) / inserted.Sub(r.FirstAck).Seconds(), nil
}

// waitInserted polls the sink's progress every 50 ms until it inserted
// want rows and returns when it first had. (Counting the table's rows would
// not do: its ReplacingMergeTree engine folds a resend into its original
// when it merges them.)
func waitInserted(ctx context.Context, sink *sinkProcess, want int64, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		n, now := sink.inserted.Load(), time.Now()
		switch {
		case n >= want:
			return now, nil
		case sink.exited():
			return time.Time{}, fmt.Errorf("the bare sink stopped after inserting %d of %d events (its error is in the log)", n, want)
		case now.After(deadline):
			return time.Time{}, fmt.Errorf("the bare sink inserted %d of %d events within %s", n, want, timeout)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// sinkProcess is the running child: its progress, as it reports it on
// standard output ("ready", then "inserted <rows so far>" after every
// insert).
type sinkProcess struct {
	*childProcess
	inserted atomic.Int64
	ready    chan string
	mu       sync.Mutex
	buf      []byte
}

func (s *sinkProcess) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// Write takes the child's standard output line by line.
func (s *sinkProcess) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = append(s.buf, p...)
	for {
		i := bytes.IndexByte(s.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(s.buf[:i])
		s.buf = s.buf[i+1:]
		if v, ok := strings.CutPrefix(line, "inserted "); ok {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				s.inserted.Store(n)
			}
			continue
		}
		select {
		case s.ready <- line:
		default:
		}
	}
}

// ceilingEndOffsets is where each partition of the scratch topic ends now:
// the sink starts there, so it inserts exactly what the run produces.
func (b *bench) ceilingEndOffsets(ctx context.Context) (map[int32]int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.brokers...))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, b.ceilingTopic())
	if err != nil {
		return nil, fmt.Errorf("end offsets of %s: %w", b.ceilingTopic(), err)
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	if len(out) == 0 {
		return nil, fmt.Errorf("end offsets of %s: no partitions", b.ceilingTopic())
	}
	return out, nil
}

// formatOffsets and parseOffsets carry start offsets on the child's command
// line as "partition:offset,…".
func formatOffsets(m map[int32]int64) string {
	parts := make([]string, 0, len(m))
	for p, o := range m {
		parts = append(parts, fmt.Sprintf("%d:%d", p, o))
	}
	return strings.Join(parts, ",")
}

func parseOffsets(s string) (map[int32]int64, error) {
	out := map[int32]int64{}
	for _, f := range strings.Split(s, ",") {
		ps, offs, ok := strings.Cut(f, ":")
		p, err1 := strconv.ParseInt(ps, 10, 32)
		o, err2 := strconv.ParseInt(offs, 10, 64)
		if !ok || err1 != nil || err2 != nil || p < 0 || o < 0 {
			return nil, fmt.Errorf("offsets: %q is not partition:offset", f)
		}
		out[int32(p)] = o
	}
	return out, nil
}

// startCeilingSinkProcess runs "tallybench ceiling-sink" as a child
// process and returns once its consumer and ClickHouse connection are ready.
func (b *bench) startCeilingSinkProcess(tbl string, from map[int32]int64) (*sinkProcess, error) {
	sink := &sinkProcess{ready: make(chan string, 1)}
	c, line, err := b.startChild(ceilingSinkProcessName, sink, sink.ready, "-brokers", strings.Join(b.brokers, ","),
		"-topic", b.ceilingTopic(), "-clickhouse", b.chAddr, "-table", tbl, "-from", formatOffsets(from))
	if err != nil {
		return nil, err
	}
	if line != "ready" {
		c.stop()
		return nil, fmt.Errorf("the bare sink said %q instead of ready", line)
	}
	sink.childProcess = c
	return sink, nil
}

// runCeilingSink is "tallybench ceiling-sink": it consumes the topic from
// the given offsets and inserts every record until its standard input
// closes (or SIGTERM). It prints "ready" once it can start, then "inserted
// <rows so far>" after every insert. An insert that fails ends it with the
// error.
func runCeilingSink(args []string) error {
	fs := flag.NewFlagSet(ceilingSinkProcessName, flag.ContinueOnError)
	brokers := fs.String("brokers", "", "Kafka brokers, comma-separated")
	topic := fs.String("topic", "", "topic to consume")
	chAddr := fs.String("clickhouse", "", "ClickHouse native-protocol address")
	tbl := fs.String("table", "", "database.table to insert into (a copy of the events table)")
	fromText := fs.String("from", "", "start offsets, partition:offset,…")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *brokers == "" || *topic == "" || *chAddr == "" || *tbl == "" || *fromText == "" {
		return errors.New("ceiling-sink needs -brokers, -topic, -clickhouse, -table and -from")
	}
	from, err := parseOffsets(*fromText)
	if err != nil {
		return err
	}
	start := map[int32]kgo.Offset{}
	for p, o := range from {
		start[p] = kgo.NewOffset().At(o)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(*brokers, ",")...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{*topic: start}), kgo.FetchMaxBytes(16<<20))
	if err != nil {
		return err
	}
	defer cl.Close()
	conn, err := openClickHouse(*chAddr)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := conn.Ping(ctx); err != nil {
		return err
	}
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		stop()
	}()
	fmt.Println("ready")
	return streamSink(ctx, cl, conn, *tbl)
}

// streamSink inserts what cl fetches in batches of up to sinkMaxRows rows,
// none older than sinkMaxAge, until ctx ends.
func streamSink(ctx context.Context, cl *kgo.Client, conn driver.Conn, tbl string) error {
	insert := sinkInsert(tbl)
	var cols sinkColumns
	var oldest time.Time
	var total int64
	for ctx.Err() == nil {
		wait := sinkMaxAge
		if !oldest.IsZero() {
			wait = max(time.Millisecond, sinkMaxAge-time.Since(oldest))
		}
		fctx, cancel := context.WithTimeout(ctx, wait)
		fs := cl.PollRecords(fctx, sinkMaxRows-len(cols.eventID))
		cancel()
		var fatal error
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				fatal = err
			}
		})
		if fatal != nil {
			return fatal
		}
		now := time.Now()
		for it := fs.RecordIter(); !it.Done(); {
			if oldest.IsZero() {
				oldest = now
			}
			if err := cols.addRecord(it.Next(), now.UnixMilli()); err != nil {
				return err
			}
		}
		if n := len(cols.eventID); n > 0 && (n >= sinkMaxRows || time.Since(oldest) >= sinkMaxAge) {
			if err := cols.insert(ctx, conn, insert); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			total += int64(n)
			fmt.Printf("inserted %d\n", total)
			oldest = time.Time{}
		}
	}
	return nil
}
