//go:build chaos

// Package chaos is Tally's fault-tolerance proof: it drives a known workload
// through the real processes (Kafka, Redis, ClickHouse, the ingestor, three
// processors and the query API, run by event/localstack), breaks them on
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
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tally-dev/tally/event/localstack"
)

// stack is the running stack the suite breaks, driven through
// event/localstack, plus the addresses the workload and the checker use.
type stack struct {
	st        *localstack.Stack
	root, dir string
	ingestor  string
	queryapi  string
	kafka     string
	ch        string
	redis     string
	brokers   []string
	rawTopic  string
	dlqTopic  string
	kcl       *kgo.Client // the Kafka-native producer
	rdb       *redis.Client
	chp       *proxy   // in front of ClickHouse, made by chProxy
	kps       []*proxy // in front of each broker, made by kafkaProxies

	// The running case's state, for the cases' functions.
	ledger   *ledger
	poison   *poisoned
	disk     *smallDisk
	recovery time.Duration // measured by the case itself (the load test)
	mu       sync.Mutex
	notes    []string
	logFrom  map[string]int64 // where each processor's log stood when the case began
}

// startCase resets the per-case state.
func (s *stack) startCase(l *ledger) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ledger, s.poison, s.disk, s.recovery, s.notes = l, nil, nil, 0, nil
	s.logFrom = map[string]int64{}
	for _, name := range processors {
		if info, err := os.Stat(s.st.Config().LogPath(name)); err == nil {
			s.logFrom[name] = info.Size()
		}
	}
}

// note adds facts about how the fault went to the case's report row.
func (s *stack) note(facts ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range facts {
		if f != "" {
			s.notes = append(s.notes, f)
		}
	}
}

func (s *stack) details() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.notes...)
}

// kafkaProxies returns the suite's proxies in front of the brokers.
func (s *stack) kafkaProxies(t *testing.T) []*proxy {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kps == nil {
		s.kps = kafkaProxies(t, s.brokers)
	}
	return s.kps
}

func newStack(t *testing.T) *stack {
	t.Helper()
	dir := os.Getenv("TALLY_TEST_STACK_DIR")
	if dir == "" {
		t.Fatal("TALLY_TEST_STACK_DIR is not set: run this suite through scripts/test-integration.sh chaos")
	}
	cfg, err := localstack.LoadConfig(dir)
	if err != nil {
		t.Fatalf("the stack under %s: %v", dir, err)
	}
	// The suite acts as the stack's bootstrap admin (ingest, query, the
	// fault switchboard).
	if b, err := os.ReadFile(cfg.KeyPath("admin")); err == nil {
		apiKey = strings.TrimSpace(string(b))
	}
	// Ingest requests carry the tenant's ingest+query key, like a producer
	// (the admin key where a stack has none).
	ingestKey = apiKey
	if b, err := os.ReadFile(cfg.KeyPath("default")); err == nil {
		ingestKey = strings.TrimSpace(string(b))
	}
	// What the suite restarts runs as the suite needs it, whatever the
	// stack was started with.
	cfg.Dashboard, cfg.Processors, cfg.FaultInjection = false, 3, true
	st, err := localstack.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	node := func(name string) localstack.Node {
		n, err := st.Node(name)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	var brokers []string
	for _, n := range st.Nodes() {
		if n.Kind == localstack.Kafka {
			brokers = append(brokers, n.Addr())
		}
	}
	kcl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ProducerBatchMaxBytes(16<<20),
		kgo.RecordDeliveryTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kcl.Close)
	rdb := redis.NewClient(&redis.Options{Addr: node("redis").Addr()})
	t.Cleanup(func() { rdb.Close() })
	return &stack{
		st: st, root: cfg.Root, dir: dir,
		ingestor: node("ingestor").URL(),
		queryapi: node("queryapi").URL(),
		kafka:    strings.Join(brokers, ","),
		brokers:  brokers,
		ch:       node("clickhouse-1").Addr(),
		redis:    node("redis").Addr(),
		rawTopic: cfg.RawTopic,
		dlqTopic: cfg.DLQTopic,
		kcl:      kcl,
		rdb:      rdb,
	}
}

// The helpers below report failures with Errorf, not Fatalf, because fault
// functions call them from their own goroutine; the case then shows in the
// report and the suite fails.

// up restarts whatever is not running.
func (s *stack) up(t *testing.T) {
	t.Helper()
	if err := s.st.Up(t.Context()); err != nil {
		t.Errorf("stack up: %v", err)
	}
}

// start starts one node (and waits until it is ready), with extra
// environment (a negative control).
func (s *stack) start(t *testing.T, name string, env ...string) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		err := s.st.Start(t.Context(), name, localstack.WithEnv(env...))
		// A port the killed process held is sometimes still bound for a
		// moment after its group is gone; try again rather than fail.
		if err != nil && attempt < 5 && errors.Is(err, localstack.ErrExited) && strings.Contains(err.Error(), "address already in use") {
			time.Sleep(time.Second)
			continue
		}
		if err != nil {
			t.Errorf("start %s: %v", name, err)
		}
		return
	}
}

func (s *stack) restart(t *testing.T, name string) {
	t.Helper()
	if err := s.st.Restart(t.Context(), name); err != nil {
		t.Errorf("restart %s: %v", name, err)
	}
}

func (s *stack) signal(t *testing.T, name string, sig syscall.Signal) {
	t.Helper()
	if err := s.st.Signal(name, sig); err != nil {
		t.Errorf("signal %v to %s: %v", sig, name, err)
	}
}

// kill9 kills a node's processes and waits until they are gone.
func (s *stack) kill9(t *testing.T, name string) {
	t.Helper()
	if err := s.st.Kill(t.Context(), name); err != nil {
		t.Errorf("kill -9 %s: %v", name, err)
	}
}

func (s *stack) alive(t *testing.T, name string) bool {
	t.Helper()
	return s.st.Running(name)
}

// restartWith restarts one processor with extra environment (a negative
// control); the other processors keep running unchanged.
func (s *stack) restartWith(t *testing.T, name string, env ...string) {
	t.Helper()
	s.kill9(t, name)
	s.start(t, name, env...)
}

// armFailpoint restarts one processor with a failpoint. It may crash at the
// failpoint before it is seen healthy, so a failed start-up of exactly
// that process is expected, not an error.
func (s *stack) armFailpoint(t *testing.T, name, failpoint string) {
	t.Helper()
	s.kill9(t, name)
	err := s.st.Start(t.Context(), name, localstack.WithEnv("TALLY_FAILPOINT="+failpoint))
	if err != nil && !errors.Is(err, localstack.ErrExited) {
		t.Errorf("arm %s on %s: %v", failpoint, name, err)
	}
}

func (s *stack) processorURL(i int) string {
	n, err := s.st.Node(fmt.Sprintf("processor-%d", i))
	if err != nil {
		return "" // unreachable: every processor-N is a node
	}
	return n.URL()
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
		resp, err := do(req)
		if err != nil {
			continue // a processor that is down has no faults to set
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s /v1/faults on processor %d: %d", method, i, resp.StatusCode)
		}
	}
}

// apiKey is the key every request of the suite carries ("" on a stack
// without authentication); ingestKey is the one ingest requests carry.
var apiKey, ingestKey string

// doIngest sends an ingest request with the ingest key.
func doIngest(req *http.Request) (*http.Response, error) {
	if ingestKey != "" {
		req.Header.Set("X-API-Key", ingestKey)
	}
	return http.DefaultClient.Do(req)
}

// do sends req with the suite's key.
func do(req *http.Request) (*http.Response, error) {
	if apiKey != "" {
		req.Header.Set("X-API-Key", apiKey)
	}
	return http.DefaultClient.Do(req)
}

func getJSON(ctx context.Context, url string, v any) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := do(req)
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
