package gcpolicy

import (
	"math"
	"os"
	"runtime/debug"
	"testing"
)

// restore puts the collector's settings back after a test changed them.
func restore(t *testing.T) {
	t.Helper()
	limit, percent := debug.SetMemoryLimit(-1), debug.SetGCPercent(100)
	debug.SetGCPercent(percent)
	t.Cleanup(func() {
		debug.SetMemoryLimit(limit)
		debug.SetGCPercent(percent)
	})
}

func TestRelaxUnderALimit(t *testing.T) {
	restore(t)
	unsetenv(t, "GOGC")
	debug.SetMemoryLimit(256 << 20)
	debug.SetGCPercent(100)
	if !Relax() {
		t.Fatal("Relax did not act under a memory limit")
	}
	if got := debug.SetGCPercent(100); got != Percent {
		t.Fatalf("GOGC = %d after Relax, want %d", got, Percent)
	}
}

func TestRelaxLeavesTheDefaultWithoutALimit(t *testing.T) {
	restore(t)
	unsetenv(t, "GOGC")
	debug.SetMemoryLimit(math.MaxInt64)
	debug.SetGCPercent(100)
	if Relax() {
		t.Fatal("Relax acted without a memory limit")
	}
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("GOGC = %d without a limit, want the default 100", got)
	}
}

func TestRelaxLeavesAGOGCFromTheEnvironment(t *testing.T) {
	restore(t)
	t.Setenv("GOGC", "50")
	debug.SetMemoryLimit(256 << 20)
	debug.SetGCPercent(50)
	if Relax() {
		t.Fatal("Relax overrode GOGC from the environment")
	}
	if got := debug.SetGCPercent(50); got != 50 {
		t.Fatalf("GOGC = %d, want the environment's 50", got)
	}
}

// unsetenv removes key for the test (t.Setenv first, so it is restored).
func unsetenv(t *testing.T, key string) {
	t.Helper()
	t.Setenv(key, "")
	if err := os.Unsetenv(key); err != nil {
		t.Fatal(err)
	}
}
