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
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"

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
// a cluster (o.Cluster) the DDL runs ON CLUSTER with replicated tables; with
// more than one shard (o.Shards, from Describe) the written tables go to
// schema.ShardDatabase(db) and db reads them through Distributed tables, and
// Apply refuses a database placed for another shard count
// (docs/scaling.md, "More than one shard").
func Apply(ctx context.Context, conn driver.Conn, db string, o schema.Options, logger *slog.Logger) error {
	if o.Cluster != "" {
		if _, err := Describe(ctx, conn, o.Cluster); err != nil {
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
	if err := CheckLayout(ctx, conn, db, o); err != nil {
		return err
	}
	for _, stmt := range schema.Statements(db, o) {
		if err := conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("apply schema: %w", err)
		}
	}
	if o.Sharded() {
		if err := recordLayout(ctx, conn, db, o.Shards); err != nil {
			return err
		}
	}
	if v == 0 {
		if err := recordVersion(ctx, conn, db, schema.Version); err != nil {
			return err
		}
		logger.Info("schema created", "database", db, "version", schema.Version, "cluster", o.Cluster, "shards", max(o.Shards, 1))
	}
	return nil
}

// CheckLayout fails when db's data was placed for another shard count than
// o's: a sharded database under a cluster of another shard count, or a
// database created for one server or one shard under a sharded cluster (or
// the reverse). Moving data between shards is not built (docs/scaling.md).
func CheckLayout(ctx context.Context, conn driver.Conn, db string, o schema.Options) error {
	var events, distributed, layout uint64
	if err := conn.QueryRow(ctx, "SELECT countIf(name = ?), countIf(name = ? AND engine = 'Distributed'), countIf(name = ?) "+
		"FROM system.tables WHERE database = ?", schema.Events, schema.Events, schema.ShardLayout, db).
		Scan(&events, &distributed, &layout); err != nil {
		return fmt.Errorf("read the shard layout: %w", err)
	}
	placed := 0 // shards the data was placed for (1: one server or one shard; 0: nothing yet)
	if events > 0 && distributed == 0 {
		placed = 1
	}
	if distributed > 0 && layout > 0 {
		var recorded uint32
		if err := conn.QueryRow(ctx, "SELECT max(shards) FROM "+db+"."+schema.ShardLayout).Scan(&recorded); err != nil {
			return fmt.Errorf("read the shard layout: %w", err)
		}
		placed = int(recorded)
	}
	want := 1
	if o.Sharded() {
		want = o.Shards
	}
	if placed == 0 || placed == want {
		return nil
	}
	return fmt.Errorf("database %s holds data placed for %d ClickHouse shard(s), but cluster %q now has %d: moving data "+
		"between shards is not supported (docs/scaling.md, \"More than one shard\")", db, placed, o.Cluster, want)
}

// recordLayout records the shard count a sharded database is placed for,
// once.
func recordLayout(ctx context.Context, conn driver.Conn, db string, shards int) error {
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+db+"."+schema.ShardLayout).Scan(&n); err != nil {
		return fmt.Errorf("read the shard layout: %w", err)
	}
	if n > 0 {
		return nil
	}
	return insertOne(ctx, conn, db+"."+schema.ShardLayout+" (shards, applied_ms)", uint32(shards), time.Now().UnixMilli())
}

// recordVersion notes that db reached version v.
func recordVersion(ctx context.Context, conn driver.Conn, db string, v int) error {
	if err := insertOne(ctx, conn, db+"."+schema.SchemaVersion+" (version, applied_ms)", uint32(v), time.Now().UnixMilli()); err != nil {
		return fmt.Errorf("record schema version: %w", err)
	}
	return nil
}

// insertOne inserts one row into "db.table (columns)".
func insertOne(ctx context.Context, conn driver.Conn, into string, values ...any) error {
	// A native batch: 18.16 hangs on INSERT … VALUES with bound parameters.
	batch, err := conn.PrepareBatch(ctx, "INSERT INTO "+into)
	if err != nil {
		return err
	}
	defer func() { _ = batch.Abort() }()
	if err := batch.Append(values...); err != nil {
		return err
	}
	return batch.Send()
}

// Shard is one shard of a cluster: its number and its replicas' native
// addresses (host:port), as remote_servers names them.
type Shard struct {
	Num      int
	Replicas []string
}

// Describe reads cluster's shards, in shard order, from the connected
// server's remote_servers. A cluster the server does not know is an error.
func Describe(ctx context.Context, conn driver.Conn, cluster string) ([]Shard, error) {
	rows, err := conn.Query(ctx, "SELECT shard_num, host_name, port FROM system.clusters WHERE cluster = ? "+
		"ORDER BY shard_num, replica_num", cluster)
	if err != nil {
		return nil, fmt.Errorf("read cluster %s: %w", cluster, err)
	}
	defer rows.Close()
	var shards []Shard
	for rows.Next() {
		var num uint32
		var host string
		var port uint16
		if err := rows.Scan(&num, &host, &port); err != nil {
			return nil, fmt.Errorf("read cluster %s: %w", cluster, err)
		}
		if len(shards) == 0 || shards[len(shards)-1].Num != int(num) {
			shards = append(shards, Shard{Num: int(num)})
		}
		last := &shards[len(shards)-1]
		last.Replicas = append(last.Replicas, net.JoinHostPort(host, strconv.Itoa(int(port))))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read cluster %s: %w", cluster, err)
	}
	if len(shards) == 0 {
		return nil, fmt.Errorf("ClickHouse does not know cluster %q (TALLY_CLICKHOUSE_CLUSTER): check remote_servers", cluster)
	}
	return shards, nil
}

// transientCodes are ClickHouse errors of a cluster that is still coming
// back: ZooKeeper unreachable or its session expired (999, 225), a replica
// in read-only mode until it reconnects (242), an ON CLUSTER statement that
// timed out waiting for a server (159), a connection that dropped (210).
var transientCodes = map[int32]bool{999: true, 225: true, 242: true, 159: true, 210: true}

// Transient reports whether err from Apply is worth retrying: the cluster
// was not ready, and the same statements may succeed in a moment (every
// statement is idempotent).
func Transient(err error) bool {
	var ex *proto.Exception
	if errors.As(err, &ex) {
		return transientCodes[ex.Code]
	}
	var op *net.OpError
	return errors.As(err, &op)
}
