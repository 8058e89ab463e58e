-- The first wave's schema (schema version 1), for the upgrade test.
CREATE TABLE IF NOT EXISTS {db}.events (
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
ORDER BY (client_id, metric, event_id);

CREATE TABLE IF NOT EXISTS {db}.receipts (
	event_id String,
	topic String,
	partition Int32,
	offset Int64,
	received_ms Int64,
	inserted_ms Int64
) ENGINE = ReplacingMergeTree
ORDER BY (topic, partition, offset);

CREATE TABLE IF NOT EXISTS {db}.rejected_events (
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
ORDER BY (topic, partition, offset);

CREATE TABLE IF NOT EXISTS {db}.duplicates (
	event_id String,
	topic String,
	partition Int32,
	offset Int64,
	original_partition Int32,
	original_offset Int64,
	received_ms Int64,
	detected_ms Int64
) ENGINE = ReplacingMergeTree
ORDER BY (topic, partition, offset);

CREATE TABLE IF NOT EXISTS {db}.dead_letters (
	reason String,
	raw String,
	received_ms Int64,
	topic String,
	partition Int32,
	offset Int64,
	inserted_ms Int64
) ENGINE = ReplacingMergeTree
ORDER BY (topic, partition, offset);
