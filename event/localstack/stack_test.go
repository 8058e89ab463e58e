package localstack

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// newTestStack is a stack in a temporary directory; nothing is started.
func newTestStack(t *testing.T, topology Topology) *Stack {
	t.Helper()
	c, err := FromEnv("/repo", env(map[string]string{"TOPOLOGY": string(topology), "STACK_DIR": t.TempDir(), "PORT_BASE": "30000"}))
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// adopt runs a stand-in process (sleep) under node name's pid file.
func adopt(t *testing.T, s *Stack, name string) int {
	t.Helper()
	pid, start, _ := spawnTest(t, "sleep", "300")
	if err := writePIDFile(s.cfg.pidPath(name), pid, start); err != nil {
		t.Fatal(err)
	}
	return pid
}

func statusLines(s *Stack) []string {
	var out []string
	for _, st := range s.Status() {
		out = append(out, st.String())
	}
	return out
}

// Status lists every node with a pid file in start order, including names
// an older stack script wrote; Down stops all of them and leaves no pid
// file behind.
func TestStatusAndDownFollowThePIDFiles(t *testing.T) {
	s := newTestStack(t, Single)
	redis := adopt(t, s, "redis")
	proc := adopt(t, s, "processor-2")
	legacy := adopt(t, s, "kafka") // the old script's name for the broker
	// A node that crashed: its pid file names a process that is gone.
	if err := writePIDFile(s.cfg.pidPath("clickhouse-1"), 4194303, 1); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"redis: running (pid " + itoa(redis) + ")",
		"clickhouse-1: stopped",
		"processor-2: running (pid " + itoa(proc) + ")",
		"kafka: running (pid " + itoa(legacy) + ")",
	}
	if got := statusLines(s); !slices.Equal(got, want) {
		t.Errorf("status:\n got %q\nwant %q", got, want)
	}
	if err := s.Down(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, pid := range []int{redis, proc, legacy} {
		if groupAlive(pid) {
			t.Errorf("pid %d still running after Down", pid)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(s.cfg.runDir(), "*.pid")); len(left) != 0 {
		t.Errorf("pid files left: %v", left)
	}
	if st := s.Status(); len(st) != 0 {
		t.Errorf("status after down: %v", st)
	}
}

// Kill is kill -9: the process is gone, the pid file stays, so status says
// stopped and Up knows to bring the node back.
func TestKillKeepsThePIDFile(t *testing.T) {
	s := newTestStack(t, Cluster)
	pid := adopt(t, s, "kafka-2")
	if got, err := s.PID("kafka-2"); err != nil || got != pid {
		t.Fatalf("PID: %d %v, want %d", got, err, pid)
	}
	if err := s.Kill(context.Background(), "kafka-2"); err != nil {
		t.Fatal(err)
	}
	if s.Running("kafka-2") || groupAlive(pid) {
		t.Error("still running after Kill")
	}
	if _, err := s.PID("kafka-2"); !errors.Is(err, ErrNotRunning) {
		t.Errorf("PID after Kill: %v, want ErrNotRunning", err)
	}
	if got := statusLines(s); !slices.Equal(got, []string{"kafka-2: stopped"}) {
		t.Errorf("status %q", got)
	}
	if err := s.Kill(context.Background(), "kafka-2"); !errors.Is(err, ErrNotRunning) {
		t.Errorf("second Kill: %v, want ErrNotRunning", err)
	}
}

func TestPauseAndResume(t *testing.T) {
	s := newTestStack(t, Single)
	pid := adopt(t, s, "processor-3")
	// waitStopped waits until the process is (or is no longer) stopped: the
	// signal is delivered asynchronously.
	waitStopped := func(want bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			st, err := readProcStat(pid)
			if err != nil {
				t.Fatal(err)
			}
			if (st.state == 'T') == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("state %c, want stopped=%v", st.state, want)
			}
			time.Sleep(pollEvery)
		}
	}
	if err := s.Pause("processor-3"); err != nil {
		t.Fatal(err)
	}
	waitStopped(true)
	if !s.Running("processor-3") {
		t.Error("a paused node counts as not running")
	}
	if err := s.Resume("processor-3"); err != nil {
		t.Fatal(err)
	}
	waitStopped(false)
}

func TestStopOfANodeThatIsNotRunning(t *testing.T) {
	s := newTestStack(t, Single)
	if err := s.Stop(context.Background(), "redis"); err != nil {
		t.Errorf("Stop without a pid file: %v", err)
	}
	if err := s.Start(context.Background(), "kafka-9"); err == nil || !strings.Contains(err.Error(), `no node "kafka-9"`) {
		t.Errorf("Start of an unknown node: %v", err)
	}
	if err := s.Kill(context.Background(), "zookeeper"); err == nil || !strings.Contains(err.Error(), `no node "zookeeper" in the single stack`) {
		t.Errorf("Kill of a node the topology does not have: %v", err)
	}
}

func TestEnv(t *testing.T) {
	single := newTestStack(t, Single).Env()
	for _, kv := range []string{"TALLY_KAFKA_BROKERS=127.0.0.1:39092", "TALLY_REDIS_ADDR=127.0.0.1:36379",
		"TALLY_CLICKHOUSE_ADDR=127.0.0.1:39000", "TALLY_REPLICATION_FACTOR=1", "TALLY_PARTITIONS=8", "TALLY_FAULT_INJECTION=true"} {
		if !slices.Contains(single, kv) {
			t.Errorf("single env lacks %s: %v", kv, single)
		}
	}
	if slices.ContainsFunc(single, func(kv string) bool { return strings.HasPrefix(kv, "TALLY_CLICKHOUSE_CLUSTER=") }) {
		t.Errorf("single env names a ClickHouse cluster: %v", single)
	}
	cluster := newTestStack(t, Cluster).Env()
	for _, kv := range []string{"TALLY_KAFKA_BROKERS=127.0.0.1:39092,127.0.0.1:39192,127.0.0.1:39292",
		"TALLY_CLICKHOUSE_ADDR=127.0.0.1:39000,127.0.0.1:39100", "TALLY_REPLICATION_FACTOR=3", "TALLY_CLICKHOUSE_CLUSTER=tally"} {
		if !slices.Contains(cluster, kv) {
			t.Errorf("cluster env lacks %s: %v", kv, cluster)
		}
	}
	if !slices.IsSorted(cluster) {
		t.Errorf("env not sorted: %v", cluster)
	}
}

// The lock file keeps a second supervisor out while one holds it.
func TestLockExcludesOtherProcesses(t *testing.T) {
	s := newTestStack(t, Single)
	unlock, err := s.lock()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(s.cfg.Dir, "lock"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); !errors.Is(err, syscall.EWOULDBLOCK) {
		t.Errorf("second lock while held: %v, want EWOULDBLOCK", err)
	}
	unlock()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Errorf("second lock after unlock: %v", err)
	}
}

// Up refuses to start one topology on the other's data.
func TestUpRefusesTheOtherTopologysData(t *testing.T) {
	s := newTestStack(t, Cluster)
	if err := s.cfg.save(); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(s.cfg.Dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	c := s.cfg
	c.Topology = Single
	single, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := single.Up(context.Background()); err == nil || !strings.Contains(err.Error(), "holds the data of a cluster stack") {
		t.Errorf("Up: %v", err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
