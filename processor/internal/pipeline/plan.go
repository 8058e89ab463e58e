package pipeline

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tally-dev/tally/event"
	"github.com/tally-dev/tally/event/normalize"
	"github.com/tally-dev/tally/event/schema"
)

// plan is a classified batch with everything it will write.
type plan struct {
	batch       Batch
	strays      []Stray
	dead        []*kgo.Record
	deadReasons []string
	parts       []*partPlan
	state       []StateRow
	stateOwner  []*partPlan // of each state row; nil for positions
	stateKeys   []rowKey    // of each state row, in its owner's cache
	marks       []Marks
	res         Result
	forwarded   bool
	deadSent    bool
}

// partPlan is one partition's share of a batch.
type partPlan struct {
	ps      *partState
	from    int64 // the position the batch starts from
	to      int64 // the position after the batch
	cands   []candidate
	winners map[string]Origin
	// The batch's contributions to the partition's read-model rows:
	// deltas[i] to keys[i], found by deltaAt.
	deltaAt map[rowKey]int32
	deltas  []delta
	keys    []rowKey
}

type candidate struct {
	ev     event.Canonical
	tenant string
	slot   int32
	src    Source
	raw    []byte
	fp     uint64
}

func (pl *plan) result() Result { return pl.res }

func (pl *plan) count(pp *partPlan, tenant, outcome string, n int64) {
	if n <= 0 {
		return
	}
	pp.add(counterKey(pp.ps.intern(Series{Tenant: tenant, Metric: outcome}))).count += uint64(n)
}

// add returns the batch's delta to key k, valid until the next add.
func (pp *partPlan) add(k rowKey) *delta {
	i, ok := pp.deltaAt[k]
	if !ok {
		i = int32(len(pp.deltas))
		pp.deltaAt[k] = i
		pp.deltas = append(pp.deltas, delta{})
		pp.keys = append(pp.keys, k)
	}
	return &pp.deltas[i]
}

// oversizeAuditBytes bounds the raw bytes an oversized record's
// dead_letters row keeps.
const oversizeAuditBytes = 1024

func (pl *plan) deadLetter(pp *partPlan, r *kgo.Record, src Source, tenant, reason string, raw []byte) {
	pl.dead = append(pl.dead, r)
	pl.deadReasons = append(pl.deadReasons, reason)
	pl.batch.DeadLetters = append(pl.batch.DeadLetters, DeadLetter{Tenant: tenant, Reason: reason, Source: src, Raw: raw})
	pl.count(pp, tenant, schema.OutcomeDeadLettered, 1)
	pl.res.DeadLettered++
}

// plan classifies records and computes every row the batch writes. It has
// no side effects beyond healing the seen-set, so it may be retried.
func (p *Pipeline) plan(ctx, batchCtx context.Context, records []*kgo.Record) (*plan, error) {
	pl := &plan{}
	for _, g := range groupByPartition(records) {
		ps, err := p.partition(ctx, g.topic, g.part)
		if err != nil {
			return nil, err
		}
		// Most records become candidates: sized once, not grown record by
		// record (the growth was a fifth of the processor's allocations).
		// About two read-model keys per record when history arrives (a new
		// minute for most events), a few in a live stream.
		pp := &partPlan{ps: ps, from: ps.position, to: ps.position, cands: make([]candidate, 0, len(g.records)),
			deltaAt: make(map[rowKey]int32, 2*len(g.records))}
		start := time.Now()
		p.classify(pl, pp, g.records)
		p.o.Metrics.since("classify", start)
		if pp.to > pp.from {
			pl.parts = append(pl.parts, pp)
		}
	}
	start := time.Now()
	if err := p.WaitMarks(ctx); err != nil {
		return nil, err
	}
	p.o.Metrics.since("wait_mark", start)
	start = time.Now()
	known, err := p.lookup(ctx, batchCtx, pl.parts)
	if err != nil {
		return nil, err
	}
	p.o.Metrics.since("lookup", start)
	cands := 0
	for _, pp := range pl.parts {
		cands += len(pp.cands)
	}
	pl.batch.Winners = make([]Winner, 0, cands)
	for i, pp := range pl.parts {
		pp.winners = make(map[string]Origin, len(pp.cands))
		p.decide(pl, pp, known[i])
	}
	start = time.Now()
	if err := p.stateRows(ctx, pl); err != nil {
		return nil, err
	}
	p.o.Metrics.since("load_state", start)
	return pl, nil
}

type partitionGroup struct {
	topic   string
	part    int32
	records []*kgo.Record
}

// groupByPartition splits a poll into partitions, keeping each partition's
// records in offset order (the order Kafka delivered them).
func groupByPartition(records []*kgo.Record) []partitionGroup {
	var out []partitionGroup
	idx := make(map[partKey]int)
	last := -1
	for _, r := range records {
		// A poll holds each partition's records side by side: the map is
		// asked only where the partition changes.
		if last < 0 || out[last].part != r.Partition || out[last].topic != r.Topic {
			k := partKey{r.Topic, r.Partition}
			i, ok := idx[k]
			if !ok {
				i = len(out)
				idx[k] = i
				out = append(out, partitionGroup{topic: r.Topic, part: r.Partition})
			}
			last = i
		}
		out[last].records = append(out[last].records, r)
	}
	return out
}

// partition returns the state of a partition, loading it on first use
// after an ownership change.
func (p *Pipeline) partition(ctx context.Context, topic string, part int32) (*partState, error) {
	p.mu.Lock()
	ps := p.parts[partKey{topic, part}]
	p.mu.Unlock()
	if ps != nil {
		return ps, nil
	}
	info, err := p.o.Topology.Topic(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("describe topic %s: %w", topic, err)
	}
	if part >= info.Partitions {
		return nil, fmt.Errorf("topic %s has %d partitions; partition %d is not one of them", topic, info.Partitions, part)
	}
	if !event.ValidPartitionCount(info.Partitions) {
		return nil, fmt.Errorf("topic %s has %d partitions, which does not divide the %d owner slots: choose a divisor "+
			"(8, 12, 16, 24, 32, 48, 64, 96, 128, …)", topic, info.Partitions, event.Slots)
	}
	if p.o.Shards > 1 && info.Partitions%int32(p.o.Shards) != 0 {
		return nil, fmt.Errorf("topic %s has %d partitions, not a multiple of the %d ClickHouse shards that place partition p "+
			"on shard p mod %[3]d: choose a multiple (docs/scaling.md)", topic, info.Partitions, p.o.Shards)
	}
	ps = &partState{topic: topic, stream: topic + "/" + info.ID, part: part, owners: info.Partitions,
		rows: make(map[rowKey]rowVal), series: make(map[Series]uint32)}
	pk := positionKey(ps.stream, part)
	rows, err := p.o.Store.LoadState(ctx, []StateKey{pk})
	if err != nil {
		return nil, fmt.Errorf("load position of %s: %w", ps.stream, err)
	}
	if len(rows) != 1 {
		return nil, fmt.Errorf("load position of %s: the store answered %d rows for one key", ps.stream, len(rows))
	}
	ps.position = int64(rows[0].Count)
	if ps.index, err = p.o.Store.RollupIndex(ctx, ps.stream, part, p.o.MaxSeries, p.o.MaxBucketWords); err != nil {
		return nil, fmt.Errorf("load the rollup index of %s: %w", ps.stream, err)
	}
	for _, bw := range ps.index.Buckets {
		ps.bucketWords += len(bw)
	}
	p.mu.Lock()
	p.parts[partKey{topic, part}] = ps
	p.mu.Unlock()
	return ps, nil
}

// classify sorts one partition's records into outcomes and candidates.
func (p *Pipeline) classify(pl *plan, pp *partPlan, records []*kgo.Record) {
	ps := pp.ps
	next := ps.position
	for _, r := range records {
		if r.Offset < ps.position {
			continue // counted by an earlier attempt (or another process)
		}
		pl.count(pp, "", schema.OutcomeSkipped, r.Offset-next) // aborted or expired offsets
		pl.res.Skipped += int(r.Offset - next)
		next = r.Offset + 1
		if r.Attrs.IsControl() {
			pl.count(pp, "", schema.OutcomeSkipped, 1) // a transaction marker
			pl.res.Skipped++
			continue
		}
		h := headers(r)
		src := Source{Stream: ps.stream, Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Received: receivedAt(r, h)}
		if h.simulate {
			pl.batch.Simulate = true
		}
		tenant, trej := p.tenant(r, h)
		if trej != nil {
			pl.batch.Rejected = append(pl.batch.Rejected, Rejected{Code: trej.Code, Message: trej.Message, Source: src,
				Raw: r.Value[:min(len(r.Value), oversizeAuditBytes)]})
			pl.count(pp, "", schema.OutcomeRejected, 1)
			pl.count(pp, "", schema.OutcomeRejected+":"+trej.Code, 1)
			pl.res.Rejected++
			continue
		}
		if reason, ok := p.poisoned(r); ok {
			pl.deadLetter(pp, r, src, tenant, reason, r.Value[:min(len(r.Value), oversizeAuditBytes)])
			continue
		}
		// How the value is laid out (tally-format, or the CloudEvents Kafka
		// binding): the same Input the ingestor's preflight built.
		in := normalize.Input{Raw: r.Value, ReceivedAt: src.Received, IdempotencyKey: h.idempotencyKey,
			FallbackIdempotencyKey: h.fallbackKey, Tenant: tenant}
		frej := normalize.RecordFormat(r.Headers, &in)
		switch {
		case len(r.Value) == 0 && (frej != nil || in.Format != normalize.FormatCloudEventBinary):
			// (A binary-mode CloudEvent without data is an event.)
			pl.deadLetter(pp, r, src, tenant, "empty_record: the record has no value", nil)
			continue
		case len(r.Value) > p.o.MaxRecordBytes:
			pl.deadLetter(pp, r, src, tenant, "too_large: record of "+strconv.Itoa(len(r.Value))+" bytes exceeds "+
				strconv.Itoa(p.o.MaxRecordBytes), r.Value[:min(len(r.Value), oversizeAuditBytes)])
			continue
		}
		ev, rej := event.Canonical{}, frej
		if rej == nil {
			ev, rej = p.o.Normalizer.Normalize(in)
		}
		if rej != nil {
			if unparseable(rej.Code) {
				pl.deadLetter(pp, r, src, tenant, rej.Code+": "+rej.Message, r.Value)
				continue
			}
			pl.batch.Rejected = append(pl.batch.Rejected, Rejected{Tenant: tenant, Code: rej.Code, Field: rej.Field,
				Message: rej.Message, ClientHint: rej.ClientHint, Source: src, Raw: r.Value})
			pl.count(pp, tenant, schema.OutcomeRejected, 1)
			// Per code too, so /v1/stats lists reasons without a scan.
			pl.count(pp, tenant, schema.OutcomeRejected+":"+rej.Code, 1)
			pl.res.Rejected++
			continue
		}
		// One hash of the client: the owner follows from its slot, since
		// the partition count divides the slots (partition refuses others).
		slot := event.Slot(ev.ClientID)
		if owner := event.SlotOwner(slot, ps.owners); owner != ps.part {
			pl.strays = append(pl.strays, Stray{Record: r, Source: src, Tenant: tenant, ClientID: ev.ClientID,
				EventID: ev.EventID, Owner: owner})
			pl.count(pp, tenant, schema.OutcomeForwarded, 1)
			pl.res.Forwarded++
			continue
		}
		pp.cands = append(pp.cands, candidate{ev: ev, tenant: tenant, slot: slot, src: src, raw: r.Value,
			fp: ev.Fingerprint()})
	}
	pp.to = next
}

// lookup finds the known winners of every candidate id, per partition:
// from the seen-set where its watermark covers the partition (healing it
// first if it lost data), else from the store.
func (p *Pipeline) lookup(ctx, batchCtx context.Context, parts []*partPlan) ([]map[string]Origin, error) {
	known := make([]map[string]Origin, len(parts))
	var probes []Probe
	var probed []int
	for i, pp := range parts {
		if len(pp.cands) == 0 {
			continue
		}
		probes = append(probes, Probe{Stream: pp.ps.stream, N: pp.ps.owners, Part: pp.ps.part, IDs: candidateIDs(pp.cands)})
		probed = append(probed, i)
	}
	if len(probes) == 0 {
		return known, nil
	}
	complete := make([]bool, len(parts))
	if p.o.Seen != nil {
		answers, err := p.o.Seen.Lookup(ctx, probes)
		if err != nil {
			p.seenFailed(ctx, "redis lookup failed; deciding from ClickHouse", err)
		} else {
			for j, a := range answers {
				i := probed[j]
				pp := parts[i]
				if a.Watermark < pp.from {
					a, err = p.heal(batchCtx, pp, a.Watermark, probes[j])
					if err != nil {
						p.seenFailed(ctx, "healing redis failed; deciding from ClickHouse", err)
						continue
					}
				}
				known[i], complete[i] = a.Found, true
			}
		}
	}
	for _, i := range probed {
		if complete[i] {
			continue
		}
		pp := parts[i]
		ids := make([]TenantID, 0, len(pp.cands))
		for _, c := range pp.cands {
			ids = append(ids, TenantID{Tenant: c.tenant, EventID: c.ev.EventID})
		}
		found, err := p.o.Store.Lookup(ctx, ids)
		if err != nil {
			return nil, fmt.Errorf("look up winners in the store: %w", err)
		}
		m := make(map[string]Origin, len(found))
		for id, o := range found {
			m[id.EventID] = o
		}
		known[i] = m
	}
	return known, nil
}

// heal refills the seen-set for one partition from the store and asks
// again. wm < 0 means the seen-set lost everything: every winner of the
// slots the partition owns, of any stream, is added back; otherwise only
// this stream's winners past wm.
func (p *Pipeline) heal(ctx context.Context, pp *partPlan, wm int64, probe Probe) (Answer, error) {
	ctx, cancel := context.WithTimeout(ctx, p.o.HealTimeout)
	defer cancel()
	ps := pp.ps
	stream, from := ps.stream, wm
	if wm < 0 {
		stream, from = "", 0
	}
	p.o.Logger.InfoContext(ctx, "healing redis from clickhouse", "stream", ps.stream, "partition", ps.part, "watermark", wm,
		"position", pp.from, "full", wm < 0)
	p.o.Metrics.Heals.Inc()
	err := p.o.Seen.Heal(ctx, ps.stream, ps.owners, ps.part, pp.from, func(each func(string, Origin) error) error {
		return p.o.Store.Winners(ctx, event.OwnedSlots(ps.part, ps.owners), stream, from, each)
	})
	if err != nil {
		return Answer{}, err
	}
	answers, err := p.o.Seen.Lookup(ctx, []Probe{probe})
	if err != nil {
		return Answer{}, err
	}
	if answers[0].Watermark < pp.from {
		return Answer{}, fmt.Errorf("redis lost data while healing partition %d", ps.part)
	}
	return answers[0], nil
}

func (p *Pipeline) seenFailed(ctx context.Context, msg string, err error) {
	p.o.Metrics.RedisFailOpen.Inc()
	p.o.Logger.WarnContext(ctx, msg, "err", err)
}

func candidateIDs(cands []candidate) []string {
	ids := make([]string, 0, len(cands))
	uniq := make(map[string]struct{}, len(cands))
	for _, c := range cands {
		if _, ok := uniq[c.ev.EventID]; !ok {
			uniq[c.ev.EventID] = struct{}{}
			ids = append(ids, c.ev.EventID)
		}
	}
	return ids
}

// decide makes every candidate a winner, a duplicate or a conflict: the
// first stored copy of an id wins (docs/design/read-model.md, R2).
func (p *Pipeline) decide(pl *plan, pp *partPlan, known map[string]Origin) {
	ps := pp.ps
	tag := StreamTag(ps.stream)
	for _, c := range pp.cands {
		self := Origin{Stream: tag, Partition: c.src.Partition, Offset: c.src.Offset, Fingerprint: c.fp}
		id := c.ev.EventID
		if o, ok := known[id]; ok && (o.Stream != self.Stream || o.Partition != self.Partition || o.Offset != self.Offset) {
			conflict := o.Fingerprint != self.Fingerprint
			d := Duplicate{Tenant: c.tenant, Event: c.ev, Source: c.src, Original: o, Conflict: conflict}
			outcome := schema.OutcomeDuplicate
			if conflict {
				d.Raw = c.raw
				outcome = schema.OutcomeConflict
				pl.res.Conflicts++
			} else {
				pl.res.Duplicates++
			}
			pl.batch.Duplicates = append(pl.batch.Duplicates, d)
			pl.count(pp, c.tenant, outcome, 1)
			continue
		}
		if known == nil {
			known = make(map[string]Origin)
		}
		known[id] = self
		pp.winners[id] = self
		pl.batch.Winners = append(pl.batch.Winners, Winner{Tenant: c.tenant, Event: c.ev, Source: c.src, Slot: c.slot, Raw: c.raw,
			Fingerprint: c.fp})
		pl.count(pp, c.tenant, schema.OutcomeProcessed, 1)
		pl.res.Stored++
		ms := c.ev.Timestamp.UnixMilli()
		series := ps.intern(Series{c.tenant, c.ev.ClientID, c.ev.Metric})
		for _, lvl := range rollupLevels {
			pp.add(rollupKey(series, lvl, ms)).addEvent(c.ev.Amount, ms)
		}
	}
}

// stateRows turns the batch's contributions into read-model rows at each
// partition's new position, reading the rows it does not hold from the
// store. A row newer than the partition's position means another process
// counted this partition's records meanwhile: the partition is reloaded and
// the batch planned again (errStale), so nothing is added twice.
func (p *Pipeline) stateRows(ctx context.Context, pl *plan) error {
	type owner struct {
		pp *partPlan
		k  rowKey
	}
	var missing []StateKey
	var owners []owner
	rows := len(pl.parts)
	for _, pp := range pl.parts {
		ps := pp.ps
		rows += len(pp.keys)
		for _, k := range pp.keys {
			if r, ok := ps.rows[k]; ok {
				if int64(r.version) > pp.from {
					return p.stale(ps)
				}
			} else if !ps.absent(k) {
				missing = append(missing, ps.stateKey(k))
				owners = append(owners, owner{pp, k})
			}
		}
	}
	loaded, err := p.o.Store.LoadState(ctx, missing)
	if err != nil {
		return fmt.Errorf("load read model rows: %w", err)
	}
	if len(loaded) != len(missing) {
		return fmt.Errorf("load read model rows: the store answered %d rows for %d keys", len(loaded), len(missing))
	}
	for i, r := range loaded {
		if r.Version == 0 {
			continue // no such row: it starts from the zero row
		}
		o := owners[i]
		if int64(r.Version) > o.pp.from {
			return p.stale(o.pp.ps)
		}
		o.pp.ps.rows[o.k] = valOf(r)
	}
	pl.state = make([]StateRow, 0, rows)
	pl.stateOwner = make([]*partPlan, 0, rows)
	pl.stateKeys = make([]rowKey, 0, rows)
	for _, pp := range pl.parts {
		ps := pp.ps
		v := uint64(pp.to)
		pl.state = append(pl.state, StateRow{Key: positionKey(ps.stream, ps.part), Version: v, Count: v})
		pl.stateOwner = append(pl.stateOwner, nil)
		pl.stateKeys = append(pl.stateKeys, rowKey{})
		pl.marks = append(pl.marks, Marks{Stream: ps.stream, N: ps.owners, Part: ps.part, From: pp.from, To: pp.to, Winners: pp.winners})
	}
	for _, pp := range pl.parts {
		ps := pp.ps
		for i, k := range pp.keys {
			pl.state = append(pl.state, pp.deltas[i].apply(ps.rows[k], uint64(pp.to)).row(ps.stateKey(k)))
			pl.stateOwner = append(pl.stateOwner, pp)
			pl.stateKeys = append(pl.stateKeys, k)
		}
	}
	return nil
}

// stale forgets a partition whose read model moved under the plan: it is
// reloaded and the batch planned again, so nothing is added twice.
func (p *Pipeline) stale(ps *partState) error {
	p.Forget(ps.topic, []int32{ps.part})
	return errStale
}

// unparseable reports rejection codes for bytes that are not a JSON event at
// all: they cannot be stored as rejections of an event and are dead-lettered.
func unparseable(code string) bool {
	switch code {
	case "invalid_json", "invalid_utf8", "too_large":
		return true
	}
	return false
}

// tenant resolves a record's tenant (Options.Tenants).
func (p *Pipeline) tenant(r *kgo.Record, h recordHeaders) (string, *TenantRejection) {
	if p.o.Tenants == nil {
		if h.tenant == "" {
			return event.DefaultTenant, nil
		}
		return h.tenant, nil
	}
	return p.o.Tenants.Tenant(r, h.tenant, h.tenantSig)
}

type recordHeaders struct {
	receivedAt     string
	idempotencyKey string
	fallbackKey    string
	tenant         string
	tenantSig      []byte
	simulate       bool
}

func headers(r *kgo.Record) recordHeaders {
	var h recordHeaders
	for _, kv := range r.Headers {
		switch kv.Key {
		case event.HeaderReceivedAt:
			h.receivedAt = string(kv.Value)
		case event.HeaderIdempotencyKey:
			h.idempotencyKey = string(kv.Value)
		case event.HeaderFallbackIdempotencyKey:
			h.fallbackKey = string(kv.Value)
		case event.HeaderTenant:
			h.tenant = string(kv.Value)
		case event.HeaderTenantSignature:
			h.tenantSig = kv.Value
		case event.HeaderSimulateFailure:
			h.simulate = string(kv.Value) == "true"
		}
	}
	return h
}

// receivedAt is the ingestor's receive time, or the record's timestamp for
// Kafka-native producers.
func receivedAt(r *kgo.Record, h recordHeaders) time.Time {
	if h.receivedAt != "" {
		if t, err := time.Parse(time.RFC3339Nano, h.receivedAt); err == nil {
			return t.UTC().Truncate(time.Millisecond)
		}
	}
	return r.Timestamp.UTC().Truncate(time.Millisecond)
}
