// Package eventstore is the pipeline's Store on ClickHouse (schema in
// github.com/tally-dev/tally/event/schema): it writes winners, their id
// index, duplicates, rejections, dead letters, forwarded strays and the read
// model, and answers the pipeline's questions about durable state.
//
// Every write is idempotent with respect to the raw record it describes:
// rows carry the record's source and tables are ReplacingMergeTree over a
// key that a rewrite repeats, so retrying a batch after a failure or a crash
// adds physical rows at worst, never logical ones; state rows are versioned
// and readers take the highest version. Inserts list their columns because
// ClickHouse 18.16 rejects column-less batch inserts from clickhouse-go.
package eventstore

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/ext"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"
	"github.com/shopspring/decimal"
	"golang.org/x/sync/errgroup"

	"github.com/tally-dev/tally/event"
	"github.com/tally-dev/tally/event/schema"
	"github.com/tally-dev/tally/event/tlsconf"
	"github.com/tally-dev/tally/processor/internal/pipeline"
)

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
	// InsertQuorum, when above 1, makes every insert wait until that many
	// replicas of the shard hold it (insert_quorum) before it succeeds, and
	// every read see all quorum-written data (select_sequential_consistency):
	// the processor commits offsets only after a write, so a write a
	// majority of replicas holds survives the loss of any one server. A
	// replica that cannot be reached fails inserts after
	// InsertQuorumTimeout; the pipeline retries them (a retried block is
	// deduplicated by the replicated table, and rewrites collapse anyway).
	InsertQuorum        int
	InsertQuorumTimeout time.Duration
	// TLS, when enabled, encrypts every connection (Addr is then the
	// servers' secure native port, tcp_port_secure).
	TLS tlsconf.Settings
}

// Settings are the ClickHouse settings a connection with these options sends
// on every query. Values are int: the driver encodes nothing else for
// servers as old as 18.16.
func (o Options) Settings() clickhouse.Settings {
	if o.InsertQuorum <= 1 {
		return nil
	}
	timeout := o.InsertQuorumTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	return clickhouse.Settings{
		"insert_quorum":                 o.InsertQuorum,
		"insert_quorum_timeout":         int(timeout.Milliseconds()),
		"select_sequential_consistency": 1,
	}
}

// Open connects to ClickHouse over the native protocol. It does not ping.
func Open(opts Options) (*Store, error) {
	tlsConfig, err := opts.TLS.Config()
	if err != nil {
		return nil, fmt.Errorf("clickhouse %w", err)
	}
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr: opts.Addr,
		TLS:  tlsConfig,
		Auth: clickhouse.Auth{Database: "default", Username: opts.User, Password: opts.Password},
		// Large batches compress well; LZ4 costs little CPU.
		Compression: &clickhouse.Compression{Method: clickhouse.CompressionLZ4},
		DialTimeout: 5 * time.Second,
		// A batch's groups (TALLY_BATCH_GROUPS) each insert up to six
		// tables at once.
		MaxOpenConns:    16,
		ConnMaxLifetime: time.Hour,
		Settings:        opts.Settings(),
	})
	if err != nil {
		return nil, fmt.Errorf("open clickhouse: %w", err)
	}
	return New(conn, opts.Database), nil
}

// New wraps an open connection; db is a validated identifier.
func New(conn driver.Conn, db string) *Store { return &Store{conn: conn, db: db} }

// Close closes the connection pool.
func (s *Store) Close() error { return s.conn.Close() }

// Ping checks that ClickHouse answers.
func (s *Store) Ping(ctx context.Context) error { return s.conn.Ping(ctx) }

// Conn exposes the connection (migrations and rebuilds).
func (s *Store) Conn() driver.Conn { return s.conn }

// Database is the database name.
func (s *Store) Database() string { return s.db }

var _ pipeline.Store = (*Store)(nil)

// Write inserts a batch's rows, one insert per table, side by side: any
// subset of them may land before a failure (the caller retries all of it,
// and every row is keyed by its source record), so only latency orders
// them. One order is kept: a duplicate whose original is in this batch is
// written after the winners, so that an original is never younger than its
// lineage row.
func (s *Store) Write(ctx context.Context, b pipeline.Batch) error {
	now := time.Now().UnixMilli()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.writeEvents(gctx, b.Winners, now) })
	g.Go(func() error {
		return s.insert(gctx, schema.EventIDs, schema.EventIDsColumns, len(b.Winners), func() []any { return eventIDsColumns(b.Winners, now) })
	})
	g.Go(func() error {
		return s.insert(gctx, schema.Rejected, schema.RejectedColumns, len(b.Rejected), func() []any { return rejectedColumns(b.Rejected, now) })
	})
	g.Go(func() error {
		return s.insert(gctx, schema.DeadLetters, schema.DeadLettersColumns, len(b.DeadLetters), func() []any {
			return deadLettersColumns(b.DeadLetters, now)
		})
	})
	g.Go(func() error {
		return s.insert(gctx, schema.Forwarded, schema.ForwardedColumns, len(b.Forwarded), func() []any {
			return forwardedColumns(b.Forwarded, now)
		})
	})
	duplicates := func(ctx context.Context) error {
		return s.insert(ctx, schema.Duplicates, schema.DuplicatesColumns, len(b.Duplicates), func() []any {
			return duplicatesColumns(b.Duplicates, now)
		})
	}
	if !originalsInBatch(b) {
		g.Go(func() error { return duplicates(gctx) })
		return g.Wait()
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return duplicates(ctx)
}

// originalsInBatch reports whether a duplicate of b has its original among
// b's winners.
func originalsInBatch(b pipeline.Batch) bool {
	if len(b.Duplicates) == 0 || len(b.Winners) == 0 {
		return false
	}
	type src struct {
		stream    uint32
		partition int32
		offset    int64
	}
	winners := make(map[src]struct{}, len(b.Winners))
	for _, w := range b.Winners {
		winners[src{pipeline.StreamTag(w.Source.Stream), w.Source.Partition, w.Source.Offset}] = struct{}{}
	}
	for _, d := range b.Duplicates {
		if _, ok := winners[src{d.Original.Stream, d.Original.Partition, d.Original.Offset}]; ok {
			return true
		}
	}
	return false
}

// maxMonthsPerInsert keeps one events insert under current ClickHouse's
// max_partitions_per_insert_block (100): an accepted batch spanning more
// months is written in several inserts instead of failing forever.
const maxMonthsPerInsert = 90

func (s *Store) writeEvents(ctx context.Context, rows []pipeline.Winner, now int64) error {
	months := make(map[int][]int)
	var order []int
	for i, w := range rows {
		t := w.Event.Timestamp.UTC()
		m := t.Year()*100 + int(t.Month())
		if _, ok := months[m]; !ok {
			order = append(order, m)
		}
		months[m] = append(months[m], i)
	}
	for start := 0; start < len(order); start += maxMonthsPerInsert {
		var idx []int
		for _, m := range order[start:min(len(order), start+maxMonthsPerInsert)] {
			idx = append(idx, months[m]...)
		}
		if err := s.insert(ctx, schema.Events, schema.EventsColumns, len(idx), func() []any {
			return eventsColumns(rows, idx, now)
		}); err != nil {
			return err
		}
	}
	return nil
}

// WriteState writes a batch's read-model rows as one insert: one block, one
// part (the table has no PARTITION BY), so readers see all of it or none.
func (s *Store) WriteState(ctx context.Context, rows []pipeline.StateRow) error {
	return s.WriteStateTo(ctx, schema.State, rows)
}

// WriteStateTo writes state rows into table (a copy of the state table, for
// rebuilds).
func (s *Store) WriteStateTo(ctx context.Context, table string, rows []pipeline.StateRow) error {
	return s.insert(ctx, table, schema.StateColumns, len(rows), func() []any { return stateColumns(rows) })
}

// RollupIndex reads, for one partition's rollup rows, the newest bucket per
// tenant and level, the buckets that hold rows (up to maxWords words of 64;
// negative: none) and (up to maxSeries; negative: none) the series with an
// all-time row. The first two come from one query that reads the columns of
// the whole state table (the partition is not a prefix of its key), once
// per partition taken on; past maxWords a second one reads the newest
// buckets alone.
func (s *Store) RollupIndex(ctx context.Context, stream string, part int32, maxSeries, maxWords int) (pipeline.RollupIndex, error) {
	idx := pipeline.RollupIndex{High: make(map[pipeline.TenantLevel]uint32)}
	if maxWords >= 0 {
		complete, err := s.bucketWords(ctx, stream, part, maxWords, &idx)
		if err != nil {
			return idx, err
		}
		if !complete {
			idx.Buckets = nil
			clear(idx.High)
		}
	}
	if idx.Buckets == nil {
		if err := s.highWater(ctx, stream, part, idx.High); err != nil {
			return idx, err
		}
	}
	if maxSeries < 0 {
		return idx, nil
	}
	series, err := s.conn.Query(ctx, "SELECT DISTINCT tenant, client_id, metric FROM "+s.db+"."+schema.State+
		" WHERE kind = ? AND level = ? AND stream = ? AND part = ? LIMIT ?", schema.KindRollup, schema.LevelAll, stream, part,
		maxSeries+1)
	if err != nil {
		return idx, fmt.Errorf("rollup series: %w", err)
	}
	defer series.Close()
	idx.Series = make(map[pipeline.Series]struct{})
	for series.Next() {
		var sr pipeline.Series
		if err := series.Scan(&sr.Tenant, &sr.Client, &sr.Metric); err != nil {
			return idx, fmt.Errorf("rollup series: %w", err)
		}
		idx.Series[sr] = struct{}{}
	}
	if err := series.Err(); err != nil {
		return idx, fmt.Errorf("rollup series: %w", err)
	}
	if len(idx.Series) > maxSeries {
		idx.Series = nil
	}
	return idx, nil
}

// bucketSlotSQL is pipeline.BucketSlot in SQL: a bucket's start over its
// level's width.
var bucketSlotSQL = func() string {
	expr := "multiIf("
	for l := schema.LevelDay; l <= schema.LevelMinute; l++ {
		expr += fmt.Sprintf("level = %d, intDiv(bucket, %d), ", l, schema.LevelSeconds[l])
	}
	return expr + "0)"
}()

// bucketWords fills idx.Buckets and idx.High from one query, grouped by
// word of 64 bucket slots; it reports false when there are more than
// maxWords words (idx is then partial).
func (s *Store) bucketWords(ctx context.Context, stream string, part int32, maxWords int, idx *pipeline.RollupIndex) (bool, error) {
	rows, err := s.conn.Query(ctx, "SELECT tenant, level, intDiv("+bucketSlotSQL+", 64) AS word, "+
		"groupBitOr(bitShiftLeft(toUInt64(1), "+bucketSlotSQL+" % 64)), max(bucket) FROM "+s.db+"."+schema.State+
		" WHERE stream = ? AND part = ? AND kind = ? GROUP BY tenant, level, word LIMIT ?",
		stream, part, schema.KindRollup, maxWords+1)
	if err != nil {
		return false, fmt.Errorf("rollup buckets: %w", err)
	}
	defer rows.Close()
	idx.Buckets = make(map[pipeline.TenantLevel]pipeline.BucketWords)
	n := 0
	for rows.Next() {
		var (
			tl     pipeline.TenantLevel
			word   uint32
			bits   uint64
			bucket uint32
		)
		if err := rows.Scan(&tl.Tenant, &tl.Level, &word, &bits, &bucket); err != nil {
			return false, fmt.Errorf("rollup buckets: %w", err)
		}
		if n++; n > maxWords {
			return false, nil
		}
		bw := idx.Buckets[tl]
		if bw == nil {
			bw = make(pipeline.BucketWords)
			idx.Buckets[tl] = bw
		}
		bw[word] = bits
		if h, ok := idx.High[tl]; !ok || bucket > h {
			idx.High[tl] = bucket
		}
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("rollup buckets: %w", err)
	}
	return true, nil
}

// highWater reads the newest bucket per tenant and level into high.
func (s *Store) highWater(ctx context.Context, stream string, part int32, high map[pipeline.TenantLevel]uint32) error {
	rows, err := s.conn.Query(ctx, "SELECT tenant, level, max(bucket) FROM "+s.db+"."+schema.State+
		" WHERE stream = ? AND part = ? AND kind = ? GROUP BY tenant, level", stream, part, schema.KindRollup)
	if err != nil {
		return fmt.Errorf("rollup high-water: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var tl pipeline.TenantLevel
		var bucket uint32
		if err := rows.Scan(&tl.Tenant, &tl.Level, &bucket); err != nil {
			return fmt.Errorf("rollup high-water: %w", err)
		}
		high[tl] = bucket
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("rollup high-water: %w", err)
	}
	return nil
}

// loadChunk bounds the keys of one LoadState query.
const loadChunk = 100_000

// LoadState reads the highest version of each key, at the keys' positions
// (pipeline.Store).
func (s *Store) LoadState(ctx context.Context, keys []pipeline.StateKey) ([]pipeline.StateRow, error) {
	out := make([]pipeline.StateRow, len(keys))
	// Keys are read per (tenant, kind, level), naming their buckets as
	// constants, so ClickHouse reads only the index ranges of those
	// buckets (the table's key starts tenant, kind, level, bucket) instead
	// of scanning the whole read model for the tuples.
	type group struct {
		tenant      string
		kind, level uint8
	}
	groups := make(map[group][]int)
	for i, k := range keys {
		g := group{k.Tenant, k.Kind, k.Level}
		groups[g] = append(groups[g], i)
	}
	for g, all := range groups {
		for start := 0; start < len(all); start += loadChunk {
			if err := s.loadState(ctx, g.tenant, g.kind, g.level, keys, all[start:min(len(all), start+loadChunk)], out); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// loadState reads the keys at the positions chunk (all of one tenant, kind
// and level) into out at the same positions. ClickHouse sends the rows of
// the keys' buckets whose (bucket, client_id, metric) hash is among the
// keys': probing a hash set costs a fraction of probing a set of whole
// keys, row by row. A row that passes but was not asked for (the same
// series in another partition or stream, or a hash collision) is dropped
// here: the caller may hold a newer value of it, or none
// (docs/design/read-model.md, "What it costs").
func (s *Store) loadState(ctx context.Context, tenant string, kind, level uint8, keys []pipeline.StateKey, chunk []int,
	out []pipeline.StateRow) error {
	// The keys travel as an external table (binary, in the query's data
	// blocks): binding tens of thousands of tuples into the SQL text costs
	// seconds to format and parse.
	tbl, err := ext.NewTable("keys", ext.Column("bucket", "UInt32"), ext.Column("client_id", "String"),
		ext.Column("metric", "String"))
	if err != nil {
		return fmt.Errorf("load state: %w", err)
	}
	// The rest of a key (tenant, kind and level are the chunk's).
	type rest struct {
		bucket                 uint32
		part                   int32
		client, metric, stream string
	}
	asked := make(map[rest]int, len(chunk))
	seen := make(map[uint32]bool)
	var buckets []any
	for _, i := range chunk {
		k := keys[i]
		r := rest{k.Bucket, k.Part, k.Client, k.Metric, k.Stream}
		if _, dup := asked[r]; dup {
			return fmt.Errorf("load state: key %+v asked for twice", k)
		}
		asked[r] = i
		if err := tbl.Append(k.Bucket, k.Client, k.Metric); err != nil {
			return fmt.Errorf("load state: %w", err)
		}
		if !seen[k.Bucket] {
			seen[k.Bucket] = true
			buckets = append(buckets, k.Bucket)
		}
	}
	// One argMax of a tuple: with equal versions, every column comes from
	// the same row. Decimals are read natively: 18.16's toString misprints
	// some Decimal128 values above 2^64 (a digit becomes NUL).
	// The rows a batch reads were mostly written by the batches just
	// before it: the uncompressed cache keeps them ready.
	rows, err := s.conn.Query(clickhouse.Context(ctx, clickhouse.WithExternalTable(tbl),
		clickhouse.WithSettings(clickhouse.Settings{"use_uncompressed_cache": 1})),
		"SELECT bucket, client_id, metric, stream, part, v.1, v.2, v.3, v.4, v.5, v.6, v.7 "+
			"FROM (SELECT bucket, client_id, metric, stream, part, argMax(tuple(version, count, sum, min, max, min_ts, max_ts), version) AS v FROM "+
			s.db+"."+schema.State+" WHERE tenant = ? AND kind = ? AND level = ? AND bucket IN ? "+
			"AND cityHash64(bucket, client_id, metric) IN (SELECT cityHash64(bucket, client_id, metric) FROM keys) "+
			"GROUP BY bucket, client_id, metric, stream, part)", tenant, kind, level, clickhouse.GroupSet{Value: buckets})
	if err != nil {
		return fmt.Errorf("load state: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			k            rest
			sum, mn, mx  decimal.Decimal
			version, cnt uint64
			minTs, maxTs int64
		)
		if err := rows.Scan(&k.bucket, &k.client, &k.metric, &k.stream, &k.part, &version, &cnt, &sum, &mn, &mx,
			&minTs, &maxTs); err != nil {
			return fmt.Errorf("load state: scan: %w", err)
		}
		i, ok := asked[k]
		if !ok {
			continue
		}
		r := pipeline.StateRow{Key: keys[i], Version: version, Count: cnt, MinTs: minTs, MaxTs: maxTs}
		if r.Sum, ok = SumOf(sum); !ok {
			return fmt.Errorf("load state: bad sum %s", sum)
		}
		if r.Min, ok = AmountOf(mn); !ok {
			return fmt.Errorf("load state: bad min %s", mn)
		}
		if r.Max, ok = AmountOf(mx); !ok {
			return fmt.Errorf("load state: bad max %s", mx)
		}
		out[i] = r
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load state: %w", err)
	}
	return nil
}

// Lookup returns the winners among ids.
func (s *Store) Lookup(ctx context.Context, ids []pipeline.TenantID) (map[pipeline.TenantID]pipeline.Origin, error) {
	out := make(map[pipeline.TenantID]pipeline.Origin)
	for start := 0; start < len(ids); start += loadChunk {
		chunk := ids[start:min(len(ids), start+loadChunk)]
		tbl, err := ext.NewTable("ids", ext.Column("tenant", "String"), ext.Column("event_id", "String"))
		if err != nil {
			return nil, fmt.Errorf("look up winners: %w", err)
		}
		for _, id := range chunk {
			if err := tbl.Append(id.Tenant, id.EventID); err != nil {
				return nil, fmt.Errorf("look up winners: %w", err)
			}
		}
		// A winner may have been written more than once (a replayed batch):
		// every row names the same origin.
		rows, err := s.conn.Query(clickhouse.Context(ctx, clickhouse.WithExternalTable(tbl)),
			"SELECT tenant, event_id, any(stream), any(partition), any(offset), any(fingerprint) FROM "+
				s.db+"."+schema.EventIDs+" WHERE (tenant, event_id) IN (SELECT tenant, event_id FROM ids) GROUP BY tenant, event_id")
		if err != nil {
			return nil, fmt.Errorf("look up winners: %w", err)
		}
		for rows.Next() {
			var id pipeline.TenantID
			var o pipeline.Origin
			var stream string
			if err := rows.Scan(&id.Tenant, &id.EventID, &stream, &o.Partition, &o.Offset, &o.Fingerprint); err != nil {
				rows.Close()
				return nil, fmt.Errorf("look up winners: scan: %w", err)
			}
			o.Stream = pipeline.StreamTag(stream)
			out[id] = o
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("look up winners: %w", err)
		}
	}
	return out, nil
}

// Winners streams the winners of the slots (optionally only one stream's,
// from an offset on). event_ids is ordered by id, so this reads its slot
// column whole: healing Redis after it lost data is rare, and a lookup by
// id (every batch while Redis is down, every event detail) is not.
func (s *Store) Winners(ctx context.Context, slots []int32, stream string, from int64, each func(string, pipeline.Origin) error) error {
	set := make([]any, len(slots))
	for i, sl := range slots {
		set[i] = sl
	}
	q := "SELECT event_id, stream, partition, offset, fingerprint FROM " + s.db + "." + schema.EventIDs + " WHERE slot IN ?"
	args := []any{clickhouse.GroupSet{Value: set}}
	if stream != "" {
		q += " AND stream = ? AND offset >= ?"
		args = append(args, stream, from)
	}
	rows, err := s.conn.Query(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("read winners: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, st string
		var o pipeline.Origin
		if err := rows.Scan(&id, &st, &o.Partition, &o.Offset, &o.Fingerprint); err != nil {
			return fmt.Errorf("read winners: scan: %w", err)
		}
		o.Stream = pipeline.StreamTag(st)
		if err := each(id, o); err != nil {
			return err
		}
	}
	return rows.Err()
}

// insert writes n rows to table as one native batch, column by column
// (columns.go): cols returns one typed slice per column, in the order of
// columns. ClickHouse 18.16 needs the column list spelled out.
func (s *Store) insert(ctx context.Context, table string, columns []string, n int, cols func() []any) error {
	if n == 0 {
		return nil
	}
	batch, err := s.conn.PrepareBatch(ctx, "INSERT INTO "+s.db+"."+table+" ("+strings.Join(columns, ", ")+")")
	if err != nil {
		return fmt.Errorf("prepare %s insert: %w", table, err)
	}
	defer func() { _ = batch.Abort() }()
	for i, c := range cols() {
		if err := batch.Column(i).Append(c); err != nil {
			return appendError{fmt.Errorf("append %s column %s: %w", table, columns[i], err)}
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("insert %s: %w", table, err)
	}
	return nil
}

// appendError is a value the driver cannot convert to its column: the same
// row fails every time.
type appendError struct{ error }

func (e appendError) Unwrap() error { return e.error }

// permanentCodes are ClickHouse error codes that the same rows will meet on
// every retry: values the server cannot parse, convert or hold.
// Quorum failures (286: the previous quorum insert is not finished, 319:
// the quorum was not reached in time) are transient: the write is retried.
var permanentCodes = map[int32]bool{
	6: true, 27: true, 38: true, 41: true, 53: true, 69: true, 70: true, 72: true, 131: true, 407: true,
}

// Permanent reports whether a Write error will recur for the same rows.
func (s *Store) Permanent(err error) bool {
	var ae appendError
	if errors.As(err, &ae) {
		return true
	}
	var ex *proto.Exception
	if errors.As(err, &ex) {
		return permanentCodes[ex.Code]
	}
	return false
}

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
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

// SumDecimal converts an exact total to the driver's decimal type.
func SumDecimal(s event.Sum) decimal.Decimal { return decimal.NewFromBigInt(s.Big(), -9) }

// SumOf converts the driver's Decimal(38, 9) to an exact total.
func SumOf(d decimal.Decimal) (event.Sum, bool) {
	return event.SumFromBig(d.Shift(9).BigInt())
}

// AmountOf converts the driver's Decimal(38, 9) to an amount.
func AmountOf(d decimal.Decimal) (event.Amount, bool) {
	v := d.Shift(9).BigInt()
	q, r := new(big.Int).QuoRem(v, big.NewInt(event.NanosPerUnit), new(big.Int))
	if !q.IsInt64() {
		return event.Amount{}, false
	}
	return event.Amount{Units: q.Int64(), Nanos: int32(r.Int64())}, true
}
