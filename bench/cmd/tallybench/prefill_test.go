package main

import (
	"testing"
	"time"
)

// Two runs against one kept stack can draw the same slot; their history
// events must still differ, or the second run's drain resends the first's
// events (duplicates) and its count falls short of what it expects.
func TestHistoryEventsOfTwoRunsOnOneSlotDiffer(t *testing.T) {
	base := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	first := &bench{slot: 41, seed: 1, base: base}
	second := &bench{slot: 41, seed: 2, base: base}
	seen := map[string]bool{}
	g := first.historyGenerator()
	for range 1000 {
		e, _ := g.Next()
		seen[string(e.AppendJSON(nil, false))] = true
	}
	g = second.historyGenerator()
	same := 0
	for range 1000 {
		if e, _ := g.Next(); seen[string(e.AppendJSON(nil, false))] {
			same++
		}
	}
	if same > 0 {
		t.Fatalf("%d of the second run's 1,000 events repeat the first run's", same)
	}
	// The same seed and slot do repeat them: the seed is what keeps runs apart.
	again := (&bench{slot: 41, seed: 1, base: base}).historyGenerator()
	if e, _ := again.Next(); !seen[string(e.AppendJSON(nil, false))] {
		t.Fatal("the same seed and slot drew other events")
	}
}
