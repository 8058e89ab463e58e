// Package schema holds Tally's ClickHouse DDL. Every statement is idempotent
// (IF NOT EXISTS) and runs unchanged on ClickHouse 18.16, which the local
// stack and the tests use, and on current ClickHouse, which production uses.
// That rules out DateTime64, TTL, LowCardinality and settings newer than
// 18.16; millisecond instants are kept as Int64 columns beside a DateTime.
//
// Every table that records what happened to a raw record is keyed by the
// record's source (topic, partition, offset) and uses ReplacingMergeTree, so
// reprocessing a record after a crash replaces its row instead of adding one,
// and counts use uniqExact over the source so they are exact before merges.
package schema

import "fmt"

// Statements returns the DDL for database db, in the order to apply it.
func Statements(db string) []string {
	return []string{
		fmt.Sprintf("CREATE DATABASE IF NOT EXISTS %s", db),
		// One row per stored copy of a logical event. The sort key holds only
		// the event's own content and id (never ingestion time), so every copy
		// of one event shares it and merges collapse them.
		fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s.events (
	event_id String,
	client_id String,
	metric String,
	amount Decimal(38, 9),
	ts DateTime,
	ts_ms Int64,
	ts_defaulted UInt8,
	idempotency_key String,
	received_ms Int64,
	topic String,
	partition Int32,
	offset Int64,
	raw String,
	inserted_ms Int64
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (client_id, metric, event_id)`, db),
		// One row per stored copy, keyed by its source. events may hold
		// several copies of an event until a merge collapses them (same sort
		// key); receipts keep every copy's source forever, so counting
		// records by source stays exact after merges.
		fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s.receipts (
	event_id String,
	topic String,
	partition Int32,
	offset Int64,
	received_ms Int64,
	inserted_ms Int64
) ENGINE = ReplacingMergeTree
ORDER BY (topic, partition, offset)`, db),
		fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s.rejected_events (
	code String,
	field String,
	message String,
	client_hint String,
	raw String,
	received_ms Int64,
	topic String,
	partition Int32,
	offset Int64,
	inserted_ms Int64
) ENGINE = ReplacingMergeTree
ORDER BY (topic, partition, offset)`, db),
		fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s.duplicates (
	event_id String,
	topic String,
	partition Int32,
	offset Int64,
	original_partition Int32,
	original_offset Int64,
	received_ms Int64,
	detected_ms Int64
) ENGINE = ReplacingMergeTree
ORDER BY (topic, partition, offset)`, db),
		fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s.dead_letters (
	reason String,
	raw String,
	received_ms Int64,
	topic String,
	partition Int32,
	offset Int64,
	inserted_ms Int64
) ENGINE = ReplacingMergeTree
ORDER BY (topic, partition, offset)`, db),
	}
}
