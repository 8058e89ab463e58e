// Package eventstore writes the processor's durable rows to ClickHouse: stored
// events, rejections, duplicate lineage and dead letters (schema in
// github.com/tally-dev/tally/event/schema).
//
// Every write is idempotent with respect to the raw record it describes: rows
// carry the record's (topic, partition, offset), tables are
// ReplacingMergeTree, and every count reads them through uniqExact over that
// source. Retrying a batch after a failure or a crash therefore adds physical
// rows at worst, never logical ones. Inserts list their columns because
// ClickHouse 18.16 rejects column-less batch inserts from clickhouse-go.
package eventstore

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/shopspring/decimal"

	"github.com/tally-dev/tally/event"
	"github.com/tally-dev/tally/event/schema"
)

// EventRow is one stored copy of a logical event.
type EventRow struct {
	Event  event.Canonical
	Source event.Source
	Raw    []byte
}

// RejectedRow is a record the normalization engine refused, kept for audit.
type RejectedRow struct {
	Code, Field, Message, ClientHint string
	Source                           event.Source
	Raw                              []byte
}

// DuplicateRow links a copy that was not stored to its original.
type DuplicateRow struct {
	EventID           string
	Source            event.Source
	OriginalPartition int32
	OriginalOffset    int64
}

// DeadLetterRow records a raw record that went to the dead-letter topic.
type DeadLetterRow struct {
	Reason string
	Source event.Source
	Raw    []byte
}

// Batch is everything one processed batch writes.
type Batch struct {
	Events      []EventRow
	Rejected    []RejectedRow
	Duplicates  []DuplicateRow
	DeadLetters []DeadLetterRow
}

// Store writes batches to ClickHouse.
type Store struct {
	conn driver.Conn
	db   string
}

// Options configure Open.
type Options struct {
	Addr     []string
	Database string
	User     string
	Password string
}

// Open connects to ClickHouse over the native protocol. It does not ping.
func Open(opts Options) (*Store, error) {
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr: opts.Addr,
		Auth: clickhouse.Auth{Database: "default", Username: opts.User, Password: opts.Password},
		// Large batches compress well; LZ4 costs little CPU.
		Compression:     &clickhouse.Compression{Method: clickhouse.CompressionLZ4},
		DialTimeout:     5 * time.Second,
		MaxOpenConns:    8,
		ConnMaxLifetime: time.Hour,
	})
	if err != nil {
		return nil, fmt.Errorf("open clickhouse: %w", err)
	}
	return &Store{conn: conn, db: opts.Database}, nil
}

// Close closes the connection pool.
func (s *Store) Close() error { return s.conn.Close() }

// Ping checks that ClickHouse answers.
func (s *Store) Ping(ctx context.Context) error { return s.conn.Ping(ctx) }

// Migrate applies the schema; every statement is idempotent.
func (s *Store) Migrate(ctx context.Context) error {
	for _, stmt := range schema.Statements(s.db) {
		if err := s.conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("apply schema: %w", err)
		}
	}
	return nil
}

// Write inserts a batch. Events go first so that a duplicate's original is
// never younger than its lineage row; any failure fails the whole call and
// the caller retries all of it.
func (s *Store) Write(ctx context.Context, b Batch) error {
	now := time.Now().UnixMilli()
	if err := s.writeEvents(ctx, b.Events, now); err != nil {
		return err
	}
	if err := s.writeReceipts(ctx, b.Events, now); err != nil {
		return err
	}
	if err := s.writeDuplicates(ctx, b.Duplicates, now); err != nil {
		return err
	}
	if err := s.writeRejected(ctx, b.Rejected, now); err != nil {
		return err
	}
	return s.writeDeadLetters(ctx, b.DeadLetters, now)
}

// insert writes n rows to table as one native batch. ClickHouse 18.16 needs
// the column list spelled out; row appends row i's values in that order.
func (s *Store) insert(ctx context.Context, table, columns string, n int, row func(i int) []any) error {
	if n == 0 {
		return nil
	}
	batch, err := s.conn.PrepareBatch(ctx, "INSERT INTO "+s.db+"."+table+" ("+columns+")")
	if err != nil {
		return fmt.Errorf("prepare %s insert: %w", table, err)
	}
	defer func() { _ = batch.Abort() }()
	for i := range n {
		if err := batch.Append(row(i)...); err != nil {
			return fmt.Errorf("append %s row: %w", table, err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("insert %s: %w", table, err)
	}
	return nil
}

func (s *Store) writeEvents(ctx context.Context, rows []EventRow, now int64) error {
	return s.insert(ctx, "events", "event_id, client_id, metric, amount, ts, ts_ms, ts_defaulted, idempotency_key, received_ms, topic, partition, offset, raw, inserted_ms",
		len(rows), func(i int) []any {
			r, e := rows[i], rows[i].Event
			var defaulted uint8
			if e.TimestampDefaulted {
				defaulted = 1
			}
			return []any{e.EventID, e.ClientID, e.Metric, Decimal(e.Amount), e.Timestamp.UTC(), e.Timestamp.UnixMilli(),
				defaulted, e.IdempotencyKey, r.Source.Received.UnixMilli(), r.Source.Topic, r.Source.Partition, r.Source.Offset,
				string(r.Raw), now}
		})
}

// writeReceipts records the source of every stored copy. Unlike events
// rows, receipts never collapse across sources, so a copy that reached
// ClickHouse while Redis was down stays countable after merges.
func (s *Store) writeReceipts(ctx context.Context, rows []EventRow, now int64) error {
	return s.insert(ctx, "receipts", "event_id, topic, partition, offset, received_ms, inserted_ms",
		len(rows), func(i int) []any {
			r := rows[i]
			return []any{r.Event.EventID, r.Source.Topic, r.Source.Partition, r.Source.Offset, r.Source.Received.UnixMilli(), now}
		})
}

func (s *Store) writeDuplicates(ctx context.Context, rows []DuplicateRow, now int64) error {
	return s.insert(ctx, "duplicates", "event_id, topic, partition, offset, original_partition, original_offset, received_ms, detected_ms",
		len(rows), func(i int) []any {
			r := rows[i]
			return []any{r.EventID, r.Source.Topic, r.Source.Partition, r.Source.Offset, r.OriginalPartition, r.OriginalOffset,
				r.Source.Received.UnixMilli(), now}
		})
}

func (s *Store) writeRejected(ctx context.Context, rows []RejectedRow, now int64) error {
	return s.insert(ctx, "rejected_events", "code, field, message, client_hint, raw, received_ms, topic, partition, offset, inserted_ms",
		len(rows), func(i int) []any {
			r := rows[i]
			return []any{r.Code, r.Field, r.Message, r.ClientHint, string(r.Raw), r.Source.Received.UnixMilli(),
				r.Source.Topic, r.Source.Partition, r.Source.Offset, now}
		})
}

func (s *Store) writeDeadLetters(ctx context.Context, rows []DeadLetterRow, now int64) error {
	return s.insert(ctx, "dead_letters", "reason, raw, received_ms, topic, partition, offset, inserted_ms",
		len(rows), func(i int) []any {
			r := rows[i]
			return []any{r.Reason, string(r.Raw), r.Source.Received.UnixMilli(), r.Source.Topic, r.Source.Partition, r.Source.Offset, now}
		})
}

// Decimal converts an exact amount to the driver's decimal type.
func Decimal(a event.Amount) decimal.Decimal {
	if a.Nanos == 0 {
		return decimal.New(a.Units, 0)
	}
	if a.Units > -9_000_000_000 && a.Units < 9_000_000_000 {
		return decimal.New(a.Units*event.NanosPerUnit+int64(a.Nanos), -9)
	}
	return decimal.NewFromBigInt(a.BigScaled(), -9)
}
