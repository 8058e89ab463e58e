package normalize

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	_ "time/tzdata" // profiles name IANA zones; containers often lack /usr/share/zoneinfo

	"go.yaml.in/yaml/v3"
)

//go:embed default.yaml
var defaultYAML []byte

// Config is the whole normalization configuration. Its YAML form is
// documented in default.yaml and in the package doc.
type Config struct {
	Limits    Limits         `yaml:"limits"`
	Scopes    []string       `yaml:"scopes"`
	Fields    Fields         `yaml:"fields"`
	Amount    AmountRules    `yaml:"amount"`
	Timestamp TimestampRules `yaml:"timestamp"`
	Profiles  []Profile      `yaml:"profiles"`
	// CloudEvents and Segment map those producers' shapes onto the
	// canonical fields (docs/producers.md); zero values mean the defaults.
	CloudEvents CloudEventRules `yaml:"cloudEvents,omitempty"`
	Segment     SegmentRules    `yaml:"segment,omitempty"`
}

// CloudEventRules map a CloudEvents 1.0 event: client ← an attribute
// (default source), metric ← type, amount ← a path in data, timestamp ←
// time, idempotency key ← id.
type CloudEventRules struct {
	// Client is the context attribute that names the client (default
	// "source"; e.g. "subject" or an extension attribute).
	Client string `yaml:"client,omitempty"`
	// Amount is the dotted path of the amount inside data (default
	// "amount"); "." is data itself (data: 42).
	Amount string `yaml:"amount,omitempty"`
	// AmountDefault is the amount of an event whose data has none; empty:
	// fields.amount decides (required or its default).
	AmountDefault string `yaml:"amountDefault,omitempty"`
}

// SegmentRules map a Segment track call: client ← the first present of
// Client, metric ← event, amount ← the first present of properties.<Amount>,
// idempotency key ← messageId, timestamp ← originalTimestamp or timestamp,
// corrected for clock skew with sentAt.
type SegmentRules struct {
	// Client lists top-level (dotted) paths tried in order (default
	// userId, anonymousId).
	Client []string `yaml:"client,omitempty"`
	// Amount lists dotted paths under properties tried in order (default
	// value).
	Amount []string `yaml:"amount,omitempty"`
	// AmountDefault is the amount of a call whose properties have none;
	// empty: fields.amount decides.
	AmountDefault string `yaml:"amountDefault,omitempty"`
}

// Limits bound the work one input can cause.
type Limits struct {
	MaxBytes int `yaml:"maxBytes"`
	MaxDepth int `yaml:"maxDepth"`
}

// Fields holds the lookup rules of each canonical field.
type Fields struct {
	ClientID       Field `yaml:"clientId"`
	Metric         Field `yaml:"metric"`
	Amount         Field `yaml:"amount"`
	Timestamp      Field `yaml:"timestamp"`
	IdempotencyKey Field `yaml:"idempotencyKey"`
}

// Field says where one canonical field is found and what happens when it is not.
type Field struct {
	// Aliases are raw key names (or dotted paths below a scope), best first.
	Aliases []string `yaml:"aliases"`
	// Required makes a missing field a rejection (clientId: always).
	Required bool `yaml:"required,omitempty"`
	// Default replaces a missing value (metric and amount only).
	Default string `yaml:"default,omitempty"`
	// MaxLength bounds string fields in bytes (clientId, metric, idempotencyKey).
	MaxLength int `yaml:"maxLength,omitempty"`
}

// AmountRules tune how amounts are read.
type AmountRules struct {
	AllowNegative   bool     `yaml:"allowNegative"`
	CurrencySymbols []string `yaml:"currencySymbols"`
}

// TimestampRules tune how timestamps are read.
type TimestampRules struct {
	// Missing is "received" (use Input.ReceivedAt, and leave the timestamp
	// out of the event id) or "reject".
	Missing  string     `yaml:"missing"`
	Timezone string     `yaml:"timezone"`
	Min      string     `yaml:"min"` // RFC 3339, inclusive
	Max      string     `yaml:"max"` // RFC 3339, exclusive
	Epoch    EpochRules `yaml:"epoch"`
	Layouts  []string   `yaml:"layouts"`
	// DateOrder reads numeric dates that have two readings (01/02/2024):
	// "dmy", "mdy" or "ymd"; empty rejects them as timestamp_ambiguous.
	DateOrder string `yaml:"dateOrder,omitempty"`
	// ZoneAbbreviations give abbreviations a meaning ("+05:30" or an IANA
	// zone), before the built-in table; e.g. IST: "+05:30".
	ZoneAbbreviations map[string]string `yaml:"zoneAbbreviations,omitempty"`
}

// EpochRules pick the unit of a numeric timestamp by its magnitude.
type EpochRules struct {
	SecondsBelow int64 `yaml:"secondsBelow"`
	MillisBelow  int64 `yaml:"millisBelow"`
	MicrosBelow  int64 `yaml:"microsBelow"`
}

// Profile holds the rules of particular sources, matched by client id.
type Profile struct {
	Name      string         `yaml:"name"`
	ClientIDs []string       `yaml:"clientIds"`
	Aliases   ProfileAliases `yaml:"aliases"`
	// AmountExponent scales amounts by 10^AmountExponent (-2: cents to units).
	AmountExponent int `yaml:"amountExponent"`
	// Timezone overrides timestamp.timezone for these sources.
	Timezone string `yaml:"timezone"`
	// DateOrder overrides timestamp.dateOrder for these sources.
	DateOrder string `yaml:"dateOrder,omitempty"`
	// ZoneAbbreviations add to (and win over) timestamp.zoneAbbreviations.
	ZoneAbbreviations map[string]string `yaml:"zoneAbbreviations,omitempty"`
}

// ProfileAliases are tried before the global aliases of the same field.
// The client id cannot have profile aliases: it selects the profile.
type ProfileAliases struct {
	Metric         []string `yaml:"metric"`
	Amount         []string `yaml:"amount"`
	Timestamp      []string `yaml:"timestamp"`
	IdempotencyKey []string `yaml:"idempotencyKey"`
}

// Missing-timestamp policies.
const (
	MissingReceived = "received"
	MissingReject   = "reject"
)

// Bounds that keep a config from making the engine slow or unsafe.
const (
	maxDepthLimit  = 1000
	maxScopes      = 8
	maxPathDepth   = 16
	maxStringLimit = 1 << 16
)

// DefaultConfig returns the embedded default configuration (default.yaml),
// which reproduces the seed's alias lists. Each call returns a fresh copy.
func DefaultConfig() *Config {
	cfg, err := decodeConfig(bytes.NewReader(defaultYAML))
	if err != nil {
		panic("normalize: embedded default.yaml is invalid: " + err.Error()) // caught by tests
	}
	return cfg
}

// LoadConfig reads a full configuration from a YAML file. Unknown keys are
// errors and nothing is merged from the default: what the file says is the
// whole config. The result is validated.
func LoadConfig(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load normalize config: %w", err)
	}
	defer f.Close()
	cfg, err := decodeConfig(f)
	if err != nil {
		return nil, fmt.Errorf("load normalize config %s: %w", path, err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("load normalize config %s: %w", path, err)
	}
	return cfg, nil
}

func decodeConfig(r io.Reader) (*Config, error) {
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	var cfg Config
	if err := dec.Decode(&cfg); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty config")
		}
		return nil, err
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("config holds more than one YAML document")
	}
	return &cfg, nil
}

// Validate reports every problem of the config at once.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if c.Limits.MaxBytes <= 0 {
		bad("limits.maxBytes: must be positive")
	}
	if c.Limits.MaxDepth <= 0 || c.Limits.MaxDepth > maxDepthLimit {
		bad("limits.maxDepth: must be between 1 and %d", maxDepthLimit)
	}

	if len(c.Scopes) == 0 {
		bad("scopes: at least one scope is needed (\"\" is the top level)")
	}
	if len(c.Scopes) > maxScopes {
		bad("scopes: at most %d scopes", maxScopes)
	}
	seenScope := map[string]bool{}
	for i, s := range c.Scopes {
		if s != "" {
			if err := checkPath(s); err != nil {
				bad("scopes[%d]: %v", i, err)
			}
		}
		if seenScope[s] {
			bad("scopes[%d]: %q is listed twice", i, s)
		}
		seenScope[s] = true
	}

	f := &c.Fields
	checkAliases := func(name string, aliases []string, needOne bool) {
		if needOne && len(aliases) == 0 {
			bad("fields.%s.aliases: at least one alias is needed", name)
		}
		seen := map[string]bool{}
		for i, a := range aliases {
			if err := checkPath(a); err != nil {
				bad("fields.%s.aliases[%d]: %v", name, i, err)
			}
			if seen[a] {
				bad("fields.%s.aliases[%d]: %q is listed twice", name, i, a)
			}
			seen[a] = true
		}
	}
	checkAliases("clientId", f.ClientID.Aliases, true)
	checkAliases("metric", f.Metric.Aliases, true)
	checkAliases("amount", f.Amount.Aliases, true)
	checkAliases("timestamp", f.Timestamp.Aliases, true)
	checkAliases("idempotencyKey", f.IdempotencyKey.Aliases, false)

	if !f.ClientID.Required {
		bad("fields.clientId.required: must be true (every event belongs to a client)")
	}
	if f.ClientID.Default != "" {
		bad("fields.clientId.default: not allowed (a guessed client would merge producers)")
	}
	for _, sf := range []struct {
		name string
		f    Field
	}{{"clientId", f.ClientID}, {"metric", f.Metric}, {"idempotencyKey", f.IdempotencyKey}} {
		if sf.f.MaxLength <= 0 || sf.f.MaxLength > maxStringLimit {
			bad("fields.%s.maxLength: must be between 1 and %d", sf.name, maxStringLimit)
		}
	}
	if f.Amount.MaxLength != 0 || f.Timestamp.MaxLength != 0 {
		bad("fields.amount/timestamp.maxLength: not used for these fields; remove it")
	}
	if f.Metric.Required && f.Metric.Default != "" {
		bad("fields.metric: required and default exclude each other")
	}
	if !f.Metric.Required && f.Metric.Default == "" {
		bad("fields.metric: set required: true or a default")
	}
	if f.Metric.Default != "" {
		if _, msg := checkText([]byte(f.Metric.Default), max(f.Metric.MaxLength, 1)); msg != "" {
			bad("fields.metric.default: %s", msg)
		}
	}
	if f.Amount.Required && f.Amount.Default != "" {
		bad("fields.amount: required and default exclude each other")
	}
	if !f.Amount.Required && f.Amount.Default == "" {
		bad("fields.amount: set required: true or a default")
	}
	if f.Amount.Default != "" {
		if _, code := parseAmountString([]byte(f.Amount.Default), nil, 0); code != "" {
			bad("fields.amount.default: %q is not an exact amount (%s)", f.Amount.Default, code)
		}
	}
	if f.Timestamp.Required || f.Timestamp.Default != "" {
		bad("fields.timestamp: use timestamp.missing instead of required/default")
	}
	if f.IdempotencyKey.Default != "" {
		bad("fields.idempotencyKey.default: not allowed (one key would merge all events)")
	}
	// One raw key must mean one canonical field, or the result would depend
	// on which field happened to be resolved first.
	checkCrossField := func(where string, lists map[string][]string) {
		owner := map[string]string{}
		for _, name := range []string{"clientId", "metric", "amount", "timestamp", "idempotencyKey"} {
			for _, a := range lists[name] {
				if o, ok := owner[a]; ok && o != name {
					bad("%s: alias %q is used by both %s and %s", where, a, o, name)
				}
				owner[a] = name
			}
		}
	}
	global := map[string][]string{
		"clientId": f.ClientID.Aliases, "metric": f.Metric.Aliases, "amount": f.Amount.Aliases,
		"timestamp": f.Timestamp.Aliases, "idempotencyKey": f.IdempotencyKey.Aliases,
	}
	checkCrossField("fields", global)

	for i, cur := range c.Amount.CurrencySymbols {
		if cur == "" || strings.ContainsAny(cur, "0123456789.,+-eE \t") {
			bad("amount.currencySymbols[%d]: %q cannot be empty or hold digits, signs, separators or spaces", i, cur)
		}
	}

	t := &c.Timestamp
	if t.Missing != MissingReceived && t.Missing != MissingReject {
		bad("timestamp.missing: must be %q or %q, got %q", MissingReceived, MissingReject, t.Missing)
	}
	if _, err := loadLocation(t.Timezone); err != nil {
		bad("timestamp.timezone: %v", err)
	}
	minT, errMin := time.Parse(time.RFC3339, t.Min)
	if errMin != nil {
		bad("timestamp.min: must be RFC 3339: %v", errMin)
	}
	maxT, errMax := time.Parse(time.RFC3339, t.Max)
	if errMax != nil {
		bad("timestamp.max: must be RFC 3339: %v", errMax)
	}
	if errMin == nil && errMax == nil && !minT.Before(maxT) {
		bad("timestamp.min must be before timestamp.max")
	}
	if errMax == nil && maxT.Year() > 9999 {
		bad("timestamp.max: must be before year 10000")
	}
	e := t.Epoch
	if e.SecondsBelow <= 0 || e.MillisBelow <= e.SecondsBelow || e.MicrosBelow <= e.MillisBelow {
		bad("timestamp.epoch: need 0 < secondsBelow < millisBelow < microsBelow")
	}
	for i, l := range t.Layouts {
		if err := checkLayout(l); err != nil {
			bad("timestamp.layouts[%d]: %v", i, err)
		}
	}
	if _, ok := dateOrders[t.DateOrder]; !ok {
		bad("timestamp.dateOrder: must be dmy, mdy, ymd or empty, got %q", t.DateOrder)
	}
	zones := newZoneCache()
	if _, err := compileAbbrev(t.ZoneAbbreviations, nil, zones); err != nil {
		bad("timestamp.zoneAbbreviations: %v", err)
	}

	if ce := c.CloudEvents.Client; ce != "" {
		if !isCEAttributeName(ce) || ce == "id" || ce == "type" || ce == "time" || ce == "specversion" || ce == "data" || ce == "datacontenttype" || ce == "dataschema" {
			bad("cloudEvents.client: %q is not a CloudEvents attribute that can name a client (lower-case letters and digits; not id, type, time, specversion, data*)", ce)
		}
	}
	if a := c.CloudEvents.Amount; a != "" && a != "." {
		if err := checkPath(a); err != nil {
			bad("cloudEvents.amount: %v", err)
		}
	}
	for i, p := range c.Segment.Client {
		if err := checkPath(p); err != nil {
			bad("segment.client[%d]: %v", i, err)
		}
	}
	for i, p := range c.Segment.Amount {
		if err := checkPath(p); err != nil {
			bad("segment.amount[%d]: %v", i, err)
		}
	}
	for _, d := range [...]struct{ name, v string }{{"cloudEvents.amountDefault", c.CloudEvents.AmountDefault}, {"segment.amountDefault", c.Segment.AmountDefault}} {
		if d.v != "" {
			if _, code := parseAmountString([]byte(d.v), nil, 0); code != "" {
				bad("%s: %q is not an exact amount (%s)", d.name, d.v, code)
			}
		}
	}

	seenClient := map[string]int{}
	for i, p := range c.Profiles {
		where := fmt.Sprintf("profiles[%d]", i)
		if p.Name != "" {
			where += " (" + p.Name + ")"
		}
		if len(p.ClientIDs) == 0 {
			bad("%s.clientIds: at least one client id is needed", where)
		}
		for _, id := range p.ClientIDs {
			if norm, msg := checkText([]byte(id), max(f.ClientID.MaxLength, 1)); msg != "" || string(norm) != id {
				bad("%s.clientIds: %q is not a valid, trimmed client id", where, id)
			}
			if j, ok := seenClient[id]; ok {
				bad("%s.clientIds: %q is already matched by profiles[%d]", where, id, j)
			}
			seenClient[id] = i
		}
		if p.AmountExponent < -9 || p.AmountExponent > 18 {
			bad("%s.amountExponent: must be between -9 and 18", where)
		}
		if p.Timezone != "" {
			if _, err := loadLocation(p.Timezone); err != nil {
				bad("%s.timezone: %v", where, err)
			}
		}
		if _, ok := dateOrders[p.DateOrder]; !ok {
			bad("%s.dateOrder: must be dmy, mdy, ymd or empty, got %q", where, p.DateOrder)
		}
		if _, err := compileAbbrev(p.ZoneAbbreviations, nil, zones); err != nil {
			bad("%s.zoneAbbreviations: %v", where, err)
		}
		lists := map[string][]string{
			"clientId":       f.ClientID.Aliases,
			"metric":         append(append([]string{}, p.Aliases.Metric...), f.Metric.Aliases...),
			"amount":         append(append([]string{}, p.Aliases.Amount...), f.Amount.Aliases...),
			"timestamp":      append(append([]string{}, p.Aliases.Timestamp...), f.Timestamp.Aliases...),
			"idempotencyKey": append(append([]string{}, p.Aliases.IdempotencyKey...), f.IdempotencyKey.Aliases...),
		}
		for name, own := range map[string][]string{"metric": p.Aliases.Metric, "amount": p.Aliases.Amount,
			"timestamp": p.Aliases.Timestamp, "idempotencyKey": p.Aliases.IdempotencyKey} {
			for j, a := range own {
				if err := checkPath(a); err != nil {
					bad("%s.aliases.%s[%d]: %v", where, name, j, err)
				}
			}
		}
		checkCrossField(where+".aliases", lists)
	}
	return errors.Join(errs...)
}

// checkPath accepts a key or a dotted path of non-empty keys.
func checkPath(p string) error {
	if p == "" {
		return errors.New("empty alias")
	}
	parts := strings.Split(p, ".")
	if len(parts) > maxPathDepth {
		return fmt.Errorf("path %q is deeper than %d keys", p, maxPathDepth)
	}
	for _, part := range parts {
		if part == "" {
			return fmt.Errorf("path %q has an empty segment", p)
		}
	}
	return nil
}

func loadLocation(name string) (*time.Location, error) {
	if name == "" {
		return nil, errors.New("time zone is empty (use UTC)")
	}
	if name == "Local" {
		return nil, errors.New(`time zone "Local" depends on the server; name a zone`)
	}
	return time.LoadLocation(name)
}

// checkLayout rejects layouts that cannot read back their own output, which
// catches typos such as "2006-13-02".
func checkLayout(layout string) error {
	if layout == "" {
		return errors.New("empty layout")
	}
	ref := time.Date(2024, time.March, 15, 13, 4, 5, 0, time.UTC)
	if _, err := time.Parse(layout, ref.Format(layout)); err != nil {
		return fmt.Errorf("layout %q cannot parse its own output: %w", layout, err)
	}
	if !strings.ContainsAny(layout, "2") || !strings.Contains(layout, "2006") && !strings.Contains(layout, "06") {
		return fmt.Errorf("layout %q has no day or year", layout)
	}
	return nil
}

var dateOrders = map[string]uint8{"": orderNone, "dmy": orderDMY, "mdy": orderMDY, "ymd": orderYMD}

// compileAbbrev turns configured abbreviations into zone specs, on top of
// base (profile entries win over global ones).
func compileAbbrev(cfg map[string]string, base map[string]zoneSpec, zones *zoneCache) (map[string]zoneSpec, error) {
	if len(cfg) == 0 {
		return base, nil
	}
	out := make(map[string]zoneSpec, len(base)+len(cfg))
	for k, v := range base {
		out[k] = v
	}
	var errs []error
	for k, v := range cfg {
		if len(k) < 2 || len(k) > 5 || strings.Trim(k, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
			errs = append(errs, fmt.Errorf("%q: an abbreviation is 2 to 5 capital letters", k))
			continue
		}
		spec, err := parseZoneSpec(v, zones)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", k, err))
			continue
		}
		out[k] = spec
	}
	return out, errors.Join(errs...)
}
