//go:build chaos

// Package chaos is Tally's fault-tolerance proof: it drives a known workload
// through the real processes (Kafka, Redis, ClickHouse, the ingestor, three
// processors and the query API, started by scripts/stack.sh), breaks them on
// purpose, and checks a ledger of everything that was acknowledged:
// nothing lost (I1), nothing counted twice (I2), nothing acknowledged that was
// not durable (I3), and the stats reconcile (I5). Negative controls run a
// deliberately broken processor and require the checker to catch it.
//
// Run with scripts/test-integration.sh chaos (make chaos for the long
// profile); it reuses the stack named by TALLY_TEST_STACK_DIR.
package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// stack drives scripts/stack.sh for the stack the tests run on.
type stack struct {
	root, dir string
	portBase  int
	ingestor  string
	queryapi  string
	processor string
	kafka     string
	ch        string
	redis     string
}

func newStack(t *testing.T) *stack {
	t.Helper()
	dir := os.Getenv("TALLY_TEST_STACK_DIR")
	if dir == "" {
		t.Fatal("TALLY_TEST_STACK_DIR is not set: run this suite through scripts/test-integration.sh chaos")
	}
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	base, _ := strconv.Atoi(os.Getenv("PORT_BASE"))
	return &stack{
		root: root, dir: dir, portBase: base,
		ingestor:  os.Getenv("TALLY_TEST_INGESTOR_URL"),
		queryapi:  os.Getenv("TALLY_TEST_QUERYAPI_URL"),
		processor: os.Getenv("TALLY_TEST_PROCESSOR_URL"),
		kafka:     os.Getenv("TALLY_TEST_KAFKA_BROKERS"),
		ch:        os.Getenv("TALLY_TEST_CLICKHOUSE_ADDR"),
		redis:     os.Getenv("TALLY_TEST_REDIS_ADDR"),
	}
}

// sh runs scripts/stack.sh with extra environment. It reports failures
// with Errorf, not Fatalf, because fault functions call it from their own
// goroutine; the case then shows in the report and the suite fails.
func (s *stack) sh(t *testing.T, env []string, args ...string) {
	t.Helper()
	if out, err := s.run(env, args...); err != nil {
		t.Errorf("stack.sh %v: %v\n%s", args, err, out)
	}
}

func (s *stack) run(env []string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(s.root, "scripts/stack.sh"), args...)
	cmd.Env = append(os.Environ(), "STACK_DIR="+s.dir, "WITH_DASHBOARD=0", "PROCESSORS=3", "TALLY_FAULT_INJECTION=true")
	cmd.Env = append(cmd.Env, env...)
	return cmd.CombinedOutput()
}

// up restarts whatever is not running (with the default environment).
func (s *stack) up(t *testing.T) { s.sh(t, nil, "up") }

func (s *stack) pid(t *testing.T, name string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.dir, "run", name+".pid"))
	if err != nil {
		t.Errorf("pid of %s: %v", name, err)
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		t.Errorf("pid of %s: %q", name, b)
		return 0
	}
	return pid
}

func (s *stack) signal(t *testing.T, name string, sig syscall.Signal) {
	t.Helper()
	pid := s.pid(t, name)
	if pid <= 1 {
		return // never signal our own process group (kill(0, …))
	}
	// Processes run in their own session; signal the whole group so a JVM
	// or server and its children all get it.
	if err := syscall.Kill(-pid, sig); err != nil {
		if err := syscall.Kill(pid, sig); err != nil {
			t.Errorf("signal %v to %s (%d): %v", sig, name, pid, err)
		}
	}
}

// kill9 kills a process and waits until it is gone.
func (s *stack) kill9(t *testing.T, name string) {
	t.Helper()
	pid := s.pid(t, name)
	if pid <= 1 {
		return
	}
	s.signal(t, name, syscall.SIGKILL)
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(pid, 0) == nil && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *stack) alive(t *testing.T, name string) bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.dir, "run", name+".pid"))
	if err != nil {
		return false
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid > 0 && syscall.Kill(pid, 0) == nil
}

// restartWith restarts one processor with extra environment (a negative
// control); the other processors keep running unchanged.
func (s *stack) restartWith(t *testing.T, name string, env ...string) {
	t.Helper()
	s.kill9(t, name)
	s.sh(t, env, "up")
}

// armFailpoint restarts one processor with a failpoint. It may crash at the
// failpoint before stack.sh sees it healthy, so a failed start-up of exactly
// that process is expected, not an error.
func (s *stack) armFailpoint(t *testing.T, name, failpoint string) {
	t.Helper()
	s.kill9(t, name)
	out, err := s.run([]string{"TALLY_FAILPOINT=" + failpoint}, "up")
	if err != nil && !strings.Contains(string(out), name+" exited during start-up") {
		t.Errorf("arm %s on %s: %v\n%s", failpoint, name, err, out)
	}
}

func (s *stack) processorURL(i int) string {
	return fmt.Sprintf("http://127.0.0.1:%d", 8082+s.portBase+100*(i-1))
}

func (s *stack) setFault(t *testing.T, processors int, body string) {
	t.Helper()
	for i := 1; i <= processors; i++ {
		method := http.MethodPut
		if body == "" {
			method = http.MethodDelete
		}
		req, _ := http.NewRequest(method, s.processorURL(i)+"/v1/faults", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			continue // a processor that is down has no faults to set
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s /v1/faults on processor %d: %d", method, i, resp.StatusCode)
		}
	}
}

func getJSON(ctx context.Context, url string, v any) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, b.String())
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

type processorStatus struct {
	AssignedPartitions []int32 `json:"assignedPartitions"`
	Retries            int64   `json:"retries"`
}

// waitRetrying waits until every partition is owned and at least one
// processor is retrying a failed write.
func (s *stack) waitRetrying(t *testing.T, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		var parts, retries int64
		for i := 1; i <= 3; i++ {
			var st processorStatus
			if getJSON(context.Background(), s.processorURL(i)+"/v1/status", &st) == nil {
				parts += int64(len(st.AssignedPartitions))
				retries += st.Retries
			}
		}
		if parts == 8 && retries > 0 {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Errorf("processors never started retrying within %v", timeout)
}

// waitDrained waits until the query API reports nothing pending.
func (s *stack) waitDrained(t *testing.T, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		var st stats
		if getJSON(context.Background(), s.queryapi+"/v1/stats", &st) == nil && st.Pending == 0 && st.InFlight == 0 {
			return
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Errorf("pipeline not drained within %v", timeout)
}
