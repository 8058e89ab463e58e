package aggregate

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	shopspring "github.com/shopspring/decimal"

	"github.com/tally-dev/tally/event/schema"
	"github.com/tally-dev/tally/queryapi/internal/decimal"
	"github.com/tally-dev/tally/queryapi/internal/stats"
)

// A Mirror keeps the read model's coarse levels (all time, day, hour) in
// the query API's memory, with the ten-minute and minute rows of the hours
// that requests asked for, and answers aggregations from them without a
// ClickHouse query (docs/design/query-mirror.md). It never answers less
// than exactly: every refresh proves what it holds complete, and a request
// whose plan needs anything unproven, or a snapshot older than MaxAge, is
// answered from ClickHouse as before.
//
// # Refresh
//
// One SELECT of the state table per refresh — one snapshot S of its parts,
// and the processor writes each batch's rows, counters and position in one
// insert, so S never holds half a batch. It reads the outcome counters,
// the positions, and the rollup rows of the mirrored levels and loaded
// chunks, but only rows whose version is above the position the mirror had
// certified for their partition (rows at or below it carry nothing new: a
// row's version-V value is the exact contribution of the offsets below V,
// fixed once the position passed V). The mirror keeps, per row key, the
// highest version it has read.
//
// # The certificate
//
// Every winner adds one to the count of exactly one row per level, so in S,
// for each tenant, stream, partition and level,
//
//	Σ count of the level's rows = the processed counter
//
// Every row the mirror holds is at most as new as in S (a row's latest
// version only grows), and a row at an older version, or a missing row,
// has a smaller count. So the equality, checked on the mirror's rows
// against S's counter, proves every row of the level current as of S. A
// chunk (the ten-minute or minute rows of one hour of one tenant) is proved
// the same way against the certified hour rows: per partition, its counts
// add up to the hour's. A level or chunk that fails is not served; a failed
// level makes the next refresh read everything again.
type Mirror struct {
	conn driver.Conn
	db   string
	cfg  MirrorConfig
	log  *slog.Logger
	now  func() time.Time

	refreshMu sync.Mutex // one refresh at a time

	mu          sync.RWMutex
	tenants     map[string]*mirrorTenant
	counters    map[counterKey]versioned
	positions   map[streamPart]versioned
	lower       map[streamPart]uint64 // read rows above this version
	chunks      map[chunkKey]*mirrorChunk
	rows        int
	certifiedAt time.Time // start of the last certified refresh
	full        bool      // the next refresh reads everything
	disabled    string    // why the mirror stopped (too many rows), or ""
	lastFull    time.Time // start of the last full read

	wantMu sync.Mutex
	wanted map[chunkKey]struct{}

	// names interns clients, metrics and streams: every row of a key
	// repeats them.
	names map[string]string

	answers     *prometheus.CounterVec
	refreshDur  prometheus.Histogram
	fullDur     prometheus.Histogram
	refreshErrs prometheus.Counter
	uncertified prometheus.Counter
}

// MirrorConfig tunes a Mirror; zero fields take the defaults.
type MirrorConfig struct {
	// Interval is the time from one refresh's start to the next's (default
	// 200ms): it adds at most that much, and a refresh's duration, to the
	// time from 202 to visible.
	Interval time.Duration
	// MaxAge is the oldest certified snapshot answered from (default 2s);
	// older, requests go to ClickHouse.
	MaxAge time.Duration
	// MaxRows bounds the rows of the mirrored levels (default 400,000, about
	// 100 MB);
	// past it the mirror turns itself off and says so.
	MaxRows int
	// MaxChunks bounds the loaded chunks (default 64); ChunkIdle is how
	// long an unused chunk stays (default 10m).
	MaxChunks int
	ChunkIdle time.Duration
	// FullEvery is how often the mirror reads everything again, not only
	// what is newer than the positions (default 1m), in the background
	// (Rebase): a bound on how long rows rewritten outside the version
	// order (processor rebuild --apply) stay unseen.
	FullEvery time.Duration
}

func (c MirrorConfig) withDefaults() MirrorConfig {
	if c.Interval <= 0 {
		c.Interval = 200 * time.Millisecond
	}
	if c.MaxAge <= 0 {
		c.MaxAge = 2 * time.Second
	}
	if c.MaxRows <= 0 {
		c.MaxRows = 400_000
	}
	if c.MaxChunks <= 0 {
		c.MaxChunks = 64
	}
	if c.ChunkIdle <= 0 {
		c.ChunkIdle = 10 * time.Minute
	}
	if c.FullEvery <= 0 {
		c.FullEvery = time.Minute
	}
	return c
}

type streamPart struct {
	stream string
	part   int32
}

// counterKey names one outcome counter of one tenant and partition.
type counterKey struct {
	tenant, outcome string
	streamPart
}

type versioned struct{ version, value uint64 }

// rowKey names a rollup row inside one bucket of one level.
type rowKey struct {
	client, metric string
	streamPart
}

// mirrorRow is a rollup row's newest version (not a Stats: no average,
// kept small — a mirror holds hundreds of thousands).
type mirrorRow struct {
	version, count uint64
	sum, min, max  decimal.Value
	minTs, maxTs   int64
}

// buckets are one level's rows by bucket start (unix seconds).
type buckets map[uint32]map[rowKey]*mirrorRow

// mirrorTenant holds one tenant's all-time, day and hour rows, each
// level's count per partition, and whether the level is certified.
type mirrorTenant struct {
	levels [3]buckets
	sums   [3]map[streamPart]uint64
	ok     [3]bool
}

func newMirrorTenant() *mirrorTenant {
	t := &mirrorTenant{}
	for i := range t.levels {
		t.levels[i], t.sums[i] = buckets{}, map[streamPart]uint64{}
	}
	return t
}

// chunkKey names the ten-minute or minute rows of one hour of one tenant.
type chunkKey struct {
	tenant string
	level  uint8
	hour   uint32
}

type mirrorChunk struct {
	rows      buckets
	sums      map[streamPart]uint64
	certified bool
	lastUsed  atomic.Int64 // unix nanoseconds
}

// newMirrorChunk returns an empty, uncertified chunk last used at lastUsed
// (unix nanoseconds).
func newMirrorChunk(lastUsed int64) *mirrorChunk {
	c := &mirrorChunk{rows: buckets{}, sums: map[streamPart]uint64{}}
	c.lastUsed.Store(lastUsed)
	return c
}

// NewMirror returns a Mirror over database db (a validated identifier);
// Run keeps it current.
func NewMirror(conn driver.Conn, db string, cfg MirrorConfig, log *slog.Logger) *Mirror {
	return &Mirror{
		conn: conn, db: db, cfg: cfg.withDefaults(), log: log, now: time.Now,
		tenants: map[string]*mirrorTenant{}, counters: map[counterKey]versioned{}, positions: map[streamPart]versioned{},
		lower: map[streamPart]uint64{}, chunks: map[chunkKey]*mirrorChunk{}, full: true, wanted: map[chunkKey]struct{}{},
		names: map[string]string{},
		answers: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tally_queryapi_mirror_answers_total",
			Help: "Aggregations by where they were answered: source mirror, or clickhouse with the reason the mirror could not."},
			[]string{"source", "reason"}),
		refreshDur: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "tally_queryapi_mirror_refresh_seconds",
			Help: "Time of one mirror refresh (one read of the state table).", Buckets: prometheus.ExponentialBuckets(0.002, 2, 12)}),
		fullDur: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "tally_queryapi_mirror_full_read_seconds",
			Help: "Time of one background full read of the state table (refreshes go on meanwhile).", Buckets: prometheus.ExponentialBuckets(0.002, 2, 14)}),
		refreshErrs: prometheus.NewCounter(prometheus.CounterOpts{Name: "tally_queryapi_mirror_refresh_errors_total",
			Help: "Mirror refreshes that failed (the mirror keeps its last snapshot until MaxAge)."}),
		uncertified: prometheus.NewCounter(prometheus.CounterOpts{Name: "tally_queryapi_mirror_uncertified_total",
			Help: "Refreshes after which a level of some tenant did not add up to its processed counter (read again in full)."}),
	}
}

// Collectors are the mirror's metrics.
func (m *Mirror) Collectors() []prometheus.Collector {
	age := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tally_queryapi_mirror_age_seconds",
		Help: "Age of the mirror's last certified snapshot (-1: none yet)."}, func() float64 {
		m.mu.RLock()
		defer m.mu.RUnlock()
		if m.certifiedAt.IsZero() {
			return -1
		}
		return m.now().Sub(m.certifiedAt).Seconds()
	})
	rows := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tally_queryapi_mirror_rows",
		Help: "Rollup rows held by the mirror (all-time, day and hour levels)."}, func() float64 {
		m.mu.RLock()
		defer m.mu.RUnlock()
		return float64(m.rows)
	})
	return []prometheus.Collector{m.answers, m.refreshDur, m.fullDur, m.refreshErrs, m.uncertified, age, rows}
}

// Run refreshes the mirror every Interval (start to start) until ctx ends.
func (m *Mirror) Run(ctx context.Context) {
	rctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stop()
	wg.Go(func() { m.rebaseLoop(rctx) })
	failing := false
	for {
		began := m.now()
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := m.Refresh(rctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && !failing:
			m.log.Warn("query mirror: refresh failed; aggregations go to ClickHouse once the last snapshot is older than "+
				m.cfg.MaxAge.String(), "err", err)
		case err == nil && failing:
			m.log.Info("query mirror: refreshing again")
		}
		failing = err != nil
		m.mu.RLock()
		off := m.disabled
		m.mu.RUnlock()
		if off != "" {
			m.log.Warn("query mirror: off; every aggregation goes to ClickHouse", "reason", off)
			return
		}
		// Refreshes start an Interval apart (a slow one is followed after
		// a quarter of it): the wait for the next snapshot is part of every
		// answer's freshness, and a pause after each read added its duration.
		select {
		case <-ctx.Done():
			return
		case <-time.After(max(m.cfg.Interval-m.now().Sub(began), m.cfg.Interval/4)):
		}
	}
}

// stateRow is one row of the refresh read.
type stateRow struct {
	tenant         string
	kind, level    uint8
	bucket         uint32
	client, metric string
	sp             streamPart
	version, count uint64
	sum, mn, mx    shopspring.Decimal
	minTs, maxTs   int64
}

// Refresh reads what changed since the last refresh and certifies it.
func (m *Mirror) Refresh(ctx context.Context) error {
	m.refreshMu.Lock()
	defer m.refreshMu.Unlock()
	start := m.now()
	m.mu.Lock()
	// Reading everything again now and then (rows rewritten outside the
	// version order) is Rebase's, in the background; a refresh reads
	// everything only when the mirror cannot go on from what it holds.
	full := m.full
	lower := make(map[streamPart]uint64, len(m.lower))
	if !full {
		for sp, v := range m.lower {
			lower[sp] = v
		}
	}
	// Chunks idle for ChunkIdle are dropped; wanted ones are added (empty,
	// uncertified) and read whole by this refresh.
	var loaded, fresh []chunkKey
	for k, c := range m.chunks {
		if start.Sub(time.Unix(0, c.lastUsed.Load())) > m.cfg.ChunkIdle {
			delete(m.chunks, k)
			continue
		}
		if full {
			fresh = append(fresh, k)
		} else {
			loaded = append(loaded, k)
		}
	}
	m.wantMu.Lock()
	var added []chunkKey
	for k := range m.wanted {
		if _, ok := m.chunks[k]; !ok {
			if len(m.chunks) >= m.cfg.MaxChunks {
				if gone, ok := m.evictLRU(added); ok {
					loaded = slices.DeleteFunc(loaded, func(k chunkKey) bool { return k == gone })
					fresh = slices.DeleteFunc(fresh, func(k chunkKey) bool { return k == gone })
				}
			}
			added = append(added, k)
			m.chunks[k] = newMirrorChunk(start.UnixNano())
			fresh = append(fresh, k)
		}
	}
	clear(m.wanted)
	m.wantMu.Unlock()
	m.mu.Unlock()

	rows, err := m.read(ctx, lower, loaded, fresh)
	m.refreshDur.Observe(m.now().Sub(start).Seconds())
	if err != nil {
		m.refreshErrs.Inc()
		m.mu.Lock()
		if !full {
			// The chunks added for this read were not read: forget them (a
			// request asks again). A full read keeps the ones it holds.
			for _, k := range fresh {
				delete(m.chunks, k)
			}
		}
		m.mu.Unlock()
		return err
	}

	if full {
		return m.replace(start, rows, fresh)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range rows {
		m.apply(&rows[i])
	}
	if m.rows > m.cfg.MaxRows {
		m.turnOff()
		return nil
	}
	m.certified(start, m.certify())
	return nil
}

// replace builds the mirror anew from a full read, off the lock (readers
// go on with the old one), and swaps it in.
func (m *Mirror) replace(start time.Time, rows []stateRow, fresh []chunkKey) error {
	m.mu.RLock()
	used := make(map[chunkKey]int64, len(fresh))
	for _, k := range fresh {
		if c := m.chunks[k]; c != nil {
			used[k] = c.lastUsed.Load()
		}
	}
	m.mu.RUnlock()
	next := m.build(rows, used)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.install(next, start)
	return nil
}

// build returns a detached mirror holding rows, with empty chunks of the
// given keys (and their last use) filled by the rows that fall in them.
func (m *Mirror) build(rows []stateRow, chunks map[chunkKey]int64) *Mirror {
	next := &Mirror{cfg: m.cfg, tenants: map[string]*mirrorTenant{}, counters: map[counterKey]versioned{},
		positions: map[streamPart]versioned{}, chunks: map[chunkKey]*mirrorChunk{}, names: map[string]string{}}
	for k, used := range chunks {
		next.chunks[k] = newMirrorChunk(used)
	}
	for i := range rows {
		next.apply(&rows[i])
	}
	return next
}

// install certifies next and makes it the mirror (under m.mu), or turns the
// mirror off when next holds too many rows.
func (m *Mirror) install(next *Mirror, start time.Time) {
	if next.rows > m.cfg.MaxRows {
		m.rows = next.rows
		m.turnOff()
		return
	}
	ok := next.certify()
	m.tenants, m.counters, m.positions, m.chunks, m.names, m.rows = next.tenants, next.counters, next.positions, next.chunks, next.names, next.rows
	m.lastFull = start
	m.certified(start, ok)
}

// rebaseLoop runs Rebase whenever FullEvery has passed since the last full
// read, until ctx ends.
func (m *Mirror) rebaseLoop(ctx context.Context) {
	for {
		m.mu.RLock()
		wait := m.cfg.FullEvery - m.now().Sub(m.lastFull)
		if m.lastFull.IsZero() {
			wait = m.cfg.FullEvery // the first refresh reads everything
		}
		m.mu.RUnlock()
		if wait <= 0 {
			rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			err := m.Rebase(rctx)
			cancel()
			if err != nil && ctx.Err() == nil {
				m.log.Warn("query mirror: background full read failed; trying again in "+m.cfg.FullEvery.String(), "err", err)
			}
			wait = m.cfg.FullEvery
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// Rebase reads the whole state table again, as a full refresh does, but
// beside the refreshes instead of in their way: while it reads (seconds, on
// a large read model under load) the refreshes go on keeping the mirror
// current. It then catches the new snapshot up — one refresh's read of
// the rows above its positions, the same step that keeps any snapshot
// current — and swaps it in. A full read is how rows rewritten outside
// the version order (processor rebuild --apply swaps the table) are seen.
func (m *Mirror) Rebase(ctx context.Context) error {
	start := m.now()
	m.mu.RLock()
	if m.disabled != "" {
		m.mu.RUnlock()
		return nil
	}
	held := make(map[chunkKey]int64, len(m.chunks))
	fresh := make([]chunkKey, 0, len(m.chunks))
	for k, c := range m.chunks {
		held[k] = c.lastUsed.Load()
		fresh = append(fresh, k)
	}
	m.mu.RUnlock()
	rows, err := m.read(ctx, nil, nil, fresh)
	m.fullDur.Observe(m.now().Sub(start).Seconds())
	if err != nil {
		return err
	}
	next := m.build(rows, held)

	m.refreshMu.Lock()
	defer m.refreshMu.Unlock()
	cstart := m.now()
	m.mu.RLock()
	newer, off := m.lastFull.After(start), m.disabled != ""
	// The chunks to carry over are the ones the mirror holds now: those it
	// dropped meanwhile go, those it added are read whole.
	chunks := make(map[chunkKey]*mirrorChunk, len(m.chunks))
	var loaded []chunkKey
	fresh = fresh[:0]
	for k, c := range m.chunks {
		nc := next.chunks[k]
		if nc != nil {
			nc.lastUsed.Store(c.lastUsed.Load())
			loaded = append(loaded, k)
		} else {
			nc = newMirrorChunk(c.lastUsed.Load())
			fresh = append(fresh, k)
		}
		chunks[k] = nc
	}
	next.chunks = chunks
	m.mu.RUnlock()
	if newer || off {
		return nil // a full refresh ran meanwhile, or the mirror is off
	}
	lower := make(map[streamPart]uint64, len(next.positions))
	for sp, p := range next.positions {
		lower[sp] = p.version
	}
	more, err := m.read(ctx, lower, loaded, fresh)
	m.refreshDur.Observe(m.now().Sub(cstart).Seconds())
	if err != nil {
		m.refreshErrs.Inc()
		return err
	}
	for i := range more {
		next.apply(&more[i])
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	// The snapshot is as new as the catch-up read: certifiedAt is its start.
	m.install(next, cstart)
	return nil
}

// turnOff stops the mirror for good (under m.mu): too many rows.
func (m *Mirror) turnOff() {
	m.disabled = fmt.Sprintf("%d rows in the mirrored levels, more than TALLY_QUERY_MIRROR_MAX_ROWS=%d", m.rows, m.cfg.MaxRows)
	m.tenants, m.chunks, m.certifiedAt = map[string]*mirrorTenant{}, map[chunkKey]*mirrorChunk{}, time.Time{}
}

// certified records a refresh that started at start (under m.mu): when
// every level added up, the next refresh reads only what is newer than
// the positions; otherwise it reads everything.
func (m *Mirror) certified(start time.Time, all bool) {
	if all {
		m.full = false
		for sp, p := range m.positions {
			m.lower[sp] = p.version
		}
	} else {
		m.uncertified.Inc()
		m.full = true
	}
	m.certifiedAt = start
}

// evictLRU drops the chunk used longest ago, except those in keep.
func (m *Mirror) evictLRU(keep []chunkKey) (chunkKey, bool) {
	var oldest chunkKey
	at := int64(math.MaxInt64)
	for k, c := range m.chunks {
		if u := c.lastUsed.Load(); u < at && !slices.Contains(keep, k) {
			oldest, at = k, u
		}
	}
	if at == math.MaxInt64 {
		return chunkKey{}, false
	}
	delete(m.chunks, oldest)
	return oldest, true
}

// read runs the refresh's one SELECT.
func (m *Mirror) read(ctx context.Context, lower map[streamPart]uint64, loaded, fresh []chunkKey) ([]stateRow, error) {
	var args []any
	scope := fmt.Sprintf("kind = %d OR kind = %d OR (kind = %d AND level <= %d)",
		schema.KindCounter, schema.KindPosition, schema.KindRollup, schema.LevelHour)
	if len(loaded) > 0 {
		var c string
		c, args = chunkConds(loaded, args)
		scope += fmt.Sprintf(" OR (kind = %d AND (%s))", schema.KindRollup, c)
	}
	where := "(" + scope + ")"
	if len(lower) > 0 {
		var c string
		c, args = aboveConds(lower, args)
		where += " AND (" + c + ")"
	}
	if len(fresh) > 0 {
		var c string
		c, args = chunkConds(fresh, args)
		where = "(" + where + fmt.Sprintf(") OR (kind = %d AND (%s))", schema.KindRollup, c)
	}
	res, err := m.conn.Query(ctx, "SELECT tenant, kind, level, bucket, client_id, metric, stream, part, version, count, sum, min, max, "+
		"min_ts, max_ts FROM "+m.db+"."+schema.State+" WHERE "+where, args...)
	if err != nil {
		return nil, fmt.Errorf("query mirror: %w", err)
	}
	defer res.Close()
	var out []stateRow
	for res.Next() {
		var r stateRow
		if err := res.Scan(&r.tenant, &r.kind, &r.level, &r.bucket, &r.client, &r.metric, &r.sp.stream, &r.sp.part, &r.version,
			&r.count, &r.sum, &r.mn, &r.mx, &r.minTs, &r.maxTs); err != nil {
			return nil, fmt.Errorf("query mirror: scan: %w", err)
		}
		out = append(out, r)
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("query mirror: %w", err)
	}
	return out, nil
}

// aboveConds selects the rows above lower: of a known partition, those above
// its version; of any other, all. One condition per stream, the versions
// looked up by transform(): ClickHouse 18.16 spent about 8 ms analysing the
// two conditions per partition this replaced, a refresh's whole cost when
// idle (issue #13: the refresh interval is part of freshness).
func aboveConds(lower map[streamPart]uint64, args []any) (string, []any) {
	byStream := map[string][]streamPart{}
	for sp := range lower {
		byStream[sp.stream] = append(byStream[sp.stream], sp)
	}
	streams := slices.Sorted(maps.Keys(byStream))
	var ors []string
	for _, st := range streams {
		sps := byStream[st]
		slices.SortFunc(sps, func(a, b streamPart) int { return cmp.Compare(a.part, b.part) })
		parts := make([]int32, len(sps))
		versions := make([]uint64, len(sps))
		for i, sp := range sps {
			parts[i], versions[i] = sp.part, lower[sp]
		}
		ors = append(ors, "(stream = ? AND (NOT has(?, part) OR version > transform(part, ?, ?, toUInt64(0))))")
		args = append(args, st, parts, parts, versions)
	}
	ors = append(ors, "NOT has(?, stream)")
	args = append(args, streams)
	return strings.Join(ors, " OR "), args
}

func chunkConds(keys []chunkKey, args []any) (string, []any) {
	var ors []string
	for _, k := range keys {
		ors = append(ors, fmt.Sprintf("(tenant = ? AND level = %d AND bucket >= ? AND bucket < ?)", k.level))
		args = append(args, k.tenant, k.hour, k.hour+3600)
	}
	return strings.Join(ors, " OR "), args
}

// apply merges one row read by a refresh: the highest version wins.
func (m *Mirror) apply(r *stateRow) {
	switch r.kind {
	case schema.KindCounter:
		k := counterKey{r.tenant, r.metric, r.sp}
		if old, ok := m.counters[k]; !ok || r.version >= old.version {
			m.counters[k] = versioned{r.version, r.count}
		}
	case schema.KindPosition:
		if old, ok := m.positions[r.sp]; !ok || r.version >= old.version {
			m.positions[r.sp] = versioned{r.version, r.count}
		}
	case schema.KindRollup:
		r.client, r.metric, r.sp.stream = m.intern(r.client), m.intern(r.metric), m.intern(r.sp.stream)
		if r.level <= schema.LevelHour {
			t := m.tenants[r.tenant]
			if t == nil {
				t = newMirrorTenant()
				m.tenants[r.tenant] = t
			}
			if put(t.levels[r.level], t.sums[r.level], r) {
				m.rows++
			}
			return
		}
		c := m.chunks[chunkKey{r.tenant, r.level, r.bucket / 3600 * 3600}]
		if c != nil {
			put(c.rows, c.sums, r)
		}
	}
}

func (m *Mirror) intern(s string) string {
	if v, ok := m.names[s]; ok {
		return v
	}
	m.names[s] = s
	return s
}

// put stores r in b unless b holds a newer version of its key, keeping the
// per-partition count sums; it reports whether the key is new.
func put(b buckets, sums map[streamPart]uint64, r *stateRow) bool {
	rows := b[r.bucket]
	if rows == nil {
		rows = map[rowKey]*mirrorRow{}
		b[r.bucket] = rows
	}
	k := rowKey{r.client, r.metric, r.sp}
	old := rows[k]
	if old != nil && old.version > r.version {
		return false
	}
	if old != nil {
		sums[r.sp] -= old.count
	}
	rows[k] = &mirrorRow{version: r.version, count: r.count, sum: value(r.sum), min: value(r.mn), max: value(r.mx),
		minTs: r.minTs, maxTs: r.maxTs}
	sums[r.sp] += r.count
	return old == nil
}

// certify checks every tenant's levels against the processed counters and
// every chunk against its hour; it reports whether all levels passed.
func (m *Mirror) certify() bool {
	byTenant := map[string]map[streamPart]uint64{}
	for k, v := range m.counters {
		if k.outcome != schema.OutcomeProcessed {
			continue
		}
		if byTenant[k.tenant] == nil {
			byTenant[k.tenant] = map[streamPart]uint64{}
		}
		byTenant[k.tenant][k.streamPart] = v.value
	}
	for tenant := range byTenant {
		if m.tenants[tenant] == nil {
			m.tenants[tenant] = newMirrorTenant()
		}
	}
	all := true
	for tenant, t := range m.tenants {
		want := byTenant[tenant]
		for l := range t.levels {
			t.ok[l] = sameCounts(t.sums[l], want)
			all = all && t.ok[l]
		}
	}
	for k, c := range m.chunks {
		t := m.tenants[k.tenant]
		if t == nil {
			// No rows and no counters: the tenant has nothing at all.
			c.certified = len(c.rows) == 0
			continue
		}
		hour := map[streamPart]uint64{}
		for rk, r := range t.levels[schema.LevelHour][k.hour] {
			hour[rk.streamPart] += r.count
		}
		c.certified = t.ok[schema.LevelHour] && sameCounts(c.sums, hour)
		if !c.certified && t.ok[schema.LevelHour] {
			// The hour is proven and the chunk does not add up to it:
			// drop it, so the next request loads it whole.
			delete(m.chunks, k)
		}
	}
	return all
}

// sameCounts compares two per-partition counts, absent meaning 0.
func sameCounts(a, b map[streamPart]uint64) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}

// answer serves q from the mirror; served is false (and the reason
// counted) when the plan needs anything the mirror cannot prove current.
func (m *Mirror) answer(q Query, segs []segment, edges []edge) (groups []Group, served bool, err error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	reason := m.cannot(q, segs, edges)
	if reason != "" {
		m.answers.WithLabelValues("clickhouse", reason).Inc()
		return nil, false, nil
	}
	r := &result{q: q, accs: make(map[groupKey]*Stats)}
	keep := rowFilter(q)
	t := m.tenants[q.Tenant]
	if t == nil {
		m.answers.WithLabelValues("mirror", "").Inc()
		return r.groups(), true, nil
	}
	for _, sg := range segs {
		var b buckets
		if sg.level <= schema.LevelHour {
			b = t.levels[sg.level]
		}
		if err := m.addSegment(r, b, sg, keep, q.Tenant); err != nil {
			return nil, true, err
		}
	}
	for _, e := range edges {
		c := m.chunks[chunkKey{q.Tenant, schema.LevelMinute, uint32(e.minute) / 3600 * 3600}]
		for k, row := range c.rows[uint32(e.minute)] {
			if !keep(k) || row.maxTs < e.lo || row.minTs >= e.hi {
				continue
			}
			if err := r.addRow(r.key(k.client, k.metric, e.minute), row.count, &row.sum, &row.min, &row.max); err != nil {
				return nil, true, err
			}
		}
	}
	m.answers.WithLabelValues("mirror", "").Inc()
	return r.groups(), true, nil
}

// current reports (under m.mu) whether the mirror is on and holds a
// snapshot younger than MaxAge.
func (m *Mirror) current() bool {
	return m.disabled == "" && !m.certifiedAt.IsZero() && m.now().Sub(m.certifiedAt) <= m.cfg.MaxAge
}

// cannot says why the mirror cannot answer (under m.mu), or "".
func (m *Mirror) cannot(q Query, segs []segment, edges []edge) string {
	switch {
	case m.disabled != "":
		return "off"
	case !m.current():
		return "stale"
	}
	t := m.tenants[q.Tenant]
	keep := rowFilter(q)
	var missing []chunkKey
	need := func(level uint8, fromSec, toSec int64) string {
		if fromSec == math.MinInt64 || toSec == math.MaxInt64 {
			return "open_fine_range"
		}
		if (toSec-fromSec)/3600 > int64(m.cfg.MaxChunks)/2 {
			return "long_fine_range"
		}
		for h := floorDiv(fromSec, 3600) * 3600; h < toSec; h += 3600 {
			if h < 0 || h > math.MaxUint32 {
				return "out_of_range"
			}
			k := chunkKey{q.Tenant, level, uint32(h)}
			c := m.chunks[k]
			if c == nil {
				missing = append(missing, k)
				continue
			}
			c.lastUsed.Store(m.now().UnixNano())
			if !c.certified {
				return "uncertified_chunk"
			}
		}
		return ""
	}
	for _, sg := range segs {
		if sg.level <= schema.LevelHour {
			if t != nil && !t.ok[sg.level] {
				return "uncertified_level"
			}
			continue
		}
		if why := need(sg.level, sg.lo, sg.hi); why != "" {
			return why
		}
	}
	for _, e := range edges {
		if why := need(schema.LevelMinute, e.minute, e.minute+60); why != "" {
			return why
		}
		if c := m.chunks[chunkKey{q.Tenant, schema.LevelMinute, uint32(e.minute) / 3600 * 3600}]; c != nil {
			for k, row := range c.rows[uint32(e.minute)] {
				if keep(k) && row.maxTs >= e.lo && row.minTs < e.hi && (row.minTs < e.lo || row.maxTs >= e.hi) {
					return "straddling_edge"
				}
			}
		}
	}
	if len(missing) > 0 {
		m.wantMu.Lock()
		for _, k := range missing {
			m.wanted[k] = struct{}{}
		}
		m.wantMu.Unlock()
		return "chunk_loading"
	}
	return ""
}

// rowFilter applies the query's client and metric filters.
func rowFilter(q Query) func(rowKey) bool {
	clients, metrics := setOf(q.ClientIDs), setOf(q.Metrics)
	return func(k rowKey) bool {
		if clients != nil {
			if _, ok := clients[k.client]; !ok {
				return false
			}
		}
		if metrics != nil {
			if _, ok := metrics[k.metric]; !ok {
				return false
			}
		}
		return true
	}
}

func setOf(values []string) map[string]struct{} {
	if len(values) == 0 {
		return nil
	}
	s := make(map[string]struct{}, len(values))
	for _, v := range values {
		s[v] = struct{}{}
	}
	return s
}

// addSegment adds the rows of the segment's whole buckets: from b for the
// mirrored levels, from the hour chunks for finer ones.
func (m *Mirror) addSegment(r *result, b buckets, sg segment, keep func(rowKey) bool, tenant string) error {
	addBucket := func(bucket uint32, rows map[rowKey]*mirrorRow) error {
		for k, row := range rows {
			if keep(k) {
				if err := r.addRow(r.key(k.client, k.metric, int64(bucket)), row.count, &row.sum, &row.min, &row.max); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if b == nil {
		// A fine level: cannot has made sure every hour has its chunk.
		width := schema.LevelSeconds[sg.level]
		for h := floorDiv(sg.lo, 3600) * 3600; h < sg.hi; h += 3600 {
			c := m.chunks[chunkKey{tenant, sg.level, uint32(h)}]
			for s := max(h, sg.lo); s < min(h+3600, sg.hi); s += width {
				if err := addBucket(uint32(s), c.rows[uint32(s)]); err != nil {
					return err
				}
			}
		}
		return nil
	}
	width := schema.LevelSeconds[sg.level]
	if width > 0 && sg.lo != math.MinInt64 && sg.hi != math.MaxInt64 && (sg.hi-sg.lo)/width <= int64(len(b)) {
		for s := max(sg.lo, 0); s < min(sg.hi, math.MaxUint32+1); s += width {
			if err := addBucket(uint32(s), b[uint32(s)]); err != nil {
				return err
			}
		}
		return nil
	}
	for bucket, rows := range b {
		if int64(bucket) >= sg.lo && int64(bucket) < sg.hi {
			if err := addBucket(bucket, rows); err != nil {
				return err
			}
		}
	}
	return nil
}

// values lists a tenant's clients or metrics from its all-time rows, like
// Store.Values; ok is false when the level is not proven current.
func (m *Mirror) values(tenant string, dim Dimension, prefix string, limit int) (out []string, truncated, ok bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if !m.current() {
		return nil, false, false
	}
	out = []string{}
	t := m.tenants[tenant]
	if t == nil {
		return out, false, true
	}
	if !t.ok[schema.LevelAll] {
		return nil, false, false
	}
	seen := map[string]struct{}{}
	for k := range t.levels[schema.LevelAll][0] {
		v := k.client
		if dim == Metrics {
			v = k.metric
		}
		if _, dup := seen[v]; !dup && strings.HasPrefix(v, prefix) {
			seen[v] = struct{}{}
			out = append(out, v)
		}
	}
	slices.Sort(out)
	if len(out) > limit {
		return out[:limit], true, true
	}
	return out, false, true
}

// Books is the State of the mirror's snapshot — one snapshot of the state
// table, the one aggregations are answered from — so /v1/stats can describe
// the same moment: once it says every record is counted, an aggregation
// includes them all. ok is false when the mirror has no snapshot younger
// than MaxAge.
func (m *Mirror) Books() (st stats.State, ok bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if !m.current() {
		return stats.State{}, false
	}
	for k, v := range m.counters {
		st.Counters = append(st.Counters, stats.Counter{Tenant: k.tenant, Outcome: k.outcome, Stream: k.stream, Part: k.part, Count: v.value})
	}
	for sp, v := range m.positions {
		st.Positions = append(st.Positions, stats.Position{Stream: sp.stream, Part: sp.part, Position: int64(v.value)})
	}
	return st, true
}
