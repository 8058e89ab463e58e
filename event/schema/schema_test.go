package schema

import (
	"slices"
	"strings"
	"testing"
)

func TestStatementsSingleServer(t *testing.T) {
	stmts := Statements("tally", Options{})
	if len(stmts) != 9 {
		t.Fatalf("%d statements, want the database and 8 tables", len(stmts))
	}
	for _, s := range stmts {
		if strings.Contains(s, "ON CLUSTER") || strings.Contains(s, "Replicated") {
			t.Errorf("single-server DDL names a cluster: %s", s)
		}
	}
	if !strings.Contains(stmts[len(stmts)-1], "ENGINE = ReplacingMergeTree(version)") {
		t.Errorf("state table engine: %s", stmts[len(stmts)-1])
	}
}

func TestStatementsCluster(t *testing.T) {
	stmts := Statements("tally", Options{Cluster: "tally_cluster"})
	if stmts[0] != "CREATE DATABASE IF NOT EXISTS tally ON CLUSTER tally_cluster" {
		t.Errorf("database: %s", stmts[0])
	}
	paths := map[string]bool{}
	for _, s := range stmts[1:] {
		name := strings.Fields(s)[5] // CREATE TABLE IF NOT EXISTS tally.<name> ON CLUSTER …
		if !strings.HasPrefix(s, "CREATE TABLE IF NOT EXISTS "+name+" ON CLUSTER tally_cluster (") {
			t.Errorf("not ON CLUSTER: %s", s)
		}
		table := strings.TrimPrefix(name, "tally.")
		path := "'/clickhouse/tables/{shard}/tally/" + table + "', '{replica}'"
		if !strings.Contains(s, "ENGINE = ReplicatedReplacingMergeTree("+path) {
			t.Errorf("%s: engine is not replicated on its own path: %s", table, s)
		}
		if paths[path] {
			t.Errorf("two tables share %s", path)
		}
		paths[path] = true
	}
	if !strings.Contains(stmts[len(stmts)-1], "'{replica}', version)") {
		t.Errorf("the state table lost its version column: %s", stmts[len(stmts)-1])
	}
}

func TestStatementsSharded(t *testing.T) {
	o := Options{Cluster: "c", Shards: 2}
	if !o.Sharded() || o.WriteDatabase("tally") != "tally_shard" {
		t.Fatalf("Sharded %t, WriteDatabase %q", o.Sharded(), o.WriteDatabase("tally"))
	}
	if (Options{Cluster: "c", Shards: 1}).Sharded() || (Options{Shards: 2}).Sharded() {
		t.Error("one shard, or no cluster, counts as sharded")
	}
	stmts := Statements("tally", o)
	local, dist := map[string]string{}, map[string]string{}
	everywhere := map[string]string{}
	for _, s := range stmts {
		f := strings.Fields(s)
		if f[1] == "DATABASE" {
			continue
		}
		name := f[5]
		switch {
		case strings.HasPrefix(name, "tally_shard."):
			local[strings.TrimPrefix(name, "tally_shard.")] = s
		case strings.Contains(s, "ENGINE = Distributed("):
			dist[strings.TrimPrefix(name, "tally.")] = s
		default:
			everywhere[strings.TrimPrefix(name, "tally.")] = s
		}
	}
	if len(local) != len(Distributed) || len(dist) != len(Distributed) {
		t.Fatalf("%d written and %d distributed tables, want %d of each", len(local), len(dist), len(Distributed))
	}
	for _, table := range Distributed {
		if !strings.Contains(local[table], "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/tally_shard/"+table+"'") {
			t.Errorf("%s is not replicated per shard: %s", table, local[table])
		}
		want := "CREATE TABLE IF NOT EXISTS tally." + table + " ON CLUSTER c AS tally_shard." + table +
			" ENGINE = Distributed(c, tally_shard, " + table + ")"
		if dist[table] != want {
			t.Errorf("distributed %s:\n got %s\nwant %s", table, dist[table], want)
		}
	}
	for _, table := range []string{SchemaVersion, ShardLayout} {
		if !strings.Contains(everywhere[table], "ReplicatedReplacingMergeTree('/clickhouse/tables/all/tally/"+table+"'") {
			t.Errorf("%s is not one replication group over every server: %s", table, everywhere[table])
		}
	}
	// Each local table is created before the distributed table over it.
	for i, s := range stmts {
		if strings.Contains(s, "Distributed(") {
			table := strings.TrimPrefix(strings.Fields(s)[5], "tally.")
			if j := slices.Index(stmts, local[table]); j > i {
				t.Errorf("distributed %s created before its table", table)
			}
		}
	}
}
