//go:build chaos

package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tally-dev/tally/event"
	"github.com/tally-dev/tally/event/normalize"
)

// ledger is the ground truth of one case: every logical event a producer
// was told is durable (a 202 from the ingestor, or a Kafka ack to a native producer).
type ledger struct {
	client string
	// clients are the case's client ids, one owned by each partition of
	// the raw topic: events are keyed by client, so this spreads the work
	// (and every failpoint) over every processor.
	clients []string
	mu      sync.Mutex
	acked   map[string]fact // event id -> what it said
	sent    int             // physical copies offered
	copies  int             // physical copies acknowledged
	status  map[int]int     // HTTP statuses seen
	eng     *normalize.Engine
	// start and step place event i at start + i·step: by default history
	// one second apart from base; a live load (the recovery goal) sets
	// them to now and a millisecond, as a production stream's are.
	start time.Time
	step  time.Duration

	unitOnce sync.Once
	unit     int64 // units of amount 1
}

// fact is one acknowledged logical event; amount -1 until expect fills it.
type fact struct {
	amount int64
	tsMs   int64
	metric string
}

// rawPartitions is the raw topic's partition count on the test stack.
const rawPartitions = 8

// base is the time of event 0; event i is i seconds later.
var base = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)

func newLedger(t *testing.T, client string) *ledger {
	t.Helper()
	eng, err := normalize.New(normalize.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	l := &ledger{client: client, acked: map[string]fact{}, status: map[int]int{}, eng: eng, start: base, step: time.Second}
	owned := map[int32]bool{}
	for k := 0; len(owned) < rawPartitions; k++ {
		c := fmt.Sprintf("%s-%d", client, k)
		if p := event.OwnerPartition(c, rawPartitions); !owned[p] {
			owned[p] = true
			l.clients = append(l.clients, c)
		}
	}
	return l
}

// event builds the i-th logical event of the case (amount i+1). Every event
// has a distinct timestamp, so distinct i means a distinct event id.
func (l *ledger) event(i int) string {
	ts := l.at(i).Format("2006-01-02T15:04:05.000Z07:00")
	return fmt.Sprintf(`{"source":%q,"payload":{"metric":"m%d","amount":"%d","timestamp":%q}}`, l.clients[i%len(l.clients)], i%3, i+1, ts)
}

// post sends events as one JSON array, retrying like a well-behaved
// producer (send), and records what the ingestor accepted.
func (l *ledger) post(ctx context.Context, url string, events []string) error {
	b, err := l.send(ctx, url, events)
	if err != nil {
		return err
	}
	return l.record(b)
}

// send posts events as one JSON array, retrying (same body) on 503, 429 and
// network errors, until 202 or the deadline; it returns the 202 body.
func (l *ledger) send(ctx context.Context, url string, events []string) ([]byte, error) {
	body := "[" + strings.Join(events, ",") + "]"
	l.mu.Lock()
	l.sent += len(events)
	l.mu.Unlock()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/events", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := doIngest(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			l.mu.Lock()
			l.status[resp.StatusCode]++
			l.mu.Unlock()
			if resp.StatusCode == http.StatusAccepted {
				return b, nil
			}
			if !retryable(resp.StatusCode) {
				return nil, fmt.Errorf("POST /v1/events: %d %s", resp.StatusCode, b)
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("gave up retrying: %w", ctx.Err())
		case <-time.After(retryWait(resp)):
		}
	}
}

// retryable is what a well-behaved producer sends again unchanged: the
// ingestor unavailable (503) or the key over its rate (429).
func retryable(status int) bool {
	return status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests
}

// retryWait honours Retry-After (at most 2 s); 200 ms without one.
func retryWait(resp *http.Response) time.Duration {
	if resp != nil {
		if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs >= 0 {
			return min(time.Duration(secs)*time.Second, 2*time.Second) + 50*time.Millisecond
		}
	}
	return 200 * time.Millisecond
}

// ingestResult is one event's answer in a 202 body.
type ingestResult struct {
	EventID string `json:"eventId"`
	Status  string `json:"status"`
}

// ingestResults decodes the per-event answers of a 202 body.
func ingestResults(b []byte) ([]ingestResult, error) {
	var r struct {
		Results []ingestResult `json:"results"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decode 202 body: %w", err)
	}
	return r.Results, nil
}

func (l *ledger) record(b []byte) error {
	results, err := ingestResults(b)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, res := range results {
		if res.Status != "accepted" {
			continue
		}
		l.copies++
		if _, ok := l.acked[res.EventID]; !ok {
			l.acked[res.EventID] = fact{amount: -1} // filled in by expect
		}
	}
	return nil
}

// expect records the amount of each logical event by recomputing its id
// with the same engine the services use.
func (l *ledger) expect(t *testing.T, events []string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range events {
		ev, rej := l.eng.Normalize(normalize.Input{Raw: []byte(e), ReceivedAt: time.Now()})
		if rej != nil {
			continue
		}
		if f, ok := l.acked[ev.EventID]; ok && f.amount < 0 {
			l.acked[ev.EventID] = fact{amount: ev.Amount.Units, tsMs: ev.Timestamp.UnixMilli(), metric: ev.Metric}
		}
	}
}

// native produces events straight into the raw topic as a Kafka-native
// producer (franz-go, acks=all, no key: records land wherever the sticky
// partitioner puts them, so most are strays the processors forward). An
// event is in the ledger only once the broker acknowledged it.
func (l *ledger) native(t *testing.T, s *stack, events []string) {
	t.Helper()
	recs := make([]*kgo.Record, len(events))
	for i, e := range events {
		recs[i] = &kgo.Record{Topic: s.rawTopic, Value: []byte(e)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res := s.kcl.ProduceSync(ctx, recs...)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sent += len(events)
	for i, r := range res {
		if r.Err != nil {
			t.Errorf("produce to %s: %v", s.rawTopic, r.Err)
			continue
		}
		l.learnLocked(events[i])
	}
}

// fact is what event i says, without normalizing it (the load generator
// sends too many events to normalize each in the test): amount 1's units,
// scaled.
func (l *ledger) fact(i int) fact {
	l.unitOnce.Do(func() {
		ev, _ := l.eng.Normalize(normalize.Input{Raw: []byte(l.event(0)), ReceivedAt: time.Now()})
		l.unit = ev.Amount.Units
	})
	return fact{amount: l.unit * int64(i+1), tsMs: l.at(i).UnixMilli(), metric: fmt.Sprintf("m%d", i%3)}
}

// at is event i's timestamp.
func (l *ledger) at(i int) time.Time { return l.start.Add(time.Duration(i) * l.step) }

// live makes the events from now on a live stream: timestamped from now,
// a millisecond apart (event i keeps its index, so ids stay distinct).
func (l *ledger) live(first int) {
	l.start = time.Now().UTC().Truncate(time.Second).Add(-time.Duration(first) * time.Millisecond)
	l.step = time.Millisecond
}

// postKnown posts events whose facts the caller knows, retrying like post,
// and records each accepted one by its index in the answer.
func (l *ledger) postKnown(ctx context.Context, url string, events []string, facts []fact) error {
	b, err := l.send(ctx, url, events)
	if err != nil {
		return err
	}
	results, err := ingestResults(b)
	if err != nil {
		return err
	}
	l.mu.Lock()
	for i, res := range results {
		if res.Status == "accepted" && i < len(facts) {
			l.copies++
			l.acked[res.EventID] = facts[i]
		}
	}
	l.mu.Unlock()
	return nil
}

// expectNative adds events a Kafka-native path delivered (acknowledged by
// the broker) to the ledger.
func (l *ledger) expectNative(events []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sent += len(events)
	for _, e := range events {
		l.learnLocked(e)
	}
}

// learnLocked records raw event e, delivered once, with the facts the
// services' engine reads from it (nothing for an event it rejects). The
// caller holds l.mu.
func (l *ledger) learnLocked(e string) {
	ev, rej := l.eng.Normalize(normalize.Input{Raw: []byte(e), ReceivedAt: time.Now()})
	if rej != nil {
		return
	}
	l.copies++
	l.acked[ev.EventID] = fact{amount: ev.Amount.Units, tsMs: ev.Timestamp.UnixMilli(), metric: ev.Metric}
}

// otherStatuses lists the HTTP statuses other than 202 the case's ingest
// requests got, e.g. "503×12".
func (l *ledger) otherStatuses() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for code, n := range l.status {
		if code != http.StatusAccepted {
			out = append(out, fmt.Sprintf("%d×%d", code, n))
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

func (l *ledger) truth() (n int, sum int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, f := range l.acked {
		sum += f.amount
	}
	return len(l.acked), sum
}

// truthIn is the ledger's count and sum per bucket (interval w, 0 for
// one bucket) and metric, over [from, to).
func (l *ledger) truthIn(from, to time.Time, w time.Duration) map[string][2]int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string][2]int64{}
	for _, f := range l.acked {
		if f.tsMs < from.UnixMilli() || f.tsMs >= to.UnixMilli() {
			continue
		}
		k := f.metric
		if w > 0 {
			k += "@" + time.UnixMilli(f.tsMs).UTC().Truncate(w).Format(time.RFC3339)
		}
		v := out[k]
		out[k] = [2]int64{v[0] + 1, v[1] + f.amount}
	}
	return out
}

// outcome is one row of the report.
type outcome struct {
	Fault                                        string
	Sent, Acked, Processed, Duplicates, Rejected int
	DeadLettered, Lost, DoubleCounted            int
	Recover                                      time.Duration
	Reconciled                                   bool
	Note                                         string
	Distinct                                     int    // distinct events acknowledged
	Detail                                       string // how the fault went
	Expect                                       string // "" or what a negative control must show
}

type checker struct {
	s  *stack
	ch clickhouse.Conn
}

func newChecker(t *testing.T, s *stack) *checker {
	t.Helper()
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{s.ch}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &checker{s: s, ch: conn}
}

type aggregation struct {
	Groups []struct {
		Count int64           `json:"count"`
		Sum   json.RawMessage `json:"sum"`
	} `json:"groups"`
}

type stats struct {
	Received     int64 `json:"received"`
	Processed    int64 `json:"processed"`
	Duplicates   int64 `json:"duplicates"`
	Conflicts    int64 `json:"conflicts"`
	Rejected     int64 `json:"rejected"`
	DeadLettered int64 `json:"deadLettered"`
	Forwarded    int64 `json:"forwarded"`
	Skipped      int64 `json:"skipped"`
	Pending      int64 `json:"pending"`
	InFlight     int64 `json:"inFlight"`
	Reconciled   bool  `json:"reconciled"`
}

// settle waits until the pipeline drained (nothing pending) and this case's
// count stopped moving, then measures the outcome against the ledger.
func (c *checker) settle(t *testing.T, l *ledger, fault string, timeout time.Duration) outcome {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	want, _ := l.truth()
	var last int64 = -1
	stable := 0
	for {
		var st stats
		cnt, _, err := c.aggregate(ctx, l)
		if err == nil {
			err = getJSON(ctx, c.s.queryapi+"/v1/stats", &st)
		}
		// Settled: nothing pending and the count unchanged for a while —
		// briefly if it reached the ledger, longer if it is short (a loss).
		if err == nil && st.Pending == 0 && st.InFlight == 0 && cnt == last {
			stable++
			if stable >= 3 && (cnt >= int64(want) || stable >= 15) {
				break
			}
		} else {
			stable = 0
		}
		if err == nil {
			last = cnt
		}
		if ctx.Err() != nil {
			t.Logf("%s: pipeline did not settle within %v (count %d, want %d, stats %+v, err %v)", fault, timeout, cnt, want, st, err)
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	o := c.measure(t, l, fault)
	o.Recover = time.Since(start)
	return o
}

// clientParams selects the case's clients in a query string: the spread
// clients and the case's own name (its timestamp-less and invalid events).
func (l *ledger) clientParams() string {
	v := url.Values{"clientId": append([]string{l.client}, l.clients...)}
	return v.Encode()
}

func (c *checker) aggregate(ctx context.Context, l *ledger) (int64, string, error) {
	var a aggregation
	if err := getJSON(ctx, c.s.queryapi+"/v1/aggregations?groupBy=none&"+l.clientParams(), &a); err != nil {
		return 0, "", err
	}
	if len(a.Groups) == 0 {
		return 0, "0", nil
	}
	return a.Groups[0].Count, string(a.Groups[0].Sum), nil
}

func (c *checker) measure(t *testing.T, l *ledger, fault string) outcome {
	t.Helper()
	ctx := context.Background()
	want, wantSum := l.truth()
	o := outcome{Fault: fault, Sent: l.sent, Acked: l.copies}

	// Which acknowledged ids are stored?
	rows, err := c.ch.Query(ctx, "SELECT event_id FROM tally.events WHERE tenant = 'default' AND (client_id = ? OR startsWith(client_id, ?)) "+
		"GROUP BY event_id", l.client, l.client+"-")
	if err != nil {
		t.Fatalf("query stored ids: %v", err)
	}
	stored := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		stored[id] = true
	}
	rows.Close()
	l.mu.Lock()
	for id := range l.acked {
		if stored[id] {
			o.Processed++
		} else {
			o.Lost++
		}
	}
	l.mu.Unlock()

	// What users see: the query API's count and sum for this client.
	cnt, sum, err := c.aggregate(ctx, l)
	if err != nil {
		t.Fatalf("aggregate: %v", err)
	}
	if extra := int(cnt) - (want - o.Lost); extra > 0 {
		o.DoubleCounted = extra
	}
	if fmt.Sprint(wantSum) != strings.TrimSuffix(strings.TrimSuffix(sum, ".0"), ".000000000") && o.Lost == 0 && o.DoubleCounted == 0 {
		o.Note = fmt.Sprintf("sum %s, want %d", sum, wantSum)
	}

	// Ranged and bucketed answers too (I2, I6): an unaligned range over
	// the middle of the case's events, and a per-minute series by metric.
	if note := c.ranged(ctx, l); note != "" {
		o.Note += note
	}

	var dups, rej, dead uint64
	q := `SELECT
		(SELECT uniqExact(stream, partition, offset) FROM tally.duplicates WHERE tenant = 'default' AND (client_id = ? OR startsWith(client_id, ?))),
		(SELECT uniqExact(stream, partition, offset) FROM tally.rejected_events WHERE client_hint = ?),
		(SELECT uniqExact(stream, partition, offset) FROM tally.dead_letters WHERE position(raw, ?) > 0)`
	if err := c.ch.QueryRow(ctx, q, l.client, l.client+"-", l.client, l.client).Scan(&dups, &rej, &dead); err != nil {
		t.Fatalf("query outcome counts: %v", err)
	}
	o.Duplicates = int(dups)
	o.Rejected, o.DeadLettered = int(rej), int(dead)

	var st stats
	if err := getJSON(ctx, c.s.queryapi+"/v1/stats", &st); err != nil {
		t.Fatalf("stats: %v", err)
	}
	o.Reconciled = st.Received == st.Processed+st.Duplicates+st.Conflicts+st.Rejected+st.DeadLettered+st.Forwarded+st.Skipped+st.Pending &&
		st.Reconciled
	if !o.Reconciled {
		o.Note += fmt.Sprintf(" stats do not reconcile: %+v", st)
	}
	return o
}

// ranged compares an unaligned range and a per-minute series by metric
// with the ledger; it returns "" when they agree.
func (c *checker) ranged(ctx context.Context, l *ledger) string {
	n, _ := l.truth()
	if n == 0 {
		return ""
	}
	from := l.at(n / 4).Add(l.step / 2)
	// At most 7200 events (a per-minute series over days of history is
	// more buckets than the API serves).
	to := l.at(min(3*n/4, n/4+7200)).Add(l.step / 4)
	for _, w := range []time.Duration{0, time.Minute} {
		target := fmt.Sprintf("%s/v1/aggregations?groupBy=metric&%s&from=%s&to=%s", c.s.queryapi, l.clientParams(),
			from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano))
		if w > 0 {
			target += "&interval=minute"
		}
		var a struct {
			Groups []struct {
				Metric   string `json:"metric"`
				Count    int64  `json:"count"`
				SumExact string `json:"sumExact"`
				Series   []struct {
					Bucket   string `json:"bucket"`
					Count    int64  `json:"count"`
					SumExact string `json:"sumExact"`
				} `json:"series"`
			} `json:"groups"`
		}
		if err := getJSON(ctx, target, &a); err != nil {
			return fmt.Sprintf(" ranged query failed: %v", err)
		}
		got := map[string][2]int64{}
		for _, g := range a.Groups {
			if w == 0 {
				sum, _ := strconv.ParseInt(g.SumExact, 10, 64)
				got[g.Metric] = [2]int64{g.Count, sum}
				continue
			}
			for _, b := range g.Series {
				at, _ := time.Parse(time.RFC3339Nano, b.Bucket)
				sum, _ := strconv.ParseInt(b.SumExact, 10, 64)
				got[g.Metric+"@"+at.UTC().Format(time.RFC3339)] = [2]int64{b.Count, sum}
			}
		}
		want := l.truthIn(from, to, w)
		if len(got) != len(want) {
			return fmt.Sprintf(" range %v (interval %v): %d groups, ledger %d", from, w, len(got), len(want))
		}
		for k, v := range want {
			if got[k] != v {
				return fmt.Sprintf(" range %v (interval %v) %s: count/sum %v, ledger %v", from, w, k, got[k], v)
			}
		}
	}
	return ""
}

// reportMarkdown writes docs/reliability.md: the machine, the profile and
// one row per case.
func reportMarkdown(t *testing.T, rows []outcome, path string, p profile, started time.Time) {
	t.Helper()
	var b bytes.Buffer
	prof := "short"
	if p.long {
		prof = "long"
	}
	load, _ := os.ReadFile("/proc/loadavg")
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	fmt.Fprintf(&b, "# Reliability: the fault matrix, measured\n\n")
	fmt.Fprintf(&b, "Generated by `make chaos` (processor/internal/chaos, profile %s) on %s; the run took %s.\n", prof,
		started.UTC().Format("2006-01-02 15:04 MST"), time.Since(started).Round(time.Second))
	fmt.Fprintf(&b, "Machine: %d CPU cores shared with other work (load average at the end: %s), Linux %s, %s, one Kafka broker, one ClickHouse 18.16 server, Redis, the ingestor, three processors and the query API on loopback.\n\n",
		runtime.NumCPU(), strings.Join(strings.Fields(string(load))[:3], " "), strings.TrimSpace(string(kernel)), runtime.Version())
	b.WriteString("Every case sends its own events (over HTTP, each request twice and some again later, plus a Kafka-native " +
		"producer writing to the raw topic), breaks something while they flow, brings it back, and then compares what the " +
		"query API answers — all time, an unaligned range and per-minute buckets by metric — and the stored event ids with a " +
		"ledger of everything acknowledged. *Acknowledged* counts copies the ingestor answered 202 for or the broker acked " +
		"(distinct events in brackets); *lost* are acknowledged events that are not stored; *double-counted* is how far the " +
		"count exceeds the distinct events; *reconciled* is `/v1/stats` (received = every outcome + pending); *recovery* is " +
		"the time from the workload's end (or, for the recovery goal, from ClickHouse being back) until the pipeline drained " +
		"and the counts settled. Negative controls run a deliberately broken processor: the checker must report the damage.\n\n")
	b.WriteString("| case | acknowledged | lost | double-counted | reconciled | recovery s | result | how the fault went |\n")
	b.WriteString("|---|---:|---:|---:|:---:|---:|---|---|\n")
	for _, r := range rows {
		result := "clean"
		switch {
		case r.Expect == "lost" && r.Lost > 0, r.Expect == "double" && r.DoubleCounted > 0:
			result = "caught (" + r.Expect + ")"
		case r.Expect != "":
			result = "**not caught**"
		case r.Lost != 0 || r.DoubleCounted != 0 || !r.Reconciled || r.Note != "":
			result = "**failed** " + r.Note
		}
		fmt.Fprintf(&b, "| %s | %d (%d) | %d | %d | %v | %.1f | %s | %s |\n", r.Fault, r.Acked, r.Distinct, r.Lost,
			r.DoubleCounted, r.Reconciled, r.Recover.Seconds(), result, strings.ReplaceAll(r.Detail, "|", "/"))
	}
	if err := writeFile(path, b.Bytes()); err != nil {
		t.Errorf("write %s: %v", path, err)
	}
}

func report(t *testing.T, rows []outcome, path string) {
	t.Helper()
	var b bytes.Buffer
	fmt.Fprintf(&b, "%-34s %6s %6s %9s %6s %6s %5s %5s %7s %8s %6s %s\n", "fault", "sent", "acked", "processed",
		"dups", "rej", "dlq", "lost", "double", "recover", "recon", "note")
	for _, r := range rows {
		fmt.Fprintf(&b, "%-34s %6d %6d %9d %6d %6d %5d %5d %7d %8s %6v %s\n", r.Fault, r.Sent, r.Acked, r.Processed,
			r.Duplicates, r.Rejected, r.DeadLettered, r.Lost, r.DoubleCounted, r.Recover.Round(100*time.Millisecond), r.Reconciled, r.Note)
		if r.Detail != "" {
			fmt.Fprintf(&b, "    %s\n", r.Detail)
		}
	}
	t.Log("\n" + b.String())
	if err := writeFile(path, b.Bytes()); err != nil {
		t.Errorf("write report: %v", err)
	}
}
