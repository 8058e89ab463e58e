package main

// The ceiling steps measure, in the same run and on the same machine, what
// the hardware allows without Tally, so every Tally figure is reported as a
// ratio to a bound measured beside it:
//
//   - ceiling-ingest, Kafka: franz-go producing the benchmark's events
//     asynchronously (acks=all, idempotent) straight to a scratch topic;
//   - ceiling-ingest, HTTP: a minimal net/http server that produces each
//     request's events with acks=all (ProduceSync, the ingestor's linger)
//     before answering 202, under the same load generator and settings as
//     the ingestor's steps — the realistic bound for the ingestor;
//   - ceiling-sink: a bare consume-and-insert of those records into a
//     scratch copy of the events table with clickhouse-go batches of the
//     canonical row shape — no normalization beyond reading the four
//     fields, no dedup, no lineage, no read model — the bound for the
//     processor's drain;
//   - ceiling-e2e: both chained on the e2e step's terms (ceiling_e2e.go).
//
// The scratch topic and table are removed at the end of the run.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/shopspring/decimal"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tally-dev/tally/bench/internal/load"
	"github.com/tally-dev/tally/event/schema"
)

// ceilingTable is the scratch copy of the events table ceiling-sink fills.
const ceilingTable = "bench_ceiling_events"

// ceilingTopic is the scratch topic of the ceiling steps: the raw topic's
// name with a suffix, so the processors never read it.
func (b *bench) ceilingTopic() string { return b.topic + ".bench-ceiling" }

// createCeilingTopic makes the scratch topic with the raw topic's
// partition count, so produce and consume spread alike.
func (b *bench) createCeilingTopic(ctx context.Context) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	parts := int32(b.stack.Config().Partitions)
	if parts <= 0 {
		parts = 6
	}
	if _, err := adm.DeleteTopic(ctx, b.ceilingTopic()); err == nil {
		time.Sleep(time.Second) // deletion is asynchronous on the broker
	}
	r, err := adm.CreateTopic(ctx, parts, -1, nil, b.ceilingTopic())
	if err != nil {
		return fmt.Errorf("create topic %s: %w", b.ceilingTopic(), err)
	}
	if r.Err != nil {
		return fmt.Errorf("create topic %s: %w", b.ceilingTopic(), r.Err)
	}
	return nil
}

func (b *bench) dropCeilingTopic(ctx context.Context) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.brokers...))
	if err != nil {
		return
	}
	defer cl.Close()
	_, _ = kadm.NewClient(cl).DeleteTopic(ctx, b.ceilingTopic())
}

// ceilingIngest runs the Kafka and HTTP ingest ceilings, Runs times each.
func (b *bench) ceilingIngest(ctx context.Context) (map[string]any, error) {
	if err := b.createCeilingTopic(ctx); err != nil {
		return nil, err
	}
	res := map[string]any{"topic": b.ceilingTopic()}
	var kafka []float64
	for i := range b.prof.Runs {
		b.mark(fmt.Sprintf("ceiling-ingest: Kafka async produce, run %d/%d", i+1, b.prof.Runs))
		rate, err := b.produceCeiling(ctx, b.prof.CeilingRecords)
		if err != nil {
			return res, err
		}
		fmt.Fprintf(b.log, "[bench]   %.0f records/s\n", rate)
		kafka = append(kafka, rate)
	}
	res["kafka_records_per_second"] = kafka
	b.measure("ceiling.kafka", "ceiling: Kafka produce (franz-go async, acks=all)", "records/s", kafka, nil, "", "")

	// The HTTP ceiling runs as its own process, as the ingestor does, and
	// also inside this benchmark process: there the server and the load
	// generator share one Go runtime, so no request crosses a process
	// boundary — a bound no separate server reaches. The ratios use the
	// separate process; the in-process figure stays beside it.
	d := time.Duration(b.prof.IngestSeconds) * time.Second
	servers := []struct {
		key, where string
		start      func() (*ceilingServer, error)
	}{
		{"", "own process", b.startCeilingProcess},
		{"_inprocess", "in the benchmark process", b.startCeilingServer},
	}
	for _, sv := range servers {
		srv, err := sv.start()
		if err != nil {
			return res, err
		}
		var single, singleP99, batch, batchP99 []float64
		// No consumer reads the scratch topic: a ceiling load's CPU is the
		// load's window alone.
		run := func(name string, c load.Config) (*load.Result, error) {
			return b.withCPU(name, func() (*load.Result, error) { return b.loadRun(ctx, name, srv.url, c, false) })
		}
		// A fresh server's first load ran about a fifth below the next
		// ones in every full run; the ingestor it is compared with is
		// warm from the steps before. Five seconds, not measured, warm it
		// (in part: in the two runs since, the first measured load was
		// still 9–16% below the other two, which the median leaves out).
		if _, err := b.loadRun(ctx, "ceiling-ingest: warm-up ("+sv.where+"), not measured", srv.url,
			load.Config{Batch: 1, Concurrency: 64, Duration: 5 * time.Second, DupRatio: 0.1}, false); err != nil {
			srv.close()
			return res, err
		}
		for i := range b.prof.Runs {
			r, err := run(fmt.Sprintf("ceiling-ingest: HTTP + ProduceSync (%s), single events, max rate, run %d/%d", sv.where, i+1, b.prof.Runs),
				load.Config{Batch: 1, Concurrency: 64, Duration: d, DupRatio: 0.1})
			if err != nil {
				srv.close()
				return res, err
			}
			single, singleP99 = append(single, r.ReqPerSec), append(singleP99, r.P99ms)
			r, err = run(fmt.Sprintf("ceiling-ingest: HTTP + ProduceSync (%s), batches of 500, max rate, run %d/%d", sv.where, i+1, b.prof.Runs),
				load.Config{Batch: 500, Concurrency: 4, Duration: d, DupRatio: 0.1})
			if err != nil {
				srv.close()
				return res, err
			}
			batch, batchP99 = append(batch, r.AckedPerSec), append(batchP99, r.P99ms)
		}
		b.measure("ceiling.http_single"+sv.key, "ceiling: HTTP + ProduceSync ("+sv.where+"), single events, max rate", "req/s", single, singleP99, "", "")
		b.measure("ceiling.http_batch"+sv.key, "ceiling: HTTP + ProduceSync ("+sv.where+"), batches of 500, max rate", "events/s", batch, batchP99, "", "")
		if sv.key == "" {
			// The latency target holds at 80% of the ceiling: does the
			// ceiling itself hold it there? The same open-loop load, at the
			// same rate, as the ingest steps' fixed-rate runs.
			rate := b.singleRate()
			var fixed, fixedP99 []float64
			for i := range b.prof.Runs {
				r, err := run(fmt.Sprintf("ceiling-ingest: HTTP + ProduceSync (%s), single events, %.0f req/s offered (80%%), run %d/%d", sv.where, rate, i+1, b.prof.Runs),
					load.Config{Batch: 1, Rate: rate, Duration: d, DupRatio: 0.1})
				if err != nil {
					srv.close()
					return res, err
				}
				fixed, fixedP99 = append(fixed, r.ReqPerSec), append(fixedP99, r.P99ms)
			}
			res["http_fixed_offered"], res["http_fixed_requests_per_second"], res["http_fixed_p99_ms"] = rate, fixed, fixedP99
			b.measure("ceiling.http_fixed", fmt.Sprintf("ceiling: HTTP + ProduceSync (own process), single events, %s req/s offered (80%% of its max)", thousands(rate)),
				"req/s", fixed, fixedP99, "", "p99 ≤ 25 ms")
		}
		srv.close()
		res["http_single_requests_per_second"+sv.key], res["http_single_p99_ms"+sv.key] = single, singleP99
		res["http_batch_events_per_second"+sv.key], res["http_batch_p99_ms"+sv.key] = batch, batchP99
	}
	res["note"] = "minimal net/http server, run as its own process (tallybench ceiling-server; the ratios use it) and inside the benchmark process: reads the body, produces each event (acks=all, linger 1 ms like the ingestor) with ProduceSync, answers 202 with per-event ids; same load generator settings as the ingest steps"
	return res, nil
}

// produceCeiling produces n generated events asynchronously to the scratch
// topic and returns records per second (first produce to last ack).
func (b *bench) produceCeiling(ctx context.Context, n int) (float64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.brokers...), kgo.DefaultProduceTopic(b.ceilingTopic()),
		kgo.ProducerBatchMaxBytes(1<<20), kgo.MaxBufferedRecords(200_000))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	gen := load.NewGenerator(load.GenOptions{Seed: 11, Slot: b.nextSlot(), Base: b.base, DupRatio: 0.1})
	values := make([][]byte, n) // generated before the clock starts
	for i := range values {
		e, _ := gen.Next()
		values[i] = e.AppendJSON(nil, false)
	}
	var errMu sync.Mutex
	var firstErr error
	start := time.Now()
	for _, v := range values {
		k := sha256.Sum256(v)
		cl.Produce(ctx, &kgo.Record{Key: k[:16], Value: v}, func(_ *kgo.Record, err error) {
			if err != nil {
				errMu.Lock()
				firstErr = cmpOr(firstErr, err)
				errMu.Unlock()
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return 0, err
	}
	secs := time.Since(start).Seconds()
	b.ceilingProduced += int64(n)
	return float64(n) / secs, firstErr
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

type ceilingServer struct {
	url   string
	prod  *kgo.Client
	close func()
}

// newCeilingServer starts the minimal produce-then-202 server on a free
// loopback port; close stops it.
func newCeilingServer(brokers []string, topic string) (*ceilingServer, error) {
	prod, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(time.Millisecond))
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		prod.Close()
		return nil, err
	}
	s := &ceilingServer{url: "http://" + ln.Addr().String(), prod: prod}
	srv := &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 10 * time.Second}
	s.close = func() {
		_ = srv.Close()
		prod.Close()
	}
	go func() { _ = srv.Serve(ln) }()
	return s, nil
}

// startCeilingServer runs the ceiling server inside this process.
func (b *bench) startCeilingServer() (*ceilingServer, error) {
	return newCeilingServer(b.brokers, b.ceilingTopic())
}

// ceilingProcessName names the separate ceiling server in the cost table.
const ceilingProcessName = "ceiling-server"

// startCeilingProcess runs the ceiling server as a child process
// ("tallybench ceiling-server"), like the ingestor runs beside the load
// generator. Its first line on standard output is its URL.
func (b *bench) startCeilingProcess() (*ceilingServer, error) {
	url := &firstLine{line: make(chan string, 1)}
	c, addr, err := b.startChild(ceilingProcessName, url, url.line, "-brokers", strings.Join(b.brokers, ","), "-topic", b.ceilingTopic())
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(addr, "http://") {
		c.stop()
		return nil, fmt.Errorf("the ceiling server said %q instead of its address", addr)
	}
	return &ceilingServer{url: addr, close: c.stop}, nil
}

// childProcess is a tallybench subcommand run as its own process. It stops
// when its standard input closes, so it never outlives the benchmark, not
// even one that was killed.
type childProcess struct {
	done chan struct{} // closed once it exited
	// stop samples its CPU (up to the end of the load), stops it and
	// takes it out of the cost table.
	stop func()
}

// startChild runs "tallybench name args…" with out as its standard output
// and waits up to 30 s for the first line, which out hands on to first; the
// child's CPU is in the cost table under name until stop.
func (b *bench) startChild(name string, out io.Writer, first <-chan string, args ...string) (*childProcess, string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	cmd := exec.Command(exe, append([]string{name}, args...)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, "", err
	}
	// A writer rather than StdoutPipe: exec copies into it and Wait waits
	// for that copy, so stopping the child never races a read of the pipe.
	cmd.Stdout, cmd.Stderr = out, b.log
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("start tallybench %s: %w", name, err)
	}
	c := &childProcess{done: make(chan struct{})}
	go func() {
		_ = cmd.Wait() // a failure is on its standard error, in the log
		close(c.done)
	}()
	halt := func() {
		_ = stdin.Close()
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-c.done
		}
	}
	var line string
	select {
	case line = <-first:
	case <-c.done:
		return nil, "", fmt.Errorf("tallybench %s exited before it was ready (its error is in the log)", name)
	case <-time.After(30 * time.Second):
		halt()
		return nil, "", fmt.Errorf("tallybench %s said nothing within 30 s", name)
	}
	pid := cmd.Process.Pid
	b.costs.watch(name, pid)
	c.stop = func() {
		b.costs.sample(b.stack)
		halt()
		b.costs.forget(name, pid)
	}
	return c, line, nil
}

// firstLine is a writer that hands on the first line written to it and
// discards the rest.
type firstLine struct {
	mu   sync.Mutex
	buf  []byte
	sent bool
	line chan string
}

func (f *firstLine) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.sent {
		f.buf = append(f.buf, p...)
		if i := bytes.IndexByte(f.buf, '\n'); i >= 0 {
			f.line <- string(f.buf[:i])
			f.sent, f.buf = true, nil
		}
	}
	return len(p), nil
}

// runCeilingServer is "tallybench ceiling-server": it serves until its
// standard input closes (or SIGTERM), after printing its URL on stdout.
func runCeilingServer(args []string) error {
	fs := flag.NewFlagSet(ceilingProcessName, flag.ContinueOnError)
	brokers := fs.String("brokers", "", "Kafka brokers, comma-separated")
	topic := fs.String("topic", "", "topic to produce to")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *brokers == "" || *topic == "" {
		return errors.New("ceiling-server needs -brokers and -topic")
	}
	s, err := newCeilingServer(strings.Split(*brokers, ","), *topic)
	if err != nil {
		return err
	}
	defer s.close()
	fmt.Println(s.url)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		stop()
	}()
	<-ctx.Done()
	return nil
}

// serve is the whole ceiling ingestor: one JSON object or an array of
// them, each produced as one record; 202 once Kafka acknowledged all.
func (s *ceilingServer) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var elems [][]byte
	if len(body) > 0 && body[0] == '[' {
		var raw []json.RawMessage
		if err := json.Unmarshal(body, &raw); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		elems = make([][]byte, len(raw))
		for i, e := range raw {
			elems[i] = e
		}
	} else {
		elems = [][]byte{body}
	}
	recs := make([]*kgo.Record, len(elems))
	ids := make([][32]byte, len(elems))
	for i, e := range elems {
		ids[i] = sha256.Sum256(e)
		recs[i] = &kgo.Record{Key: ids[i][:16], Value: e}
	}
	if err := s.prod.ProduceSync(r.Context(), recs...).FirstErr(); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	out := make([]byte, 0, 16+len(elems)*120)
	out = append(out, `{"results":[`...)
	for i := range elems {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, `{"index":`...)
		out = strconv.AppendInt(out, int64(i), 10)
		out = append(out, `,"eventId":"`...)
		out = hex.AppendEncode(out, ids[i][:])
		out = append(out, `","status":"accepted"}`...)
	}
	out = append(out, "]}"...)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write(out)
}

// openClickHouse connects the way the processor does (native protocol,
// LZ4).
func (b *bench) openClickHouse() (driver.Conn, error) { return openClickHouse(b.chAddr) }

func openClickHouse(addr string) (driver.Conn, error) {
	return clickhouse.Open(&clickhouse.Options{
		Addr:        []string{addr},
		Auth:        clickhouse.Auth{Database: "default"},
		Compression: &clickhouse.Compression{Method: clickhouse.CompressionLZ4},
		DialTimeout: 5 * time.Second,
		ReadTimeout: 10 * time.Minute,
	})
}

// ceilingSink consumes the scratch topic from its start and inserts every
// record as an events row into a scratch table, Runs times.
func (b *bench) ceilingSink(ctx context.Context) (map[string]any, error) {
	conn, err := b.openClickHouse()
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	tbl := b.db + "." + ceilingTable
	if err := conn.Exec(ctx, "DROP TABLE IF EXISTS "+tbl); err != nil {
		return nil, err
	}
	if err := conn.Exec(ctx, "CREATE TABLE "+tbl+" AS "+b.db+"."+schema.Events); err != nil {
		return nil, fmt.Errorf("create %s: %w", tbl, err)
	}
	n := b.prof.CeilingRecords
	if int64(n) > b.ceilingProduced {
		n = int(b.ceilingProduced)
	}
	if n == 0 {
		return nil, errors.New("the scratch topic is empty (ceiling-ingest did not run)")
	}
	res := map[string]any{"records_per_run": n, "table": tbl}
	var rates, insertShare []float64
	for i := range b.prof.Runs {
		b.mark(fmt.Sprintf("ceiling-sink: consume + clickhouse-go batch insert, run %d/%d", i+1, b.prof.Runs))
		rate, share, err := b.sinkOnce(ctx, conn, tbl, n)
		if err != nil {
			return res, err
		}
		fmt.Fprintf(b.log, "[bench]   %.0f rows/s (%.0f%% of the time in inserts)\n", rate, share*100)
		rates, insertShare = append(rates, rate), append(insertShare, share)
	}
	res["rows_per_second"] = rates
	res["insert_share_of_time"] = insertShare
	res["note"] = "franz-go consumer from offset 0 of the scratch topic; JSON decode of the four fields, hex SHA-256 of the record as event id; clickhouse-go PrepareBatch of 100,000 rows, appended by column, into a copy of the events table (same engine, columns and sort key); rows/s = rows / (first fetch -> last insert acknowledged)"
	b.measure("ceiling.sink", "ceiling: Kafka → ClickHouse bare sink", "rows/s", rates, nil, "", "")
	return res, nil
}

type rawEvent struct {
	ClientID  string      `json:"clientId"`
	Metric    string      `json:"metric"`
	Amount    json.Number `json:"amount"`
	Timestamp string      `json:"timestamp"`
}

func (b *bench) sinkOnce(ctx context.Context, conn driver.Conn, tbl string, n int) (rate, insertShare float64, err error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.brokers...), kgo.ConsumeTopics(b.ceilingTopic()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(16<<20))
	if err != nil {
		return 0, 0, err
	}
	defer cl.Close()
	const batchRows = 100_000
	insert := sinkInsert(tbl)
	var cols sinkColumns
	var insertTime time.Duration
	flush := func() error {
		t := time.Now()
		if err := cols.insert(ctx, conn, insert); err != nil {
			return err
		}
		insertTime += time.Since(t)
		return nil
	}
	var start time.Time
	done := 0
	now := time.Now().UnixMilli()
	for done < n {
		fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		fs := cl.PollRecords(fctx, 50_000)
		cancel()
		if start.IsZero() {
			start = time.Now()
		}
		if err := fs.Err0(); err != nil {
			return 0, 0, fmt.Errorf("consume %s: %w", b.ceilingTopic(), err)
		}
		for it := fs.RecordIter(); !it.Done() && done < n; done++ {
			if err := cols.addRecord(it.Next(), now); err != nil {
				return 0, 0, err
			}
			if len(cols.eventID) == batchRows {
				if err := flush(); err != nil {
					return 0, 0, err
				}
			}
		}
	}
	if err := flush(); err != nil {
		return 0, 0, err
	}
	secs := time.Since(start).Seconds()
	return float64(n) / secs, insertTime.Seconds() / secs, nil
}

// sinkInsert is the INSERT statement of a bare sink into tbl.
func sinkInsert(tbl string) string {
	return "INSERT INTO " + tbl + " (" + strings.Join(schema.EventsColumns, ", ") + ")"
}

// addRecord decodes one raw record the bare way (the four fields, a hex
// SHA-256 of the record as its id) and appends it as an events row.
func (c *sinkColumns) addRecord(rec *kgo.Record, now int64) error {
	var e rawEvent
	if err := json.Unmarshal(rec.Value, &e); err != nil {
		return fmt.Errorf("record %d/%d: %w", rec.Partition, rec.Offset, err)
	}
	amount, err := decimal.NewFromString(e.Amount.String())
	if err != nil {
		return fmt.Errorf("record %d/%d: %w", rec.Partition, rec.Offset, err)
	}
	ts, err := time.Parse(time.RFC3339Nano, e.Timestamp)
	if err != nil {
		return fmt.Errorf("record %d/%d: %w", rec.Partition, rec.Offset, err)
	}
	id := sha256.Sum256(rec.Value)
	c.add(hex.EncodeToString(id[:]), e, amount, ts, rec, now)
	return nil
}

// insert sends the buffered rows as one columnar batch and empties the
// buffer; with nothing buffered it does nothing.
func (c *sinkColumns) insert(ctx context.Context, conn driver.Conn, insert string) error {
	if len(c.eventID) == 0 {
		return nil
	}
	batch, err := conn.PrepareBatch(ctx, insert)
	if err != nil {
		return err
	}
	for i, col := range c.all() {
		if err := batch.Column(i).Append(col); err != nil {
			_ = batch.Abort()
			return fmt.Errorf("column %s: %w", schema.EventsColumns[i], err)
		}
	}
	if err := batch.Send(); err != nil {
		return err
	}
	*c = sinkColumns{}
	return nil
}

// sinkColumns are the events table's columns (schema.EventsColumns, in
// order) for one columnar insert: the cheapest way clickhouse-go writes.
type sinkColumns struct {
	tenant, eventID, clientID, metric []string
	amount                            []decimal.Decimal
	ts                                []time.Time
	tsMs                              []int64
	tsDefaulted                       []uint8
	idempotencyKey                    []string
	fingerprint                       []uint64
	receivedMs                        []int64
	stream, topic                     []string
	partition                         []int32
	offset                            []int64
	raw                               []string
	insertedMs                        []int64
}

func (c *sinkColumns) add(id string, e rawEvent, amount decimal.Decimal, ts time.Time, rec *kgo.Record, now int64) {
	c.tenant = append(c.tenant, "default")
	c.eventID = append(c.eventID, id)
	c.clientID = append(c.clientID, e.ClientID)
	c.metric = append(c.metric, e.Metric)
	c.amount = append(c.amount, amount)
	c.ts = append(c.ts, ts)
	c.tsMs = append(c.tsMs, ts.UnixMilli())
	c.tsDefaulted = append(c.tsDefaulted, 0)
	c.idempotencyKey = append(c.idempotencyKey, "")
	c.fingerprint = append(c.fingerprint, 0)
	c.receivedMs = append(c.receivedMs, rec.Timestamp.UnixMilli())
	c.stream = append(c.stream, "bench")
	c.topic = append(c.topic, rec.Topic)
	c.partition = append(c.partition, rec.Partition)
	c.offset = append(c.offset, rec.Offset)
	c.raw = append(c.raw, string(rec.Value))
	c.insertedMs = append(c.insertedMs, now)
}

// all is the columns in schema.EventsColumns order.
func (c *sinkColumns) all() []any {
	return []any{c.tenant, c.eventID, c.clientID, c.metric, c.amount, c.ts, c.tsMs, c.tsDefaulted, c.idempotencyKey,
		c.fingerprint, c.receivedMs, c.stream, c.topic, c.partition, c.offset, c.raw, c.insertedMs}
}

func (b *bench) dropCeilingTable(ctx context.Context) {
	conn, err := b.openClickHouse()
	if err != nil {
		return
	}
	defer conn.Close()
	_ = conn.Exec(ctx, "DROP TABLE IF EXISTS "+b.db+"."+ceilingTable)
	_ = conn.Exec(ctx, "DROP TABLE IF EXISTS "+b.db+"."+ceilingE2ETable)
}
