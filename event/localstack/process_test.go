package localstack

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestPIDFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kafka-1.pid")
	if err := writePIDFile(path, 4242, 987654); err != nil {
		t.Fatal(err)
	}
	pid, start, err := readPIDFile(path)
	if err != nil || pid != 4242 || start != 987654 {
		t.Fatalf("read back %d %d %v", pid, start, err)
	}
	for content, ok := range map[string]bool{
		"4242\n":       true, // written by the old shell script: pid only
		"4242 17\n":    true,
		"":             false,
		"abc\n":        false,
		"1\n":          false, // never init
		"0\n":          false, // never our own process group
		"-7\n":         false,
		"4242 x\n":     false,
		"4242 17 99\n": false,
	} {
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := readPIDFile(path)
		if (err == nil) != ok {
			t.Errorf("pid file %q: err %v, want ok=%v", content, err, ok)
		}
	}
}

func TestParseProcStat(t *testing.T) {
	// The command may hold spaces and parentheses; fields count from the last ')'.
	line := "4242 (java (kafka) x) S 1 4242 4242 0 -1 4194560 1 0 0 0 5 6 0 0 20 0 40 0 123456 1000 10 18446744073709551615"
	st, err := parseProcStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if st.state != 'S' || st.pgrp != 4242 || st.start != 123456 || st.dead() {
		t.Errorf("parsed %+v", st)
	}
	st, err = parseProcStat("99 (sh) Z 1 99 99 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 777 0 0")
	if err != nil || !st.dead() {
		t.Errorf("zombie parsed as %+v, %v", st, err)
	}
	for _, bad := range []string{"", "42 (x", "42 (x) S 1 2"} {
		if _, err := parseProcStat(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestAliveChecksTheStartTime(t *testing.T) {
	st, err := readProcStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if !alive(os.Getpid(), st.start) || !alive(os.Getpid(), 0) {
		t.Error("this process is not alive")
	}
	if alive(os.Getpid(), st.start+1) {
		t.Error("a pid with another start time counted as the node (pid reuse)")
	}
}

// A child that exited but was not reaped is a zombie: kill -0 still
// succeeds on it, alive must not.
func TestAliveSeesZombiesAsDead(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Wait() }()
	pid := cmd.Process.Pid
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := readProcStat(pid)
		if err != nil {
			t.Fatal(err)
		}
		if st.state == 'Z' {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("child never exited (state %c)", st.state)
		}
		time.Sleep(pollEvery)
	}
	if syscall.Kill(pid, 0) != nil {
		t.Fatal("kill -0 fails on the zombie; the test proves nothing")
	}
	if alive(pid, 0) {
		t.Error("zombie counted as alive")
	}
}

func TestSignalGroupRefusesOwnGroupAndInit(t *testing.T) {
	for _, pid := range []int{-5, 0, 1} {
		if err := signalGroup(pid, syscall.Signal(0)); err == nil {
			t.Errorf("signalGroup(%d) allowed", pid)
		}
	}
}

// spawnTest starts argv like a node and kills its group when the test ends.
func spawnTest(t *testing.T, argv ...string) (pid int, start uint64, log string) {
	t.Helper()
	log = filepath.Join(t.TempDir(), "node.log")
	pid, start, err := spawn(command{argv: argv, log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = killGroup(context.Background(), pid) })
	return pid, start, log
}

// waitFile waits until path holds a line (a spawned shell writes it).
func waitFile(t *testing.T, path string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil && strings.HasSuffix(string(b), "\n") {
			return strings.TrimSpace(string(b))
		}
		time.Sleep(pollEvery)
	}
	t.Fatalf("%s never written", path)
	return ""
}

func TestSpawnRunsInItsOwnSessionAndLogs(t *testing.T) {
	pid, start, log := spawnTest(t, "sh", "-c", "echo hello; exec sleep 300")
	st, err := readProcStat(pid)
	if err != nil {
		t.Fatal(err)
	}
	if st.pgrp != pid || st.start != start {
		t.Errorf("pgrp %d start %d, want %d %d", st.pgrp, st.start, pid, start)
	}
	if got := waitFile(t, log); got != "hello" {
		t.Errorf("log %q", got)
	}
}

// kill -9 reaches every process of the node's group, not only its leader.
func TestKillGroupKillsChildrenToo(t *testing.T) {
	childFile := filepath.Join(t.TempDir(), "child")
	pid, start, _ := spawnTest(t, "sh", "-c", "sleep 300 & echo $! > "+childFile+"; wait")
	child, err := strconv.Atoi(waitFile(t, childFile))
	if err != nil {
		t.Fatal(err)
	}
	if !alive(child, 0) || !groupAlive(pid) {
		t.Fatal("child or group not running before the kill")
	}
	if err := killGroup(context.Background(), pid); err != nil {
		t.Fatal(err)
	}
	if alive(pid, start) || alive(child, 0) || groupAlive(pid) {
		t.Errorf("after kill: leader %v, child %v, group %v", alive(pid, start), alive(child, 0), groupAlive(pid))
	}
}

func TestTerminateStopsCleanlyOnSIGTERM(t *testing.T) {
	pid, _, _ := spawnTest(t, "sleep", "300")
	killed, err := terminate(context.Background(), pid, 10*time.Second)
	if err != nil || killed {
		t.Errorf("terminate: killed %v, err %v; want a clean stop", killed, err)
	}
	if groupAlive(pid) {
		t.Error("still running")
	}
}

// A node that ignores SIGTERM is killed once the grace period is over.
func TestTerminateEscalatesToSIGKILL(t *testing.T) {
	ready := filepath.Join(t.TempDir(), "ready")
	// An ignored signal stays ignored across exec, so sleep ignores TERM too.
	pid, _, _ := spawnTest(t, "sh", "-c", `trap "" TERM; echo > `+ready+`; exec sleep 300`)
	waitFile(t, ready)
	began := time.Now()
	killed, err := terminate(context.Background(), pid, 300*time.Millisecond)
	if err != nil || !killed {
		t.Errorf("terminate: killed %v, err %v; want killed", killed, err)
	}
	if groupAlive(pid) {
		t.Error("still running")
	}
	if d := time.Since(began); d < 300*time.Millisecond {
		t.Errorf("killed after %v, before the grace period", d)
	}
}
