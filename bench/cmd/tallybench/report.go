package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tally-dev/tally/event/localstack"
)

// loadgenName names this benchmark process in the cost tables.
const loadgenName = "loadgen"

// costTracker keeps, per process name and pid, the first and last CPU
// reading and the peak RSS, so processes restarted mid-run are summed.
type costTracker struct {
	mu    sync.Mutex
	procs map[string]map[int]*pidCost
	dead  map[int]bool
	// extra are processes the benchmark started itself (the ceiling
	// server), by pid.
	extra map[int]string
	// begun is set after the first sample: a process first seen later was
	// started during the run, so all of its CPU counts.
	begun bool
}

type pidCost struct {
	first, last, rss float64
	seen             bool
}

func newCostTracker() *costTracker {
	return &costTracker{procs: map[string]map[int]*pidCost{}, dead: map[int]bool{}, extra: map[int]string{}}
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
			if c.begun {
				p.first = 0
			}
			c.procs[name][pid] = p
		}
		p.last, p.rss, p.seen = cpu, math.Max(p.rss, rss), true
	}
	if st != nil {
		for _, n := range st.Status() {
			if n.Running {
				read(n.Name, n.PID)
			}
		}
	}
	read(loadgenName, os.Getpid())
	for pid, name := range c.extra {
		read(name, pid)
	}
	c.begun = true
}

// watch adds a process the benchmark started to the samples, until forget.
func (c *costTracker) watch(name string, pid int) {
	c.mu.Lock()
	c.extra[pid] = name
	c.mu.Unlock()
}

// cumulative is each process name's CPU seconds so far in the run.
func (c *costTracker) cumulative() map[string]float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]float64{}
	for name, pids := range c.procs {
		for _, p := range pids {
			out[name] += p.last - p.first
		}
	}
	return out
}

func (c *costTracker) forget(name string, pid int) {
	c.mu.Lock()
	c.dead[pid] = true
	delete(c.extra, pid)
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
	out["note"] = "utime+stime from /proc/<pid>/stat over the benchmark run (first to last sample, once a second; processes restarted mid-run are summed); peak RSS = VmHWM. loadgen = this benchmark process (load generator, prefill producer, pollers, the in-process ceiling server); ceiling-server = the ceiling server run as its own process."
	return out
}

func round(v float64, d int) float64 {
	p := math.Pow(10, float64(d))
	return math.Round(v*p) / p
}

// write saves the results as latest.{json,md,svg} under dir and, when
// docsDir is set, as <date>T<time>Z-<profile>.{json,md,svg} under docsDir.
func write(dir, docsDir string, out map[string]any) error {
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	// Re-read through JSON so the table works on plain maps.
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	files := map[string][]byte{".json": append(b, '\n'), ".md": []byte(table(m)), ".svg": []byte(plot(m))}
	save := func(dir, stem string) error {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		for ext, data := range files {
			if err := os.WriteFile(filepath.Join(dir, stem+ext), data, 0o644); err != nil {
				return err
			}
		}
		return nil
	}
	if err := save(dir, "latest"); err != nil {
		return err
	}
	if docsDir == "" {
		return nil
	}
	started, _ := time.Parse(time.RFC3339, fmt.Sprint(m["started"]))
	return save(docsDir, started.UTC().Format("2006-01-02T1504Z")+"-"+fmt.Sprint(m["profile"]))
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
	return fmtNum(get(m, path...))
}

func fmtNum(v any) string {
	switch v := v.(type) {
	case float64:
		switch {
		case v == math.Trunc(v) || math.Abs(v) >= 1000:
			return thousands(v)
		case math.Abs(v) >= 100:
			return fmt.Sprintf("%.0f", v)
		case math.Abs(v) >= 10:
			return fmt.Sprintf("%.1f", v)
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
	failed, _ := m["failed"].([]any)
	status := "complete: every step passed"
	if steps, ok := m["steps"].(string); ok {
		status = "partial: only the steps " + steps + " ran (BENCH_STEPS), and passed"
	}
	if len(failed) > 0 {
		status = fmt.Sprintf("**FAILED** (%d step(s); the command exited non-zero)", len(failed))
	}
	fmt.Fprintf(&s, "# Tally benchmark, %s profile, %s\n\n", num(m, "profile"), num(m, "started"))
	fmt.Fprintf(&s, "Status: %s.\n\n", status)
	for _, f := range failed {
		fmt.Fprintf(&s, "- %v\n", f)
	}
	if len(failed) > 0 {
		s.WriteString("\n")
	}
	fmt.Fprintf(&s, "Reproduce: `%s`", num(m, "command"))
	if c := num(m, "commit"); c != "—" && c != "" {
		fmt.Fprintf(&s, " at commit `%s`", c)
	}
	s.WriteString(" (it starts its own stack: STACK_DIR=.stack-bench, PORT_BASE=16000).\n\n")
	fmt.Fprintf(&s, "Machine: %s × %s, %s GiB, Linux %s, %s, ClickHouse %s, Redis %s; every service, the load generator and the ceilings share these cores.\n",
		num(m, "machine", "cpus"), num(m, "machine", "cpu_model"), num(m, "machine", "memory_gib"), num(m, "machine", "kernel"),
		num(m, "machine", "go"), num(m, "machine", "clickhouse"), num(m, "machine", "redis"))
	fmt.Fprintf(&s, "Load average (1/5/15 min): %s at the start, %s at the end (per step below). Finished %s.\n\n",
		num(m, "loadavg_start"), num(m, "loadavg_end"), num(m, "finished"))

	s.WriteString("## Throughput (median of the runs; ratio = Tally ÷ the ceiling measured in this run)\n\n")
	s.WriteString("| measure | median | runs | p99 ms (median) | ceiling | ratio | target (MISSION.md) |\n|---|---|---|---|---|---|---|\n")
	measures, _ := m["measures"].([]any)
	names := map[string]string{}
	for _, x := range measures {
		mm, _ := x.(map[string]any)
		names[fmt.Sprint(mm["key"])] = fmt.Sprint(mm["name"])
	}
	for _, x := range measures {
		mm, _ := x.(map[string]any)
		var runs []string
		if rs, ok := mm["runs"].([]any); ok {
			for _, r := range rs {
				runs = append(runs, fmtNum(r))
			}
		}
		ratio, ceiling := "", ""
		if r, ok := mm["ratio_to_ceiling"].(float64); ok && r > 0 {
			ratio = fmt.Sprintf("%.2f×", r)
		}
		if c, ok := mm["ceiling"].(string); ok && c != "" {
			ceiling = names[c]
		}
		p99 := ""
		if _, ok := mm["p99_ms_median"]; ok {
			p99 = fmtNum(mm["p99_ms_median"])
		}
		fmt.Fprintf(&s, "| %v | %s %v | %s | %s | %s | %s | %s |\n", mm["name"], fmtNum(mm["median"]), mm["unit"], strings.Join(runs, " / "),
			p99, ceiling, ratio, fmtNum(orEmpty(mm["target"])))
	}
	row := func(name, val string) { fmt.Fprintf(&s, "| %s | %s |\n", name, val) }
	s.WriteString("\n## Correctness and resources\n\n| check | result |\n|---|---|\n")
	row("end to end: count / expected (exact)", num(m, "e2e", "count")+" / "+num(m, "e2e", "expected_count")+" ("+num(m, "e2e", "exact")+")")
	row("freshness at 10k events/s: p50 / p99 ms (target p99 ≤ 1,000)", num(m, "e2e", "freshness_p50_ms")+" / "+num(m, "e2e", "freshness_p99_ms"))
	if runs, ok := get(m, "processor", "runs").([]any); ok && len(runs) > 0 {
		last, _ := runs[len(runs)-1].(map[string]any)
		row("processor drain, last run: count / expected (exact)", num(last, "count")+" / "+num(last, "expected_count")+" ("+num(last, "exact")+")")
		row("processor drain, last run: seconds draining / from restart", num(last, "drain_seconds")+" / "+num(last, "seconds_from_restart"))
		row("processor peak RSS MB, last run (target ≤ 300)", num(last, "peak_rss_mb"))
		if cpu, ok := last["cpu_seconds_per_million_events"].(map[string]any); ok {
			row("CPU seconds per million events, drain (by process)", kv(cpu))
		}
		if ph, ok := last["processor_phases"].(map[string]any); ok {
			for name, v := range ph {
				if p, ok := v.(map[string]any); ok {
					row("time per phase, "+name+" (seconds, since restart)", phaseLine(p))
				}
			}
		}
	}
	if cpu, ok := get(m, "e2e", "cpu_seconds_per_million_events").(map[string]any); ok {
		row("CPU seconds per million events, end to end (by process)", kv(cpu))
	}
	row("Redis bytes per remembered id (target ≤ 64)", num(m, "redis", "bytes_per_id"))
	row("stored events at the query step", num(m, "query", "stored_events"))

	if _, ok := get(m, "auth", "throughput_ratio_median").(float64); ok {
		s.WriteString("\n## Authentication, rate limit and quota (issue #17: ≤ 5% of single-event throughput)\n\n")
		fmt.Fprintf(&s, "%s.\n\n", num(m, "auth", "note"))
		s.WriteString("| measure | median ratio (on ÷ off) | 95% interval |\n|---|---|---|\n")
		fmt.Fprintf(&s, "| ingestor CPU time per request, %s req/s | %s | %s |\n", num(m, "auth", "rate"),
			num(m, "auth", "ingestor_cpu_ratio_median"), interval(get(m, "auth", "ingestor_cpu_ratio_ci95")))
		fmt.Fprintf(&s, "| ingestor + Kafka + Redis CPU time per request, %s req/s | %s | %s |\n", num(m, "auth", "rate"),
			num(m, "auth", "pipeline_cpu_ratio_median"), interval(get(m, "auth", "pipeline_cpu_ratio_ci95")))
		fmt.Fprintf(&s, "| max-rate throughput of the whole machine (req/s; medians off %s, on %s) | %s | %s |\n",
			num(m, "auth", "req_per_second_off_median"), num(m, "auth", "req_per_second_on_median"),
			num(m, "auth", "throughput_ratio_median"), interval(get(m, "auth", "throughput_ratio_ci95")))
		if runs, ok := get(m, "auth", "runs").([]any); ok {
			s.WriteString("\n| round | CPU µs/req off: ingestor, Kafka, Redis | on: ingestor, Kafka, Redis | max req/s off | on |\n|---|---|---|---|---|\n")
			for i, x := range runs {
				pair, _ := x.([]any)
				if len(pair) != 2 {
					continue
				}
				off, _ := pair[0].(map[string]any)
				on, _ := pair[1].(map[string]any)
				us := func(r map[string]any) string {
					return num(r, "ingestor_cpu_us_per_request") + ", " + num(r, "kafka_cpu_us_per_request") + ", " + num(r, "redis_cpu_us_per_request")
				}
				fmt.Fprintf(&s, "| %d | %s | %s | %s | %s |\n", i+1, us(off), us(on), num(off, "max_requests_per_second"), num(on, "max_requests_per_second"))
			}
		}
	}

	s.WriteString("\n## Queries (sequential, while background events stream in)\n\n")
	fmt.Fprintf(&s, "Background load: %s events/s acknowledged (live timestamps), p99 %s ms. Target: p95 ≤ 50 ms at 10M events. "+
		"Exact: before the timing, with nothing streaming in, each aggregation compared with count, sum, min and max per group "+
		"computed from the stored events (one row per event id, plain SQL, no rollups).\n\n",
		num(m, "query", "background_acked_events_per_second"), num(m, "query", "background_p99_ms"))
	s.WriteString("| query | samples | p50 ms | p95 ms | p99 ms | errors | exact |\n|---|---|---|---|---|---|---|\n")
	if cases, ok := get(m, "query", "cases").([]any); ok {
		for _, x := range cases {
			c, _ := x.(map[string]any)
			exact := "—"
			if v, ok := c["exact"].(string); ok && v != "" {
				exact = v
			}
			fmt.Fprintf(&s, "| %v | %s | %s | %s | %s | %s | %s |\n", c["case"], num(c, "samples"), num(c, "p50_ms"), num(c, "p95_ms"), num(c, "p99_ms"), num(c, "errors"), exact)
		}
	}

	s.WriteString("\n## Cost (whole run)\n\n| process | CPU seconds | peak RSS MB |\n|---|---|---|\n")
	cost, _ := m["cost"].(map[string]any)
	var procs []string
	for k := range cost {
		if _, ok := cost[k].(map[string]any); ok {
			procs = append(procs, k)
		}
	}
	sort.Strings(procs)
	for _, n := range procs {
		fmt.Fprintf(&s, "| %s | %s | %s |\n", n, num(cost, n, "cpu_seconds"), num(cost, n, "peak_rss_mb"))
	}
	fmt.Fprintf(&s, "| total | %s | |\n", num(cost, "total_cpu_seconds"))
	s.WriteString("\n`loadgen` is the benchmark process: the load generator, the in-process ceiling server, the prefill producer and the pollers. `ceiling-server` is the same ceiling server run as its own process (`tallybench ceiling-server`), the one the ingest ratios use.\n")

	if loads, ok := m["load_cpu"].([]any); ok && len(loads) > 0 {
		s.WriteString(loadCPUTable(loads))
	}

	s.WriteString("\n## Steps and load average\n\n| s | step | load 1/5/15 |\n|---|---|---|\n")
	if marks, ok := m["marks"].([]any); ok {
		for _, x := range marks {
			mk, _ := x.(map[string]any)
			fmt.Fprintf(&s, "| %s | %v | %v |\n", num(mk, "t"), mk["name"], mk["loadavg"])
		}
	}
	return s.String()
}

// interval formats a [lo, hi] pair.
func interval(v any) string {
	p, ok := v.([]any)
	if !ok || len(p) != 2 {
		return "—"
	}
	return fmtNum(p[0]) + " – " + fmtNum(p[1])
}

func orEmpty(v any) any {
	if v == nil {
		return ""
	}
	return v
}

// kv formats a map of numbers as "a 1.2, b 3.4" in key order.
func kv(m map[string]any) string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+" "+fmtNum(m[k]))
	}
	return strings.Join(parts, ", ")
}

// phaseLine lists the processor's phases by time spent, largest first.
func phaseLine(p map[string]any) string {
	type ph struct {
		name string
		secs float64
	}
	var phases []ph
	for k, v := range p {
		if name, ok := strings.CutSuffix(k, "_seconds"); ok && !strings.Contains(name, "batch") && !strings.Contains(name, "insert_") {
			f, _ := v.(float64)
			phases = append(phases, ph{name, f})
		}
	}
	sort.Slice(phases, func(i, j int) bool { return phases[i].secs > phases[j].secs })
	var parts []string
	for _, x := range phases {
		parts = append(parts, fmt.Sprintf("%s %.2f", x.name, x.secs))
	}
	return fmt.Sprintf("%s; batches %s (%s s), records/batch %s", strings.Join(parts, ", "), fmtNum(p["batch_seconds_count"]),
		fmtNum(p["batch_seconds_sum"]), fmtRatio(p["batch_records_sum"], p["batch_records_count"]))
}

func fmtRatio(a, b any) string {
	x, _ := a.(float64)
	y, _ := b.(float64)
	if y == 0 {
		return "—"
	}
	return fmtNum(x / y)
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

// loadCPUTable is the CPU each process spent per event during each load:
// where a throughput figure's CPU went, beside the ceiling's.
func loadCPUTable(loads []any) string {
	var s strings.Builder
	procSet := map[string]bool{}
	for _, x := range loads {
		l, _ := x.(map[string]any)
		if cpu, ok := l["cpu_seconds_per_million_events"].(map[string]any); ok {
			for p := range cpu {
				procSet[p] = true
			}
		}
	}
	var procs []string
	for p := range procSet {
		procs = append(procs, p)
	}
	sort.Strings(procs)
	s.WriteString("\n## CPU per event during each load\n\nCPU seconds per million events (µs per event; per request for single events), median of the runs, from /proc/<pid>/stat: for a ceiling, over the load alone (nothing consumes its scratch topic); for Tally's ingest loads, from the load's start, with the books balanced, until they balance again, so the processor's, ClickHouse's and Redis's work on the load's events is counted. Every process shares the same two cores: what runs downstream of the ingestor during a load takes CPU the ingestor could have used.\n\n| load | runs |")
	for _, p := range procs {
		s.WriteString(" " + p + " |")
	}
	s.WriteString(" total |\n|---|---|")
	for range procs {
		s.WriteString("---|")
	}
	s.WriteString("---|\n")
	for _, x := range loads {
		l, _ := x.(map[string]any)
		cpu, _ := l["cpu_seconds_per_million_events"].(map[string]any)
		fmt.Fprintf(&s, "| %v | %s |", l["load"], fmtNum(l["runs"]))
		var total float64
		for _, p := range procs {
			v, ok := cpu[p].(float64)
			if !ok {
				s.WriteString(" — |")
				continue
			}
			total += v
			s.WriteString(" " + fmtNum(v) + " |")
		}
		s.WriteString(" " + fmtNum(total) + " |\n")
	}
	return s.String()
}
