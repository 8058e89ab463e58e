package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tally-dev/tally/bench/internal/load"
)

// stats is the part of the query API's /v1/stats the benchmark reads (the
// whole pipeline's books, as an admin key acting for no tenant sees them).
type stats struct {
	Received     int64   `json:"received"`
	Processed    uint64  `json:"processed"`
	Duplicates   uint64  `json:"duplicates"`
	Conflicts    uint64  `json:"conflicts"`
	Rejected     uint64  `json:"rejected"`
	DeadLettered uint64  `json:"deadLettered"`
	Forwarded    uint64  `json:"forwarded"`
	Skipped      uint64  `json:"skipped"`
	Pending      int64   `json:"pending"`
	InFlight     int64   `json:"inFlight"`
	Reconciled   bool    `json:"reconciled"`
	Unbalanced   []int32 `json:"unbalanced"`
}

// accounted is every raw record the processor has finished with.
func (s stats) accounted() int64 {
	return int64(s.Processed + s.Duplicates + s.Conflicts + s.Rejected + s.DeadLettered + s.Forwarded + s.Skipped)
}

// balanced is the books adding up with nothing left to read: received =
// processed + duplicates + … + pending, and pending is zero.
func (s stats) balanced() bool {
	return s.Pending == 0 && s.accounted() == s.Received && s.Reconciled
}

// api reads the query API with the stack's keys: admin for /v1/stats (the
// whole books), the default tenant's ingest+query key for aggregations.
type api struct {
	query       string
	client      *http.Client
	adminKey    string
	key         string
	serverError *serverErrors
}

// serverErrors remembers every 5xx answer the benchmark saw: any one of
// them fails the run, since Tally promises never to answer 5xx to a valid
// request (a 503 under load is a finding, not noise).
type serverErrors struct {
	mu    sync.Mutex
	n     int
	first string
}

func (e *serverErrors) add(what string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.n == 0 {
		e.first = what
	}
	e.n++
}

func (e *serverErrors) get() (int, string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.n, e.first
}

func (a api) getJSON(ctx context.Context, path string, v any) error {
	return a.getJSONKey(ctx, a.key, path, v)
}

func (a api) getJSONKey(ctx context.Context, key, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.query+path, nil)
	if err != nil {
		return err
	}
	load.SetKey(req, key)
	resp, err := a.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		err := fmt.Errorf("GET %s: status %d: %s", path, resp.StatusCode, strings.TrimSpace(string(body)))
		if resp.StatusCode >= 500 {
			a.serverError.add(err.Error())
		}
		return err
	}
	d := json.NewDecoder(resp.Body)
	d.UseNumber()
	return d.Decode(v)
}

func (a api) stats(ctx context.Context) (stats, error) {
	var s stats
	err := a.getJSONKey(ctx, a.adminKey, "/v1/stats", &s)
	return s, err
}

type aggGroup struct {
	Count json.Number `json:"count"`
	Sum   json.Number `json:"sum"`
}

// total is count and sum over everything (groupBy=none), with optional
// extra query parameters.
func (a api) total(ctx context.Context, extra url.Values) (int64, *big.Rat, error) {
	q := url.Values{"groupBy": {"none"}}
	for k, v := range extra {
		q[k] = v
	}
	var r struct {
		Groups []aggGroup `json:"groups"`
	}
	if err := a.getJSON(ctx, "/v1/aggregations?"+q.Encode(), &r); err != nil {
		return 0, nil, err
	}
	if len(r.Groups) == 0 {
		return 0, new(big.Rat), nil
	}
	n, err := strconv.ParseInt(r.Groups[0].Count.String(), 10, 64)
	if err != nil {
		return 0, nil, fmt.Errorf("count %q: %w", r.Groups[0].Count, err)
	}
	sum, ok := new(big.Rat).SetString(r.Groups[0].Sum.String())
	if !ok {
		return 0, nil, fmt.Errorf("sum %q is not a number", r.Groups[0].Sum)
	}
	return n, sum, nil
}

// waitDrained polls until the books balance (every received record
// accounted for, nothing pending), or the timeout passes. It returns the
// time it saw that.
func (a api) waitDrained(ctx context.Context, timeout time.Duration) (stats, time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		s, err := a.stats(ctx)
		if err == nil && s.balanced() {
			return s, time.Now(), nil
		}
		if time.Now().After(deadline) {
			return s, time.Now(), fmt.Errorf("books not balanced after %v (last stats %+v, last error: %s)", timeout, s, errText(err))
		}
		select {
		case <-ctx.Done():
			return s, time.Now(), ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

var clockTicks = 100.0 // USER_HZ; 100 on every Linux we run on

// cpuSeconds is utime+stime of pid (not its children).
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command, which is in parentheses and may hold spaces.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	f := strings.Fields(s[i+2:])
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / clockTicks, nil
}

// peakRSSMB is VmHWM of pid in MiB.
func peakRSSMB(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024, err
		}
	}
	return 0, fmt.Errorf("no VmHWM for pid %d", pid)
}
