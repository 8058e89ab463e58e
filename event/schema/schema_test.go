package schema

import (
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
