package testenv

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tally-dev/tally/event/localstack"
)

// PrivateStack is a local stack of the test's own (the supervisor of
// package localstack): state under dir in the repository, ports shifted by
// the value of the environment variable baseVar or else by base, shaped
// further by env (TOPOLOGY, CLICKHOUSE_SHARDS, …). It starts from empty
// data, has what it needs installed, starts no node, and is brought down
// when the test ends. The supervisor's progress goes to the test log.
func PrivateStack(t *testing.T, dir, baseVar string, base int, env map[string]string) *localstack.Stack {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, err := localstack.FindRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	portBase := os.Getenv(baseVar)
	if portBase == "" {
		portBase = strconv.Itoa(base)
	}
	cfg, err := localstack.FromEnv(root, func(k string) string {
		switch k {
		case "STACK_DIR":
			return filepath.Join(root, dir)
		case "PORT_BASE":
			return portBase
		case "TALLY_CACHE_DIR":
			return os.Getenv(k)
		}
		return env[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Log = testLog{t}
	s, err := localstack.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// Empty data: every run is independent of the last.
	if err := s.Clean(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Down(context.Background()); err != nil {
			t.Errorf("down: %v", err)
		}
	})
	if err := s.Install(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

// testLog sends the supervisor's progress lines to the test log.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
