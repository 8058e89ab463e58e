// Package instant gives every time the query API writes one JSON form, as
// docs/api.md requires: RFC 3339 in UTC with exactly three fractional digits
// ("2024-01-01T00:00:00.000Z"). time.Time's own MarshalJSON drops trailing
// zeros and keeps the zone, which clients then have to special-case.
package instant

import (
	"fmt"
	"time"
)

// Layout is the one time format of the API.
const Layout = "2006-01-02T15:04:05.000Z07:00"

// Instant is a time.Time that marshals in Layout, in UTC.
type Instant struct{ time.Time }

// Of wraps t.
func Of(t time.Time) Instant { return Instant{t} }

// FromMillis is the instant ms milliseconds after the Unix epoch.
func FromMillis(ms int64) Instant { return Instant{time.UnixMilli(ms).UTC()} }

// String formats i in Layout.
func (i Instant) String() string { return i.UTC().Format(Layout) }

// MarshalJSON writes i as a JSON string in Layout.
func (i Instant) MarshalJSON() ([]byte, error) {
	return []byte(`"` + i.String() + `"`), nil
}

// UnmarshalJSON reads any RFC 3339 string.
func (i *Instant) UnmarshalJSON(b []byte) error {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return fmt.Errorf("instant: want a JSON string, got %s", b)
	}
	t, err := time.Parse(time.RFC3339Nano, string(b[1:len(b)-1]))
	if err != nil {
		return fmt.Errorf("instant: %w", err)
	}
	i.Time = t
	return nil
}
