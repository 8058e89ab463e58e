package pipeline

import (
	"github.com/tally-dev/tally/event"
	"github.com/tally-dev/tally/event/schema"
)

// StateKey names one row of the read model (schema.State).
type StateKey struct {
	Tenant string
	Kind   uint8
	Level  uint8
	Bucket uint32 // unix seconds of the bucket's start; 0 for LevelAll
	Client string
	Metric string // the outcome name for counters
	Stream string
	Part   int32
}

// StateRow is the exact contribution of partition Key.Part's offsets below
// Version to the key. Min, Max, MinTs and MaxTs are meaningful when Count > 0.
// For a position row Count is the position itself.
type StateRow struct {
	Key          StateKey
	Version      uint64
	Count        uint64
	Sum          event.Sum
	Min, Max     event.Amount
	MinTs, MaxTs int64 // event time in ms
}

// rollupLevels are the levels every winner contributes to.
var rollupLevels = []uint8{schema.LevelAll, schema.LevelDay, schema.LevelHour, schema.Level10Min, schema.LevelMinute}

func positionKey(stream string, part int32) StateKey {
	return StateKey{Kind: schema.KindPosition, Stream: stream, Part: part}
}

// rowKey names a read-model row within one partition's cache (partState):
// the series (tenant, client, metric; for a counter tenant and outcome) by
// its number in the partition's series table, so the cache and a batch's
// deltas hash 12 bytes instead of five strings, and their maps hold nothing
// the garbage collector scans. A drain's profile had a tenth of the
// processor's CPU in hashing StateKeys, whose stream alone is 45 bytes.
type rowKey struct {
	series uint32
	bucket uint32 // unix seconds of the bucket's start; 0 for LevelAll
	kind   uint8
	level  uint8
}

// rowVal is a cached read-model row without its key.
type rowVal struct {
	version, count uint64
	sum            event.Sum
	min, max       event.Amount
	minTs, maxTs   int64
}

func valOf(r StateRow) rowVal {
	return rowVal{version: r.Version, count: r.Count, sum: r.Sum, min: r.Min, max: r.Max, minTs: r.MinTs, maxTs: r.MaxTs}
}

func (v rowVal) row(k StateKey) StateRow {
	return StateRow{Key: k, Version: v.version, Count: v.count, Sum: v.sum, Min: v.min, Max: v.max, MinTs: v.minTs, MaxTs: v.maxTs}
}

func counterKey(series uint32) rowKey {
	return rowKey{series: series, kind: schema.KindCounter}
}

func rollupKey(series uint32, level uint8, tsMs int64) rowKey {
	var bucket uint32
	if w := schema.LevelSeconds[level]; w > 0 {
		sec := tsMs / 1000
		bucket = uint32(sec - sec%w)
	}
	return rowKey{series: series, kind: schema.KindRollup, level: level, bucket: bucket}
}

// delta accumulates one batch's contributions to one key.
type delta struct {
	count        uint64
	sum          event.Sum
	min, max     event.Amount
	minTs, maxTs int64
}

func (d *delta) addEvent(a event.Amount, tsMs int64) {
	if d.count == 0 {
		d.min, d.max, d.minTs, d.maxTs = a, a, tsMs, tsMs
	} else {
		if less(a, d.min) {
			d.min = a
		}
		if less(d.max, a) {
			d.max = a
		}
		d.minTs, d.maxTs = min(d.minTs, tsMs), max(d.maxTs, tsMs)
	}
	d.count++
	d.sum.Add(a)
}

// apply returns cur plus d at version v. cur may be the zero row.
func (d *delta) apply(cur rowVal, v uint64) rowVal {
	out := cur
	out.version = v
	if d.count > 0 {
		if cur.count == 0 {
			out.min, out.max, out.minTs, out.maxTs = d.min, d.max, d.minTs, d.maxTs
		} else {
			if less(d.min, out.min) {
				out.min = d.min
			}
			if less(out.max, d.max) {
				out.max = d.max
			}
			out.minTs, out.maxTs = min(out.minTs, d.minTs), max(out.maxTs, d.maxTs)
		}
	}
	out.count += d.count
	out.sum.AddSum(d.sum)
	return out
}

// less compares amounts; both parts share the sign, so (Units, Nanos) order
// is numeric order.
func less(a, b event.Amount) bool {
	return a.Units < b.Units || a.Units == b.Units && a.Nanos < b.Nanos
}
