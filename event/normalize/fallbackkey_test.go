package normalize

import (
	"testing"
	"time"

	"github.com/tally-dev/tally/event"
)

// The fallback key (an array element's "<Idempotency-Key>:<index>") applies
// only to an event without a key of its own; the header key wins over both.
func TestFallbackIdempotencyKey(t *testing.T) {
	e, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	own := `{"clientId":"c","amount":1,"idempotencyKey":"own"}`
	bare := `{"clientId":"c","amount":1,"timestamp":"2024-01-01T00:00:00Z"}`
	tests := []struct {
		name, raw, key, fallback, wantKey string
	}{
		{"own key wins over the fallback", own, "", "req:3", "own"},
		{"fallback for an event without a key", bare, "", "req:3", "req:3"},
		{"header wins over both", own, "hdr", "req:3", "hdr"},
		{"no keys at all", bare, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, rej := e.Normalize(Input{Raw: []byte(tt.raw), ReceivedAt: now, IdempotencyKey: tt.key, FallbackIdempotencyKey: tt.fallback})
			if rej != nil {
				t.Fatal(rej)
			}
			if ev.IdempotencyKey != tt.wantKey {
				t.Errorf("key = %q, want %q", ev.IdempotencyKey, tt.wantKey)
			}
			// The id is the one the winning key gives on its own: a payload
			// key needs no header, any other key is sent as the header.
			header := tt.wantKey
			if header == "own" {
				header = ""
			}
			want, _ := e.Normalize(Input{Raw: []byte(tt.raw), ReceivedAt: now, IdempotencyKey: header})
			if ev.EventID != want.EventID {
				t.Errorf("id %s, want %s (the id of the winning key alone)", ev.EventID, want.EventID)
			}
		})
	}
	long := make([]byte, 300)
	for i := range long {
		long[i] = 'k'
	}
	if _, rej := e.Normalize(Input{Raw: []byte(bare), ReceivedAt: now, FallbackIdempotencyKey: string(long)}); rej == nil || rej.Code != CodeIdempotencyKeyInvalid {
		t.Errorf("an over-long fallback key: %v, want %s", rej, CodeIdempotencyKeyInvalid)
	}
}

// IDSource says what the id hashes, so a coarse content id is visible.
func TestIDSource(t *testing.T) {
	e, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		raw, want string
		coarse    bool
	}{
		{`{"source":"client_A","payload":{"metric":"purchase","amount":"1200","timestamp":"2024/01/01"}}`, event.IDSourceContentCoarse, true},
		{`{"clientId":"c","amount":1,"ts":1704067200}`, event.IDSourceContentCoarse, true},
		{`{"clientId":"c","amount":1,"ts":"2024-01-01T10:30:00Z"}`, event.IDSourceContentCoarse, true},
		{`{"clientId":"c","amount":1,"ts":"2024-01-01T10:30:00.123Z"}`, event.IDSourceContent, false},
		{`{"clientId":"c","amount":1,"ts":1704067200123}`, event.IDSourceContent, false},
		{`{"clientId":"c","amount":1}`, event.IDSourceContentNoTimestamp, true},
		{`{"clientId":"c","amount":1,"ts":"2024/01/01","idempotencyKey":"k"}`, event.IDSourceKey, false},
	}
	for _, tt := range tests {
		ev, rej := e.Normalize(Input{Raw: []byte(tt.raw), ReceivedAt: now})
		if rej != nil {
			t.Fatalf("%s: %v", tt.raw, rej)
		}
		if got := ev.IDSource(); got != tt.want || ev.CoarseID() != tt.coarse {
			t.Errorf("%s: IDSource %q coarse %v, want %q %v", tt.raw, got, ev.CoarseID(), tt.want, tt.coarse)
		}
		if got := event.IDSourceOf(ev.IdempotencyKey, ev.TimestampDefaulted, ev.Timestamp.UnixMilli()); got != tt.want {
			t.Errorf("%s: IDSourceOf the stored columns = %q, want %q", tt.raw, got, tt.want)
		}
	}
}
