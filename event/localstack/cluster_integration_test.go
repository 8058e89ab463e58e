//go:build integration

package localstack_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tally-dev/tally/event/localstack"
	"github.com/tally-dev/tally/event/testenv"
)

// TestClickHouseReplicasOfOneShard starts the cluster topology's ZooKeeper
// and both ClickHouse servers through the package (on their own state
// directory and ports) and proves the configuration the supervisor writes
// makes them two replicas of one shard: ON CLUSTER DDL runs on both, each
// server expands its own {replica} macro, an insert on either replica
// appears on the other, and a repeated identical insert block is dropped
// (block deduplication, which needs ZooKeeper).
func TestClickHouseReplicasOfOneShard(t *testing.T) {
	s := testenv.PrivateStack(t, ".stack-test-cluster", "TALLY_TEST_CLUSTER_PORT_BASE", 21000, map[string]string{"TOPOLOGY": "cluster"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for _, n := range []string{"zookeeper", "clickhouse-1", "clickhouse-2"} {
		if err := s.Start(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	ch1, ch2 := node(t, s, "clickhouse-1"), node(t, s, "clickhouse-2")

	// ON CLUSTER answers one row per server: host, port, status 0 (done).
	for _, ddl := range []string{
		"CREATE DATABASE replcheck ON CLUSTER tally",
		"CREATE TABLE replcheck.r ON CLUSTER tally (id UInt64, v String) " +
			"ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/replcheck/r', '{replica}') ORDER BY id",
	} {
		out := query(ctx, t, ch1, ddl)
		for _, n := range []localstack.Node{ch1, ch2} {
			if !strings.Contains(out, fmt.Sprintf("127.0.0.1\t%d\t0\t", n.Port())) {
				t.Fatalf("%s: no success row for %s in\n%s", ddl, n.Name, out)
			}
		}
	}
	for _, n := range []localstack.Node{ch1, ch2} {
		if got := query(ctx, t, n, "SELECT substitution FROM system.macros WHERE macro = 'replica'"); got != n.Name+"\n" {
			t.Errorf("%s: replica macro %q", n.Name, got)
		}
		if got := query(ctx, t, n, "SELECT is_readonly, total_replicas, zookeeper_path FROM system.replicas WHERE database = 'replcheck'"); got != "0\t2\t/clickhouse/tables/01/replcheck/r\n" {
			t.Errorf("%s: system.replicas %q, want a writable replica of two", n.Name, got)
		}
	}

	// count returns count() and sum(id) on n once n has fetched every part
	// its peer has announced.
	count := func(n localstack.Node) string {
		query(ctx, t, n, "SYSTEM SYNC REPLICA replcheck.r")
		return query(ctx, t, n, "SELECT count(), sum(id) FROM replcheck.r")
	}
	query(ctx, t, ch1, "INSERT INTO replcheck.r VALUES (1, 'a'), (2, 'b'), (3, 'c')")
	if got := count(ch2); got != "3\t6\n" {
		t.Errorf("clickhouse-2 after an insert on clickhouse-1: %q, want 3 rows summing to 6", got)
	}
	query(ctx, t, ch2, "INSERT INTO replcheck.r VALUES (4, 'd')")
	if got := count(ch1); got != "4\t10\n" {
		t.Errorf("clickhouse-1 after an insert on clickhouse-2: %q, want 4 rows summing to 10", got)
	}
	query(ctx, t, ch2, "INSERT INTO replcheck.r VALUES (1, 'a'), (2, 'b'), (3, 'c')")
	if got := count(ch1); got != "4\t10\n" {
		t.Errorf("after re-inserting an identical block: %q, want it deduplicated (4 rows summing to 10)", got)
	}
}

func node(t *testing.T, s *localstack.Stack, name string) localstack.Node {
	t.Helper()
	n, err := s.Node(name)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// query runs sql on n over ClickHouse's HTTP interface and returns the
// TabSeparated answer.
func query(ctx context.Context, t *testing.T, n localstack.Node, sql string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.URL()+"/", strings.NewReader(sql))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %s: %v", n.Name, sql, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s: %s: %s", n.Name, sql, resp.Status, b)
	}
	return string(b)
}
