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

func counterKey(tenant, outcome, stream string, part int32) StateKey {
	return StateKey{Tenant: tenant, Kind: schema.KindCounter, Metric: outcome, Stream: stream, Part: part}
}

func rollupKey(tenant string, level uint8, tsMs int64, client, metric, stream string, part int32) StateKey {
	var bucket uint32
	if w := schema.LevelSeconds[level]; w > 0 {
		sec := tsMs / 1000
		bucket = uint32(sec - sec%w)
	}
	return StateKey{Tenant: tenant, Kind: schema.KindRollup, Level: level, Bucket: bucket, Client: client,
		Metric: metric, Stream: stream, Part: part}
}

// delta accumulates one batch's contributions to one key.
type delta struct {
	pp           *partPlan // the partition whose row it changes
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
func (d *delta) apply(cur StateRow, v uint64) StateRow {
	out := cur
	out.Version = v
	if d.count > 0 {
		if cur.Count == 0 {
			out.Min, out.Max, out.MinTs, out.MaxTs = d.min, d.max, d.minTs, d.maxTs
		} else {
			if less(d.min, out.Min) {
				out.Min = d.min
			}
			if less(out.Max, d.max) {
				out.Max = d.max
			}
			out.MinTs, out.MaxTs = min(out.MinTs, d.minTs), max(out.MaxTs, d.maxTs)
		}
	}
	out.Count += d.count
	out.Sum.AddSum(d.sum)
	return out
}

// less compares amounts; both parts share the sign, so (Units, Nanos) order
// is numeric order.
func less(a, b event.Amount) bool {
	return a.Units < b.Units || a.Units == b.Units && a.Nanos < b.Nanos
}
