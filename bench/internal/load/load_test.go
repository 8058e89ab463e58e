package load

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// stub is a tiny ingestor: it answers 202 with per-event ids (sha256 of the
// body element), counting what it received.
type stub struct {
	mu    sync.Mutex
	seen  map[string]bool
	total int
	delay time.Duration
}

func (s *stub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if s.delay > 0 {
		time.Sleep(s.delay)
	}
	var elems []json.RawMessage
	if strings.HasPrefix(string(body), "[") {
		if err := json.Unmarshal(body, &elems); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
	} else {
		elems = []json.RawMessage{body}
	}
	seed := r.URL.Path == "/api/events"
	var results []string
	s.mu.Lock()
	for i, e := range elems {
		h := sha256.Sum256(e)
		id := hex.EncodeToString(h[:])
		s.seen[id] = true
		s.total++
		if seed {
			results = append(results, fmt.Sprintf(`{"success":true,"eventId":%q,"isDuplicate":false,"error":null}`, id))
		} else {
			results = append(results, fmt.Sprintf(`{"index":%d,"eventId":%q,"status":"accepted","duplicate":false}`, i, id))
		}
	}
	s.mu.Unlock()
	if seed {
		w.WriteHeader(200)
		fmt.Fprintf(w, `{"success":true,"processed":%d,"failed":0,"results":[%s]}`, len(elems), strings.Join(results, ","))
		return
	}
	w.WriteHeader(202)
	fmt.Fprintf(w, `{"accepted":%d,"rejected":0,"results":[%s]}`, len(elems), strings.Join(results, ","))
}

func TestRunGroundTruth(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"single-rate", Config{Batch: 1, Rate: 2000, DupRatio: 0.2}},
		{"batch-max", Config{Batch: 50, Concurrency: 4, DupRatio: 0.1}},
		{"seed-batch-rate", Config{Batch: 10, Rate: 5000, Path: "/api/events", SeedStyle: true, DupRatio: 0.1}},
	} {
		for _, client := range []string{"raw", "net/http"} {
			t.Run(tc.name+"/"+client, func(t *testing.T) {
				s := &stub{seen: map[string]bool{}}
				srv := httptest.NewServer(s)
				defer srv.Close()
				c := tc.cfg
				c.Target = srv.URL
				if client == "net/http" {
					c.Client = srv.Client()
				}
				c.Duration = 500 * time.Millisecond
				c.Gen = GenOptions{Seed: 1, Slot: 7}
				res, err := Run(context.Background(), c)
				if err != nil {
					t.Fatal(err)
				}
				if res.Requests == 0 || res.Events != res.Requests*int64(c.Batch) {
					t.Fatalf("requests %d events %d", res.Requests, res.Events)
				}
				if res.AckedEvents != res.Events || s.total != int(res.Events) {
					t.Fatalf("acked %d, sent %d, server saw %d", res.AckedEvents, res.Events, s.total)
				}
				// Resends repeat bodies byte for byte, so the server's distinct
				// ids equal the generator's distinct acknowledged ids.
				if res.DistinctAcked != len(s.seen) {
					t.Fatalf("distinct acked %d, server distinct %d", res.DistinctAcked, len(s.seen))
				}
				if res.Resends == 0 || int64(res.DistinctAcked) != res.Events-res.Resends {
					t.Fatalf("distinct %d, events %d, resends %d", res.DistinctAcked, res.Events, res.Resends)
				}
				if res.Status[map[bool]string{true: "200", false: "202"}[c.SeedStyle]] != int(res.Requests) {
					t.Fatalf("status %v", res.Status)
				}
				if c.Rate > 0 {
					want := c.Rate * c.Duration.Seconds()
					if got := float64(res.Events); got < 0.9*want || got > 1.1*want+float64(c.Batch) {
						t.Fatalf("offered %v events at rate %v, want about %v", got, c.Rate, want)
					}
				}
			})
		}
	}
}

// A server that stalls must show the stall in the latency of every request
// scheduled during it (no coordinated omission).
func TestOpenLoopCountsQueueing(t *testing.T) {
	s := &stub{seen: map[string]bool{}, delay: 50 * time.Millisecond}
	srv := httptest.NewServer(s)
	defer srv.Close()
	res, err := Run(context.Background(), Config{Target: srv.URL, Rate: 400, Concurrency: 2, Duration: 500 * time.Millisecond, Gen: GenOptions{Seed: 2}})
	if err != nil {
		t.Fatal(err)
	}
	// Two senders at 50 ms each serve 40 req/s against 400 offered: the
	// backlog grows, so the median waits far longer than one service time.
	if res.P50ms < 200 {
		t.Fatalf("p50 %.1f ms: queueing time was not counted", res.P50ms)
	}
}

func TestAmountText(t *testing.T) {
	for c, want := range map[int64]string{1: "0.01", 123456: "1234.56", -5: "-0.05", 100: "1.00"} {
		if got := CentsText(c); got != want {
			t.Errorf("%d: %q, want %q", c, got, want)
		}
	}
}

// Every request carries the API key, and a server that insists on it sees
// no request without it: the run's statuses are all 202.
func TestRunSendsAPIKey(t *testing.T) {
	s := &stub{seen: map[string]bool{}}
	var mu sync.Mutex
	var bad int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer k3y" {
			mu.Lock()
			bad++
			mu.Unlock()
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		s.ServeHTTP(w, r)
	}))
	defer srv.Close()
	for _, c := range []Config{{Batch: 1, Rate: 1000}, {Batch: 20, Concurrency: 2}} {
		c.Target, c.Duration, c.APIKey = srv.URL, 200*time.Millisecond, "k3y"
		res, err := Run(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		if res.Requests == 0 || res.Status["202"] != int(res.Requests) {
			t.Fatalf("batch %d: status %v for %d requests", c.Batch, res.Status, res.Requests)
		}
	}
	e, _ := NewGenerator(GenOptions{Seed: 3}).Next()
	if _, err := SendOne(context.Background(), srv.Client(), srv.URL+"/v1/events", "k3y", e, false); err != nil {
		t.Fatal(err)
	}
	if _, err := SendOne(context.Background(), srv.Client(), srv.URL+"/v1/events", "", e, false); err == nil {
		t.Fatal("SendOne without a key: the 401 was not an error")
	}
	if bad != 1 {
		t.Fatalf("%d requests without the key, want only the one sent without it", bad)
	}
}

// Closing Stop ends a run long before its Duration, in both loop modes.
func TestRunStopsEarly(t *testing.T) {
	s := &stub{seen: map[string]bool{}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	for _, c := range []Config{{Batch: 1, Rate: 1000}, {Batch: 10, Concurrency: 2}} {
		stop := make(chan struct{})
		c.Target, c.Duration, c.Stop = srv.URL, time.Minute, stop
		time.AfterFunc(200*time.Millisecond, func() { close(stop) })
		t0 := time.Now()
		res, err := Run(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(t0); d > 10*time.Second || res.Requests == 0 {
			t.Fatalf("batch %d: ran %v with %d requests after Stop at 200 ms", c.Batch, d, res.Requests)
		}
	}
}

// Live events are stamped now and kept distinct by their idempotency key,
// even when their timestamps coincide; a resend repeats the body.
func TestLiveEvents(t *testing.T) {
	g := NewGenerator(GenOptions{Seed: 1, Slot: 3, Live: true, DupRatio: 0.3, Clients: 1, Metrics: 1})
	bodies := map[string]int{}
	ids := map[string]string{}
	resends := 0
	before := time.Now().Add(-time.Second)
	for range 2000 {
		e, resend := g.Next()
		if e.TS.Before(before) || e.TS.After(time.Now().Add(time.Second)) {
			t.Fatalf("live timestamp %v is not now", e.TS)
		}
		if e.ID == "" {
			t.Fatal("live event without an idempotency key")
		}
		var doc map[string]any
		body := e.AppendJSON(nil, false)
		if err := json.Unmarshal(body, &doc); err != nil || doc["eventId"] != e.ID {
			t.Fatalf("body %s: eventId %v, want %q (%v)", body, doc["eventId"], e.ID, err)
		}
		if resend {
			resends++
			if bodies[string(body)] == 0 {
				t.Fatalf("resend %s repeats no earlier body", body)
			}
		} else if prev, ok := ids[e.ID]; ok {
			t.Fatalf("id %s reused: %s and %s", e.ID, prev, body)
		}
		ids[e.ID] = string(body)
		bodies[string(body)]++
	}
	if resends < 400 || resends > 800 {
		t.Fatalf("%d resends of 2000 at ratio 0.3", resends)
	}
	if g2 := NewGenerator(GenOptions{Seed: 1, Slot: 3, Live: true}); func() bool { e, _ := g2.Next(); _, ok := ids[e.ID]; return ok }() {
		t.Fatal("a second live generator with the same seed and slot repeats ids")
	}
}
