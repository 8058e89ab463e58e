package main

// Readings of the machine and of the stack's processes that the report
// shows beside the figures: machine facts and load average, the processor's
// time per phase, Redis memory per remembered id.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
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

// parsePhases picks tally_processor_phase_seconds_{sum,count}{phase="p"}
// (as "p_seconds", "p_count") and the sums and counts of the processor's
// batch, insert and records histograms out of Prometheus text.
func parsePhases(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
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
		if rest, ok := strings.CutPrefix(name, `tally_processor_phase_seconds_count{phase="`); ok {
			out[strings.TrimSuffix(rest, `"}`)+"_count"] = v
			continue
		}
		for _, h := range []string{"batch_seconds", "insert_seconds", "batch_records"} {
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
