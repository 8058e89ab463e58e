package main

import (
	"strings"
	"testing"
)

func TestCheckScaleDisk(t *testing.T) {
	const missing = 100_000_000
	need := uint64(missing) * scaleDiskPerEvent
	if err := checkScaleDisk(need, missing, "/stack"); err != nil {
		t.Fatalf("exactly enough free: %v", err)
	}
	err := checkScaleDisk(need-1, missing, "/stack")
	if err == nil {
		t.Fatal("one byte short: no error")
	}
	for _, want := range []string{"100,000,000 events", "about 60 GB free under /stack", "60.0 GB are free", "BENCH_SCALE_EVENTS"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if err := checkScaleDisk(0, 0, "/stack"); err != nil {
		t.Errorf("nothing to add: %v", err)
	}
}

func TestFreeBytes(t *testing.T) {
	free, err := freeBytes(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if free == 0 {
		t.Error("no free bytes reported for the test's own temporary directory")
	}
	if _, err := freeBytes(t.TempDir() + "/missing"); err == nil {
		t.Error("a missing directory gave no error")
	}
}
