// Package rebuild recomputes Tally's read model — every rollup, counter and
// position of the state table — from the durable rows it summarizes, and
// compares it with the live one (docs/design/read-model.md, R8). The live
// model is maintained batch by batch by the processors; the rebuilt one is
// computed in bulk by ClickHouse from the winners (events) and the outcome
// tables. They must agree: a difference means a counting bug or lost rows.
//
// For each stream and partition the computation covers exactly the offsets
// below the live position (the read model covers nothing else), so a
// rebuild can run while processors work: rows written past a position are
// left out on both sides. Skipped offsets (transaction markers, aborted or
// expired records) leave no row, so their counter is derived: the position
// minus every other outcome.
//
// Apply replaces the live model with the rebuilt one; it must run with the
// processors stopped. It writes the rebuilt rows into a new table and
// swaps the two with one RENAME, so readers see the old model or the new
// one, never a mix; the old one is kept as state_replaced_<unix time>.
package rebuild

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/shopspring/decimal"

	"github.com/tally-dev/tally/event/schema"
	"github.com/tally-dev/tally/processor/internal/eventstore"
	"github.com/tally-dev/tally/processor/internal/pipeline"
)

// Position is one partition's counted position.
type Position struct {
	Stream string
	Part   int32
	Offset int64
}

// Positions reads the live positions.
func Positions(ctx context.Context, conn driver.Conn, db string) ([]Position, error) {
	rows, err := conn.Query(ctx, fmt.Sprintf("SELECT stream, part, argMax(count, version) FROM %s.%s WHERE kind = %d GROUP BY stream, part",
		db, schema.State, schema.KindPosition))
	if err != nil {
		return nil, fmt.Errorf("read positions: %w", err)
	}
	defer rows.Close()
	var out []Position
	for rows.Next() {
		var p Position
		var n uint64
		if err := rows.Scan(&p.Stream, &p.Part, &n); err != nil {
			return nil, fmt.Errorf("read positions: %w", err)
		}
		p.Offset = int64(n)
		out = append(out, p)
	}
	return out, rows.Err()
}

// below renders "offset below the position of the row's stream and
// partition" (rows of unknown partitions: none).
func below(positions []Position) (string, []any) {
	if len(positions) == 0 {
		return "0", nil
	}
	keys := make([]any, len(positions))
	ends := make([]any, len(positions))
	for i, p := range positions {
		keys[i] = fmt.Sprintf("%s#%d", p.Stream, p.Part)
		ends[i] = p.Offset
	}
	return "offset < transform(concat(stream, '#', toString(partition)), ?, ?, toInt64(-1))", []any{keys, ends}
}

// Compute returns the read model the durable rows imply, for the given
// positions, keyed like the live one.
func Compute(ctx context.Context, conn driver.Conn, db string, positions []Position) (map[pipeline.StateKey]pipeline.StateRow, error) {
	out := make(map[pipeline.StateKey]pipeline.StateRow)
	cond, args := below(positions)
	levels := make([]string, 0, 5)
	buckets := make([]string, 0, 5)
	for _, lvl := range []uint8{schema.LevelAll, schema.LevelDay, schema.LevelHour, schema.Level10Min, schema.LevelMinute} {
		levels = append(levels, fmt.Sprint(lvl))
		w := schema.LevelSeconds[lvl]
		if w == 0 {
			buckets = append(buckets, fmt.Sprintf("level = %d, toUInt32(0)", lvl))
		} else {
			buckets = append(buckets, fmt.Sprintf("level = %d, toUInt32(intDiv(intDiv(ts_ms, 1000), %d) * %d)", lvl, w, w))
		}
	}
	// One row per winner (a rewrite after a crash repeats its source).
	winners := "SELECT tenant, client_id, metric, stream, partition, any(amount) AS amount, any(ts_ms) AS ts_ms FROM " + db + "." +
		schema.Events + " WHERE " + cond + " GROUP BY tenant, event_id, client_id, metric, stream, partition, offset"
	rows, err := conn.Query(ctx, "SELECT tenant, level, multiIf("+strings.Join(buckets, ", ")+", toUInt32(0)) AS bucket, "+
		"client_id, metric, stream, partition, count(), sum(amount), min(amount), max(amount), min(ts_ms), max(ts_ms) FROM ("+
		winners+") ARRAY JOIN ["+strings.Join(levels, ", ")+"] AS level "+
		"GROUP BY tenant, level, bucket, client_id, metric, stream, partition", args...)
	if err != nil {
		return nil, fmt.Errorf("compute rollups: %w", err)
	}
	for rows.Next() {
		var (
			k           pipeline.StateKey
			r           pipeline.StateRow
			sum, mn, mx decimal.Decimal
		)
		k.Kind = schema.KindRollup
		if err := rows.Scan(&k.Tenant, &k.Level, &k.Bucket, &k.Client, &k.Metric, &k.Stream, &k.Part, &r.Count, &sum, &mn, &mx,
			&r.MinTs, &r.MaxTs); err != nil {
			rows.Close()
			return nil, fmt.Errorf("compute rollups: %w", err)
		}
		r.Key = k
		var ok1, ok2, ok3 bool
		r.Sum, ok1 = eventstore.SumOf(sum)
		r.Min, ok2 = eventstore.AmountOf(mn)
		r.Max, ok3 = eventstore.AmountOf(mx)
		if !ok1 || !ok2 || !ok3 {
			rows.Close()
			return nil, fmt.Errorf("compute rollups: amount out of range in %+v", k)
		}
		out[k] = r
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, fmt.Errorf("compute rollups: %w", err)
	}

	// Counters: one count per source, whatever its rewrites.
	// outcome is the counter a source record counts under.
	type source struct{ table, outcome string }
	sources := []source{
		{schema.Events, "'" + schema.OutcomeProcessed + "'"},
		{schema.Duplicates, "any(kind)"},
		{schema.Rejected, "'" + schema.OutcomeRejected + "'"},
		{schema.Rejected, "concat('" + schema.OutcomeRejected + ":', any(code))"},
		{schema.DeadLetters, "'" + schema.OutcomeDeadLettered + "'"},
		{schema.Forwarded, "'" + schema.OutcomeForwarded + "'"},
	}
	for _, src := range sources {
		q := "SELECT tenant, outcome, stream, partition, count() FROM (SELECT any(tenant) AS tenant, " + src.outcome +
			" AS outcome, stream, partition, offset FROM " + db + "." + src.table + " WHERE " + cond +
			" GROUP BY stream, partition, offset) GROUP BY tenant, outcome, stream, partition"
		rows, err := conn.Query(ctx, q, args...)
		if err != nil {
			return nil, fmt.Errorf("compute counters from %s: %w", src.table, err)
		}
		for rows.Next() {
			var k pipeline.StateKey
			var n uint64
			k.Kind = schema.KindCounter
			if err := rows.Scan(&k.Tenant, &k.Metric, &k.Stream, &k.Part, &n); err != nil {
				rows.Close()
				return nil, fmt.Errorf("compute counters: %w", err)
			}
			r := out[k]
			r.Key, r.Count = k, r.Count+n
			out[k] = r
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("compute counters: %w", err)
		}
	}
	// Positions, and the skipped offsets they imply.
	for _, p := range positions {
		var counted uint64
		for k, r := range out {
			if k.Kind == schema.KindCounter && k.Stream == p.Stream && k.Part == p.Part && !strings.Contains(k.Metric, ":") {
				counted += r.Count
			}
		}
		if skipped := uint64(p.Offset) - counted; uint64(p.Offset) > counted {
			k := pipeline.StateKey{Kind: schema.KindCounter, Metric: schema.OutcomeSkipped, Stream: p.Stream, Part: p.Part}
			out[k] = pipeline.StateRow{Key: k, Count: skipped}
		}
		k := pipeline.StateKey{Kind: schema.KindPosition, Stream: p.Stream, Part: p.Part}
		out[k] = pipeline.StateRow{Key: k, Version: uint64(p.Offset), Count: uint64(p.Offset)}
	}
	for k, r := range out {
		for _, p := range positions {
			if p.Stream == k.Stream && p.Part == k.Part {
				r.Version = uint64(p.Offset)
			}
		}
		out[k] = r
	}
	return out, nil
}

// Live reads the live read model: the latest version of every key.
func Live(ctx context.Context, conn driver.Conn, db string) (map[pipeline.StateKey]pipeline.StateRow, error) {
	rows, err := conn.Query(ctx, "SELECT tenant, kind, level, bucket, client_id, metric, stream, part, v.1, v.2, v.3, v.4, v.5, v.6, v.7 "+
		"FROM (SELECT tenant, kind, level, bucket, client_id, metric, stream, part, "+
		"argMax(tuple(version, count, sum, min, max, min_ts, max_ts), version) AS v FROM "+db+"."+schema.State+
		" GROUP BY tenant, kind, level, bucket, client_id, metric, stream, part)")
	if err != nil {
		return nil, fmt.Errorf("read live state: %w", err)
	}
	defer rows.Close()
	out := make(map[pipeline.StateKey]pipeline.StateRow)
	for rows.Next() {
		var (
			k           pipeline.StateKey
			r           pipeline.StateRow
			sum, mn, mx decimal.Decimal
		)
		if err := rows.Scan(&k.Tenant, &k.Kind, &k.Level, &k.Bucket, &k.Client, &k.Metric, &k.Stream, &k.Part, &r.Version, &r.Count,
			&sum, &mn, &mx, &r.MinTs, &r.MaxTs); err != nil {
			return nil, fmt.Errorf("read live state: %w", err)
		}
		r.Key = k
		var ok1, ok2, ok3 bool
		r.Sum, ok1 = eventstore.SumOf(sum)
		r.Min, ok2 = eventstore.AmountOf(mn)
		r.Max, ok3 = eventstore.AmountOf(mx)
		if !ok1 || !ok2 || !ok3 {
			return nil, fmt.Errorf("read live state: amount out of range in %+v", k)
		}
		out[k] = r
	}
	return out, rows.Err()
}

// Difference is one key on which the live and rebuilt models disagree.
type Difference struct {
	Key           pipeline.StateKey
	Live, Rebuilt *pipeline.StateRow
}

func (d Difference) String() string {
	show := func(r *pipeline.StateRow) string {
		if r == nil {
			return "missing"
		}
		return fmt.Sprintf("count %d sum %s min %v max %v ts [%d, %d]", r.Count, r.Sum.Big(), r.Min, r.Max, r.MinTs, r.MaxTs)
	}
	return fmt.Sprintf("%+v: live %s, rebuilt %s", d.Key, show(d.Live), show(d.Rebuilt))
}

// Compare lists the keys where the models differ in value (versions may
// differ: a rollup's live version is the last batch that touched it).
func Compare(live, rebuilt map[pipeline.StateKey]pipeline.StateRow) []Difference {
	var out []Difference
	same := func(a, b pipeline.StateRow) bool {
		if a.Count != b.Count || a.Sum != b.Sum {
			return false
		}
		if a.Key.Kind != schema.KindRollup || a.Count == 0 {
			return true
		}
		return a.Min == b.Min && a.Max == b.Max && a.MinTs == b.MinTs && a.MaxTs == b.MaxTs
	}
	for k, r := range rebuilt {
		l, ok := live[k]
		if !ok {
			if r.Count == 0 {
				continue
			}
			rc := r
			out = append(out, Difference{Key: k, Rebuilt: &rc})
			continue
		}
		if !same(l, r) {
			lc, rc := l, r
			out = append(out, Difference{Key: k, Live: &lc, Rebuilt: &rc})
		}
	}
	for k, l := range live {
		if _, ok := rebuilt[k]; !ok && l.Count > 0 {
			lc := l
			out = append(out, Difference{Key: k, Live: &lc})
		}
	}
	slices.SortFunc(out, func(a, b Difference) int { return strings.Compare(fmt.Sprint(a.Key), fmt.Sprint(b.Key)) })
	return out
}

// Apply writes rows into a fresh state table and swaps it in with one
// RENAME (on every server of o.Cluster, when set; on a sharded cluster in
// the shards' database, where write puts each row on its partition's shard
// and the Distributed state table follows the name). The processors must
// be stopped.
func Apply(ctx context.Context, conn driver.Conn, db string, o schema.Options, rows map[pipeline.StateKey]pipeline.StateRow, write func(ctx context.Context, table string, rows []pipeline.StateRow) error) (string, error) {
	db = o.WriteDatabase(db)
	// A new name each time: a replicated table's ZooKeeper path is named
	// after it, and a dropped one's path may linger.
	now := time.Now().Unix()
	next := fmt.Sprintf("%s_rebuilt_%d", schema.State, now)
	if err := conn.Exec(ctx, o.StateTable(db, next)); err != nil {
		return "", fmt.Errorf("create %s: %w", next, err)
	}
	list := make([]pipeline.StateRow, 0, len(rows))
	for _, r := range rows {
		list = append(list, r)
	}
	if err := write(ctx, next, list); err != nil {
		return "", err
	}
	old := fmt.Sprintf("%s_replaced_%d", schema.State, now)
	if err := conn.Exec(ctx, fmt.Sprintf("RENAME TABLE %[1]s.%[2]s TO %[1]s.%[3]s, %[1]s.%[4]s TO %[1]s.%[2]s%[5]s", db, schema.State, old, next, o.OnCluster())); err != nil {
		return "", fmt.Errorf("swap in the rebuilt state: %w", err)
	}
	return old, nil
}
