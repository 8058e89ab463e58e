package normalize

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tally-dev/tally/event"
)

// Input is one raw event as received.
type Input struct {
	Raw        []byte
	ReceivedAt time.Time
	// IdempotencyKey comes from the HTTP Idempotency-Key header or the Kafka
	// tally-idempotency-key header; empty if none. It wins over payload keys.
	IdempotencyKey string
	// FallbackIdempotencyKey is used only when the event carries no key of
	// its own (no IdempotencyKey, no payload key): the ingestor gives each
	// element of an array sent with an Idempotency-Key "<key>:<index>"
	// (Kafka header tally-idempotency-key-fallback), so an element's own key
	// survives a resend of a reordered or changed array.
	FallbackIdempotencyKey string
	// Format says how Raw is laid out; the zero value is Tally's own JSON,
	// read through the alias config.
	Format Format
	// Attributes are the context attributes of a CloudEvents binary-mode
	// event (FormatCloudEventBinary), by lower-case name without the ce- or
	// ce_ prefix, as CloudEventHTTPAttributes and CloudEventKafkaAttributes
	// return them; Raw is then the event's data.
	Attributes map[string]string
	// SentAt is the sentAt of the Segment batch that carried Raw
	// (FormatSegment), used when the message has none of its own.
	SentAt string
	// Tenant owns the event. Every tenant but event.DefaultTenant (and "")
	// is part of the event id, so identical events of two tenants are two
	// events; the default tenant's ids are those of a single-tenant Tally.
	Tenant string
}

type fieldID uint8

const (
	fClient fieldID = iota
	fMetric
	fAmount
	fTimestamp
	fKey
	numFields
)

var fieldNames = [numFields]string{"clientId", "metric", "amount", "timestamp", "idempotencyKey"}

// entry is where a single-key alias points: a field and its rank (lower wins).
type entry struct {
	field fieldID
	rank  uint16
}

type dottedAlias struct {
	rank  uint16
	scope int
	path  []string
}

// resolver finds the raw value of every field. Single-key aliases are
// matched with one pass over each scope object's keys; dotted paths are
// walked only when they could beat what the pass found.
type resolver struct {
	direct []aliasTable // per scope
	dotted [numFields][]dottedAlias
	names  [numFields][]string // aliases in rank order (rank / scopes), for --explain
}

// aliasTable is a small open-addressing hash set of alias keys. It replaces
// a map on the hot path: a cheap hash of length and three bytes, probed
// linearly in a table kept at most a quarter full.
type aliasTable struct {
	mask  uint32
	slots []aliasSlot
}

type aliasSlot struct {
	key  string
	e    entry
	used bool
}

func aliasHash(b []byte) uint32 {
	n := len(b)
	h := uint32(n) * 0x9E3779B1
	if n > 0 {
		h ^= uint32(b[0])*0x85EBCA6B ^ uint32(b[n-1])*0xC2B2AE35 ^ uint32(b[n/2])*0x27D4EB2F
	}
	return h ^ h>>15
}

func newAliasTable(entries map[string]entry) aliasTable {
	size := uint32(8)
	for size < uint32(4*len(entries)) {
		size *= 2
	}
	t := aliasTable{mask: size - 1, slots: make([]aliasSlot, size)}
	for k, e := range entries {
		i := aliasHash([]byte(k)) & t.mask
		for t.slots[i].used {
			i = (i + 1) & t.mask
		}
		t.slots[i] = aliasSlot{key: k, e: e, used: true}
	}
	return t
}

func (t *aliasTable) lookup(b []byte) (entry, bool) {
	for i := aliasHash(b) & t.mask; ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		if !s.used {
			return entry{}, false
		}
		if len(s.key) == len(b) && s.key == string(b) {
			return s.e, true
		}
	}
}

type profile struct {
	name     string
	res      *resolver // nil: the engine's resolver
	exponent int
	ts       textEnv             // zone, day/month order and abbreviations for timestamps
	own      [numFields][]string // the profile's own aliases, for --explain
}

// Engine normalizes raw events. It is immutable after New and safe for
// concurrent use.
type Engine struct {
	maxBytes, maxDepth int
	scopes             [][]string // nil = top level
	res                *resolver
	profiles           map[string]*profile
	base               profile

	clientMax, metricMax, keyMax int
	metricRequired               bool
	metricDefault                string
	metricDefaultBytes           []byte
	amountRequired               bool
	amountDefault                event.Amount
	keyRequired                  bool
	allowNegative                bool
	currency                     []string

	rejectMissingTS bool
	minMs, maxMs    int64 // [min, max)
	epoch           EpochRules
	layouts         []string
	zones           *zoneCache
	formats         formatRules
	scopeNames      []string

	pool sync.Pool // *state
}

// state is the per-call scratch space, pooled so a call allocates only the
// strings it returns.
type state struct {
	doc    doc
	hash   []byte
	text   textScratch
	tenant string // "" for the default tenant
}

// New compiles a validated config into an Engine.
func New(cfg *Config) (*Engine, error) {
	if cfg == nil {
		return nil, fmt.Errorf("normalize: nil config")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("normalize: invalid config: %w", err)
	}
	f := &cfg.Fields
	e := &Engine{
		maxBytes:        cfg.Limits.MaxBytes,
		maxDepth:        cfg.Limits.MaxDepth,
		profiles:        map[string]*profile{},
		clientMax:       f.ClientID.MaxLength,
		metricMax:       f.Metric.MaxLength,
		keyMax:          f.IdempotencyKey.MaxLength,
		metricRequired:  f.Metric.Required,
		metricDefault:   f.Metric.Default,
		amountRequired:  f.Amount.Required,
		keyRequired:     f.IdempotencyKey.Required,
		allowNegative:   cfg.Amount.AllowNegative,
		currency:        append([]string(nil), cfg.Amount.CurrencySymbols...),
		rejectMissingTS: cfg.Timestamp.Missing == MissingReject,
		epoch:           cfg.Timestamp.Epoch,
		layouts:         append([]string(nil), cfg.Timestamp.Layouts...),
	}
	e.metricDefaultBytes = []byte(e.metricDefault)
	if f.Amount.Default != "" {
		e.amountDefault, _ = parseAmountString([]byte(f.Amount.Default), nil, 0)
	}
	minT, _ := time.Parse(time.RFC3339, cfg.Timestamp.Min)
	maxT, _ := time.Parse(time.RFC3339, cfg.Timestamp.Max)
	e.minMs, e.maxMs = minT.UnixMilli(), maxT.UnixMilli()
	e.formats = compileFormats(cfg)
	e.scopeNames = append([]string(nil), cfg.Scopes...)
	for _, s := range cfg.Scopes {
		if s == "" {
			e.scopes = append(e.scopes, nil)
		} else {
			e.scopes = append(e.scopes, strings.Split(s, "."))
		}
	}
	global := [numFields][]string{f.ClientID.Aliases, f.Metric.Aliases, f.Amount.Aliases, f.Timestamp.Aliases, f.IdempotencyKey.Aliases}
	e.res = newResolver(len(e.scopes), global)
	e.zones = newZoneCache()
	loc, _ := loadLocation(cfg.Timestamp.Timezone)
	globalAbbrev, _ := compileAbbrev(cfg.Timestamp.ZoneAbbreviations, nil, e.zones)
	e.base = profile{ts: textEnv{loc: loc, order: dateOrders[cfg.Timestamp.DateOrder], abbrev: globalAbbrev, zones: e.zones}}
	for _, p := range cfg.Profiles {
		cp := &profile{name: p.Name, exponent: p.AmountExponent, ts: e.base.ts}
		if p.Timezone != "" {
			cp.ts.loc, _ = loadLocation(p.Timezone)
		}
		if p.DateOrder != "" {
			cp.ts.order = dateOrders[p.DateOrder]
		}
		if len(p.ZoneAbbreviations) > 0 {
			cp.ts.abbrev, _ = compileAbbrev(p.ZoneAbbreviations, globalAbbrev, e.zones)
		}
		a := p.Aliases
		cp.own = [numFields][]string{nil, a.Metric, a.Amount, a.Timestamp, a.IdempotencyKey}
		if len(a.Metric)+len(a.Amount)+len(a.Timestamp)+len(a.IdempotencyKey) > 0 {
			cp.res = newResolver(len(e.scopes), [numFields][]string{
				global[fClient],
				concat(a.Metric, global[fMetric]),
				concat(a.Amount, global[fAmount]),
				concat(a.Timestamp, global[fTimestamp]),
				concat(a.IdempotencyKey, global[fKey]),
			})
		}
		for _, id := range p.ClientIDs {
			e.profiles[id] = cp
		}
	}
	e.pool.New = func() any { return &state{hash: make([]byte, 0, 256)} }
	return e, nil
}

func concat(a, b []string) []string { return append(append([]string(nil), a...), b...) }

func newResolver(nScopes int, aliases [numFields][]string) *resolver {
	r := &resolver{direct: make([]aliasTable, nScopes)}
	direct := make([]map[string]entry, nScopes)
	for s := range direct {
		direct[s] = map[string]entry{}
	}
	for f := range numFields {
		rank := uint16(0)
		seen := map[string]bool{}
		for _, a := range aliases[f] {
			if seen[a] {
				continue // a profile alias repeating a global one keeps its better rank
			}
			seen[a] = true
			r.names[f] = append(r.names[f], a)
			for s := range nScopes {
				if strings.Contains(a, ".") {
					r.dotted[f] = append(r.dotted[f], dottedAlias{rank: rank, scope: s, path: strings.Split(a, ".")})
				} else {
					direct[s][a] = entry{field: f, rank: rank}
				}
				rank++
			}
		}
	}
	for s := range direct {
		r.direct[s] = newAliasTable(direct[s])
	}
	return r
}

const noRank = ^uint16(0)

type found struct {
	rank uint16
	node int32
}

// resolve finds every field's raw value node (or -1) in the scope objects.
func (r *resolver) resolve(d *doc, scopes []int32, out *[numFields]found) {
	for f := range out {
		out[f] = found{rank: noRank, node: -1}
	}
	for s, obj := range scopes {
		if obj < 0 {
			continue
		}
		tbl := &r.direct[s]
		for j := d.nodes[obj].first; j >= 0; j = d.members[j].next {
			m := &d.members[j]
			if en, ok := tbl.lookup(d.memberKey(m)); ok && en.rank < out[en.field].rank {
				out[en.field] = found{rank: en.rank, node: m.val}
			}
		}
	}
	for f := range numFields {
		for _, da := range r.dotted[f] {
			if da.rank >= out[f].rank {
				break
			}
			if n := d.path(scopes[da.scope], da.path); n >= 0 {
				out[f] = found{rank: da.rank, node: n}
				break
			}
		}
	}
}

func reject(code string, f fieldID, msg, hint string) *Rejection {
	r := &Rejection{Code: code, Message: msg, ClientHint: hint}
	if f < numFields {
		r.Field = fieldNames[f]
	}
	return r
}

const noField = numFields

// Normalize turns one raw event into its canonical form, or explains why it
// cannot. Checks run in this order, and the first failure is returned:
// size, UTF-8, JSON syntax (with depth and duplicate keys), shape, client
// id, metric, amount, idempotency key, timestamp.
func (e *Engine) Normalize(in Input) (event.Canonical, *Rejection) {
	return e.normalize(&in, nil)
}

// Explain is Normalize that also says which rule produced each canonical
// field (for processor normalize --explain). It is slower; use Normalize
// on the hot path.
func (e *Engine) Explain(in Input) (event.Canonical, *Rejection, *Explanation) {
	ex := &Explanation{Format: in.Format.String()}
	ev, rej := e.normalize(&in, ex)
	return ev, rej, ex
}

func (e *Engine) normalize(in *Input, ex *Explanation) (event.Canonical, *Rejection) {
	if len(in.Raw) > e.maxBytes {
		return event.Canonical{}, reject(CodeTooLarge, noField, "event is larger than "+strconv.Itoa(e.maxBytes)+" bytes", "")
	}
	if !utf8.Valid(in.Raw) {
		return event.Canonical{}, reject(CodeInvalidUTF8, noField, "event is not valid UTF-8", "")
	}
	st := e.pool.Get().(*state)
	ev, rej := e.normalizeState(st, in, ex)
	st.doc.release()
	e.pool.Put(st)
	return ev, rej
}

// normalizeState is normalize with pooled scratch space. It has too many
// returns for a deferred release to be open-coded, so its caller releases.
func (e *Engine) normalizeState(st *state, in *Input, ex *Explanation) (event.Canonical, *Rejection) {
	st.tenant = in.Tenant
	if st.tenant == event.DefaultTenant {
		st.tenant = ""
	}
	d := &st.doc
	d.reset(in.Raw, e.maxDepth)
	var root int32 = -1
	// A binary-mode CloudEvent without data has an empty body (or record
	// value): it has no amount to read, which is not invalid JSON.
	if in.Format != FormatCloudEventBinary || len(in.Raw) > 0 && isJSONContentType(in.Attributes["datacontenttype"]) {
		if root = d.parse(); root < 0 {
			return event.Canonical{}, reject(d.code, noField, d.msg, "")
		}
	}
	var fv [numFields]found
	var scopes []int32
	var scopeBuf [maxScopes]int32
	fx := formatExtras{sentAt: -1}
	if ex != nil {
		fx.from = &ex.from
	}
	switch in.Format {
	case FormatTally:
		if d.nodes[root].kind != jObject {
			return event.Canonical{}, reject(CodeNotObject, noField, "event must be a JSON object, got "+d.nodes[root].kind.String(), "")
		}
		scopes = scopeBuf[:len(e.scopes)]
		for i, p := range e.scopes {
			n := d.path(root, p)
			if n >= 0 && d.nodes[n].kind != jObject {
				n = -1
			}
			scopes[i] = n
		}
		e.res.resolve(d, scopes, &fv)
	case FormatCloudEvent, FormatCloudEventBinary, FormatSegment:
		if rej := e.mapFormat(d, root, in, &fv, &fx); rej != nil {
			return event.Canonical{}, rej
		}
	default:
		return event.Canonical{}, reject(CodeUnsupportedEvent, noField, "unknown input format", "")
	}

	// Client id: selects the profile, so it is resolved with global aliases.
	n := fv[fClient].node
	if n < 0 {
		return event.Canonical{}, reject(CodeClientMissing, fClient, "no client id (looked for "+e.lookedFor(in.Format, fClient)+")", "")
	}
	if msg := idKind(d, n); msg != "" {
		return event.Canonical{}, reject(CodeClientInvalid, fClient, "client id "+msg, "")
	}
	client, msg := checkText(d.text(n), e.clientMax)
	if msg != "" {
		return event.Canonical{}, reject(CodeClientInvalid, fClient, "client id "+msg, hint(client))
	}
	prof := &e.base
	if len(e.profiles) > 0 {
		if p, ok := e.profiles[string(client)]; ok {
			prof = p
			if p.res != nil && in.Format == FormatTally {
				p.res.resolve(d, scopes, &fv)
			}
		}
	}
	if ex != nil {
		ex.Profile = prof.name
		e.explainFound(ex, d, in.Format, prof, &fv, &fx)
	}

	// Metric.
	var metric []byte
	metricDefault := false
	if n := fv[fMetric].node; n >= 0 {
		if msg := idKind(d, n); msg != "" {
			return event.Canonical{}, reject(CodeMetricInvalid, fMetric, "metric "+msg, hint(client))
		}
		if metric, msg = checkText(d.text(n), e.metricMax); msg != "" {
			return event.Canonical{}, reject(CodeMetricInvalid, fMetric, "metric "+msg, hint(client))
		}
	} else if e.metricRequired {
		return event.Canonical{}, reject(CodeMetricMissing, fMetric, "no metric (looked for "+e.lookedFor(in.Format, fMetric)+")", hint(client))
	} else {
		metricDefault = true
	}

	// Amount.
	var amount event.Amount
	if n := fv[fAmount].node; n >= 0 {
		var code string
		switch d.nodes[n].kind {
		case jNumber:
			amount, code = parseAmountNumber(d.text(n), prof.exponent)
		case jString:
			amount, code = parseAmountString(d.text(n), e.currency, prof.exponent)
		default:
			return event.Canonical{}, reject(CodeAmountInvalid, fAmount, "amount must be a number or a numeric string, got "+d.nodes[n].kind.String(), hint(client))
		}
		switch code {
		case "":
		case CodeAmountPrecision:
			return event.Canonical{}, reject(code, fAmount, "amount has more than 9 fractional digits; it is never rounded", hint(client))
		case CodeAmountRange:
			return event.Canonical{}, reject(code, fAmount, "amount is out of range", hint(client))
		default:
			return event.Canonical{}, reject(CodeAmountInvalid, fAmount, "amount is not a number", hint(client))
		}
		if !e.allowNegative && (amount.Units < 0 || amount.Nanos < 0) {
			return event.Canonical{}, reject(CodeAmountNegative, fAmount, "amount is negative", hint(client))
		}
	} else if fx.amountDefault != nil {
		amount = *fx.amountDefault
	} else if e.amountRequired {
		return event.Canonical{}, reject(CodeAmountMissing, fAmount, "no amount (looked for "+e.lookedFor(in.Format, fAmount)+")", hint(client))
	} else {
		amount = e.amountDefault
	}

	// Idempotency key: the header wins over payload fields.
	var key []byte
	keyFromPayload := false
	if in.IdempotencyKey != "" {
		k, msg := checkKey([]byte(in.IdempotencyKey), e.keyMax)
		if msg != "" {
			return event.Canonical{}, reject(CodeIdempotencyKeyInvalid, fKey, "idempotency key header "+msg, hint(client))
		}
		key = k
		if ex != nil {
			ex.IdempotencyKey = FieldSource{From: "Input.IdempotencyKey (HTTP Idempotency-Key or Kafka tally-idempotency-key header); wins over payload keys"}
		}
	} else if n := fv[fKey].node; n >= 0 {
		switch d.nodes[n].kind {
		case jString:
		case jNumber:
			if !isInteger(d.text(n)) {
				return event.Canonical{}, reject(CodeIdempotencyKeyInvalid, fKey, "numeric idempotency key must be an integer", hint(client))
			}
		default:
			return event.Canonical{}, reject(CodeIdempotencyKeyInvalid, fKey, "idempotency key must be a string or an integer, got "+d.nodes[n].kind.String(), hint(client))
		}
		k, msg := checkKey(d.text(n), e.keyMax)
		if msg != "" {
			return event.Canonical{}, reject(CodeIdempotencyKeyInvalid, fKey, "idempotency key "+msg, hint(client))
		}
		key, keyFromPayload = k, true
	} else if in.FallbackIdempotencyKey != "" {
		k, msg := checkKey([]byte(in.FallbackIdempotencyKey), e.keyMax)
		if msg != "" {
			return event.Canonical{}, reject(CodeIdempotencyKeyInvalid, fKey, "idempotency key (request key and element index) "+msg, hint(client))
		}
		key = k
		if ex != nil {
			ex.IdempotencyKey = FieldSource{From: "Input.FallbackIdempotencyKey (HTTP Idempotency-Key plus the element's index, Kafka tally-idempotency-key-fallback header); the event has no key of its own"}
		}
	} else if e.keyRequired {
		return event.Canonical{}, reject(CodeIdempotencyKeyMissing, fKey, "no idempotency key (looked for the header and "+e.lookedFor(in.Format, fKey)+")", hint(client))
	}

	// Timestamp.
	var ms int64
	defaulted := false
	if n := fv[fTimestamp].node; n >= 0 {
		r, code, msg := e.timestamp(d, n, &prof.ts, &st.text)
		if code != "" {
			return event.Canonical{}, reject(code, fTimestamp, fx.tsPrefix+msg, hint(client))
		}
		ms = r.ms
		if ex != nil {
			ex.Timestamp.Rule = describeTS(r, e.layouts)
		}
		if fx.sentAt >= 0 && key != nil && !in.ReceivedAt.IsZero() {
			if ms, code, msg = e.segmentSkew(d, fx.sentAt, r.ms, in.ReceivedAt, &prof.ts, &st.text, ex); code != "" {
				return event.Canonical{}, reject(code, fTimestamp, msg, hint(client))
			}
		}
	} else if e.rejectMissingTS {
		return event.Canonical{}, reject(CodeTimestampMissing, fTimestamp, "no timestamp (looked for "+e.lookedFor(in.Format, fTimestamp)+")", hint(client))
	} else if in.ReceivedAt.IsZero() {
		return event.Canonical{}, reject(CodeTimestampMissing, fTimestamp, "no timestamp and no received time to default to", hint(client))
	} else {
		ms, defaulted = in.ReceivedAt.UnixMilli(), true
		if ex != nil {
			ex.Timestamp = FieldSource{From: "Input.ReceivedAt", Rule: "no timestamp: timestamp.missing is received, so the received time (ms) is used and left out of the id"}
		}
	}

	mv := metric
	if metricDefault {
		mv = e.metricDefaultBytes
	}
	// A payload key that is this engine's own id for the event (a canonical
	// event fed back in) is not a producer key: keep the content id, so
	// normalizing canonical JSON is a fixed point.
	var sum [sha256.Size]byte
	idRule := ""
	switch {
	case key == nil:
		sum = e.contentID(st, client, mv, amount, ms, !defaulted)
		idRule = "content"
	case keyFromPayload && in.Format == FormatTally && len(key) == 2*sha256.Size:
		withTS := e.contentID(st, client, mv, amount, ms, true)
		noTS := e.contentID(st, client, mv, amount, ms, false)
		switch {
		case hexEqual(key, withTS[:]):
			sum, key, idRule = withTS, nil, "fed back"
		case hexEqual(key, noTS[:]):
			sum, key, defaulted, idRule = noTS, nil, true, "fed back"
		default:
			sum, idRule = e.keyID(st, client, key), "key"
		}
	default:
		sum, idRule = e.keyID(st, client, key), "key"
		// A canonical keyed event fed back in carries its own id and flag.
		if !defaulted && in.Format == FormatTally && d.nodes[root].first >= 0 {
			if id := d.get(root, "eventId"); id >= 0 && d.nodes[id].kind == jString && d.nodes[id].end-d.nodes[id].start == 2*sha256.Size {
				if f := d.get(root, "timestampDefaulted"); f >= 0 && d.nodes[f].kind == jTrue && hexEqual(d.text(id), sum[:]) {
					defaulted = true
				}
			}
		}
	}
	if ex != nil {
		ex.explainID(idRule, defaulted, metricDefault, fv[fAmount].node < 0)
	}

	// One allocation holds every returned string.
	var b strings.Builder
	b.Grow(2*sha256.Size + len(client) + len(metric) + len(key))
	var hx [2 * sha256.Size]byte
	encodeID(&hx, &sum)
	b.Write(hx[:])
	b.Write(client)
	b.Write(metric)
	b.Write(key)
	s := b.String()
	ev := event.Canonical{
		EventID:            s[:64],
		ClientID:           s[64 : 64+len(client)],
		Amount:             amount,
		Timestamp:          time.UnixMilli(ms).UTC(),
		TimestampDefaulted: defaulted,
	}
	rest := s[64+len(client):]
	if metricDefault {
		ev.Metric = e.metricDefault
	} else {
		ev.Metric, rest = rest[:len(metric)], rest[len(metric):]
	}
	ev.IdempotencyKey = rest
	return ev, nil
}

// idKind accepts a string or an integer JSON number (read as its decimal
// text: 42 and "42" are the same client) for the client id and the metric.
// It returns why any other value is refused.
func idKind(d *doc, n int32) string {
	switch k := d.nodes[n].kind; {
	case k == jString:
		return ""
	case k == jNumber && isInteger(d.text(n)):
		return ""
	case k == jNumber:
		return "must be a string or an integer; a number with a fraction or an exponent is not an id"
	default:
		return "must be a string or an integer, got " + k.String()
	}
}

func hint(client []byte) string {
	if len(client) > 256 {
		client = client[:256]
		for len(client) > 0 && !utf8.Valid(client) {
			client = client[:len(client)-1]
		}
	}
	return string(client)
}

func (e *Engine) aliasHint(f fieldID) string {
	var b strings.Builder
	for i, a := range fieldAliases(e.res, f) {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(a)
	}
	return b.String()
}

// fieldAliases lists a field's aliases in rank order (error messages only).
func fieldAliases(r *resolver, f fieldID) []string {
	type ra struct {
		rank uint16
		name string
	}
	var all []ra
	for _, tbl := range r.direct {
		for _, sl := range tbl.slots {
			if sl.used && sl.e.field == f {
				all = append(all, ra{sl.e.rank, sl.key})
			}
		}
	}
	for _, da := range r.dotted[f] {
		all = append(all, ra{da.rank, strings.Join(da.path, ".")})
	}
	for i := 1; i < len(all); i++ {
		for j := i; j > 0 && all[j].rank < all[j-1].rank; j-- {
			all[j], all[j-1] = all[j-1], all[j]
		}
	}
	var out []string
	seen := map[string]bool{}
	for _, a := range all {
		if !seen[a.name] {
			seen[a.name] = true
			out = append(out, a.name)
		}
	}
	return out
}

// Id encoding, version 1. See the package doc; changing any byte here
// changes every event id, so it needs a new version tag.
// The short prefix and varint lengths keep a typical id input within one
// 64-byte SHA-256 block.
const idPrefix = "tally-id-v1\x00"

func appendField(dst, v []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(v)))
	return append(dst, v...)
}

// idStart begins an id's hashed text: the prefix and, for a tenant other
// than the default one, 'T' and the tenant.
func idStart(st *state) []byte {
	b := append(st.hash[:0], idPrefix...)
	if st.tenant != "" {
		b = append(b, 'T')
		b = appendField(b, []byte(st.tenant))
	}
	return b
}

func (e *Engine) contentID(st *state, client, metric []byte, a event.Amount, ms int64, withTS bool) [sha256.Size]byte {
	b := idStart(st)
	var tmp [40]byte
	if withTS {
		b = append(b, 'C')
	} else {
		b = append(b, 'D')
	}
	b = appendField(b, client)
	b = appendField(b, metric)
	b = appendField(b, appendAmount(tmp[:0], a))
	if withTS {
		b = appendField(b, strconv.AppendInt(tmp[:0], ms, 10))
	}
	st.hash = b
	return sha256.Sum256(b)
}

func (e *Engine) keyID(st *state, client, key []byte) [sha256.Size]byte {
	b := idStart(st)
	b = append(b, 'K')
	b = appendField(b, client)
	b = appendField(b, key)
	st.hash = b
	return sha256.Sum256(b)
}

const hexDigits = "0123456789abcdef"

// hexPairs holds the two lower-case hex digits of every byte value.
var hexPairs = func() (t [512]byte) {
	for v := range 256 {
		t[2*v], t[2*v+1] = hexDigits[v>>4], hexDigits[v&15]
	}
	return t
}()

// encodeID writes sum in lower-case hex: hex.Encode's output, a byte pair
// per table lookup.
func encodeID(dst *[2 * sha256.Size]byte, sum *[sha256.Size]byte) {
	for i, v := range sum {
		dst[2*i], dst[2*i+1] = hexPairs[2*int(v)], hexPairs[2*int(v)+1]
	}
}

func hexEqual(h []byte, sum []byte) bool {
	for i, c := range sum {
		if h[2*i] != hexDigits[c>>4] || h[2*i+1] != hexDigits[c&15] {
			return false
		}
	}
	return true
}

// checkText trims ASCII whitespace and accepts 1..maxLen bytes without
// control characters (C0, DEL, C1). It returns the trimmed text, or a message.
func checkText(b []byte, maxLen int) ([]byte, string) {
	b = trimSpace(b)
	if len(b) == 0 {
		return b, "is empty"
	}
	if len(b) > maxLen {
		return b, "is longer than " + strconv.Itoa(maxLen) + " bytes"
	}
	if hasControl(b) {
		return b, "contains control characters"
	}
	return b, ""
}

// checkKey is checkText without trimming: keys are opaque.
func checkKey(b []byte, maxLen int) ([]byte, string) {
	switch {
	case len(b) == 0:
		return b, "is empty"
	case len(b) > maxLen:
		return b, "is longer than " + strconv.Itoa(maxLen) + " bytes"
	case !utf8.Valid(b):
		return b, "is not valid UTF-8"
	case hasControl(b):
		return b, "contains control characters"
	}
	return b, ""
}

func hasControl(b []byte) bool {
	for i, c := range b {
		if c < 0x20 || c == 0x7f || c == 0xc2 && i+1 < len(b) && b[i+1] >= 0x80 && b[i+1] <= 0x9f {
			return true
		}
	}
	return false
}

func isInteger(b []byte) bool {
	if len(b) > 0 && b[0] == '-' {
		b = b[1:]
	}
	return len(b) > 0 && allDigits(b)
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// isEpochText reports a string that is a plain (possibly fractional or
// signed) number: such strings are epoch values like JSON numbers.
func isEpochText(s []byte) bool {
	if s[0] == '-' || s[0] == '+' {
		s = s[1:]
	}
	dot := false
	digits := 0
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return digits > 0
}
