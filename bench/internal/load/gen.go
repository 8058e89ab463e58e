// Package load is Tally's HTTP load generator: it offers events to any
// endpoint at a fixed rate (open loop) or as fast as a fixed number of
// connections allow, and records what the server acknowledged.
//
// Open loop means every send has an intended time fixed in advance
// (start + i/rate) and its latency is measured from that time, not from when
// a free connection finally sent it. A server that stalls therefore shows the
// stall in every request it delayed, instead of quietly slowing the generator
// down (coordinated omission).
//
// Ground truth: every generated event is distinct by construction (its
// timestamp encodes a sequence number and a run slot), a resend repeats an
// earlier body byte for byte, and the generator keeps, per acknowledged event
// id, the amount it sent. Distinct acknowledged ids and the sum of their
// amounts are what exact aggregations must show.
package load

import (
	"encoding/hex"
	"math/rand/v2"
	"strconv"
	"time"
)

// Event is one generated logical event.
type Event struct {
	Client, Metric string
	Cents          int64 // amount in hundredths
	TS             time.Time
	// ID, when set, is sent as the event's idempotency key (eventId): what
	// keeps live events distinct, whose timestamps can coincide.
	ID string
}

// Amount is the decimal text of the amount ("123.45").
func (e Event) Amount() string {
	c := e.Cents
	neg := c < 0
	if neg {
		c = -c
	}
	s := strconv.FormatInt(c/100, 10) + "." + pad2(c%100)
	if neg {
		s = "-" + s
	}
	return s
}

func pad2(n int64) string {
	if n < 10 {
		return "0" + strconv.FormatInt(n, 10)
	}
	return strconv.FormatInt(n, 10)
}

// AppendJSON appends the event as one JSON object in Tally's own shape, or in
// the seed's shape ({"source":…,"payload":{…}}) when seed is true.
func (e Event) AppendJSON(b []byte, seed bool) []byte {
	ts := e.TS.UTC().Format("2006-01-02T15:04:05.000Z")
	if seed {
		b = append(b, `{"source":"`...)
		b = append(b, e.Client...)
		b = append(b, `","payload":{"metric":"`...)
		b = append(b, e.Metric...)
		b = append(b, `","amount":"`...)
		b = append(b, e.Amount()...)
		b = append(b, `","timestamp":"`...)
		b = append(b, ts...)
		if e.ID != "" {
			b = append(b, `","eventId":"`...)
			b = append(b, e.ID...)
		}
		return append(b, `"}}`...)
	}
	b = append(b, `{"clientId":"`...)
	b = append(b, e.Client...)
	b = append(b, `","metric":"`...)
	b = append(b, e.Metric...)
	b = append(b, `","amount":`...)
	b = append(b, e.Amount()...)
	b = append(b, `,"timestamp":"`...)
	b = append(b, ts...)
	if e.ID != "" {
		b = append(b, `","eventId":"`...)
		b = append(b, e.ID...)
	}
	return append(b, `"}`...)
}

// Generator makes distinct events and resends. Not safe for concurrent use.
type Generator struct {
	rng      *rand.Rand
	base     time.Time
	slot     int64
	seq      int64
	live     string // "" or the id prefix of live events
	dupRatio float64
	recent   []Event // ring of sent events, the pool resends come from
	clients  []string
	metrics  []string
}

// GenOptions configure a Generator.
type GenOptions struct {
	Seed     uint64
	Slot     int64     // 0..999, distinct per concurrent generator and per run sharing a database
	Base     time.Time // earliest timestamp; events are spaced one second apart from it
	DupRatio float64
	Clients  int
	Metrics  int
	Prefix   string // client id prefix
	// Live events carry the wall-clock time as their timestamp, as a
	// production stream does, and an idempotency key (run slot + sequence
	// number) that keeps them distinct. Otherwise events are history: one
	// second of event time apart from Base, spread over days (a backfill).
	Live bool
}

// NewGenerator returns a generator.
func NewGenerator(o GenOptions) *Generator {
	if o.Clients <= 0 {
		o.Clients = 20
	}
	if o.Metrics <= 0 {
		o.Metrics = 5
	}
	if o.Prefix == "" {
		o.Prefix = "client_"
	}
	if o.Base.IsZero() {
		o.Base = time.Now().UTC().Add(-30 * 24 * time.Hour).Truncate(24 * time.Hour)
	}
	g := &Generator{rng: rand.New(rand.NewPCG(o.Seed, uint64(o.Slot))), base: o.Base, slot: o.Slot % 1000, dupRatio: o.DupRatio}
	if o.Live {
		// The seed and start time tell runs apart even when slots repeat.
		g.live = "live-" + strconv.FormatUint(o.Seed, 36) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-" +
			strconv.FormatInt(g.slot, 10) + "-"
	}
	for i := range o.Clients {
		g.clients = append(g.clients, o.Prefix+pad2(int64(i)))
	}
	names := []string{"purchase", "click", "refund", "signup", "api_call", "page_view", "download", "upload"}
	for i := range o.Metrics {
		g.metrics = append(g.metrics, names[i%len(names)]+suffix(i/len(names)))
	}
	return g
}

func suffix(i int) string {
	if i == 0 {
		return ""
	}
	return "_" + strconv.Itoa(i)
}

// Next returns the next event and whether it is a resend of an earlier one.
func (g *Generator) Next() (Event, bool) {
	if g.dupRatio > 0 && len(g.recent) > 0 && g.rng.Float64() < g.dupRatio {
		return g.recent[g.rng.IntN(len(g.recent))], true
	}
	// One second per event plus a per-run millisecond slot: distinct across
	// events and across runs, spread over days so day filters select a slice.
	e := Event{
		Client: g.clients[g.rng.IntN(len(g.clients))],
		Metric: g.metrics[g.rng.IntN(len(g.metrics))],
		Cents:  1 + g.rng.Int64N(1_000_000),
		TS:     g.base.Add(time.Duration(g.seq)*time.Second + time.Duration(g.slot)*time.Millisecond),
	}
	if g.live != "" {
		e.TS = time.Now().UTC().Truncate(time.Millisecond)
		e.ID = g.live + strconv.FormatInt(g.seq, 36)
	}
	g.seq++
	const ring = 4096
	if len(g.recent) < ring {
		g.recent = append(g.recent, e)
	} else {
		g.recent[g.rng.IntN(ring)] = e
	}
	return e, false
}

// ID is a decoded 64-hex event id.
type ID [32]byte

// ParseID decodes a 64-hex event id.
func ParseID(s string) (ID, bool) {
	var id ID
	if len(s) != 64 {
		return id, false
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, false
	}
	return id, true
}

func (id ID) String() string { return hex.EncodeToString(id[:]) }
