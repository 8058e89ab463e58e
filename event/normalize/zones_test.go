package normalize

import (
	"testing"
	"time"
)

// Every listed name loads from Go's embedded zone database, and the list
// holds the names producers use.
func TestZoneNamesLoad(t *testing.T) {
	z := newZoneCache()
	if len(z.known) < 400 {
		t.Fatalf("only %d zone names", len(z.known))
	}
	for name := range z.known {
		if _, err := time.LoadLocation(name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, name := range []string{"Europe/Paris", "America/New_York", "Asia/Kolkata", "Asia/Calcutta", "America/Argentina/Buenos_Aires", "Etc/GMT+5"} {
		if z.load([]byte(name)) == nil {
			t.Errorf("%s not loaded", name)
		}
	}
	for _, name := range []string{"Mars/Olympus", "Europe/../../etc/passwd", "Local", "UTC", "Europe/Paris/"} {
		if z.load([]byte(name)) != nil {
			t.Errorf("%s loaded", name)
		}
	}
}
