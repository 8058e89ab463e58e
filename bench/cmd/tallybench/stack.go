package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// stats is the part of the query API's /v1/stats the benchmark reads.
type stats struct {
	Received     int64  `json:"received"`
	Processed    uint64 `json:"processed"`
	Duplicates   uint64 `json:"duplicates"`
	Rejected     uint64 `json:"rejected"`
	DeadLettered uint64 `json:"deadLettered"`
	Pending      int64  `json:"pending"`
	InFlight     uint64 `json:"inFlight"`
}

// accounted is every raw record the processor has finished with.
func (s stats) accounted() int64 {
	return int64(s.Processed + s.Duplicates + s.Rejected + s.DeadLettered)
}

type api struct {
	query  string
	key    string // the stack's default.key ("" for none)
	client *http.Client
}

func (a api) getJSON(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.query+path, nil)
	if err != nil {
		return err
	}
	if a.key != "" {
		req.Header.Set("Authorization", "Bearer "+a.key)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: status %d", path, resp.StatusCode)
	}
	d := json.NewDecoder(resp.Body)
	d.UseNumber()
	return d.Decode(v)
}

func (a api) stats(ctx context.Context) (stats, error) {
	var s stats
	err := a.getJSON(ctx, "/v1/stats", &s)
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

// waitDrained polls until every received record is accounted for and nothing
// is pending, or the timeout passes. It returns the time it saw that.
func (a api) waitDrained(ctx context.Context, timeout time.Duration) (stats, time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		s, err := a.stats(ctx)
		if err == nil && s.Pending == 0 && s.accounted() >= s.Received {
			return s, time.Now(), nil
		}
		if time.Now().After(deadline) {
			return s, time.Now(), fmt.Errorf("not drained after %v (last stats %+v, err %v)", timeout, s, err)
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
