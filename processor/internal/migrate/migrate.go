// Package migrate brings a ClickHouse database to the schema of package
// github.com/tally-dev/tally/event/schema, recording the version it reached
// in schema_version. Every step is idempotent, so a migration interrupted by
// a crash is finished by running it again.
//
// Version 1 is the first wave's schema (every copy stored, collapsed at query
// time); Upgrade1to2 moves its data into version 2 (winners only, plus the
// read model) — see docs/design/read-model.md, R8.
package migrate

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/tally-dev/tally/event/schema"
)

// Version reads the database's schema version: 0 for an empty database, 1
// for the first wave's tables (which predate schema_version).
func Version(ctx context.Context, conn driver.Conn, db string) (int, error) {
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = ? AND name = ?", db, schema.SchemaVersion).Scan(&n); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if n > 0 {
		var v uint32
		if err := conn.QueryRow(ctx, "SELECT max(version) FROM "+db+"."+schema.SchemaVersion).Scan(&v); err != nil {
			return 0, fmt.Errorf("read schema version: %w", err)
		}
		if v > 0 {
			return int(v), nil
		}
	}
	// No recorded version: the first wave had a receipts table.
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = ? AND name = 'receipts'", db).Scan(&n); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if n > 0 {
		return 1, nil
	}
	return 0, nil
}

// Apply creates every table of the current schema (idempotent) and records
// the version. It refuses a database of an older version: Upgrade first. On
// a cluster (o.Cluster) the DDL runs ON CLUSTER with replicated tables; the
// cluster must exist and have one shard (docs/scaling.md).
func Apply(ctx context.Context, conn driver.Conn, db string, o schema.Options, logger *slog.Logger) error {
	if o.Cluster != "" {
		if _, err := Replicas(ctx, conn, o.Cluster); err != nil {
			return err
		}
	}
	v, err := Version(ctx, conn, db)
	if err != nil {
		return err
	}
	if v != 0 && v < schema.Version {
		return fmt.Errorf("database %s has schema version %d; run `processor migrate` with the processors stopped to upgrade it", db, v)
	}
	if v > schema.Version {
		return fmt.Errorf("database %s has schema version %d, newer than this processor's %d", db, v, schema.Version)
	}
	for _, stmt := range schema.Statements(db, o) {
		if err := conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("apply schema: %w", err)
		}
	}
	if v == 0 {
		if err := recordVersion(ctx, conn, db, schema.Version); err != nil {
			return err
		}
		logger.Info("schema created", "database", db, "version", schema.Version, "cluster", o.Cluster)
	}
	return nil
}

// recordVersion notes that db reached version v.
func recordVersion(ctx context.Context, conn driver.Conn, db string, v int) error {
	// A native batch: 18.16 hangs on INSERT … VALUES with bound parameters.
	batch, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+"."+schema.SchemaVersion+" (version, applied_ms)")
	if err != nil {
		return fmt.Errorf("record schema version: %w", err)
	}
	defer func() { _ = batch.Abort() }()
	if err := batch.Append(uint32(v), time.Now().UnixMilli()); err != nil {
		return fmt.Errorf("record schema version: %w", err)
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("record schema version: %w", err)
	}
	return nil
}

// Replicas is the number of replicas of the single shard of cluster (as
// remote_servers on the connected server describes it). A cluster this
// server does not know, or one of several shards, is an error: every copy of
// an event id must meet its winner on one shard, and Tally does not yet route
// writes by shard (docs/scaling.md, "More than one shard").
func Replicas(ctx context.Context, conn driver.Conn, cluster string) (int, error) {
	var shards, replicas uint64
	if err := conn.QueryRow(ctx, "SELECT uniqExact(shard_num), count() FROM system.clusters WHERE cluster = ?", cluster).
		Scan(&shards, &replicas); err != nil {
		return 0, fmt.Errorf("read cluster %s: %w", cluster, err)
	}
	switch {
	case replicas == 0:
		return 0, fmt.Errorf("ClickHouse does not know cluster %q (TALLY_CLICKHOUSE_CLUSTER): check remote_servers", cluster)
	case shards > 1:
		return 0, fmt.Errorf("cluster %q has %d shards; Tally writes to one shard of replicas (docs/scaling.md)", cluster, shards)
	}
	return int(replicas), nil
}
