package eventlog

import (
	"strings"
	"testing"
)

func TestCursorRoundTrip(t *testing.T) {
	c := Cursor{ReceivedMs: 1704067200123, ID: "raw-3-42", Status: StatusRejected}
	got, err := DecodeCursor(c.Encode())
	if err != nil || got != c {
		t.Fatalf("got %+v, %v", got, err)
	}
	for _, bad := range []string{"", "!!", "e30", "eyJpIjoieCIsInMiOiJib2d1cyJ9", strings.Repeat("QUFB", 300)} {
		if _, err := DecodeCursor(bad); err == nil {
			t.Errorf("DecodeCursor(%q) accepted", bad)
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
