//go:build integration

package eventstore_test

import (
	"context"
	"log/slog"
	"maps"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/tally-dev/tally/event"
	"github.com/tally-dev/tally/event/localstack"
	"github.com/tally-dev/tally/event/schema"
	"github.com/tally-dev/tally/event/testenv"
	"github.com/tally-dev/tally/processor/internal/eventstore"
	"github.com/tally-dev/tally/processor/internal/migrate"
	"github.com/tally-dev/tally/processor/internal/pipeline"
	"github.com/tally-dev/tally/processor/internal/rebuild"
)

// TestClusterQuorumWrites runs the cluster topology's ZooKeeper and two
// ClickHouse replicas of one shard (its own state directory and ports) and
// proves what the processor relies on there: migrate creates every table on
// both servers with a Replicated engine; a write with an insert quorum of 2
// is on both replicas when it returns; with one replica down a write fails
// (transient, so the pipeline retries and never commits its offsets) instead
// of succeeding on one copy; after the replica returns the retried write
// succeeds and counts once; a rebuilt state table is swapped in on both.
func TestClusterQuorumWrites(t *testing.T) {
	s, cfg, addr := startCluster(t, ".stack-test-cluster", "TALLY_TEST_CLUSTER_PORT_BASE", 21000, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	const db = "tally_cluster_it"
	o := schema.Options{Cluster: cfg.ClickHouseCluster}
	store, err := eventstore.Open(eventstore.Options{Addr: []string{addr("clickhouse-1")}, Database: db, User: "default",
		InsertQuorum: 2, InsertQuorumTimeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	replica2 := open(t, addr("clickhouse-2"))

	if shards, err := migrate.Describe(ctx, store.Conn(), o.Cluster); err != nil || len(shards) != 1 || len(shards[0].Replicas) != 2 {
		t.Fatalf("Describe = %v, %v; want 2 replicas of one shard", shards, err)
	}
	if _, err := migrate.Describe(ctx, store.Conn(), "no_such_cluster"); err == nil {
		t.Error("Describe of an unknown cluster: no error")
	}
	for range 2 { // idempotent
		if err := migrate.Apply(ctx, store.Conn(), db, o, slog.New(slog.DiscardHandler)); err != nil {
			t.Fatal(err)
		}
	}
	var replicated uint64
	if err := replica2.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = ? AND engine LIKE 'Replicated%'", db).
		Scan(&replicated); err != nil {
		t.Fatal(err)
	}
	if replicated != 8 {
		t.Fatalf("clickhouse-2 has %d replicated tables of %s, want 8", replicated, db)
	}

	ts := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	first := pipeline.Batch{Winners: []pipeline.Winner{winner(1, event.Amount{Units: 7}, ts)}}
	if err := store.Write(ctx, first); err != nil {
		t.Fatal(err)
	}
	// No wait, no SYNC REPLICA: the quorum means the other replica has it.
	if n := count(t, replica2, "SELECT count() FROM "+db+".events"); n != 1 {
		t.Fatalf("clickhouse-2 has %d events right after a quorum write, want 1", n)
	}

	if err := s.Kill(ctx, "clickhouse-2"); err != nil {
		t.Fatal(err)
	}
	second := pipeline.Batch{Winners: []pipeline.Winner{winner(2, event.Amount{Units: 5}, ts)}}
	err = store.Write(ctx, second)
	if err == nil {
		t.Fatal("a write succeeded with one of two replicas down: it is not on a quorum")
	}
	if store.Permanent(err) {
		t.Fatalf("a quorum failure is classified permanent (it would be dead-lettered, not retried): %v", err)
	}
	t.Logf("write with clickhouse-2 down: %v", err)

	if err := s.Start(ctx, "clickhouse-2"); err != nil {
		t.Fatal(err)
	}
	replica2 = open(t, addr("clickhouse-2"))
	deadline := time.Now().Add(2 * time.Minute)
	for err = store.Write(ctx, second); err != nil; err = store.Write(ctx, second) { // the pipeline's retry
		if time.Now().After(deadline) {
			t.Fatalf("retried write after clickhouse-2 returned: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, c := range []driver.Conn{store.Conn(), replica2} {
		if n := count(t, c, "SELECT count() FROM (SELECT event_id FROM "+db+".events FINAL)"); n != 2 {
			t.Errorf("%d events after the retried write, want 2", n)
		}
	}

	key := pipeline.StateKey{Tenant: "default", Kind: schema.KindRollup, Level: schema.LevelAll, Client: "client_A", Metric: "m",
		Stream: "raw/abc", Part: 3}
	rows := map[pipeline.StateKey]pipeline.StateRow{key: {Key: key, Version: 3, Count: 2, Sum: event.SumOf(event.Amount{Units: 12})}}
	if _, err := rebuild.Apply(ctx, store.Conn(), db, o, rows, store.WriteStateTo); err != nil {
		t.Fatal(err)
	}
	if n := count(t, replica2, "SELECT count() FROM "+db+".state WHERE kind = 1 AND count = 2"); n != 1 {
		t.Errorf("clickhouse-2's state after a rebuild on clickhouse-1: %d rows, want 1", n)
	}
}

// startCluster runs ZooKeeper and the ClickHouse servers of a private
// cluster stack (testenv.PrivateStack: its own directory dir and ports, env
// shaping it further).
func startCluster(t *testing.T, dir, baseVar string, base int, env map[string]string) (*localstack.Stack, localstack.Config, func(string) string) {
	t.Helper()
	shape := map[string]string{"TOPOLOGY": "cluster"}
	maps.Copy(shape, env)
	s := testenv.PrivateStack(t, dir, baseVar, base, shape)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	nodes := []string{"zookeeper"}
	for _, n := range s.Nodes() {
		if n.Kind == localstack.ClickHouse {
			nodes = append(nodes, n.Name)
		}
	}
	for _, n := range nodes {
		if err := s.Start(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	return s, s.Config(), func(name string) string {
		n, err := s.Node(name)
		if err != nil {
			t.Fatal(err)
		}
		return n.Addr()
	}
}

func open(t *testing.T, addr string) driver.Conn {
	t.Helper()
	c, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}, Auth: clickhouse.Auth{Database: "default", Username: "default"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func count(t *testing.T, c driver.Conn, q string) uint64 {
	t.Helper()
	var n uint64
	if err := c.QueryRow(context.Background(), q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}
