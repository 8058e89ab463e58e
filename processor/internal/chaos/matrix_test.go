//go:build chaos

package chaos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// This file holds the cases that need more than a kill: poison records,
// Redis eviction and flushes, a slow or partitioned ClickHouse, a full
// disk, an ingestor cut off from Kafka, a processor killed for memory, a
// dead-letter replay killed half-way, and the recovery goal under load.

// poisoned is what a case produced that must never be counted but must be
// accounted for: Kafka-native records the broker acknowledged, by position.
type poisoned struct {
	at     map[[2]int64]string // (partition, offset) -> what it was
	detail []string
}

// poison produces records no pipeline should count into the raw topic as a
// Kafka-native producer, and sends their like over HTTP. Each acknowledged
// record must end up rejected or dead-lettered (checked in settle); none
// may stall the partition behind it (the ledger's events after it must be
// counted).
func poison(t *testing.T, s *stack, l *ledger) *poisoned {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pz := &poisoned{at: map[[2]int64]string{}}
	ts := base.Format(time.RFC3339)
	deep := strings.Repeat(`{"a":`, 100_000) + "1" + strings.Repeat("}", 100_000)
	bin := make([]byte, 4096)
	for i := range bin {
		bin[i] = byte(rand.IntN(256))
	}
	bin = append(bin, []byte(l.client)...)
	big := fmt.Sprintf(`{"source":%q,"payload":{"metric":"big","amount":"1","timestamp":%q,"blob":%q}}`,
		l.clients[0], ts, strings.Repeat("x", 5<<20))
	records := []struct {
		what  string
		value []byte
	}{
		{"invalid UTF-8", []byte(fmt.Sprintf("{\"source\":%q,\"payload\":{\"metric\":\"m\xff\xfe\",\"amount\":\"1\",\"timestamp\":%q}}", l.clients[1], ts))},
		{"invalid UTF-8 everywhere", append([]byte{0xc3, 0x28, 0xa0, 0xa1}, []byte(l.client)...)},
		{"deep nesting (100,000 levels)", []byte(fmt.Sprintf(`{"source":%q,"payload":%s}`, l.clients[2], deep))},
		{"empty value", []byte{}},
		{"binary", bin},
	}
	produce := func(what string, value []byte, key []byte) error {
		r := &kgo.Record{Topic: s.rawTopic, Value: value, Key: key}
		if err := s.kcl.ProduceSync(ctx, r).FirstErr(); err != nil {
			return err
		}
		pz.at[[2]int64{int64(r.Partition), r.Offset}] = what
		return nil
	}
	for _, r := range records {
		if err := produce(r.what, r.value, nil); err != nil {
			t.Errorf("poison %s: produce: %v", r.what, err)
		}
	}
	// 5 MB: refused by the broker at the raw topic's default limit; accepted
	// once an operator raises max.message.bytes, and then dead-lettered
	// (cut to the processor's limit) without stalling anything.
	err := produce("5 MB value", []byte(big), []byte(l.clients[0]))
	switch {
	case errors.Is(err, kerr.MessageTooLarge):
		pz.detail = append(pz.detail, "5 MB refused by the broker (MESSAGE_TOO_LARGE) at the default max.message.bytes")
		adm := kadm.NewClient(s.kcl)
		set := func(v *string) error {
			op := kadm.SetConfig
			if v == nil {
				op = kadm.DeleteConfig
			}
			rs, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: op, Name: "max.message.bytes", Value: v}}, s.rawTopic)
			if err == nil {
				_, err = rs.On(s.rawTopic, nil)
			}
			return err
		}
		limit := strconv.Itoa(8 << 20)
		if err := set(&limit); err != nil {
			t.Errorf("raise max.message.bytes on %s: %v", s.rawTopic, err)
			break
		}
		err = produce("5 MB value", []byte(big), []byte(l.clients[0]))
		if rerr := set(nil); rerr != nil {
			t.Errorf("restore max.message.bytes on %s: %v", s.rawTopic, rerr)
		}
		if err != nil {
			t.Errorf("poison 5 MB value with max.message.bytes=8 MiB: %v", err)
			break
		}
		pz.detail = append(pz.detail, "5 MB accepted with max.message.bytes=8 MiB")
	case err != nil:
		t.Errorf("poison 5 MB value: %v", err)
	default:
		pz.detail = append(pz.detail, "5 MB accepted by the broker")
	}
	// The same over HTTP: a clear 4xx or a per-event rejection, never 5xx.
	httpPoison := []struct{ what, body string }{
		{"5 MB body", fmt.Sprintf("[%s]", big)},
		{"invalid UTF-8", fmt.Sprintf("[{\"source\":%q,\"metric\":\"m\xff\",\"amount\":\"1\",\"timestamp\":%q}]", l.client, ts)},
		{"deep nesting", fmt.Sprintf(`[{"source":%q,"payload":%s}]`, l.client, deep)},
		{"empty body", ""},
		{"binary", string(bin)},
	}
	var codes []string
	for _, p := range httpPoison {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.ingestor+"/v1/events", strings.NewReader(p.body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := doIngest(req)
		if err != nil {
			t.Errorf("HTTP poison %s: %v", p.what, err)
			continue
		}
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		resp.Body.Close()
		codes = append(codes, fmt.Sprintf("%s %d", p.what, resp.StatusCode))
		if resp.StatusCode >= 500 {
			t.Errorf("HTTP poison %s: %d %s", p.what, resp.StatusCode, b.String())
		}
		if resp.StatusCode == http.StatusAccepted && strings.Contains(b.String(), `"status":"accepted"`) {
			t.Errorf("HTTP poison %s: an event was accepted: %s", p.what, b.String())
		}
	}
	pz.detail = append(pz.detail, "HTTP: "+strings.Join(codes, ", "))
	return pz
}

// accounted counts the poisoned records that are stored as rejected or
// dead-lettered at their own position.
func (c *checker) accounted(t *testing.T, s *stack, pz *poisoned) (int, []string) {
	t.Helper()
	var missing []string
	n := 0
	for at, what := range pz.at {
		var cnt uint64
		q := `SELECT
			(SELECT count() FROM tally.rejected_events WHERE startsWith(stream, ?) AND partition = ? AND offset = ?) +
			(SELECT count() FROM tally.dead_letters WHERE startsWith(stream, ?) AND partition = ? AND offset = ?)`
		prefix := s.rawTopic + "/"
		if err := c.ch.QueryRow(context.Background(), q, prefix, int32(at[0]), at[1], prefix, int32(at[0]), at[1]).Scan(&cnt); err != nil {
			t.Errorf("query poison outcome: %v", err)
			return n, nil
		}
		if cnt > 0 {
			n++
		} else {
			missing = append(missing, fmt.Sprintf("%s at %d/%d", what, at[0], at[1]))
		}
	}
	return n, missing
}

// --- Redis ---

func redisInfo(t *testing.T, s *stack, section, field string) int64 {
	t.Helper()
	info, err := s.rdb.Info(context.Background(), section).Result()
	if err != nil {
		t.Errorf("redis INFO %s: %v", section, err)
		return 0
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// evict makes Redis forget: an eviction policy and a maxmemory below what
// the seen-set holds, kept for the outage while the workload runs.
func evict(t *testing.T, s *stack, p profile) string {
	t.Helper()
	ctx := context.Background()
	used := redisInfo(t, s, "memory", "used_memory")
	limit := max(used*3/4, 1<<20)
	for _, kv := range [][2]string{{"maxmemory-policy", "allkeys-lru"}, {"maxmemory", strconv.FormatInt(limit, 10)}} {
		if err := s.rdb.ConfigSet(ctx, kv[0], kv[1]).Err(); err != nil {
			t.Errorf("redis CONFIG SET %s: %v", kv[0], err)
		}
	}
	// Past the processors' 30 s policy check, so they must notice.
	time.Sleep(max(p.outage, 35*time.Second))
	evicted := redisInfo(t, s, "stats", "evicted_keys")
	if evicted == 0 {
		t.Errorf("redis evicted nothing under maxmemory %d (used %d)", limit, used)
	}
	return fmt.Sprintf("redis allkeys-lru at maxmemory %d B (used %d B): %d keys evicted", limit, used, evicted)
}

// restoreRedis puts noeviction back and restarts Redis, the documented way
// back to a trusted seen-set (evicted_keys survives a CONFIG SET).
func restoreRedis(t *testing.T, s *stack) {
	t.Helper()
	ctx := context.Background()
	_ = s.rdb.ConfigSet(ctx, "maxmemory", "0").Err()
	_ = s.rdb.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err()
	s.kill9(t, "redis")
	s.up(t)
}

// logged reports whether a node's log contains text since the case began.
func (s *stack) logged(name, text string) bool {
	b, err := os.ReadFile(s.st.Config().LogPath(name))
	if err != nil {
		return false
	}
	s.mu.Lock()
	from := s.logFrom[name]
	s.mu.Unlock()
	if from > int64(len(b)) {
		from = 0 // the log was started again
	}
	return bytes.Contains(b[from:], []byte(text))
}

// --- proxies ---

// chProxy returns the suite's proxy in front of ClickHouse (made once).
func (s *stack) chProxy(t *testing.T) *proxy {
	if s.chp == nil {
		s.chp = newProxy(t, s.ch)
	}
	return s.chp
}

// processorsVia restarts every processor with ClickHouse behind the proxy.
func processorsVia(t *testing.T, s *stack, p *proxy) {
	t.Helper()
	for _, name := range processors {
		s.restartWith(t, name, "TALLY_CLICKHOUSE_ADDR="+p.addr())
	}
}

// --- ClickHouse's disk ---

// smallDisk moves ClickHouse's tally tables onto a tmpfs of their size plus
// 256 MiB, so the suite can fill the filesystem and free it again. It needs
// root (mount); ClickHouse 18.16 has no storage policies or disk quotas to
// do it from inside.
type smallDisk struct {
	dir, saved string
}

func (s *stack) tableDir() string {
	return filepath.Join(s.dir, "data", "clickhouse-1", "data", "tally")
}

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

func mountSmallDisk(t *testing.T, s *stack) *smallDisk {
	t.Helper()
	d := &smallDisk{dir: s.tableDir(), saved: s.tableDir() + ".chaos-saved"}
	// What the tables take on tmpfs: whole pages per file and directory
	// (ClickHouse parts are many small files).
	var used int64
	_ = filepath.WalkDir(d.dir, func(_ string, e os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		used += 4096
		if info, err := e.Info(); err == nil && !e.IsDir() {
			used += (info.Size() + 4095) / 4096 * 4096
		}
		return nil
	})
	size := used + used/10 + 256<<20
	s.kill9(t, "clickhouse-1")
	defer s.up(t)
	if err := os.Rename(d.dir, d.saved); err != nil {
		t.Errorf("small disk for clickhouse: %v", err)
		return d
	}
	steps := []func() error{
		func() error { return os.Mkdir(d.dir, 0o755) },
		func() error {
			return run("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tally-chaos", d.dir)
		},
		func() error { return run("cp", "-a", d.saved+"/.", d.dir+"/") },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			t.Errorf("small disk for clickhouse: %v", err)
			// Put the tables back where they were.
			_ = run("umount", d.dir)
			_ = os.RemoveAll(d.dir)
			if err := os.Rename(d.saved, d.dir); err != nil {
				t.Errorf("restore clickhouse's tables from %s: %v", d.saved, err)
			}
			return nil
		}
	}
	if err := os.RemoveAll(d.saved); err != nil {
		t.Errorf("small disk for clickhouse: %v", err)
	}
	return d
}

// fill writes a file until the filesystem is full and returns it.
func (d *smallDisk) fill() (string, error) {
	path := filepath.Join(d.dir, "chaos-filler")
	f, err := os.Create(path)
	if err != nil {
		return path, err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for {
		if _, err := f.Write(buf); err != nil {
			return path, nil // ENOSPC: full
		}
	}
}

// unmount moves the tables back to the real disk.
func (d *smallDisk) unmount(t *testing.T, s *stack) {
	t.Helper()
	if d == nil {
		return
	}
	s.kill9(t, "clickhouse-1")
	defer s.up(t)
	steps := []func() error{
		func() error { return os.RemoveAll(filepath.Join(d.dir, "chaos-filler")) },
		func() error { return os.Mkdir(d.saved, 0o755) },
		func() error { return run("cp", "-a", d.dir+"/.", d.saved+"/") },
		func() error { return run("umount", d.dir) },
		func() error { return os.Remove(d.dir) },
		func() error { return os.Rename(d.saved, d.dir) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			t.Errorf("move clickhouse tables back (by hand: copy %s to the real disk, umount it): %v", d.dir, err)
			return
		}
	}
}

// --- memory ---

// memoryCgroup is a memory cgroup (v1) below this process's own, whose
// limit makes the kernel kill what is moved into it.
type memoryCgroup struct{ dir string }

func newMemoryCgroup(limit int64) (*memoryCgroup, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	own := ""
	for _, line := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 && parts[1] == "memory" {
			own = parts[2]
		}
	}
	if own == "" {
		return nil, errors.New("no memory cgroup (v1) for this process")
	}
	dir := filepath.Join("/sys/fs/cgroup/memory", own, fmt.Sprintf("tally-chaos-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "memory.limit_in_bytes"), []byte(strconv.FormatInt(limit, 10)), 0o644); err != nil {
		return nil, err
	}
	return &memoryCgroup{dir: dir}, nil
}

func (c *memoryCgroup) add(pid int) error {
	return os.WriteFile(filepath.Join(c.dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644)
}

// oomKills reads how many processes the kernel killed in the cgroup.
func (c *memoryCgroup) oomKills() int64 {
	b, _ := os.ReadFile(filepath.Join(c.dir, "memory.oom_control"))
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

func (c *memoryCgroup) remove() error { return os.Remove(c.dir) }

// oomKill restarts one processor without a garbage collector inside a
// memory cgroup, so the kernel kills it once it has allocated the limit.
// A process moved into a cgroup (v1) brings none of the memory it already
// uses: only what it touches afterwards is charged. So the limit is small
// (4 MiB of new pages: a few batches without a collector), not compared
// with the process's size; at 24-48 MiB the case's own load sometimes
// never reached it.
const oomLimit = 4 << 20

func oomKill(t *testing.T, s *stack, p profile, name string) string {
	t.Helper()
	cg, err := newMemoryCgroup(oomLimit)
	if err != nil {
		t.Errorf("memory cgroup: %v", err)
		return ""
	}
	defer func() {
		if err := cg.remove(); err != nil {
			t.Errorf("remove memory cgroup: %v", err)
		}
	}()
	s.kill9(t, name)
	s.start(t, name, "GOGC=off")
	pid, err := s.st.PID(name)
	if err != nil {
		t.Errorf("pid of %s: %v", name, err)
		return ""
	}
	if err := cg.add(pid); err != nil {
		t.Errorf("move %s into the memory cgroup: %v", name, err)
		return ""
	}
	waitDead(t, s, name, p.duration+2*time.Minute)
	kills := cg.oomKills()
	if kills == 0 {
		t.Errorf("%s died, but not by the kernel's OOM killer", name)
	}
	s.up(t)
	return fmt.Sprintf("%s (GOGC=off) killed by the kernel at a %d MiB memory cgroup (oom_kill %d)", name, oomLimit>>20, kills)
}

// --- dead-letter replay ---

// replayKilled puts events on the dead-letter topic (as if they had failed
// before an operator's fix), runs processor dlq replay, kills it -9 while
// it produces, and runs it again to the end. The events are in the ledger
// once the replay finished: resent copies must be deduplicated.
func replayKilled(t *testing.T, s *stack, l *ledger, from, n int) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	recs := make([]*kgo.Record, 0, n)
	events := make([]string, 0, n)
	for i := from; i < from+n; i++ {
		e := l.event(i)
		events = append(events, e)
		recs = append(recs, &kgo.Record{Topic: s.dlqTopic, Key: []byte(l.clients[i%len(l.clients)]), Value: []byte(e),
			Headers: []kgo.RecordHeader{{Key: "tally-dlq-reason", Value: []byte("chaos: failed before a fix")}}})
	}
	if err := s.kcl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Errorf("produce dead letters: %v", err)
		return ""
	}
	adm := kadm.NewClient(s.kcl)
	rawEnd := func() int64 {
		ends, err := adm.ListEndOffsets(ctx, s.rawTopic)
		if err != nil {
			return -1
		}
		var sum int64
		ends.Each(func(o kadm.ListedOffset) { sum += o.Offset })
		return sum
	}
	replay := func() *exec.Cmd {
		cmd := exec.CommandContext(ctx, filepath.Join(s.dir, "bin", "processor"), "dlq", "replay")
		cmd.Env = append(os.Environ(), s.st.Env()...)
		return cmd
	}
	kills, copied := 0, int64(0)
	var exit error
	for attempt := 0; attempt < 3 && kills == 0; attempt++ {
		before := rawEnd()
		cmd := replay()
		if err := cmd.Start(); err != nil {
			t.Errorf("start dlq replay: %v", err)
			return ""
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
	watch:
		for {
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("dlq replay: %v", err)
				}
				break watch // finished before any copy showed: try again
			case <-time.After(5 * time.Millisecond):
				// Well past the odd forwarded stray: the replay's copies.
				if d := rawEnd() - before; d >= 200 {
					_ = cmd.Process.Kill()
					exit = <-done // "signal: killed"
					kills++
					copied = d
					break watch
				}
			}
		}
	}
	cmd := replay()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("dlq replay after the kill: %v: %s", err, out)
		return ""
	}
	l.expectNative(events)
	if kills == 0 {
		t.Errorf("dlq replay always finished before it could be killed")
	}
	last := strings.TrimSpace(lastLine(out))
	// Replay commits its progress after each produced batch, so the kill
	// lands either before a commit (the rerun copies those dead letters
	// again, and the copies deduplicate) or after the last one (nothing is
	// left to replay). Say which one this run saw.
	when := "before the replay committed its progress: the rerun copied them again"
	if strings.Contains(last, "replayed 0 dead letters") {
		when = "after the replay had committed its last batch: the rerun found nothing left"
	}
	return fmt.Sprintf("%d dead letters; replay killed -9 (%v) once %d copies were on the raw topic, %s; rerun: %s",
		n, exit, copied, when, last)
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// --- the recovery goal ---

// loadResult is what the load generator measured.
type loadResult struct {
	offered      float64 // calibration: events/s the ingestor acknowledged at full tilt
	capacity     float64 // calibration: records/s the processors worked off with a backlog
	rate         float64 // the outage run: acknowledged events/s
	outageSecs   float64 // ClickHouse down (kill to ready)
	recoverySecs float64 // ready to lag back at its pre-outage level
	baseline     int64   // pending before the outage
	peak         int64   // pending at its highest
}

// loadGen posts batches of the ledger's events from workers at a rate it
// can change (events per second; 0 = as fast as the ingestor answers).
type loadGen struct {
	s      *stack
	l      *ledger
	next   atomic.Int64
	rate   atomic.Int64
	cancel context.CancelFunc
	done   chan error
}

const loadBatch, loadWorkers = 500, 8

func startLoad(s *stack, l *ledger, first int) *loadGen {
	ctx, cancel := context.WithCancel(context.Background())
	g := &loadGen{s: s, l: l, cancel: cancel, done: make(chan error, loadWorkers)}
	g.next.Store(int64(first))
	for range loadWorkers {
		go func() {
			var err error
			defer func() { g.done <- err }()
			for ctx.Err() == nil {
				began := time.Now()
				i := int(g.next.Add(loadBatch)) - loadBatch
				evs := make([]string, loadBatch)
				facts := make([]fact, loadBatch)
				for j := range loadBatch {
					evs[j] = l.event(i + j)
					facts[j] = l.fact(i + j)
				}
				if perr := l.postKnown(ctx, s.ingestor, evs, facts); perr != nil && ctx.Err() == nil {
					err = perr
					return
				}
				if r := g.rate.Load(); r > 0 {
					wait := time.Duration(float64(time.Second)*loadBatch*loadWorkers/float64(r)) - time.Since(began)
					select {
					case <-time.After(wait):
					case <-ctx.Done():
					}
				}
			}
		}()
	}
	return g
}

// stop ends the load and returns the first worker error.
func (g *loadGen) stop() error {
	g.cancel()
	var first error
	for range loadWorkers {
		if err := <-g.done; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func pendingNow(s *stack) (st stats, ok bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return st, getJSON(ctx, s.queryapi+"/v1/stats", &st) == nil
}

// recoveryGoal runs the MISSION's recovery scenario. It first measures
// what this machine does: the load the ingestor acknowledges at full tilt
// and what the processors work off with a backlog (their capacity). Then
// it offers min(target, capacity/3) — a 60 s backlog can drain in 30 s
// while the load goes on only if the processors run at three times the
// load — kills ClickHouse for the outage, restarts it, and times how long
// the lag takes to come back to where it was before.
func recoveryGoal(t *testing.T, s *stack, l *ledger, target int, outage time.Duration) loadResult {
	t.Helper()
	var r loadResult
	// A live stream, as the MISSION's 10,000 events/s are: timestamped
	// now, not history a second apart (which makes every batch a backfill
	// touching thousands of minute buckets).
	l.live(0)
	// Calibration: full tilt for 20 s.
	g := startLoad(s, l, 0)
	time.Sleep(10 * time.Second)
	mid, _ := pendingNow(s)
	midAcked, _ := l.truth()
	midAt := time.Now()
	time.Sleep(10 * time.Second)
	end, _ := pendingNow(s)
	endAcked, _ := l.truth()
	secs := time.Since(midAt).Seconds()
	done := func(st stats) int64 {
		return st.Processed + st.Duplicates + st.Conflicts + st.Rejected + st.DeadLettered + st.Forwarded + st.Skipped
	}
	r.offered = float64(endAcked-midAcked) / secs
	r.capacity = float64(done(end)-done(mid)) / secs
	rate := min(float64(target), r.capacity/3)
	g.rate.Store(int64(rate))
	// Let the calibration backlog drain at the new rate.
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		if st, ok := pendingNow(s); ok && st.Pending+st.InFlight < int64(rate) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	// Baseline: the lag the pipeline runs at under this load.
	startAcked, _ := l.truth()
	start := time.Now()
	for warm := time.Now().Add(10 * time.Second); time.Now().Before(warm); time.Sleep(500 * time.Millisecond) {
		if st, ok := pendingNow(s); ok {
			r.baseline = max(r.baseline, st.Pending+st.InFlight)
		}
	}
	threshold := max(r.baseline+r.baseline/5, 1000)
	down := time.Now()
	s.kill9(t, "clickhouse-1")
	time.Sleep(outage)
	s.up(t)
	ready := time.Now()
	r.outageSecs = ready.Sub(down).Seconds()
	recovered := false
	for time.Since(ready) < 3*time.Minute {
		if st, ok := pendingNow(s); ok {
			n := st.Pending + st.InFlight
			r.peak = max(r.peak, n)
			if n <= threshold {
				recovered = true
				break
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	r.recoverySecs = time.Since(ready).Seconds()
	if !recovered {
		t.Errorf("lag did not come back under %d within 3 minutes of ClickHouse's return", threshold)
	}
	time.Sleep(5 * time.Second) // the load goes on a little after recovery
	acked, _ := l.truth()
	r.rate = float64(acked-startAcked) / time.Since(start).Seconds()
	if err := g.stop(); err != nil {
		t.Errorf("load: %v", err)
	}
	return r
}
