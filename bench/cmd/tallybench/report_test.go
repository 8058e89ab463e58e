package main

import (
	"encoding/json"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tally-dev/tally/event/schema"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0}, {[]float64{5}, 5}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5},
	} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	in := []float64{3, 1, 2}
	median(in)
	if in[0] != 3 {
		t.Error("median sorted its argument in place")
	}
}

func TestThousands(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 1234567.4: "1,234,567", -20000: "-20,000"} {
		if got := thousands(v); got != want {
			t.Errorf("thousands(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestRatiosToCeiling(t *testing.T) {
	b := &bench{}
	b.measure("ceiling.x", "ceiling", "req/s", []float64{100, 300, 200}, nil, "", "")
	b.measure("tally.x", "tally", "req/s", []float64{50, 40, 60}, []float64{9, 7, 8}, "ceiling.x", "")
	b.measure("tally.y", "no ceiling", "req/s", []float64{1}, nil, "ceiling.missing", "")
	b.ratios()
	if r := b.measures[1].Ratio; math.Abs(r-0.25) > 1e-9 {
		t.Fatalf("ratio %v, want 50/200", r)
	}
	if b.measures[1].P99Med != 8 || b.measures[2].Ratio != 0 {
		t.Fatalf("p99 median %v, ratio without ceiling %v", b.measures[1].P99Med, b.measures[2].Ratio)
	}
}

func TestParsePhases(t *testing.T) {
	text := `# HELP tally_processor_phase_seconds Time per step of a batch attempt, by phase.
# TYPE tally_processor_phase_seconds histogram
tally_processor_phase_seconds_bucket{phase="insert",le="0.001"} 0
tally_processor_phase_seconds_sum{phase="insert"} 12.5
tally_processor_phase_seconds_count{phase="insert"} 40
tally_processor_phase_seconds_sum{phase="normalize"} 3.25
tally_processor_phase_seconds_count{phase="normalize"} 40
tally_processor_batch_seconds_sum 20
tally_processor_batch_seconds_count 40
tally_processor_batch_records_sum 200000
tally_processor_batch_records_count 40
tally_processor_events_processed_total 180000
`
	got, err := parsePhases(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"insert_seconds": 12.5, "insert_count": 40, "normalize_seconds": 3.25, "normalize_count": 40,
		"batch_seconds_sum": 20, "batch_seconds_count": 40, "batch_records_sum": 200000, "batch_records_count": 40}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	line := phaseLine(map[string]any{"insert_seconds": 12.5, "normalize_seconds": 3.25, "batch_seconds_sum": 20.0,
		"batch_seconds_count": 40.0, "batch_records_sum": 200000.0, "batch_records_count": 40.0})
	if !strings.HasPrefix(line, "insert 12.50, normalize 3.25; batches 40 (20 s), records/batch 5,000") {
		t.Fatalf("phase line %q", line)
	}
}

// The delay quantile is read from the buckets' growth between two readings,
// not from their totals.
func TestPhaseDeltaDelayQuantile(t *testing.T) {
	read := func(text string) map[string]float64 {
		m, err := parsePhases(strings.NewReader(text))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	before := read(`tally_processor_record_delay_seconds_bucket{le="0.1"} 0
tally_processor_record_delay_seconds_bucket{le="1"} 0
tally_processor_record_delay_seconds_bucket{le="+Inf"} 1000
tally_processor_batch_records_sum 1000
tally_processor_batch_records_count 1
tally_processor_phase_seconds_sum{phase="lookup"} 5
tally_processor_phase_seconds_count{phase="lookup"} 1
`)
	after := read(`tally_processor_record_delay_seconds_bucket{le="0.1"} 980
tally_processor_record_delay_seconds_bucket{le="1"} 1000
tally_processor_record_delay_seconds_bucket{le="+Inf"} 2000
tally_processor_batch_records_sum 2000
tally_processor_batch_records_count 3
tally_processor_phase_seconds_sum{phase="lookup"} 5.5
tally_processor_phase_seconds_count{phase="lookup"} 3
`)
	delta := func() map[string]float64 {
		return phaseDelta(map[string]map[string]float64{"p": before}, map[string]map[string]float64{"p": after})["p"].(map[string]float64)
	}
	d := delta()
	if d["record_delay_p99_ms"] != 1000 || d["records_per_batch"] != 500 || d["batches"] != 2 || d["lookup_ms"] != 250 {
		t.Fatalf("delta %v", d)
	}
	after["record_delay_le:+Inf"] = 3000 // 1,000 more past the last bound
	if d = delta(); d["record_delay_p99_ms"] != -1 {
		t.Fatalf("p99 past the last bound: %v", d["record_delay_p99_ms"])
	}
}

// A failed run says so at the top of its report, with each reason, and the
// dated copy lands beside latest.
func TestWriteReport(t *testing.T) {
	dir, docs := t.TempDir(), t.TempDir()
	out := map[string]any{
		"profile": "quick", "started": "2026-12-01T10:30:00Z", "command": "BENCH_PROFILE=quick make bench", "commit": "abc123",
		"failed": []string{"processor: books did not balance within 3m0s"},
		"measures": []*measure{
			{Key: "ceiling.http_single", Name: "ceiling: HTTP", Unit: "req/s", Runs: []float64{20000}, Median: 20000},
			{Key: "ingest.single", Name: "ingest: single", Unit: "req/s", Runs: []float64{5000, 6000, 7000}, Median: 6000,
				Ceiling: "ceiling.http_single", Ratio: 0.3, Target: "≥ 0.9× ceiling"},
		},
		"query": map[string]any{"cases": []map[string]any{{"case": "groupBy=both all_time", "samples": 3, "p50_ms": 120.0, "p95_ms": 150.0, "p99_ms": 150.0, "errors": 0}}},
	}
	if err := write(dir, docs, out); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(docs, "2026-12-01T1030Z-quick.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"**FAILED**", "- processor: books did not balance", "`BENCH_PROFILE=quick make bench` at commit `abc123`",
		"| ingest: single | 6,000 req/s | 5,000 / 6,000 / 7,000 |  | ceiling: HTTP | 0.30× | ≥ 0.9× ceiling |", "| groupBy=both all_time | 3 | 120 | 150 | 150 | 0 |"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	var back map[string]any
	b, err := os.ReadFile(filepath.Join(dir, "latest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &back); err != nil || back["profile"] != "quick" {
		t.Fatalf("latest.json: %v, %v", err, back["profile"])
	}
	if _, err := os.Stat(filepath.Join(docs, "2026-12-01T1030Z-quick.svg")); err != nil {
		t.Fatal(err)
	}
}

// The bare sink writes the events table's columns in schema order; a new
// column in the schema must show up here, not as a failed insert mid-run.
func TestSinkColumnsMatchSchema(t *testing.T) {
	if got, want := len((&sinkColumns{}).all()), len(schema.EventsColumns); got != want {
		t.Fatalf("sinkColumns has %d columns, the events table %d (%v)", got, want, schema.EventsColumns)
	}
}

func TestBootstrapMedian(t *testing.T) {
	if lo, hi := bootstrapMedian(nil, 100); lo != 0 || hi != 0 {
		t.Fatalf("empty: %v %v", lo, hi)
	}
	if lo, hi := bootstrapMedian([]float64{7, 7, 7}, 100); lo != 7 || hi != 7 {
		t.Fatalf("constant: %v %v", lo, hi)
	}
	v := []float64{0.90, 0.95, 0.97, 0.99, 1.00, 1.01, 1.02, 1.04, 1.10, 1.30}
	lo, hi := bootstrapMedian(v, 2000)
	if m := median(v); !(lo <= m && m <= hi) || lo < 0.90 || hi > 1.30 || lo == hi {
		t.Fatalf("interval [%v, %v] for median %v", lo, hi, m)
	}
	if lo2, hi2 := bootstrapMedian(v, 2000); lo2 != lo || hi2 != hi {
		t.Fatal("not reproducible: the seed is fixed")
	}
}

func TestStatsDiff(t *testing.T) {
	truth := groupStats{count: 2, sum: big.NewRat(3, 2), min: big.NewRat(1, 2), max: big.NewRat(1, 1)}
	if d := statsDiff("g", 2, "1.5", "0.5", "1", truth); d != "" {
		t.Fatalf("equal figures: %q", d)
	}
	for _, tc := range []struct {
		count         int64
		sum, min, max string
		want          string
	}{
		{3, "1.5", "0.5", "1", "g: count 3, truth 2"},
		{2, "1.50000001", "0.5", "1", "g: sum 1.50000001, truth 1.500000000"},
		{2, "1.5", "0.4", "1", "g: min 0.4, truth 0.500000000"},
		{2, "1.5", "0.5", "x", "g: max x, truth 1.000000000"},
	} {
		if d := statsDiff("g", tc.count, tc.sum, tc.min, tc.max, truth); d != tc.want {
			t.Errorf("got %q, want %q", d, tc.want)
		}
	}
}

// Each load's CPU per event is kept per run under the load's label (its
// name without ", run i/n") and reported as the median per process, in
// the order the loads ran, as a table with a total per load.
func TestLoadCPU(t *testing.T) {
	b := &bench{}
	b.recordLoadCPU("ingest: single events, max rate, run 1/3", map[string]float64{"ingestor": 100, loadgenName: 90})
	b.recordLoadCPU("ceiling: single, run 1/2", map[string]float64{"ceiling-server": 70, loadgenName: 80})
	b.recordLoadCPU("ingest: single events, max rate, run 2/3", map[string]float64{"ingestor": 120, loadgenName: 95})
	b.recordLoadCPU("ingest: single events, max rate, run 3/3", map[string]float64{"ingestor": 110, loadgenName: 85})
	rep := b.loadCPUReport()
	if len(rep) != 2 || rep[0]["load"] != "ingest: single events, max rate" || rep[0]["runs"] != 3 || rep[1]["load"] != "ceiling: single" {
		t.Fatalf("report = %v", rep)
	}
	if cpu := rep[0]["cpu_seconds_per_million_events"].(map[string]any); cpu["ingestor"] != 110.0 || cpu[loadgenName] != 90.0 {
		t.Fatalf("medians = %v, want ingestor 110, loadgen 90", cpu)
	}
	dir := t.TempDir()
	out := map[string]any{"profile": "quick", "started": "2026-12-01T10:30:00Z", "load_cpu": rep}
	if err := write(dir, "", out); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "latest.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| load | runs | ceiling-server | ingestor | loadgen | total |",
		"| ingest: single events, max rate | 3 | — | 110 | 90 | 200 |", "| ceiling: single | 1 | 70 | — | 80 | 150 |"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}
