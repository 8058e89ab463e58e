package load

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Config is one load run.
type Config struct {
	Target      string        // base URL, e.g. http://127.0.0.1:8080
	Path        string        // default /v1/events
	Batch       int           // events per request; 1 = single-event bodies
	Rate        float64       // events per second, open loop; 0 = closed loop at Concurrency
	Concurrency int           // in-flight limit (closed loop: the number of senders)
	Duration    time.Duration // how long to offer load
	DupRatio    float64       // fraction of events that resend an earlier body
	SeedStyle   bool          // seed-shaped bodies and responses
	Gen         GenOptions
	Timeout     time.Duration // per request
	Client      *http.Client  // optional
	// APIKey, when set, is sent as "Authorization: Bearer <key>" on every
	// request (a server that does not check keys ignores it).
	APIKey string
	// Stop, when non-nil, ends the run early once closed: no new request
	// is offered, those in flight finish. Duration still bounds the run.
	Stop <-chan struct{}
}

// Result is what a run measured.
type Result struct {
	Mode        string  `json:"mode"`
	Target      string  `json:"target"`
	Batch       int     `json:"batch"`
	OfferedRate float64 `json:"offered_events_per_second"`
	Concurrency int     `json:"concurrency"`
	// Connections is how many raw connections the run opened at most (0:
	// net/http's client, which does not say).
	Connections    int            `json:"connections,omitempty"`
	DurationS      float64        `json:"duration_s"`
	Requests       int64          `json:"requests"`
	Events         int64          `json:"events_sent"`
	Resends        int64          `json:"resends_sent"`
	ReqPerSec      float64        `json:"requests_per_second"`
	EventsPerSec   float64        `json:"events_per_second"`
	AckedEvents    int64          `json:"acked_events"`
	AckedPerSec    float64        `json:"acked_events_per_second"`
	P50ms          float64        `json:"p50_ms"`
	P90ms          float64        `json:"p90_ms"`
	P99ms          float64        `json:"p99_ms"`
	P999ms         float64        `json:"p99_9_ms"`
	MaxMs          float64        `json:"max_ms"`
	Status         map[string]int `json:"status"`
	DistinctAcked  int            `json:"distinct_acked_ids"`
	AckedSum       string         `json:"acked_sum"`
	FirstAck       time.Time      `json:"first_ack"`
	LastAck        time.Time      `json:"last_ack"`
	PerSecondAcked []int64        `json:"per_second_acked"`
	Truth          *Truth         `json:"-"`
}

// Truth maps acknowledged event ids to the amount (in cents) that was sent.
type Truth struct {
	mu  sync.Mutex
	ids map[ID]int64
}

// NewTruth returns an empty ground truth.
func NewTruth() *Truth { return &Truth{ids: make(map[ID]int64)} }

// Add records an acknowledged id.
func (t *Truth) Add(id ID, cents int64) {
	t.mu.Lock()
	t.ids[id] = cents
	t.mu.Unlock()
}

// Merge adds every id of o.
func (t *Truth) Merge(o *Truth) {
	o.mu.Lock()
	defer o.mu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, v := range o.ids {
		t.ids[k] = v
	}
}

// Len is the number of distinct acknowledged ids.
func (t *Truth) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.ids)
}

// SumCents is the sum of the amounts of distinct acknowledged ids.
func (t *Truth) SumCents() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var s int64
	for _, v := range t.ids {
		s += v
	}
	return s
}

// WriteIDs writes one id per line.
func (t *Truth) WriteIDs(w io.Writer) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id := range t.ids {
		if _, err := io.WriteString(w, id.String()+"\n"); err != nil {
			return err
		}
	}
	return nil
}

// CentsText formats hundredths as decimal text.
func CentsText(c int64) string { return Event{Cents: c}.Amount() }

func idOf(s string) ID {
	if id, ok := ParseID(s); ok {
		return id
	}
	return sha256.Sum256([]byte(s))
}

type job struct {
	body     []byte
	events   []Event
	intended time.Time
}

type worker struct {
	lat    []float64
	status map[string]int
	acked  int64
	perSec map[int64]int64
	first  time.Time
	last   time.Time
}

// NewHTTPClient returns a keep-alive client sized for conc connections.
func NewHTTPClient(conc int, timeout time.Duration) *http.Client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conc * 2,
		MaxIdleConnsPerHost: conc * 2,
		MaxConnsPerHost:     0,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &http.Client{Transport: tr, Timeout: timeout}
}

// Run offers load as configured and blocks until every request finished.
func Run(ctx context.Context, c Config) (*Result, error) {
	if c.Target == "" {
		return nil, errors.New("target is required")
	}
	if c.Path == "" {
		c.Path = "/v1/events"
	}
	if c.Batch <= 0 {
		c.Batch = 1
	}
	if c.Concurrency <= 0 {
		if c.Rate > 0 {
			c.Concurrency = 1024
		} else {
			c.Concurrency = 32
		}
	}
	if c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	client := c.Client
	if client == nil {
		client = NewHTTPClient(c.Concurrency, c.Timeout) // for targets the raw client does not take
	}
	c.Gen.DupRatio = c.DupRatio
	gen := NewGenerator(c.Gen)
	var genMu sync.Mutex
	var nEvents, nResends, nReq int64
	makeJob := func(intended time.Time) job {
		genMu.Lock()
		defer genMu.Unlock()
		j := job{intended: intended, events: make([]Event, c.Batch)}
		var buf []byte
		if c.Batch > 1 {
			buf = make([]byte, 0, c.Batch*110+2)
			buf = append(buf, '[')
		} else {
			buf = make([]byte, 0, 128)
		}
		for i := range c.Batch {
			e, dup := gen.Next()
			if dup {
				nResends++
			}
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = e.AppendJSON(buf, c.SeedStyle)
			j.events[i] = e
		}
		if c.Batch > 1 {
			buf = append(buf, ']')
		}
		j.body = buf
		nEvents += int64(c.Batch)
		nReq++
		return j
	}

	truth := NewTruth()
	url := c.Target + c.Path
	start := time.Now()
	end := start.Add(c.Duration)
	ctx, cancel := context.WithDeadline(ctx, end.Add(c.Timeout))
	defer cancel()

	// Plain http targets (and no caller's Client) go through raw
	// connections, kept in a pool (see rawPool); others through net/http.
	var pool *rawPool
	if c.Client == nil {
		if p, err := newRawPool(url, c.APIKey, c.Timeout); err == nil {
			pool = p
			defer pool.close()
		}
	}
	// post sends one request: through rc, a raw connection from the pool,
	// or through net/http when there is none. The answer's body is valid
	// until rc's next post.
	post := func(rc *rawConn, body []byte) (int, []byte, error) {
		if rc != nil {
			deadline, _ := ctx.Deadline()
			return rc.post(body, deadline)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return 0, nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		SetKey(req, c.APIKey)
		resp, err := client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, b, err
	}
	send := func(w *worker, j job) {
		var rc *rawConn
		if pool != nil {
			rc = pool.get()
			defer pool.put(rc) // once the answer was recorded
		}
		status, body, err := post(rc, j.body)
		now := time.Now()
		w.lat = append(w.lat, float64(now.Sub(j.intended))/1e6)
		if status == 0 {
			w.status["error"]++
			return
		}
		w.status[strconv.Itoa(status)]++
		if err != nil || status/100 != 2 {
			return
		}
		n := record(body, j.events, c.SeedStyle, truth)
		if n > 0 {
			w.acked += int64(n)
			if w.first.IsZero() {
				w.first = now
			}
			w.last = now
			w.perSec[int64(now.Sub(start)/time.Second)] += int64(n)
		}
	}

	var mu sync.Mutex
	var workers []*worker
	newWorker := func() *worker {
		w := &worker{status: map[string]int{}, perSec: map[int64]int64{}}
		mu.Lock()
		workers = append(workers, w)
		mu.Unlock()
		return w
	}
	stopped := func() bool {
		if c.Stop == nil {
			return false
		}
		select {
		case <-c.Stop:
			return true
		default:
			return false
		}
	}
	var wg sync.WaitGroup
	mode := "max"
	if c.Rate > 0 {
		mode = "rate"
		// Open loop: a fixed schedule; a pool of senders takes jobs in
		// order. A job that waits for a free sender keeps its intended time.
		jobs := make(chan job, c.Concurrency*4)
		for range c.Concurrency {
			w := newWorker()
			wg.Go(func() {
				for j := range jobs {
					send(w, j)
				}
			})
		}
		interval := time.Duration(float64(time.Second) * float64(c.Batch) / c.Rate)
		for i := int64(0); ; i++ {
			intended := start.Add(time.Duration(i) * interval)
			if !intended.Before(end) || ctx.Err() != nil || stopped() {
				break
			}
			if d := time.Until(intended); d > time.Millisecond {
				time.Sleep(d)
			}
			jobs <- makeJob(intended)
		}
		close(jobs)
	} else {
		for range c.Concurrency {
			w := newWorker()
			wg.Go(func() {
				for time.Now().Before(end) && ctx.Err() == nil && !stopped() {
					j := makeJob(time.Time{})
					j.intended = time.Now()
					send(w, j)
				}
			})
		}
	}
	wg.Wait()
	elapsed := time.Since(start)

	res := &Result{Mode: mode, Target: url, Batch: c.Batch, OfferedRate: c.Rate, Concurrency: c.Concurrency,
		DurationS: elapsed.Seconds(), Requests: nReq, Events: nEvents, Resends: nResends, Status: map[string]int{}, Truth: truth}
	if pool != nil {
		res.Connections = pool.opened()
	}
	var lat []float64
	perSec := map[int64]int64{}
	for _, w := range workers {
		lat = append(lat, w.lat...)
		for k, v := range w.status {
			res.Status[k] += v
		}
		res.AckedEvents += w.acked
		for k, v := range w.perSec {
			perSec[k] += v
		}
		if !w.first.IsZero() && (res.FirstAck.IsZero() || w.first.Before(res.FirstAck)) {
			res.FirstAck = w.first
		}
		if w.last.After(res.LastAck) {
			res.LastAck = w.last
		}
	}
	secs := int64(math.Ceil(elapsed.Seconds()))
	for s := int64(0); s < secs; s++ {
		res.PerSecondAcked = append(res.PerSecondAcked, perSec[s])
	}
	slices.Sort(lat)
	res.P50ms, res.P90ms, res.P99ms, res.P999ms = Quantile(lat, 0.5), Quantile(lat, 0.9), Quantile(lat, 0.99), Quantile(lat, 0.999)
	if len(lat) > 0 {
		res.MaxMs = lat[len(lat)-1]
	}
	res.ReqPerSec = float64(nReq) / elapsed.Seconds()
	res.EventsPerSec = float64(nEvents) / elapsed.Seconds()
	res.AckedPerSec = float64(res.AckedEvents) / elapsed.Seconds()
	res.DistinctAcked = truth.Len()
	res.AckedSum = CentsText(truth.SumCents())
	return res, nil
}

// Quantile of sorted samples (nearest rank); 0 when empty.
func Quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

type v1Response struct {
	Results []struct {
		Index   int    `json:"index"`
		EventID string `json:"eventId"`
		Status  string `json:"status"`
	} `json:"results"`
}

type seedResponse struct {
	Results []struct {
		Success bool    `json:"success"`
		EventID *string `json:"eventId"`
	} `json:"results"`
}

// record adds acknowledged ids to truth and returns how many events were
// acknowledged (accepted, including duplicates of earlier events).
func record(body []byte, events []Event, seed bool, truth *Truth) int {
	n := 0
	if seed {
		var r seedResponse
		if json.Unmarshal(body, &r) != nil {
			return 0
		}
		for i, x := range r.Results {
			if x.Success && x.EventID != nil && i < len(events) {
				truth.Add(idOf(*x.EventID), events[i].Cents)
				n++
			}
		}
		return n
	}
	var r v1Response
	if json.Unmarshal(body, &r) != nil {
		return 0
	}
	for i, x := range r.Results {
		idx := x.Index
		if idx == 0 && i != 0 {
			idx = i
		}
		if x.Status == "accepted" && x.EventID != "" && idx < len(events) {
			truth.Add(idOf(x.EventID), events[idx].Cents)
			n++
		}
	}
	return n
}

// SetKey sets the request's API key ("Authorization: Bearer <key>"); an
// empty key sets nothing.
func SetKey(req *http.Request, key string) {
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
}

// SendOne posts one event, with the API key when key is not empty, and
// returns its acknowledged id.
func SendOne(ctx context.Context, client *http.Client, url, key string, e Event, seed bool) (ID, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(e.AppendJSON(nil, seed)))
	if err != nil {
		return ID{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	SetKey(req, key)
	resp, err := client.Do(req)
	if err != nil {
		return ID{}, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return ID{}, fmt.Errorf("status %d: %s", resp.StatusCode, body)
	}
	t := NewTruth()
	if record(body, []Event{e}, seed, t) != 1 {
		return ID{}, fmt.Errorf("not accepted: %s", body)
	}
	for id := range t.ids {
		return id, nil
	}
	return ID{}, errors.New("unreachable")
}
