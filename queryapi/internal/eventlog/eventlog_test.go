package eventlog

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tally-dev/tally/queryapi/internal/decimal"
	"github.com/tally-dev/tally/queryapi/internal/instant"
)

func TestCursorRoundTrip(t *testing.T) {
	for _, c := range []Cursor{
		{AtMs: 1704067200123, ID: "raw-3-42", Status: StatusRejected, Stream: "events.raw/abc"},
		{AtMs: 0, ID: strings.Repeat("ab", 32), Status: StatusProcessed},
		{AtMs: -5, ID: "raw-0-0", Status: StatusForwarded},
	} {
		got, err := DecodeCursor(c.Encode())
		if err != nil || got != c {
			t.Fatalf("got %+v, %v, want %+v", got, err, c)
		}
	}
	for _, bad := range []string{"", "!!", "e30", "eyJpIjoieCIsInMiOiJib2d1cyJ9", strings.Repeat("QUFB", 300)} {
		if _, err := DecodeCursor(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("DecodeCursor(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestParseStatusCoversEveryOutcomeOfAListing(t *testing.T) {
	for _, s := range []string{"processed", "duplicate", "conflict", "rejected", "dead_lettered", "forwarded"} {
		if st, ok := ParseStatus(s); !ok || string(st) != s {
			t.Errorf("ParseStatus(%q) = %q, %v", s, st, ok)
		}
	}
	for _, s := range []string{"", "skipped", "failed", "Processed"} {
		if _, ok := ParseStatus(s); ok {
			t.Errorf("ParseStatus(%q) accepted", s)
		}
	}
}

func TestParseID(t *testing.T) {
	hexID := strings.Repeat("0a", 32)
	tests := []struct {
		id        string
		eventID   string
		partition int32
		offset    int64
		ok        bool
	}{
		{hexID, hexID, 0, 0, true},
		{"raw-3-42", "", 3, 42, true},
		{"raw-0-0", "", 0, 0, true},
		{strings.ToUpper(hexID), "", 0, 0, false},
		{hexID[:63], "", 0, 0, false},
		{"raw-3", "", 0, 0, false},
		{"raw--3-4", "", 0, 0, false},
		{"raw-3-4-5", "", 0, 0, false},
		{"raw-99999999999-1", "", 0, 0, false},
		{"raw-1-x", "", 0, 0, false},
		{"'; DROP TABLE events", "", 0, 0, false},
	}
	for _, tt := range tests {
		e, p, o, err := ParseID(tt.id)
		if (err == nil) != tt.ok || e != tt.eventID || p != tt.partition || o != tt.offset {
			t.Errorf("ParseID(%q) = %q %d %d %v", tt.id, e, p, o, err)
		}
	}
}

func TestPrepare(t *testing.T) {
	from := time.UnixMilli(1_000_000)
	to := time.UnixMilli(2_000_000)
	before := time.UnixMilli(-5000)
	p, err := prepare(ListQuery{Limit: 10, Offset: 5, From: &from, To: &to}, true)
	if err != nil || p.lo != 1_000_000 || p.hi != 1_999_999 || p.need != 16 || p.tenant != "default" || len(p.want) != len(AllStatuses) {
		t.Fatalf("plan %+v, %v", p, err)
	}
	// A cursor bounds the time above and makes the skip moot.
	p, err = prepare(ListQuery{Tenant: "acme", Limit: 10, Offset: 5, To: &to, After: &Cursor{AtMs: 1_500_000, ID: "x", Status: StatusProcessed},
		Statuses: []Status{StatusConflict}}, true)
	if err != nil || p.lo != 0 || p.hi != 1_500_000 || p.need != 11 || p.Offset != 0 || p.tenant != "acme" || len(p.want) != 1 || !p.want[StatusConflict] {
		t.Fatalf("plan %+v, %v", p, err)
	}
	// Nothing is stored before 1970; the range is empty, not an error.
	p, err = prepare(ListQuery{Limit: 1, To: &before}, true)
	if err != nil || p.lo <= p.hi {
		t.Fatalf("plan %+v, %v: want an empty range", p, err)
	}
	// Count ignores paging fields.
	if _, err := prepare(ListQuery{Limit: 0, Offset: -1}, false); err != nil {
		t.Fatalf("count query rejected: %v", err)
	}
	many := make([]string, MaxFilterValues+1)
	for _, bad := range []ListQuery{
		{Limit: 0}, {Limit: MaxLimit + 1}, {Limit: 1, Offset: -1}, {Limit: 1, Offset: MaxOffset + 1},
		{Limit: 1, From: &to, To: &from}, {Limit: 1, From: &from, To: &from},
		{Limit: 1, Statuses: []Status{"skipped"}}, {Limit: 1, ClientIDs: many}, {Limit: 1, Metrics: many},
	} {
		if _, err := prepare(bad, true); !errors.Is(err, ErrInvalid) {
			t.Errorf("prepare(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestCompareKeysIsNewestFirstAndTotal(t *testing.T) {
	// Expected order, first to last.
	want := []Cursor{
		{AtMs: 9, ID: "a", Status: StatusProcessed},
		{AtMs: 5, ID: "raw-2-1", Status: StatusRejected, Stream: "t/2"},
		{AtMs: 5, ID: "raw-2-1", Status: StatusRejected, Stream: "t/1"},
		{AtMs: 5, ID: "raw-2-1", Status: StatusDuplicate, Stream: "t/2"},
		{AtMs: 5, ID: "raw-10-1", Status: StatusRejected, Stream: "t/2"},
		{AtMs: -1, ID: "z", Status: StatusProcessed},
	}
	got := slices.Clone(want)
	rand.Shuffle(len(got), func(i, j int) { got[i], got[j] = got[j], got[i] })
	slices.SortFunc(got, compareKeys)
	if !slices.Equal(got, want) {
		t.Fatalf("sorted %v\nwant   %v", got, want)
	}
	for i, a := range want {
		if compareKeys(a, a) != 0 {
			t.Fatalf("%v not equal to itself", a)
		}
		for _, b := range want[i+1:] {
			if compareKeys(a, b) >= 0 || compareKeys(b, a) <= 0 {
				t.Fatalf("%v and %v out of order", a, b)
			}
		}
	}
}

// TestWindowsCoverTheRangeOnce checks that the event listing's windows
// tile [lo, hi] exactly, newest first, start within a minute of the top,
// and grow geometrically, so a walk to the beginning of time takes few
// queries.
func TestWindowsCoverTheRangeOnce(t *testing.T) {
	const now = int64(1_790_000_000_000) // 2026
	cases := [][2]int64{
		{0, math.MaxInt64}, {0, now}, {0, 1}, {5, 5}, {now - 1, math.MaxInt64}, {now + 5000, now + 9000},
		{1_704_067_200_000, 1_704_067_200_000 + 59_999}, {0, 1_704_067_200_000},
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		a, b := r.Int64N(2*now), r.Int64N(2*now)
		cases = append(cases, [2]int64{min(a, b), max(a, b)})
	}
	for _, c := range cases {
		lo, hi := c[0], c[1]
		next := hi
		n := 0
		var prevWidth int64
		for lower, upper := range windows(lo, hi, now, firstWindow) {
			if upper != next || lower > upper || lower < lo {
				t.Fatalf("[%d, %d]: window %d is [%d, %d], want it to end at %d", lo, hi, n, lower, upper, next)
			}
			if n == 0 && lower != lo && lower != min(hi, now)-firstWindow {
				t.Fatalf("[%d, %d]: first window starts at %d", lo, hi, lower)
			}
			if width := upper - lower; n > 1 && lower != lo && width < prevWidth*(growth-1) {
				t.Fatalf("[%d, %d]: window %d spans %d after %d", lo, hi, n, width, prevWidth)
			}
			prevWidth = upper - lower
			next = lower - 1
			n++
		}
		if next != lo-1 {
			t.Fatalf("[%d, %d]: windows stop at %d", lo, hi, next+1)
		}
		if n > 25 {
			t.Fatalf("[%d, %d]: %d windows", lo, hi, n)
		}
	}
	// Stopping early stops.
	n := 0
	for range windows(0, math.MaxInt64, now, firstWindow) {
		n++
		break
	}
	if n != 1 {
		t.Fatalf("yielded %d windows after break", n)
	}
}

func TestSecondsClampsToDateTime(t *testing.T) {
	for _, tt := range []struct {
		ms   int64
		want uint32
	}{
		{0, 0}, {999, 0}, {1000, 1}, {1_704_067_200_123, 1_704_067_200}, {-1, 0}, {math.MinInt64, 0},
		{math.MaxInt64, math.MaxUint32}, {int64(math.MaxUint32)*1000 + 999, math.MaxUint32},
	} {
		if got := seconds(tt.ms); got != tt.want {
			t.Errorf("seconds(%d) = %d, want %d", tt.ms, got, tt.want)
		}
	}
}

// TestAmountsAreWrittenExactlyTwice checks amountExact beside every amount,
// with values no float64 holds.
func TestAmountsAreWrittenExactlyTwice(t *testing.T) {
	big := decimal.MustParse("99999999999999999999.000000001") // > 2^64
	ts := instant.FromMillis(1_704_067_200_000)
	out, err := json.Marshal(Summary{ID: "x", Status: StatusProcessed, Amount: &big, ReceivedAt: ts})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"amount":99999999999999999999.000000001`) ||
		!strings.Contains(string(out), `"amountExact":"99999999999999999999.000000001"`) {
		t.Fatalf("summary %s", out)
	}
	out, _ = json.Marshal(Summary{ID: "raw-1-2", Status: StatusDeadLettered, ReceivedAt: ts})
	if strings.Contains(string(out), "amount") {
		t.Fatalf("dead letter with an amount: %s", out)
	}
	out, _ = json.Marshal(Detail{Event: &Canonical{Amount: big}, Claimed: &Claim{Amount: decimal.MustParse("-0.5")},
		Duplicates: Duplicates{Copies: []Copy{}}})
	for _, want := range []string{`"amountExact":"99999999999999999999.000000001"`, `"amountExact":"-0.5"`, `"amount":-0.5`, `"conflicts":0`} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("detail %s lacks %s", out, want)
		}
	}
	var back struct {
		Event struct {
			Amount      decimal.Value `json:"amount"`
			AmountExact string        `json:"amountExact"`
		} `json:"event"`
	}
	if err := json.Unmarshal(out, &back); err != nil || back.Event.Amount.Cmp(big) != 0 || back.Event.AmountExact != big.String() {
		t.Fatalf("round trip %+v, %v", back, err)
	}
}
