package localstack

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func testConfig(t *testing.T, topology Topology) Config {
	t.Helper()
	c, err := FromEnv("/repo", env(map[string]string{"TOPOLOGY": string(topology), "STACK_DIR": "/stack", "PORT_BASE": "30000"}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func layout(c Config) string {
	var b strings.Builder
	for _, n := range c.Nodes() {
		var ports []string
		for _, r := range n.Roles() {
			ports = append(ports, fmt.Sprintf("%s=%d", r, n.Ports[r]))
		}
		fmt.Fprintf(&b, "%-13s %-11s %-24s %-23s %s\n", n.Name, n.Kind, n.Addr(), n.URL(), strings.Join(ports, " "))
	}
	return b.String()
}

// The whole port layout of both topologies, on PORT_BASE 30000.
func TestLayout(t *testing.T) {
	for _, top := range []Topology{Single, Cluster} {
		t.Run(string(top), func(t *testing.T) {
			golden(t, "layout-"+string(top)+".txt", layout(testConfig(t, top)))
		})
	}
}

func TestNodeNames(t *testing.T) {
	var single, cluster []string
	for _, n := range testConfig(t, Single).Nodes() {
		single = append(single, n.Name)
	}
	for _, n := range testConfig(t, Cluster).Nodes() {
		cluster = append(cluster, n.Name)
	}
	if want := []string{"redis", "clickhouse-1", "kafka-1", "ingestor", "processor-1", "queryapi", "dashboard"}; !slices.Equal(single, want) {
		t.Errorf("single: %v, want %v", single, want)
	}
	if want := []string{"redis", "zookeeper", "clickhouse-1", "clickhouse-2", "kafka-1", "kafka-2", "kafka-3",
		"ingestor", "processor-1", "processor-2", "processor-3", "queryapi", "dashboard"}; !slices.Equal(cluster, want) {
		t.Errorf("cluster: %v, want %v", cluster, want)
	}
}

func TestNodeLookup(t *testing.T) {
	single, cluster := testConfig(t, Single), testConfig(t, Cluster)
	for _, tc := range []struct {
		c    Config
		name string
		port int // 0: must fail
	}{
		{single, "kafka-1", 39092},
		{single, "processor-4", 38382}, // beyond PROCESSORS: a test may grow the group
		{cluster, "kafka-3", 39292},
		{cluster, "clickhouse-2", 39100},
		{cluster, "zookeeper", 32181},
		{single, "kafka-2", 0},
		{single, "zookeeper", 0},
		{cluster, "kafka", 0},
		{cluster, "redis-1", 0},
		{cluster, "processor-0", 0},
		{cluster, "processor-01", 0},
		{cluster, "processor-x", 0},
		{cluster, "postgres", 0},
	} {
		n, err := tc.c.Node(tc.name)
		switch {
		case tc.port == 0 && err == nil:
			t.Errorf("%s stack: node %q found, want an error", tc.c.Topology, tc.name)
		case tc.port != 0 && err != nil:
			t.Errorf("%s stack: node %q: %v", tc.c.Topology, tc.name, err)
		case tc.port != 0 && (n.Port() != tc.port || n.Name != tc.name):
			t.Errorf("%s stack: node %q is %s on %d, want port %d", tc.c.Topology, tc.name, n.Name, n.Port(), tc.port)
		}
	}
}

func TestStopRankPutsServicesFirst(t *testing.T) {
	names := []string{"redis", "kafka-2", "zookeeper", "processor-3", "clickhouse-1", "dashboard", "ingestor", "queryapi",
		"kafka", "processor"} // the last two: names an older stack script wrote
	slices.SortStableFunc(names, func(a, b string) int { return stopRank(a) - stopRank(b) })
	want := []string{"dashboard", "queryapi", "processor-3", "processor", "ingestor", "kafka-2", "kafka", "clickhouse-1", "zookeeper", "redis"}
	if !slices.Equal(names, want) {
		t.Errorf("stop order %v, want %v", names, want)
	}
}
