package localstack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A pid file holds "<pid> <start>": the process id and its start time in
// clock ticks since boot (/proc/<pid>/stat, field 22). The start time lets
// a reader tell the node from an unrelated process that reused its pid
// after a reboot or a long time stopped. Files with only a pid (written by
// the old shell script) are still read.

func writePIDFile(path string, pid int, start uint64) error {
	return writeFileAtomic(path, []byte(fmt.Sprintf("%d %d\n", pid, start)))
}

func readPIDFile(path string) (pid int, start uint64, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	f := strings.Fields(string(b))
	if len(f) == 0 || len(f) > 2 {
		return 0, 0, fmt.Errorf("pid file %s: want \"<pid> [<start>]\", got %q", path, b)
	}
	pid, err = strconv.Atoi(f[0])
	if err != nil || pid <= 1 {
		return 0, 0, fmt.Errorf("pid file %s: bad pid %q", path, f[0])
	}
	if len(f) == 2 {
		if start, err = strconv.ParseUint(f[1], 10, 64); err != nil {
			return 0, 0, fmt.Errorf("pid file %s: bad start time %q", path, f[1])
		}
	}
	return pid, start, nil
}

// procStat is the part of /proc/<pid>/stat the supervisor reads.
type procStat struct {
	state byte   // R, S, D, T (stopped), Z (zombie), …
	pgrp  int    // process group
	start uint64 // start time, clock ticks since boot
}

func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	return parseProcStat(string(b))
}

// parseProcStat reads a /proc/<pid>/stat line. The command (field 2) is in
// parentheses and may itself hold spaces and parentheses, so fields are
// counted from the last ')'.
func parseProcStat(s string) (procStat, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 > len(s) {
		return procStat{}, fmt.Errorf("malformed stat line %q", s)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state), f[2] field 5 (pgrp), f[19] field 22 (starttime).
	if len(f) < 20 || len(f[0]) != 1 {
		return procStat{}, fmt.Errorf("malformed stat line %q", s)
	}
	pgrp, err := strconv.Atoi(f[2])
	if err != nil {
		return procStat{}, fmt.Errorf("stat pgrp %q: %w", f[2], err)
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("stat starttime %q: %w", f[19], err)
	}
	return procStat{state: f[0][0], pgrp: pgrp, start: start}, nil
}

// dead reports whether a process in this state has finished: a zombie
// still has a pid (kill -0 succeeds on it) but will never run again.
func (p procStat) dead() bool { return p.state == 'Z' || p.state == 'X' }

// alive reports whether pid is a live process started at start (0: any).
func alive(pid int, start uint64) bool {
	st, err := readProcStat(pid)
	if err != nil || st.dead() {
		return false
	}
	return start == 0 || st.start == start
}

// groupAlive reports whether any live process is left in process group
// pgid. Zombies do not count: on a machine whose init does not reap
// orphans they would otherwise keep a stopped node "running" forever.
func groupAlive(pgid int) bool {
	members, err := groupMembers(pgid)
	if err != nil {
		return syscall.Kill(-pgid, 0) == nil
	}
	return len(members) > 0
}

// groupMembers lists the live processes of process group pgid.
func groupMembers(pgid int) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readProcStat(pid); err == nil && st.pgrp == pgid && !st.dead() {
			out = append(out, pid)
		}
	}
	return out, nil
}

// signalGroup sends sig to the process group that pid leads (every node
// runs in its own session, so a JVM or a server and any children it forks
// all get it), or to pid alone if it leads no group.
func signalGroup(pid int, sig syscall.Signal) error {
	if pid <= 1 {
		// kill(0, …) and kill(-1, …) would hit this process's group or
		// every process; a pid file never legitimately holds those.
		return fmt.Errorf("refusing to signal pid %d", pid)
	}
	err := syscall.Kill(-pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		err = syscall.Kill(pid, sig)
	}
	if err != nil {
		return fmt.Errorf("signal %v to %d: %w", sig, pid, err)
	}
	return nil
}

// pollEvery is how often the supervisor re-checks a process or a health
// endpoint it is waiting for.
const pollEvery = 50 * time.Millisecond

// waitGroupGone waits until no live process is left in group pgid.
func waitGroupGone(ctx context.Context, pgid int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for groupAlive(pgid) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("process group %d still alive after %v", pgid, timeout)
		case <-t.C:
		}
	}
	return nil
}

// terminate stops group pgid: SIGTERM, then SIGKILL if it is still there
// after grace. It returns once every process of the group is gone.
func terminate(ctx context.Context, pgid int, grace time.Duration) (killed bool, err error) {
	if err := signalGroup(pgid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return false, err
	}
	if waitGroupGone(ctx, pgid, grace) == nil {
		return false, nil
	}
	if err := signalGroup(pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return true, err
	}
	return true, waitGroupGone(ctx, pgid, 10*time.Second)
}

// killGroup is kill -9 of group pgid; it returns once the group is gone.
func killGroup(ctx context.Context, pgid int) error {
	if err := signalGroup(pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return waitGroupGone(ctx, pgid, 10*time.Second)
}

// command is a process to start: argv, its environment and directory, and
// the file its output is appended to.
type command struct {
	argv []string
	env  []string
	dir  string
	log  string
}

// spawn starts cmd in a new session (so it leads its own process group and
// outlives the supervisor) and returns its pid and start time. If this
// process stays alive, a goroutine reaps the child when it exits, so it
// does not linger as a zombie; the goroutine ends with the child.
func spawn(cmd command) (int, uint64, error) {
	out, err := openLog(cmd.log)
	if err != nil {
		return 0, 0, err
	}
	defer out.Close() // the child has its own copy
	c := exec.Command(cmd.argv[0], cmd.argv[1:]...)
	c.Env, c.Dir = cmd.env, cmd.dir
	c.Stdout, c.Stderr = out, out
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := c.Start(); err != nil {
		return 0, 0, fmt.Errorf("start %s: %w", cmd.argv[0], err)
	}
	pid := c.Process.Pid
	go func() { _ = c.Wait() }()
	st, err := readProcStat(pid)
	if err != nil {
		// It already exited and was reaped; the caller's readiness wait
		// reports that with the log.
		return pid, 0, nil
	}
	return pid, st.start, nil
}

// openLog opens the log file at path for appending, creating it and its
// directory.
func openLog(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	return os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
}

// tail returns the last n lines of the file at path, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
