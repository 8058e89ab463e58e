package httpapi

import (
	"testing"

	"github.com/tally-dev/tally/queryapi/internal/eventlog"
)

// FuzzParseQueries feeds arbitrary query strings to the parsers: they must
// never panic, and whatever they accept must satisfy the stores' limits, so
// hostile input can only ever become a 400.
func FuzzParseQueries(f *testing.F) {
	for _, seed := range []string{
		"", "groupBy=both&interval=day", "clientId=a&clientId=b&from=2024-01-01&to=1704153600000",
		"limit=1000&cursor=eyJyIjoxLCJpIjoieCIsInMiOiJwcm9jZXNzZWQifQ", "%zz", "a=1;b=2", "from=9999-12-31T23:59:59Z",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if q, err := parseAggregation(raw); err == nil {
			if err := q.Validate(); err != nil {
				t.Fatalf("accepted %q but invalid: %v", raw, err)
			}
		}
		if q, err := parseList(raw); err == nil {
			if q.Limit < 1 || q.Limit > eventlog.MaxLimit || (q.From != nil && q.To != nil && !q.From.Before(*q.To)) {
				t.Fatalf("accepted %q: %+v", raw, q)
			}
		}
	})
}
