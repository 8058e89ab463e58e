package httpapi

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxValueLen bounds every parameter value; no client id or metric is longer.
const maxValueLen = 1024

// params is a strictly parsed query string. gin's own accessors silently
// drop malformed pairs and take the first of repeated keys; here both are
// errors, so a client never gets an answer to a question it did not ask.
type params struct {
	v url.Values
}

func newParams(raw string) (*params, error) {
	v, err := url.ParseQuery(raw)
	if err != nil {
		return nil, fmt.Errorf("malformed query string: %w", err)
	}
	for key, values := range v {
		for _, s := range values {
			if len(s) > maxValueLen {
				return nil, fmt.Errorf("%s: value longer than %d bytes", key, maxValueLen)
			}
			if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
				return nil, fmt.Errorf("%s: value is not valid UTF-8 text", key)
			}
		}
	}
	return &params{v: v}, nil
}

// allow rejects any parameter not listed.
func (p *params) allow(keys ...string) error {
	var unknown []string
	for k := range p.v {
		if !slices.Contains(keys, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return fmt.Errorf("unknown parameter %s (allowed: %s)", strings.Join(unknown, ", "), strings.Join(keys, ", "))
	}
	return nil
}

// one returns a single-valued parameter; "" when absent or empty.
func (p *params) one(key string) (string, error) {
	vals := p.v[key]
	if len(vals) > 1 {
		return "", fmt.Errorf("%s: given %d times, at most once allowed", key, len(vals))
	}
	if len(vals) == 0 {
		return "", nil
	}
	return vals[0], nil
}

// many returns every non-empty value of a repeatable parameter, deduplicated
// in order.
func (p *params) many(key string, max int) ([]string, error) {
	var out []string
	for _, s := range p.v[key] {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if len(out) > max {
		return nil, fmt.Errorf("%s: at most %d values", key, max)
	}
	return out, nil
}

// integer returns a bounded integer parameter, def when absent.
func (p *params) integer(key string, def, lo, hi int) (int, error) {
	s, err := p.one(key)
	if err != nil || s == "" {
		return def, err
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s: want an integer from %d to %d, got %q", key, lo, hi, s)
	}
	return n, nil
}

// Bounds for accepted instants: DateTime's range, with margin.
var (
	minInstant = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxInstant = time.Date(2106, 1, 1, 0, 0, 0, 0, time.UTC)
)

// instant parses a time parameter. It accepts RFC 3339 (any fraction),
// a zone-less "2006-01-02T15:04:05[.000]", "2006-01-02" or "2006/01/02"
// (all UTC), and integer Unix milliseconds. dateOnly reports a date, which
// the seed API's inclusive endDate reads as the whole day.
func (p *params) instant(key string) (t *time.Time, dateOnly bool, err error) {
	s, err := p.one(key)
	if err != nil || s == "" {
		return nil, false, err
	}
	parsed, dateOnly, ok := parseInstant(s)
	if !ok {
		return nil, false, fmt.Errorf("%s: want RFC 3339 (2024-01-01T00:00:00Z), a date (2024-01-01) or Unix milliseconds, got %q", key, s)
	}
	if parsed.Before(minInstant) || !parsed.Before(maxInstant) {
		return nil, false, fmt.Errorf("%s: %q is outside 1970-01-01 .. 2105-12-31", key, s)
	}
	parsed = parsed.UTC()
	return &parsed, dateOnly, nil
}

func parseInstant(s string) (time.Time, bool, bool) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, false, true
	}
	if t, err := time.ParseInLocation("2006-01-02T15:04:05.999999999", s, time.UTC); err == nil {
		return t, false, true
	}
	// "2024/01/01" is the seed README's own example.
	for _, layout := range []string{time.DateOnly, "2006/01/02"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, true, true
		}
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil && ms >= 0 && ms < maxInstant.UnixMilli() {
		return time.UnixMilli(ms), false, true
	}
	return time.Time{}, false, false
}

// errRange is returned when from is not before to.
var errRange = errors.New("from must be before to")
