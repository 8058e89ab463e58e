package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/tally-dev/tally/event/localstack"
)

func numCPU() int { return runtime.NumCPU() }

// costTracker keeps, per process name and pid, the first and last CPU
// reading and the peak RSS, so processes restarted mid-run are summed.
type costTracker struct {
	mu    sync.Mutex
	procs map[string]map[int]*pidCost
	dead  map[int]bool
}

type pidCost struct {
	first, last, rss float64
	seen             bool
}

func newCostTracker() *costTracker {
	return &costTracker{procs: map[string]map[int]*pidCost{}, dead: map[int]bool{}}
}

// sample reads CPU and RSS of every running node of the stack.
func (c *costTracker) sample(st *localstack.Stack) {
	c.mu.Lock()
	defer c.mu.Unlock()
	read := func(name string, pid int) {
		if c.dead[pid] {
			return
		}
		cpu, err := cpuSeconds(pid)
		if err != nil {
			return
		}
		rss, _ := peakRSSMB(pid)
		if c.procs[name] == nil {
			c.procs[name] = map[int]*pidCost{}
		}
		p := c.procs[name][pid]
		if p == nil {
			p = &pidCost{first: cpu}
			c.procs[name][pid] = p
		}
		p.last, p.rss, p.seen = cpu, math.Max(p.rss, rss), true
	}
	for _, n := range st.Status() {
		if n.Running {
			read(n.Name, n.PID)
		}
	}
	read("loadgen", os.Getpid())
}

func (c *costTracker) forget(name string, pid int) {
	c.mu.Lock()
	c.dead[pid] = true
	c.mu.Unlock()
}

func (c *costTracker) report() map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]any{}
	var total float64
	for name, pids := range c.procs {
		var cpu, rss float64
		for _, p := range pids {
			cpu += p.last - p.first
			rss = math.Max(rss, p.rss)
		}
		total += cpu
		out[name] = map[string]any{"cpu_seconds": round(cpu, 2), "peak_rss_mb": round(rss, 1), "pids": len(pids)}
	}
	out["total_cpu_seconds"] = round(total, 2)
	out["note"] = "utime+stime from /proc/<pid>/stat over the benchmark run (first to last sample, once a second; processes restarted mid-run are summed); peak RSS = VmHWM. loadgen = this benchmark process (load generator, prefill producer, pollers)."
	return out
}

func round(v float64, d int) float64 {
	p := math.Pow(10, float64(d))
	return math.Round(v*p) / p
}

func write(dir string, out map[string]any) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "latest.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	// Re-read through JSON so the table works on plain maps.
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "latest.md"), []byte(table(m)), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "latest.svg"), []byte(plot(m)), 0o644)
}

func get(m map[string]any, path ...string) any {
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[p]
	}
	return v
}

func num(m map[string]any, path ...string) string {
	switch v := get(m, path...).(type) {
	case float64:
		if math.Abs(v) >= 100 {
			return fmt.Sprintf("%.0f", v)
		}
		return fmt.Sprintf("%.2f", v)
	case bool:
		return fmt.Sprint(v)
	case nil:
		return "—"
	default:
		return fmt.Sprint(v)
	}
}

func table(m map[string]any) string {
	var s strings.Builder
	fmt.Fprintf(&s, "# Tally benchmark (%s profile, %s, %s CPUs)\n\n", num(m, "profile"), num(m, "started"), num(m, "machine", "cpus"))
	s.WriteString("| measure | result | target (MISSION.md) |\n|---|---|---|\n")
	row := func(name, val, target string) { fmt.Fprintf(&s, "| %s | %s | %s |\n", name, val, target) }
	row("ingest single, fixed rate: offered / acked events/s", num(m, "ingest", "single_fixed_rate", "offered_events_per_second")+" / "+num(m, "ingest", "single_fixed_rate", "acked_events_per_second"), "")
	row("ingest single, fixed rate: p50 / p99 / p99.9 ms", num(m, "ingest", "p50_ms")+" / "+num(m, "ingest", "p99_ms")+" / "+num(m, "ingest", "p99_9_ms"), "p99 ≤ 25 ms")
	row("ingest single, max rate: req/s (p99 ms)", num(m, "ingest", "single_max_requests_per_second")+" ("+num(m, "ingest", "single_max_p99_ms")+")", "≥ 25,000 req/s")
	row("ingest batch 500, max rate: events/s (p99 ms)", num(m, "ingest", "batch_max_events_per_second")+" ("+num(m, "ingest", "batch_max_p99_ms")+")", "≥ 300,000 events/s")
	row("end to end: events/s, exact", num(m, "e2e", "events_per_second")+", exact="+num(m, "e2e", "exact"), "≥ 100,000 events/s, exact")
	row("end to end: count / expected", num(m, "e2e", "count")+" / "+num(m, "e2e", "expected_count"), "equal")
	row("freshness at 10k events/s: p50 / p99 ms", num(m, "e2e", "freshness_p50_ms")+" / "+num(m, "e2e", "freshness_p99_ms"), "p99 ≤ 2,000 ms")
	row("processor drain (10% dups): events/s, exact", num(m, "processor", "drain_events_per_second")+", exact="+num(m, "processor", "exact"), "≥ 400,000 events/s")
	row("processor drain: events, seconds", num(m, "processor", "events")+", "+num(m, "processor", "drain_seconds"), "")
	row("processor peak RSS MB", num(m, "processor", "peak_rss_mb"), "≤ 300 MB")
	row("query groupBy=both all time: p50 / p95 ms", num(m, "query", "groupBy_both_all_time", "p50_ms")+" / "+num(m, "query", "groupBy_both_all_time", "p95_ms"), "p95 ≤ 50 ms (at 10M events)")
	row("query groupBy=both one day: p50 / p95 ms", num(m, "query", "groupBy_both_one_day", "p50_ms")+" / "+num(m, "query", "groupBy_both_one_day", "p95_ms"), "p95 ≤ 50 ms (at 10M events)")
	row("query: stored events", num(m, "query", "stored_events"), "10M")
	s.WriteString("\n## Cost (whole run)\n\n| process | CPU seconds | peak RSS MB |\n|---|---|---|\n")
	cost, _ := m["cost"].(map[string]any)
	var names []string
	for k := range cost {
		if _, ok := cost[k].(map[string]any); ok {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(&s, "| %s | %s | %s |\n", n, num(cost, n, "cpu_seconds"), num(cost, n, "peak_rss_mb"))
	}
	fmt.Fprintf(&s, "| total | %s | |\n", num(cost, "total_cpu_seconds"))
	return s.String()
}

// plot draws throughput (records received into Kafka and accounted for by
// the processor, per second) and consumer lag over the run, with a marker
// at the start of every scenario.
func plot(m map[string]any) string {
	tl, _ := m["timeline"].([]any)
	marks, _ := m["marks"].([]any)
	type pt struct{ t, recv, done, lag float64 }
	var pts []pt
	for i := 1; i < len(tl); i++ {
		a, _ := tl[i-1].(map[string]any)
		b, _ := tl[i].(map[string]any)
		dt := b["t"].(float64) - a["t"].(float64)
		if dt <= 0 {
			continue
		}
		pts = append(pts, pt{b["t"].(float64), (b["received"].(float64) - a["received"].(float64)) / dt,
			math.Max(0, (b["accounted"].(float64)-a["accounted"].(float64))/dt), b["pending"].(float64)})
	}
	const W, H, L, R, T, gap = 1000.0, 640.0, 80.0, 20.0, 30.0, 40.0
	ph := (H - T - gap - 90) / 2
	var tmax, rmax, lmax float64 = 1, 1, 1
	for _, p := range pts {
		tmax, rmax, lmax = math.Max(tmax, p.t), math.Max(rmax, math.Max(p.recv, p.done)), math.Max(lmax, p.lag)
	}
	x := func(t float64) float64 { return L + t/tmax*(W-L-R) }
	var s strings.Builder
	fmt.Fprintf(&s, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="11">`+"\n", W, H)
	fmt.Fprintf(&s, `<rect width="100%%" height="100%%" fill="white"/><text x="%.0f" y="18" font-size="14">Tally benchmark (%v profile): throughput and lag over time</text>`+"\n", L, m["profile"])
	panel := func(top float64, title string, vmax float64, series []func(pt) float64, colors, labels []string) {
		fmt.Fprintf(&s, `<rect x="%.0f" y="%.0f" width="%.0f" height="%.0f" fill="none" stroke="#999"/>`+"\n", L, top, W-L-R, ph)
		fmt.Fprintf(&s, `<text x="%.0f" y="%.0f">%s</text>`+"\n", L+5, top+14, title)
		for i := 0; i <= 4; i++ {
			v := vmax * float64(i) / 4
			y := top + ph - ph*float64(i)/4
			fmt.Fprintf(&s, `<text x="%.0f" y="%.0f" text-anchor="end">%.0f</text><line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#eee"/>`+"\n", L-5, y+4, v, L, W-R, y, y)
		}
		for k, f := range series {
			var b strings.Builder
			for _, p := range pts {
				fmt.Fprintf(&b, "%.1f,%.1f ", x(p.t), top+ph-f(p)/vmax*ph)
			}
			fmt.Fprintf(&s, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`+"\n", colors[k], b.String())
			fmt.Fprintf(&s, `<text x="%.0f" y="%.0f" fill="%s">%s</text>`+"\n", W-R-220, top+14+float64(k)*14, colors[k], labels[k])
		}
	}
	panel(T, "records/s", rmax*1.05, []func(pt) float64{func(p pt) float64 { return p.recv }, func(p pt) float64 { return p.done }},
		[]string{"#1f77b4", "#d62728"}, []string{"received into Kafka /s", "accounted by processor /s"})
	panel(T+ph+gap, "consumer lag (records)", lmax*1.05, []func(pt) float64{func(p pt) float64 { return p.lag }}, []string{"#2ca02c"}, []string{"pending (lag)"})
	for i, mk := range marks {
		mm, _ := mk.(map[string]any)
		t, _ := mm["t"].(float64)
		fmt.Fprintf(&s, `<line x1="%.1f" x2="%.1f" y1="%.0f" y2="%.0f" stroke="#aaa" stroke-dasharray="3,3"/><text x="%.1f" y="%.0f" fill="#666" font-size="9">%d</text>`+"\n", x(t), x(t), T, T+2*ph+gap, x(t)+2, T+2*ph+gap+12, i+1)
	}
	y := T + 2*ph + gap + 26
	for i, mk := range marks {
		mm, _ := mk.(map[string]any)
		fmt.Fprintf(&s, `<text x="%.0f" y="%.0f" fill="#666" font-size="9">%d: %v</text>`+"\n", L+float64(i%3)*300, y+float64(i/3)*11, i+1, mm["name"])
	}
	fmt.Fprintf(&s, `<text x="%.0f" y="%.0f" text-anchor="middle">seconds since start (%.0f s)</text>`+"\n", (L+W-R)/2, T+ph+16, tmax)
	s.WriteString("</svg>\n")
	return s.String()
}
