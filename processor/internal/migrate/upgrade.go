package migrate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/shopspring/decimal"

	"github.com/tally-dev/tally/event"
	"github.com/tally-dev/tally/event/schema"
	"github.com/tally-dev/tally/processor/internal/eventstore"
	"github.com/tally-dev/tally/processor/internal/pipeline"
	"github.com/tally-dev/tally/processor/internal/rebuild"
)

// Upgrade describes the raw topic a first-wave database was filled from.
type Upgrade struct {
	// Stream names the raw topic's current incarnation: the first wave
	// never recorded one, so its rows are taken to come from it.
	Stream string
	// Committed is the consumer group's committed offset per partition.
	Committed map[int32]int64
}

// v1Tables are the first wave's tables, renamed out of the way.
var v1Tables = [][2]string{
	{"events", "events_v1"}, {"duplicates", "duplicates_v1"}, {"rejected_events", "rejected_v1"},
	{"dead_letters", "dead_letters_v1"}, {"receipts", "receipts_v1"},
}

// Upgrade1to2 moves a first-wave database (version 1) to version 2, with
// the processors stopped. The first wave kept every copy that slipped past
// Redis in events; here the first stored copy of each id (earliest insert,
// then receipt, then source) becomes its winner and every other copy a
// duplicate (or conflict) of it; rejections and dead letters move as they
// are; and the read model is rebuilt, counting every offset the first wave
// stored (positions: past the last stored offset of each partition, or the
// commit if later). Every step can be run again after a crash: the first
// wave's tables are renamed once (one RENAME), the new tables are emptied
// before they are filled, and the version is recorded last. The first
// wave's tables are kept (events_v1, …) for the operator to drop.
func Upgrade1to2(ctx context.Context, conn driver.Conn, db string, u Upgrade, logger *slog.Logger) error {
	var renamed uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = ? AND name = 'events_v1'", db).Scan(&renamed); err != nil {
		return fmt.Errorf("upgrade: %w", err)
	}
	if renamed == 0 {
		var pairs []string
		for _, t := range v1Tables {
			pairs = append(pairs, fmt.Sprintf("%[1]s.%[2]s TO %[1]s.%[3]s", db, t[0], t[1]))
		}
		if err := conn.Exec(ctx, "RENAME TABLE "+strings.Join(pairs, ", ")); err != nil {
			return fmt.Errorf("upgrade: rename the first wave's tables: %w", err)
		}
	}
	for _, stmt := range schema.Statements(db, schema.Options{}) {
		if err := conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("upgrade: apply schema: %w", err)
		}
	}
	for _, t := range []string{schema.Events, schema.EventIDs, schema.Duplicates, schema.Rejected, schema.DeadLetters,
		schema.Forwarded, schema.State} {
		if err := conn.Exec(ctx, "TRUNCATE TABLE "+db+"."+t); err != nil {
			return fmt.Errorf("upgrade: empty %s: %w", t, err)
		}
	}
	store := eventstore.New(conn, db)
	n, dups, err := copyEvents(ctx, conn, db, store, u.Stream)
	if err != nil {
		return err
	}
	logger.Info("upgrade: events", "winners", n, "copies", dups)
	// Duplicates the first wave linked, with their winner's fields. The
	// joined subquery has an alias: current ClickHouse refuses one without
	// (joined_subquery_requires_alias), 18.16 accepts both.
	if err := conn.Exec(ctx, "INSERT INTO "+db+"."+schema.Duplicates+" ("+schema.Cols(schema.DuplicatesColumns)+") "+
		"SELECT '"+event.DefaultTenant+"', event_id, '"+schema.OutcomeDuplicate+"', ?, topic, partition, offset, original_partition, "+
		"original_offset, client_id, metric, amount, ts_ms, ts_defaulted, '', received_ms, detected_ms FROM "+db+".duplicates_v1 "+
		"ANY LEFT JOIN (SELECT event_id, client_id, metric, amount, ts_ms, ts_defaulted FROM "+db+"."+schema.Events+") AS winner USING event_id",
		u.Stream); err != nil {
		return fmt.Errorf("upgrade: duplicates: %w", err)
	}
	if err := conn.Exec(ctx, "INSERT INTO "+db+"."+schema.Rejected+" ("+schema.Cols(schema.RejectedColumns)+") "+
		"SELECT '"+event.DefaultTenant+"', code, field, message, client_hint, raw, received_ms, ?, topic, partition, offset, inserted_ms FROM "+
		db+".rejected_v1", u.Stream); err != nil {
		return fmt.Errorf("upgrade: rejections: %w", err)
	}
	if err := conn.Exec(ctx, "INSERT INTO "+db+"."+schema.DeadLetters+" ("+schema.Cols(schema.DeadLettersColumns)+") "+
		"SELECT '"+event.DefaultTenant+"', reason, raw, received_ms, ?, topic, partition, offset, inserted_ms FROM "+db+".dead_letters_v1",
		u.Stream); err != nil {
		return fmt.Errorf("upgrade: dead letters: %w", err)
	}
	positions, err := upgradePositions(ctx, conn, db, u)
	if err != nil {
		return err
	}
	rows, err := rebuild.Compute(ctx, conn, db, positions)
	if err != nil {
		return fmt.Errorf("upgrade: %w", err)
	}
	list := make([]pipeline.StateRow, 0, len(rows))
	for _, r := range rows {
		list = append(list, r)
	}
	if err := store.WriteState(ctx, list); err != nil {
		return fmt.Errorf("upgrade: read model: %w", err)
	}
	if err := recordVersion(ctx, conn, db, 2); err != nil {
		return err
	}
	logger.Info("upgrade: database is at schema version 2; the first wave's tables are kept as events_v1, duplicates_v1, "+
		"rejected_v1, dead_letters_v1, receipts_v1", "database", db, "partitions", len(positions))
	return nil
}

// copyEvents reads every stored copy of the first wave, once per source, in
// id order and the order the copies were stored; the first copy of each id
// becomes its winner.
func copyEvents(ctx context.Context, conn driver.Conn, db string, store *eventstore.Store, stream string) (int, int, error) {
	rows, err := conn.Query(ctx, "SELECT event_id, any(client_id), any(metric), any(amount), any(ts_ms), any(ts_defaulted), "+
		"any(idempotency_key), any(received_ms), topic, partition, offset, any(raw), min(inserted_ms) AS ins FROM "+db+".events_v1 "+
		"GROUP BY event_id, topic, partition, offset ORDER BY event_id, ins, any(received_ms), partition, offset")
	if err != nil {
		return 0, 0, fmt.Errorf("upgrade: read events_v1: %w", err)
	}
	defer rows.Close()
	var (
		b          pipeline.Batch
		last       string
		winner     pipeline.Origin
		nWin, nDup int
	)
	flush := func() error {
		if len(b.Winners)+len(b.Duplicates) == 0 {
			return nil
		}
		err := store.Write(ctx, b)
		b = pipeline.Batch{}
		return err
	}
	for rows.Next() {
		var (
			id, client, metric, key, topic, raw string
			amount                              decimal.Decimal
			tsMs, received, offset, inserted    int64
			defaulted                           uint8
			partition                           int32
		)
		if err := rows.Scan(&id, &client, &metric, &amount, &tsMs, &defaulted, &key, &received, &topic, &partition, &offset, &raw,
			&inserted); err != nil {
			return 0, 0, fmt.Errorf("upgrade: read events_v1: %w", err)
		}
		a, ok := eventstore.AmountOf(amount)
		if !ok {
			return 0, 0, fmt.Errorf("upgrade: amount of %s out of range", id)
		}
		ev := event.Canonical{EventID: id, ClientID: client, Metric: metric, Amount: a, Timestamp: time.UnixMilli(tsMs).UTC(),
			TimestampDefaulted: defaulted == 1, IdempotencyKey: key}
		src := pipeline.Source{Stream: stream, Topic: topic, Partition: partition, Offset: offset, Received: time.UnixMilli(received).UTC()}
		if id != last {
			last = id
			winner = pipeline.Origin{Stream: pipeline.StreamTag(stream), Partition: partition, Offset: offset, Fingerprint: ev.Fingerprint()}
			b.Winners = append(b.Winners, pipeline.Winner{Tenant: event.DefaultTenant, Event: ev, Source: src, Slot: event.Slot(client),
				Raw: []byte(raw), Fingerprint: winner.Fingerprint})
			nWin++
		} else {
			d := pipeline.Duplicate{Tenant: event.DefaultTenant, Event: ev, Source: src, Original: winner}
			if ev.Fingerprint() != winner.Fingerprint {
				d.Conflict, d.Raw = true, []byte(raw)
			}
			b.Duplicates = append(b.Duplicates, d)
			nDup++
		}
		if len(b.Winners)+len(b.Duplicates) >= 20_000 {
			if err := flush(); err != nil {
				return 0, 0, fmt.Errorf("upgrade: write events: %w", err)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return 0, 0, fmt.Errorf("upgrade: read events_v1: %w", err)
	}
	if err := flush(); err != nil {
		return 0, 0, fmt.Errorf("upgrade: write events: %w", err)
	}
	return nWin, nDup, nil
}

// upgradePositions counts, for each partition, every offset the first wave
// stored: past its last stored offset, or its commit if that is later.
func upgradePositions(ctx context.Context, conn driver.Conn, db string, u Upgrade) ([]rebuild.Position, error) {
	ends := make(map[int32]int64)
	for p, c := range u.Committed {
		ends[p] = c
	}
	rows, err := conn.Query(ctx, "SELECT partition, max(offset) + 1 FROM (SELECT partition, offset FROM "+db+".events_v1 UNION ALL "+
		"SELECT partition, offset FROM "+db+".duplicates_v1 UNION ALL SELECT partition, offset FROM "+db+".rejected_v1 UNION ALL "+
		"SELECT partition, offset FROM "+db+".dead_letters_v1) GROUP BY partition")
	if err != nil {
		return nil, fmt.Errorf("upgrade: positions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var p int32
		var end int64
		if err := rows.Scan(&p, &end); err != nil {
			return nil, fmt.Errorf("upgrade: positions: %w", err)
		}
		ends[p] = max(ends[p], end)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("upgrade: positions: %w", err)
	}
	if len(ends) == 0 {
		return nil, errors.New("upgrade: no partitions: nothing was stored and nothing committed")
	}
	var out []rebuild.Position
	for p, end := range ends {
		out = append(out, rebuild.Position{Stream: u.Stream, Part: p, Offset: end})
	}
	return out, nil
}
