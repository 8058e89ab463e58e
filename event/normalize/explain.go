package normalize

import (
	"strconv"
	"strings"
)

// Explanation says, for one event, which rule produced each canonical
// field: where its value was found (alias, scope or path, attribute,
// header), which rule read it, which default or profile applied, and how
// the event id was formed. processor normalize --explain prints it.
type Explanation struct {
	Format         string      `json:"format"`
	Profile        string      `json:"profile,omitempty"`
	ClientID       FieldSource `json:"clientId"`
	Metric         FieldSource `json:"metric"`
	Amount         FieldSource `json:"amount"`
	Timestamp      FieldSource `json:"timestamp"`
	IdempotencyKey FieldSource `json:"idempotencyKey"`
	EventID        string      `json:"eventId"`

	from [numFields]string // a fixed format's source of each field
}

// FieldSource is where one canonical field came from and how it was read.
type FieldSource struct {
	From string `json:"from"`           // the key path, attribute, header or default
	Rule string `json:"rule,omitempty"` // how the value was read
}

func (ex *Explanation) field(f fieldID) *FieldSource {
	return [...]*FieldSource{&ex.ClientID, &ex.Metric, &ex.Amount, &ex.Timestamp, &ex.IdempotencyKey}[f]
}

// explainFound records where each field's value was found.
func (e *Engine) explainFound(ex *Explanation, d *doc, format Format, prof *profile, fv *[numFields]found, fx *formatExtras) {
	res := e.res
	if prof.res != nil {
		res = prof.res
	}
	for f := range numFields {
		fs := ex.field(f)
		n := fv[f].node
		switch {
		case n < 0:
			fs.From = "absent (looked for " + e.lookedFor(format, f) + ")"
		case format == FormatTally:
			names := res.names[f]
			if f == fClient {
				names = e.res.names[f]
			}
			alias := names[int(fv[f].rank)/len(e.scopes)]
			scope := e.scopeNames[int(fv[f].rank)%len(e.scopes)]
			fs.From = "alias " + strconv.Quote(alias)
			if scope == "" {
				fs.From += " at the top level"
			} else {
				fs.From += " in scope " + strconv.Quote(scope)
			}
			for _, a := range prof.own[f] {
				if a == alias {
					fs.From += " (an alias of profile " + strconv.Quote(prof.name) + ")"
					break
				}
			}
		default:
			fs.From = fx.from[f]
		}
		if n >= 0 {
			fs.Rule = valueKind(d, n)
		}
	}
	switch {
	case fv[fMetric].node < 0 && !e.metricRequired:
		ex.Metric.Rule = "default " + strconv.Quote(e.metricDefault) + " (fields.metric.default)"
	}
	if fv[fAmount].node < 0 {
		switch {
		case fx.amountDefault != nil:
			ex.Amount.Rule = "default " + fx.amountDefault.String() + " (" + format.String() + " amountDefault)"
		case !e.amountRequired:
			ex.Amount.Rule = "default " + e.amountDefault.String() + " (fields.amount.default)"
		}
	} else if prof.exponent != 0 {
		ex.Amount.Rule += "; scaled by 10^" + strconv.Itoa(prof.exponent) + " (profile " + strconv.Quote(prof.name) + " amountExponent)"
	}
}

func valueKind(d *doc, n int32) string {
	switch d.nodes[n].kind {
	case jString:
		return "string"
	case jNumber:
		if isInteger(d.text(n)) {
			return "integer number, read from its text"
		}
		return "number, read from its text"
	default:
		return d.nodes[n].kind.String()
	}
}

// describeTS names the rule that read a timestamp.
func describeTS(r tsResult, layouts []string) string {
	switch r.rule {
	case ruleLayout:
		return "configured layout " + strconv.Quote(layouts[r.layout])
	case ruleText:
		if r.flags != 0 {
			return "text reader: " + r.flags.String()
		}
		return "text reader"
	case ruleEpochSeconds, ruleEpochMillis, ruleEpochMicros, ruleEpochNanos:
		return r.rule.String() + " (unit by magnitude, timestamp.epoch)"
	}
	return r.rule.String()
}

// explainID says how the event id was formed.
func (ex *Explanation) explainID(rule string, defaulted, metricDefault, amountDefault bool) {
	var b strings.Builder
	switch rule {
	case "key":
		b.WriteString("K: SHA-256 of clientId and the idempotency key (other fields do not change it)")
	case "fed back":
		b.WriteString("the payload key is this event's own content id (a canonical event fed back in), so the content id is kept")
	case "content":
		if defaulted {
			b.WriteString("D: SHA-256 of clientId, metric and amount; the defaulted timestamp is left out")
		} else {
			b.WriteString("C: SHA-256 of clientId, metric, amount and timestamp (ms)")
		}
	}
	if rule != "key" && (metricDefault || amountDefault) {
		b.WriteString("; defaults are hashed as their values")
	}
	ex.EventID = b.String()
}
