package normalize

import (
	"encoding/json"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tally-dev/tally/event"
	"pgregory.net/rapid"
)

// rawEvent is one logical event that the generators spell in many ways.
type rawEvent struct {
	client, metric string
	units          int64
	nanos          int32 // same sign as units
	tsMs           int64
	key            string
}

func genEvent(t *rapid.T) rawEvent {
	ev := rawEvent{
		client: rapid.SampledFrom([]string{"client_A", "client_B", "ünïcødé", "a b", `q"uote`}).Draw(t, "client"),
		metric: rapid.SampledFrom([]string{"purchase", "click", "bytes", "x/y"}).Draw(t, "metric"),
		units:  rapid.Int64Range(-1_000_000_000_000, 1_000_000_000_000).Draw(t, "units"),
		nanos:  rapid.Int32Range(0, 999_999_999).Draw(t, "nanos"),
		// From 2001-09-09: earlier instants in ms have at most 12 digits, and
		// a 12-digit number that spells yyyymmddhhmm is ambiguous (package doc).
		tsMs: rapid.Int64Range(1_000_000_000_000, 4102444799998).Draw(t, "tsMs"), // +1 ms stays in range
	}
	if ev.units < 0 {
		ev.nanos = -ev.nanos
	}
	if rapid.Bool().Draw(t, "hasKey") {
		ev.key = rapid.StringMatching(`[a-zA-Z0-9_-]{1,20}`).Draw(t, "key")
	}
	return ev
}

func (ev rawEvent) amount() event.Amount { return event.Amount{Units: ev.units, Nanos: ev.nanos} }

// spellAmount writes the amount as one of many equivalent JSON values.
func spellAmount(t *rapid.T, a event.Amount) string {
	plain := a.String()
	scaled := a.BigScaled() // integer count of billionths
	switch rapid.IntRange(0, 6).Draw(t, "amountSpelling") {
	case 0:
		return plain
	case 1:
		return strconv.Quote(plain)
	case 2: // trailing zeros
		if !strings.Contains(plain, ".") {
			return plain + ".000"
		}
		return plain + "00"
	case 3: // billionths with an exponent
		return scaled.String() + "e-9"
	case 4: // scientific with a fraction: d.ddd e+k
		s := new(big.Int).Abs(scaled).String()
		sign := ""
		if scaled.Sign() < 0 {
			sign = "-"
		}
		return sign + s[:1] + "." + s[1:] + "0E" + strconv.Itoa(len(s)-1-9)
	case 5: // thousands separators and a currency symbol, in a string
		intPart, frac, _ := strings.Cut(strings.TrimPrefix(plain, "-"), ".")
		var b strings.Builder
		for i, c := range intPart {
			if i > 0 && (len(intPart)-i)%3 == 0 {
				b.WriteByte(',')
			}
			b.WriteRune(c)
		}
		s := "$" + b.String()
		if frac != "" {
			s += "." + frac
		}
		if strings.HasPrefix(plain, "-") {
			s = "-" + s
		}
		return strconv.Quote("  " + s + " ")
	default: // leading zeros in a string
		if strings.HasPrefix(plain, "-") {
			return strconv.Quote("-000" + plain[1:])
		}
		return strconv.Quote("000" + plain)
	}
}

func spellTimestamp(t *rapid.T, ms int64) string {
	tm := time.UnixMilli(ms).UTC()
	switch rapid.IntRange(0, 5).Draw(t, "tsSpelling") {
	case 0:
		return strconv.FormatInt(ms, 10)
	case 1:
		return strconv.Quote(strconv.FormatInt(ms, 10))
	case 2:
		return strconv.Quote(tm.Format("2006-01-02T15:04:05.000Z07:00"))
	case 3: // another offset, same instant
		zone := time.FixedZone("", rapid.IntRange(-23*60, 23*60).Draw(t, "offsetMin")*60)
		return strconv.Quote(tm.In(zone).Format("2006-01-02T15:04:05.000-07:00"))
	case 4: // lowercase separators
		return strconv.Quote(strings.ToLower(tm.Format("2006-01-02T15:04:05.000Z")))
	default: // microseconds
		return strconv.FormatInt(ms*1000, 10)
	}
}

// spell writes ev as a random raw JSON object: random aliases, random
// nesting in payload, random key order, random number spellings.
func spell(t *rapid.T, ev rawEvent, withTS bool) string {
	pick := func(label string, aliases ...string) string { return rapid.SampledFrom(aliases).Draw(t, label) }
	type kv struct{ k, v string }
	fields := []kv{
		{pick("clientAlias", "source", "client_id", "clientId", "client", "origin"), strconv.Quote(ev.client)},
		{pick("metricAlias", "metric", "event_type", "type", "eventType", "name"), strconv.Quote(ev.metric)},
		{pick("amountAlias", "amount", "value", "count", "quantity", "total", "price"), spellAmount(t, ev.amount())},
	}
	if withTS {
		fields = append(fields, kv{pick("tsAlias", "timestamp", "time", "date", "created_at", "createdAt", "ts"), spellTimestamp(t, ev.tsMs)})
	}
	if ev.key != "" {
		fields = append(fields, kv{pick("keyAlias", "event_id", "eventId", "idempotency_key", "idempotencyKey"), strconv.Quote(ev.key)})
	}
	var top, nested []kv
	for _, f := range fields {
		if rapid.Bool().Draw(t, "nest") {
			nested = append(nested, f)
		} else {
			top = append(top, f)
		}
	}
	if len(nested) > 0 {
		obj := "{" + join(shuffle(t, nested)) + "}"
		top = append(top, kv{"payload", obj})
	}
	if rapid.Bool().Draw(t, "noise") {
		top = append(top, kv{"extra", `{"nested":[1,2,{"x":null}],"s":"\u00e9"}`})
	}
	return "{" + join(shuffle(t, top)) + "}"
}

func shuffle[T any](t *rapid.T, xs []T) []T {
	out := append([]T(nil), xs...)
	for i := len(out) - 1; i > 0; i-- {
		j := rapid.IntRange(0, i).Draw(t, "shuffle")
		out[i], out[j] = out[j], out[i]
	}
	return out
}

func join[T interface{ ~struct{ k, v string } }](kvs []T) string {
	parts := make([]string, len(kvs))
	for i, x := range kvs {
		s := struct{ k, v string }(x)
		parts[i] = strconv.Quote(s.k) + ":" + s.v
	}
	return strings.Join(parts, ",")
}

// The id and the canonical fields depend only on the logical event, never on
// how it is spelled.
func TestPropertySpellingInvariance(t *testing.T) {
	e := newEngine(t)
	rapid.Check(t, func(t *rapid.T) {
		ev := genEvent(t)
		withTS := rapid.Bool().Draw(t, "withTS")
		a, b := spell(t, ev, withTS), spell(t, ev, withTS)
		recvA := time.UnixMilli(rapid.Int64Range(0, 4e12).Draw(t, "recvA"))
		recvB := time.UnixMilli(rapid.Int64Range(0, 4e12).Draw(t, "recvB"))
		ca, ra := e.Normalize(Input{Raw: []byte(a), ReceivedAt: recvA})
		cb, rb := e.Normalize(Input{Raw: []byte(b), ReceivedAt: recvB})
		if ra != nil || rb != nil {
			t.Fatalf("rejected: %v / %v\n%s\n%s", ra, rb, a, b)
		}
		if ca.EventID != cb.EventID {
			t.Fatalf("ids differ:\n%s\n%s", a, b)
		}
		if ca.ClientID != ev.client || ca.Metric != ev.metric || ca.Amount != ev.amount() || ca.IdempotencyKey != ev.key {
			t.Fatalf("fields: %+v from %s", ca, a)
		}
		if withTS && (ca.Timestamp.UnixMilli() != ev.tsMs || ca.TimestampDefaulted) {
			t.Fatalf("timestamp %v, want %d ms, from %s", ca.Timestamp, ev.tsMs, a)
		}
		if !withTS && (!ca.TimestampDefaulted || ca.Timestamp.UnixMilli() != recvA.UnixMilli()) {
			t.Fatalf("defaulted timestamp %+v", ca)
		}
	})
}

// Different logical events get different ids (a changed field changes the id).
func TestPropertyFieldsMatter(t *testing.T) {
	e := newEngine(t)
	rapid.Check(t, func(t *rapid.T) {
		ev := genEvent(t)
		ev.key = ""
		other := ev
		switch rapid.IntRange(0, 3).Draw(t, "which") {
		case 0:
			other.client += "x"
		case 1:
			other.metric += "x"
		case 2:
			other.nanos ^= 1
			if other.units < 0 {
				other.nanos = -(-ev.nanos ^ 1)
			}
		default:
			other.tsMs++
		}
		ca, ra := e.Normalize(Input{Raw: []byte(spell(t, ev, true))})
		cb, rb := e.Normalize(Input{Raw: []byte(spell(t, other, true))})
		if ra != nil || rb != nil {
			t.Fatalf("rejected: %v %v", ra, rb)
		}
		if ca.EventID == cb.EventID {
			t.Fatalf("different events share an id: %+v %+v", ca, cb)
		}
	})
}

// Normalizing a canonical event's JSON returns the same canonical event.
func TestPropertyCanonicalFixedPoint(t *testing.T) {
	e := newEngine(t)
	rapid.Check(t, func(t *rapid.T) {
		ev := genEvent(t)
		raw := spell(t, ev, rapid.Bool().Draw(t, "withTS"))
		in := Input{Raw: []byte(raw), ReceivedAt: time.UnixMilli(1717243200123)}
		if rapid.Bool().Draw(t, "headerKey") {
			in.IdempotencyKey = "hdr-" + ev.client
		}
		c1, rej := e.Normalize(in)
		if rej != nil {
			t.Fatalf("rejected: %v", rej)
		}
		js, err := json.Marshal(c1)
		if err != nil {
			t.Fatal(err)
		}
		c2, rej := e.Normalize(Input{Raw: js, ReceivedAt: time.UnixMilli(1)})
		if rej != nil {
			t.Fatalf("canonical JSON rejected: %v\n%s", rej, js)
		}
		if c1 != c2 {
			t.Fatalf("not a fixed point:\n%+v\n%+v\n%s", c1, c2, js)
		}
	})
}

// The engine's amount reader agrees with event.ParseAmount on plain decimals.
func TestPropertyAmountMatchesParseAmount(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := rapid.StringMatching(`[-+]?[0-9]{0,22}(\.[0-9]{0,12})?`).Draw(t, "s")
		want, werr := event.ParseAmount(s)
		got, code := parseAmountString([]byte(s), nil, 0)
		switch {
		case werr == nil && code != "":
			t.Fatalf("%q: engine says %s, ParseAmount %v", s, code, want)
		case werr != nil && code == "":
			t.Fatalf("%q: engine says %v, ParseAmount %v", s, got, werr)
		case werr == nil && got != want:
			t.Fatalf("%q: engine %v, ParseAmount %v", s, got, want)
		case werr != nil:
			wantCode := map[error]string{event.ErrAmountSyntax: CodeAmountInvalid,
				event.ErrAmountRange: CodeAmountRange, event.ErrAmountPrecision: CodeAmountPrecision}[werr]
			if code != wantCode {
				t.Fatalf("%q: engine %s, ParseAmount %v", s, code, werr)
			}
		}
	})
}
