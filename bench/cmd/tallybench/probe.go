package main

// Readings of the machine and of the stack's processes that the report
// shows beside the figures: machine facts and load average, the processor's
// time per phase, Redis memory per remembered id.

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// loadavg is the 1, 5 and 15 minute load averages ("" if unreadable).
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// machine is what the report says about where it ran.
func (b *bench) machine(ctx context.Context) map[string]any {
	m := map[string]any{"cpus": runtime.NumCPU(), "go": runtime.Version()}
	if h, err := os.Hostname(); err == nil {
		m["host"] = h
	}
	if f, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(f), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				m["cpu_model"] = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if f, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.SplitSeq(string(f), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
				m["memory_gib"] = round(kb/1024/1024, 1)
			}
		}
	}
	if f, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m["kernel"] = strings.TrimSpace(string(f))
	}
	if conn, err := b.openClickHouse(); err == nil {
		var v string
		if err := conn.QueryRow(ctx, "SELECT version()").Scan(&v); err == nil {
			m["clickhouse"] = v
		}
		conn.Close()
	}
	if v, err := redisInfo(b.redisAddr, "server", "redis_version"); err == nil {
		m["redis"] = v
	}
	return m
}

// processorPhases reads a processor's admin /metrics: seconds and count per
// phase of tally_processor_phase_seconds, and the batch histograms' sums.
func (b *bench) processorPhases(ctx context.Context, base string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/metrics: status %d", base, resp.StatusCode)
	}
	return parsePhases(resp.Body)
}

// phases reads every processor's phase counters (nil for one that does not
// answer).
func (b *bench) phases(ctx context.Context) map[string]map[string]float64 {
	out := map[string]map[string]float64{}
	for _, nm := range b.processorNames() {
		if node, err := b.stack.Node(nm); err == nil {
			if ph, err := b.processorPhases(ctx, node.URL()); err == nil {
				out[nm] = ph
			}
		}
	}
	return out
}

// phaseDelta is what each processor did between two phases readings, as
// means: milliseconds per call of each phase ("<phase>_ms"), records per
// batch, milliseconds per batch and per insert, and the mean record delay
// (Kafka timestamp to read-model write).
func phaseDelta(before, after map[string]map[string]float64) map[string]any {
	out := map[string]any{}
	for nm, a := range after {
		b := before[nm]
		d := func(k string) float64 { return a[k] - b[k] }
		mean := func(sum, count string, scale float64) float64 {
			if n := d(count); n > 0 {
				return d(sum) / n * scale
			}
			return 0
		}
		m := map[string]float64{
			"batches":           d("batch_records_count"),
			"records_per_batch": mean("batch_records_sum", "batch_records_count", 1),
			"batch_ms":          mean("batch_seconds_sum", "batch_seconds_count", 1000),
			"insert_ms":         mean("insert_seconds_sum", "insert_seconds_count", 1000),
			"record_delay_ms":   mean("record_delay_seconds_sum", "record_delay_seconds_count", 1000),
		}
		for _, h := range []string{"record_delay", "batch", "insert"} {
			m[h+"_p99_ms"] = max(-1, quantile(a, b, h, 0.99)*1000)
			m[h+"_max_ms"] = max(-1, quantile(a, b, h, 1)*1000)
		}
		for k := range a {
			if ph, ok := strings.CutSuffix(k, "_seconds"); ok && a[ph+"_count"] > 0 {
				m[ph+"_ms"] = mean(k, ph+"_count", 1000)
			}
		}
		out[nm] = m
	}
	return out
}

// timings are the processor's latency histograms the benchmark reads: sums
// and counts (means), and buckets (quantiles over a run).
var timings = []string{"batch_seconds", "insert_seconds", "record_delay_seconds"}

// histogramBucket splits tally_processor_<h>_bucket{le="x"} of the timings.
func histogramBucket(name string) (h, le string, ok bool) {
	for _, h := range timings {
		if le, ok := strings.CutPrefix(name, "tally_processor_"+h+`_bucket{le="`); ok {
			return strings.TrimSuffix(h, "_seconds"), strings.TrimSuffix(le, `"}`), true
		}
	}
	return "", "", false
}

// quantile is the upper bound of the bucket of histogram h holding quantile
// q of the observations between two readings (-1: past the last finite
// bound; 0: none).
func quantile(after, before map[string]float64, h string, q float64) float64 {
	type bucket struct{ le, n float64 }
	var bs []bucket
	for k, v := range after {
		if le, ok := strings.CutPrefix(k, h+"_le:"); ok {
			bound, err := strconv.ParseFloat(le, 64) // "+Inf" parses
			if err != nil {
				continue
			}
			bs = append(bs, bucket{bound, v - before[k]})
		}
	}
	slices.SortFunc(bs, func(x, y bucket) int { return cmp.Compare(x.le, y.le) })
	if len(bs) == 0 || bs[len(bs)-1].n == 0 {
		return 0
	}
	for _, b := range bs {
		if b.n >= q*bs[len(bs)-1].n {
			if math.IsInf(b.le, 1) {
				return -1
			}
			return b.le
		}
	}
	return -1
}

// parsePhases picks tally_processor_phase_seconds_{sum,count}{phase="p"}
// (as "p_seconds", "p_count") and the sums and counts of the processor's
// batch, insert, record-delay and records histograms, and the timings' buckets
// (as "<h>_le:<bound>"), out of Prometheus text.
func parsePhases(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	summed := append(slices.Clip(timings), "batch_records")
	for sc.Scan() {
		line := sc.Text()
		name, value, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			continue
		}
		if rest, ok := strings.CutPrefix(name, `tally_processor_phase_seconds_sum{phase="`); ok {
			out[strings.TrimSuffix(rest, `"}`)+"_seconds"] = v
			continue
		}
		if h, le, ok := histogramBucket(name); ok {
			out[h+"_le:"+le] = v
			continue
		}
		if rest, ok := strings.CutPrefix(name, `tally_processor_phase_seconds_count{phase="`); ok {
			out[strings.TrimSuffix(rest, `"}`)+"_count"] = v
			continue
		}
		for _, h := range summed {
			for _, suf := range []string{"_sum", "_count"} {
				if name == "tally_processor_"+h+suf {
					out[h+suf] = v
				}
			}
		}
	}
	return out, sc.Err()
}

// redisInfo reads one field of Redis INFO section.
func redisInfo(addr, section, field string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(conn, "INFO %s\r\n", section); err != nil {
		return "", err
	}
	rd := bufio.NewReader(conn)
	head, err := rd.ReadString('\n')
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(head, "$") {
		return "", fmt.Errorf("redis INFO: %q", strings.TrimSpace(head))
	}
	n, err := strconv.Atoi(strings.TrimSpace(head[1:]))
	if err != nil {
		return "", err
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(rd, body); err != nil {
		return "", err
	}
	for line := range strings.SplitSeq(string(body), "\r\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("redis INFO %s has no %s", section, field)
}

func redisUsedMemory(addr string) (int64, error) {
	v, err := redisInfo(addr, "memory", "used_memory")
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(v, 10, 64)
}

// redisMemory reports Redis memory per event stored by this run (each
// stored event is one remembered id).
func (b *bench) redisMemory(ctx context.Context, before int64) (map[string]any, error) {
	after, err := redisUsedMemory(b.redisAddr)
	if err != nil {
		return nil, err
	}
	n, _, err := b.api.total(ctx, nil)
	if err != nil {
		return nil, err
	}
	ids := n - b.baseN
	res := map[string]any{"used_memory_bytes_before": before, "used_memory_bytes": after, "ids_added": ids}
	if ids > 0 {
		per := float64(after-before) / float64(ids)
		res["bytes_per_id"] = per
		res["mb_per_million_ids"] = per
		b.measure("redis.bytes_per_id", "Redis memory per remembered id", "bytes", []float64{per}, nil, "", "≤ 64 bytes")
	}
	res["note"] = "(used_memory after - before) / events stored by this run"
	return res, nil
}
