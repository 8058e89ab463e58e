//go:build integration

package eventstore_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tally-dev/tally/event"
	"github.com/tally-dev/tally/event/schema"
	"github.com/tally-dev/tally/processor/internal/eventstore"
	"github.com/tally-dev/tally/processor/internal/migrate"
	"github.com/tally-dev/tally/processor/internal/pipeline"
	"github.com/tally-dev/tally/processor/internal/rebuild"
)

// TestShardedWrites runs ZooKeeper and two ClickHouse servers as two shards
// of one replica each (docs/scaling.md, "More than one shard") and proves
// the placement by partition: migrate creates the shards' tables and the
// Distributed tables over them; every row lands on its partition's shard
// only; the Distributed tables answer the query API's kinds of reads (sums
// of the latest state rows, FINAL counts of winners, PREWHERE listings,
// lookups by id) exactly; inserts through them are refused; a write with
// one shard down fails (transient) and, retried once it returns, counts
// once; rebuild recomputes each shard's model and swaps it in under the
// Distributed state table; a database placed for two shards is refused to
// a cluster of another count.
func TestShardedWrites(t *testing.T) {
	s, cfg, addr := startCluster(t, ".stack-test-shards", "TALLY_TEST_SHARDS_PORT_BASE", 21500,
		map[string]string{"CLICKHOUSE_SHARDS": "2", "CLICKHOUSE_REPLICAS": "1"})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	const db = "tally_shards_it"
	wdb := schema.ShardDatabase(db)
	server := []string{addr("clickhouse-1"), addr("clickhouse-2")}
	c1, c2 := open(t, server[0]), open(t, server[1])

	shards, err := migrate.Describe(ctx, c1, cfg.ClickHouseCluster)
	if err != nil || len(shards) != 2 || len(shards[0].Replicas) != 1 || shards[0].Replicas[0] != server[0] ||
		shards[1].Replicas[0] != server[1] {
		t.Fatalf("Describe = %+v, %v; want two shards of one replica, in node order", shards, err)
	}
	o := schema.Options{Cluster: cfg.ClickHouseCluster, Shards: 2}
	for range 2 { // idempotent
		if err := migrate.Apply(ctx, c1, db, o, slog.New(slog.DiscardHandler)); err != nil {
			t.Fatal(err)
		}
	}
	for _, bad := range []schema.Options{{Cluster: o.Cluster, Shards: 3}, {Cluster: o.Cluster, Shards: 1}, {}} {
		if err := migrate.Apply(ctx, c2, db, bad, slog.New(slog.DiscardHandler)); err == nil ||
			!strings.Contains(err.Error(), "placed for 2 ClickHouse shard(s)") {
			t.Errorf("migrate with %d shards over a database placed for 2: %v", bad.Shards, err)
		}
	}
	// And the reverse: a database made for one shard is not sharded over it.
	one := schema.Options{Cluster: o.Cluster, Shards: 1}
	if err := migrate.Apply(ctx, c1, "tally_shards_it_one", one, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if err := migrate.Apply(ctx, c1, "tally_shards_it_one", o, slog.New(slog.DiscardHandler)); err == nil ||
		!strings.Contains(err.Error(), "placed for 1 ClickHouse shard(s)") {
		t.Errorf("sharding a database made for one shard: %v", err)
	}
	if v, err := migrate.Version(ctx, c2, db); err != nil || v != schema.Version {
		t.Errorf("schema version seen from shard 2 = %d, %v", v, err)
	}

	var stores []*eventstore.Store
	var each []eventstore.ShardStore
	for _, sh := range shards {
		st, err := eventstore.Open(eventstore.Options{Addr: sh.Replicas, Database: wdb, User: "default"})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		stores, each = append(stores, st), append(each, st)
	}
	store := eventstore.NewSharded(each...)

	// Eight partitions, two events each (slot = partition, as for 8
	// partitions of 40320 slots), a duplicate of partition 5's first, state
	// rows per partition, and a rejection in partition 6.
	ts := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	var b pipeline.Batch
	var state []pipeline.StateRow
	for p := range int32(8) {
		client := fmt.Sprintf("client_%d", p)
		for j := range 2 {
			i := int(p)*2 + j
			b.Winners = append(b.Winners, pipeline.Winner{Tenant: "default", Slot: p, Raw: []byte(`{}`),
				Event:  event.Canonical{EventID: fmt.Sprintf("%064x", i), ClientID: client, Metric: "m", Amount: event.Amount{Units: int64(i)}, Timestamp: ts},
				Source: pipeline.Source{Stream: "raw/abc", Topic: "raw", Partition: p, Offset: int64(j), Received: ts}})
		}
		state = append(state, pipeline.StateRow{Key: pipeline.StateKey{Tenant: "default", Kind: schema.KindRollup, Level: schema.LevelAll,
			Client: client, Metric: "m", Stream: "raw/abc", Part: p}, Version: 2, Count: 2,
			Sum: event.SumOf(event.Amount{Units: int64(4*p + 1)})},
			pipeline.StateRow{Key: pipeline.StateKey{Tenant: "default", Kind: schema.KindPosition, Stream: "raw/abc", Part: p},
				Version: 2, Count: 2})
	}
	b.Duplicates = []pipeline.Duplicate{{Tenant: "default", Event: b.Winners[10].Event, Raw: []byte(`{}`),
		Source:   pipeline.Source{Stream: "raw/abc", Topic: "raw", Partition: 5, Offset: 2, Received: ts},
		Original: pipeline.Origin{Partition: 5, Offset: 0}}}
	b.Rejected = []pipeline.Rejected{{Tenant: "default", Code: "amount_invalid", Raw: []byte(`{}`),
		Source: pipeline.Source{Stream: "raw/abc", Topic: "raw", Partition: 6, Offset: 3, Received: ts}}}
	if err := store.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := store.WriteState(ctx, state); err != nil {
		t.Fatal(err)
	}

	// Placement: each server holds its own partitions' rows, nothing else.
	for i, c := range []struct {
		conn  string
		parts string
	}{{server[0], "[0,2,4,6]"}, {server[1], "[1,3,5,7]"}} {
		conn := open(t, c.conn)
		for _, q := range []string{
			"SELECT toString(arraySort(groupUniqArray(partition))) FROM " + wdb + ".events",
			"SELECT toString(arraySort(groupUniqArray(part))) FROM " + wdb + ".state",
		} {
			var got string
			if err := conn.QueryRow(ctx, q).Scan(&got); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			if norm(got) != c.parts {
				t.Errorf("shard %d holds partitions %s, want %s (%s)", i+1, got, c.parts, q)
			}
		}
	}
	if n := count(t, c1, "SELECT count() FROM "+wdb+".duplicates") + count(t, c1, "SELECT count() FROM "+wdb+".rejected_events"); n != 1 {
		t.Errorf("shard 1 has %d duplicates and rejections, want the rejection of partition 6 only", n)
	}

	// The Distributed tables, read from either server, as the query API
	// reads them.
	for i, c := range []string{server[0], server[1]} {
		conn := open(t, c)
		if n := count(t, conn, "SELECT count() FROM "+db+".events FINAL WHERE tenant = 'default'"); n != 16 {
			t.Errorf("via server %d: %d winners, want 16", i+1, n)
		}
		var sum string
		if err := conn.QueryRow(ctx, "SELECT toString(sum(n)) FROM (SELECT argMax(count, version) AS n FROM "+db+
			".state WHERE kind = 1 GROUP BY client_id, metric, stream, part)").Scan(&sum); err != nil || sum != "16" {
			t.Errorf("via server %d: latest state rows count %s, %v; want 16", i+1, sum, err)
		}
		if n := count(t, conn, "SELECT count() FROM "+db+".rejected_events PREWHERE received_ms >= 0 WHERE tenant = 'default'"); n != 1 {
			t.Errorf("via server %d: %d rejections, want 1", i+1, n)
		}
		if n := count(t, conn, "SELECT count() FROM "+db+".event_ids WHERE tenant = 'default' AND event_id = '"+
			b.Winners[11].Event.EventID+"'"); n != 1 {
			t.Errorf("via server %d: the id lookup found %d rows, want 1", i+1, n)
		}
	}
	if err := c1.Exec(ctx, "INSERT INTO "+db+".schema_version (version, applied_ms) SELECT 99, 0"); err != nil {
		t.Errorf("schema_version is a plain replicated table, not a Distributed one: %v", err)
	}
	if err := c1.Exec(ctx, "INSERT INTO "+db+".events (tenant, event_id) SELECT 'default', 'x'"); err == nil {
		t.Error("an insert through the Distributed events table was accepted: something could write around the placement")
	}

	// The pipeline's reads go to the partition's shard.
	found, err := store.Lookup(ctx, []pipeline.TenantID{{Tenant: "default", EventID: b.Winners[0].Event.EventID},
		{Tenant: "default", EventID: b.Winners[15].Event.EventID}, {Tenant: "default", EventID: "nope"}})
	if err != nil || len(found) != 2 {
		t.Fatalf("Lookup = %v, %v", found, err)
	}
	loaded, err := store.LoadState(ctx, []pipeline.StateKey{state[2].Key, state[3].Key, state[15].Key})
	if err != nil || len(loaded) != 3 || loaded[2].Count != 2 || loaded[0].Version == 0 || loaded[1].Version == 0 {
		t.Fatalf("LoadState = %v, %v", loaded, err)
	}
	idx, err := store.RollupIndex(ctx, "raw/abc", 7, 10, 10)
	if err != nil || len(idx.Series) != 1 {
		t.Fatalf("RollupIndex(7) = %+v, %v; want partition 7's one series", idx, err)
	}
	var healed []string
	if err := store.Winners(ctx, event.OwnedSlots(3, 8), "", 0, func(id string, _ pipeline.Origin) error {
		healed = append(healed, id)
		return nil
	}); err != nil || len(healed) != 2 {
		t.Fatalf("partition 3's winners: %v, %v", healed, err)
	}

	// One shard down: the batch fails, transient, and counts once after.
	if err := s.Kill(ctx, "clickhouse-2"); err != nil {
		t.Fatal(err)
	}
	more := pipeline.Batch{Winners: []pipeline.Winner{b.Winners[0], b.Winners[1]}}
	for i := range more.Winners {
		w := &more.Winners[i]
		w.Event.EventID = fmt.Sprintf("%064x", 100+i)
		w.Source.Partition, w.Slot, w.Source.Offset = int32(i), int32(i), 10
	}
	err = store.Write(ctx, more)
	if err == nil || !strings.Contains(err.Error(), "clickhouse shard 2") || store.Permanent(err) {
		t.Fatalf("write with shard 2 down: %v (permanent %t); want a transient error naming shard 2", err, err != nil && store.Permanent(err))
	}
	if err := s.Start(ctx, "clickhouse-2"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for err = store.Write(ctx, more); err != nil; err = store.Write(ctx, more) { // the pipeline's retry
		if time.Now().After(deadline) {
			t.Fatalf("retried write after shard 2 returned: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if n := count(t, open(t, server[1]), "SELECT count() FROM "+db+".events FINAL"); n != 18 {
		t.Errorf("%d winners after the retried write, want 18", n)
	}

	// Rebuild: each shard's model from its winners, swapped in under the
	// Distributed state table (which follows the name).
	rebuilt := map[pipeline.StateKey]pipeline.StateRow{}
	for _, st := range stores {
		pos, err := rebuild.Positions(ctx, st.Conn(), wdb)
		if err != nil {
			t.Fatal(err)
		}
		r, err := rebuild.Compute(ctx, st.Conn(), wdb, pos)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range r {
			rebuilt[k] = v
		}
	}
	if _, err := rebuild.Apply(ctx, c1, db, o, rebuilt, store.WriteStateTo); err != nil {
		t.Fatal(err)
	}
	for i, c := range []string{server[0], server[1]} {
		if n := count(t, open(t, c), "SELECT count() FROM "+wdb+".state WHERE kind = 1 AND level = 0"); n != 4 {
			t.Errorf("shard %d's rebuilt state has %d all-time rollups, want its 4 partitions'", i+1, n)
		}
	}
	var total string
	if err := c2.QueryRow(ctx, "SELECT toString(sum(n)) FROM (SELECT argMax(count, version) AS n FROM "+db+
		".state WHERE kind = 1 AND level = 0 GROUP BY client_id, metric, stream, part)").Scan(&total); err != nil || total != "16" {
		t.Errorf("rebuilt all-time count via the Distributed table = %s, %v; want 16 (the positions cover offsets 0 and 1)", total, err)
	}
}

// norm turns ClickHouse's array text ("[0,2]" or "['0','2']") into "[0,2]".
func norm(s string) string { return strings.ReplaceAll(s, "'", "") }
