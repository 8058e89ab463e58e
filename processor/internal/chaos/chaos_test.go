//go:build chaos

package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// profile sizes the suite: short runs inside make test, long in make chaos.
type profile struct {
	events   int           // logical events per case
	duration time.Duration // how long the workload is spread over
	outage   time.Duration // how long a dependency stays broken
	long     bool
}

func currentProfile() profile {
	if os.Getenv("CHAOS_PROFILE") == "long" {
		return profile{events: 3000, duration: 40 * time.Second, outage: 30 * time.Second, long: true}
	}
	return profile{events: 240, duration: 6 * time.Second, outage: 6 * time.Second}
}

// chaosCase is one fault. expect is "" for a real fault (the ledger must be
// clean) or "lost" / "double" for a negative control, which the checker
// must catch.
type chaosCase struct {
	name   string
	long   bool // only in the long profile
	expect string
	// before runs once before the workload (e.g. restart processors broken).
	before func(t *testing.T, s *stack)
	// fault runs concurrently with the workload.
	fault func(t *testing.T, s *stack, p profile)
	// after runs once the workload is sent (e.g. restore the processors).
	after func(t *testing.T, s *stack)
	// run, when set, replaces the standard workload (the load test).
	run func(t *testing.T, s *stack, l *ledger, p profile)
	// check runs once the case settled; a non-empty answer fails the case.
	check func(t *testing.T, s *stack, c *checker) string
}

var processors = []string{"processor-1", "processor-2", "processor-3"}

func cases() []chaosCase {
	return []chaosCase{
		{name: "none (resends, native, no timestamps, invalid)"},
		{name: "kill -9 processor after insert, before commit", fault: func(t *testing.T, s *stack, p profile) {
			s.armFailpoint(t, "processor-1", "after-insert")
			waitDead(t, s, "processor-1", p.duration+10*time.Second)
			s.up(t)
		}},
		{name: "kill -9 processor mid-insert", fault: func(t *testing.T, s *stack, p profile) {
			s.armFailpoint(t, "processor-2", "mid-insert")
			waitDead(t, s, "processor-2", p.duration+10*time.Second)
			s.up(t)
		}},
		{name: "kill -9 processor after marking redis", long: true, fault: func(t *testing.T, s *stack, p profile) {
			s.armFailpoint(t, "processor-3", "after-mark")
			waitDead(t, s, "processor-3", p.duration+10*time.Second)
			s.up(t)
		}},
		{name: "kill -9 a random processor mid-stream", fault: func(t *testing.T, s *stack, p profile) {
			sleepRandom(p.duration / 2)
			s.kill9(t, processors[rand.IntN(3)])
			time.Sleep(time.Second)
			s.up(t)
		}},
		{name: "add and remove processors (rebalances)", long: true, fault: func(t *testing.T, s *stack, p profile) {
			sleepRandom(p.duration / 3)
			s.restart(t, "processor-2")
			s.start(t, "processor-4")
			time.Sleep(p.duration / 3)
			s.restart(t, "processor-4")
			s.kill9(t, "processor-4")
		}},
		{name: "SIGSTOP processor past session timeout", long: true, fault: func(t *testing.T, s *stack, p profile) {
			sleepRandom(p.duration / 3)
			s.signal(t, "processor-3", syscall.SIGSTOP)
			time.Sleep(25 * time.Second) // session timeout is 20 s
			s.signal(t, "processor-3", syscall.SIGCONT)
		}},
		{name: "kill -9 clickhouse, restart", fault: func(t *testing.T, s *stack, p profile) {
			sleepRandom(p.duration / 3)
			s.kill9(t, "clickhouse-1")
			time.Sleep(p.outage)
			s.up(t)
		}},
		{name: "clickhouse writes failing (switchboard)", fault: func(t *testing.T, s *stack, p profile) {
			sleepRandom(p.duration / 3)
			s.setFault(t, 3, fmt.Sprintf(`{"target":"clickhouse","mode":"fail","durationSeconds":%d}`, int(p.outage.Seconds())))
			time.Sleep(p.outage)
		}},
		{name: "stop redis (loses every mark), restart", fault: func(t *testing.T, s *stack, p profile) {
			sleepRandom(p.duration / 3)
			s.kill9(t, "redis")
			time.Sleep(p.outage / 2)
			s.up(t)
		}},
		{name: "kill -9 kafka broker, restart", fault: func(t *testing.T, s *stack, p profile) {
			sleepRandom(p.duration / 3)
			s.kill9(t, "kafka-1")
			time.Sleep(p.outage / 2)
			s.up(t)
		}},
		{name: "kill -9 ingestor mid-request, client retries", fault: func(t *testing.T, s *stack, p profile) {
			sleepRandom(p.duration / 2)
			s.kill9(t, "ingestor")
			time.Sleep(time.Second)
			s.up(t)
		}},
		{name: "poison records (native and HTTP)", fault: func(t *testing.T, s *stack, p profile) {
			sleepRandom(p.duration / 3)
			s.poison = poison(t, s, s.ledger)
			s.note(s.poison.detail...)
		}, check: func(t *testing.T, s *stack, c *checker) string {
			n, missing := c.accounted(t, s, s.poison)
			s.note(fmt.Sprintf("%d of %d poison records acknowledged by Kafka stored as rejected or dead-lettered", n, len(s.poison.at)))
			if len(missing) > 0 {
				return "poison not accounted for: " + strings.Join(missing, "; ")
			}
			return ""
		}},
		{name: "redis FLUSHALL mid-stream", fault: func(t *testing.T, s *stack, p profile) {
			sleepRandom(p.duration / 2)
			if err := s.rdb.FlushAll(context.Background()).Err(); err != nil {
				t.Errorf("FLUSHALL: %v", err)
			}
			s.note("FLUSHALL while the workload ran")
		}},
		{name: "redis evicting keys (allkeys-lru, maxmemory)", long: true, fault: func(t *testing.T, s *stack, p profile) {
			sleepRandom(p.duration / 4)
			s.note(evict(t, s, p))
		}, after: func(t *testing.T, s *stack) {
			untrusted := 0
			for _, name := range processors {
				if s.logged(name, "redis may evict entries") || s.logged(name, "redis evicted keys") {
					untrusted++
				}
			}
			s.note(fmt.Sprintf("%d of 3 processors logged that they stopped trusting redis", untrusted))
			restoreRedis(t, s)
		}},
		{name: "partition processors from clickhouse", long: true, before: func(t *testing.T, s *stack) {
			processorsVia(t, s, s.chProxy(t))
		}, fault: func(t *testing.T, s *stack, p profile) {
			sleepRandom(p.duration / 3)
			s.chProxy(t).partition()
			time.Sleep(p.outage)
			s.chProxy(t).heal()
			s.note(fmt.Sprintf("blackholed for %v (TCP proxy)", p.outage))
		}, after: restoreProcessors},
		{name: "clickhouse slow (seconds per request)", long: true, before: func(t *testing.T, s *stack) {
			processorsVia(t, s, s.chProxy(t))
		}, fault: func(t *testing.T, s *stack, p profile) {
			sleepRandom(p.duration / 4)
			s.chProxy(t).slow(2 * time.Second)
			time.Sleep(p.outage)
			s.chProxy(t).slow(0)
			s.note(fmt.Sprintf("every request delayed 2 s for %v (TCP proxy)", p.outage))
		}, after: restoreProcessors},
		{name: "clickhouse disk full, then freed", long: true, before: func(t *testing.T, s *stack) {
			s.disk = mountSmallDisk(t, s)
		}, fault: func(t *testing.T, s *stack, p profile) {
			sleepRandom(p.duration / 4)
			if s.disk == nil {
				return
			}
			path, err := s.disk.fill()
			if err != nil {
				t.Errorf("fill clickhouse's disk: %v", err)
			}
			time.Sleep(p.outage)
			if err := os.Remove(path); err != nil {
				t.Errorf("free clickhouse's disk: %v", err)
			}
		}, after: func(t *testing.T, s *stack) {
			s.waitDrained(t, 2*time.Minute)
			full := 0
			for _, name := range processors {
				if s.logged(name, "No space left on device") || s.logged(name, "Cannot reserve") {
					full++
				}
			}
			s.note(fmt.Sprintf("tally tables on a tmpfs (their size + 256 MiB), filled for the outage, then freed; %d of 3 processors saw inserts fail for space", full))
			if full == 0 {
				t.Errorf("no processor saw an insert fail for space: the fault did not bite")
			}
			s.disk.unmount(t, s)
		}},
		{name: "partition ingestor from kafka", long: true, before: func(t *testing.T, s *stack) {
			var addrs []string
			for _, p := range s.kafkaProxies(t) {
				addrs = append(addrs, p.addr())
			}
			s.restartWith(t, "ingestor", "TALLY_KAFKA_BROKERS="+strings.Join(addrs, ","))
		}, fault: func(t *testing.T, s *stack, p profile) {
			sleepRandom(p.duration / 3)
			for _, p := range s.kafkaProxies(t) {
				p.partition()
			}
			time.Sleep(p.outage)
			for _, p := range s.kafkaProxies(t) {
				p.heal()
			}
			s.note(fmt.Sprintf("blackholed for %v (Kafka-aware TCP proxy)", p.outage))
		}, after: func(t *testing.T, s *stack) {
			s.restart(t, "ingestor")
		}},
		{name: "processor killed by the kernel for memory", long: true, fault: func(t *testing.T, s *stack, p profile) {
			sleepRandom(p.duration / 4)
			s.note(oomKill(t, s, p, "processor-1"))
		}},
		{name: "kill -9 during processor dlq replay", long: true, after: func(t *testing.T, s *stack) {
			s.note(replayKilled(t, s, s.ledger, 1_000_000, 5000))
		}},
		{name: "recovery goal: 60 s clickhouse outage under load", long: true, run: func(t *testing.T, s *stack, l *ledger, p profile) {
			target := 10_000
			if v, err := strconv.Atoi(os.Getenv("CHAOS_RATE")); err == nil && v > 0 {
				target = v
			}
			r := recoveryGoal(t, s, l, target, 60*time.Second)
			s.recovery = time.Duration(r.recoverySecs * float64(time.Second))
			goal := "met"
			if r.recoverySecs > 30 {
				goal = "NOT met"
			}
			s.note(fmt.Sprintf("measured first: the ingestor acknowledged %.0f events/s at full tilt and the processors worked off %.0f records/s with a backlog; "+
				"the outage ran at %.0f events/s (target %d/s, at most a third of that capacity, or the backlog cannot drain in 30 s while the load goes on); "+
				"clickhouse down %.0f s; lag %d before, peak %d; back under its pre-outage level %.1f s after clickhouse was ready (goal 30 s: %s)",
				r.offered, r.capacity, r.rate, target, r.outageSecs, r.baseline, r.peak, r.recoverySecs, goal))
		}},
		{name: "negative control: dedup disabled", expect: "double",
			before: func(t *testing.T, s *stack) {
				for _, p := range processors {
					s.restartWith(t, p, "TALLY_NEGATIVE_CONTROL=no-dedup")
				}
			},
			after: restoreProcessors},
		{name: "negative control: redis marked before write", expect: "lost",
			before: func(t *testing.T, s *stack) {
				for _, p := range processors {
					s.restartWith(t, p, "TALLY_NEGATIVE_CONTROL=mark-before-write")
				}
				s.setFault(t, 3, `{"target":"clickhouse","mode":"fail"}`)
			},
			after: func(t *testing.T, s *stack) {
				// Crash while the write is failing: the marks survive, the
				// rows never existed, and the broken filter then drops the
				// redelivered records as "already stored".
				s.waitRetrying(t, 30*time.Second)
				time.Sleep(2 * time.Second)
				for _, name := range processors {
					s.kill9(t, name)
				}
				for _, name := range processors {
					s.start(t, name, "TALLY_NEGATIVE_CONTROL=mark-before-write")
				}
				s.waitDrained(t, 60*time.Second)
				restoreProcessors(t, s)
			}},
		{name: "negative control: rows acknowledged before written", expect: "lost",
			before: func(t *testing.T, s *stack) {
				for _, p := range processors {
					s.restartWith(t, p, "TALLY_NEGATIVE_CONTROL=ack-before-write")
				}
			},
			after: func(t *testing.T, s *stack) {
				// Each processor holds its last batch's rows unwritten, its
				// offsets committed; a crash now loses them.
				s.waitDrained(t, 60*time.Second)
				time.Sleep(time.Second)
				restoreProcessors(t, s)
			}},
	}
}

func restoreProcessors(t *testing.T, s *stack) {
	t.Helper()
	for _, p := range processors {
		s.kill9(t, p)
	}
	s.up(t)
}

func TestChaos(t *testing.T) {
	s := newStack(t)
	c := newChecker(t, s)
	p := currentProfile()
	started := time.Now()
	run := started.Format("150405")
	var rows []outcome
	failed := false
	all := cases()
	if s.cluster() {
		all = append(all, clusterCases()...)
	}
	for i, cc := range all {
		// CHAOS_CASES=a,b runs only the cases whose name contains a or b
		// (whatever the profile); otherwise the profile decides.
		if only := os.Getenv("CHAOS_CASES"); only != "" {
			if !slices.ContainsFunc(strings.Split(strings.ToLower(only), ","), func(w string) bool {
				return strings.Contains(strings.ToLower(cc.name), w)
			}) {
				continue
			}
		} else if cc.long && !p.long {
			continue
		}
		client := fmt.Sprintf("chaos-%s-%02d", run, i)
		l := newLedger(t, client)
		s.startCase(l)
		if cc.before != nil {
			cc.before(t, s)
		}
		var wg sync.WaitGroup
		if cc.fault != nil {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cc.fault(t, s, p)
			}()
		}
		if cc.run != nil {
			cc.run(t, s, l, p)
		} else {
			workload(t, s, l, p)
		}
		wg.Wait()
		s.up(t) // whatever the fault left down comes back
		if cc.after != nil {
			cc.after(t, s)
		}
		o := c.settle(t, l, cc.name, 3*time.Minute)
		if cc.check != nil {
			o.Note += cc.check(t, s, c)
		}
		if s.recovery > 0 {
			o.Recover = s.recovery
		}
		o.Distinct, _ = l.truth()
		if other := l.otherStatuses(); other != "" {
			s.note("ingest answers other than 202 (retried): " + other)
		}
		o.Detail = strings.Join(s.details(), "; ")
		rows = append(rows, o)
		switch cc.expect {
		case "":
			if o.Lost != 0 || o.DoubleCounted != 0 || !o.Reconciled || o.Note != "" || o.Processed == 0 {
				t.Errorf("%s: ledger not clean: %+v", cc.name, o)
				failed = true
			}
		case "lost":
			if o.Lost == 0 {
				t.Errorf("%s: negative control not caught: the checker reported no loss", cc.name)
				failed = true
			}
		case "double":
			if o.DoubleCounted == 0 {
				t.Errorf("%s: negative control not caught: the checker reported no double count", cc.name)
				failed = true
			}
		}
		o.Expect = cc.expect
		rows[len(rows)-1] = o
	}
	out := filepath.Join(s.root, ".stack-test", "chaos-report.txt")
	report(t, rows, out)
	// CHAOS_REPORT=path writes the report there too, as Markdown for a
	// .md path (make chaos writes docs/reliability.md).
	if d := os.Getenv("CHAOS_REPORT"); strings.HasSuffix(d, ".md") {
		reportMarkdown(t, rows, d, p, started)
	} else if d != "" {
		report(t, rows, d)
	}
	if failed {
		t.Log("see the table above; logs are under " + s.dir + "/log")
	}
}

// workload sends the case's events: batches over HTTP, each resent at once
// (same request) and some again later, a share from a Kafka-native producer straight into
// the raw topic, events without timestamps (resent), and invalid events.
func workload(t *testing.T, s *stack, l *ledger, p profile) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), p.duration+2*time.Minute)
	defer cancel()
	const batch = 20
	n := p.events
	batches := (n + batch - 1) / batch
	pause := p.duration / time.Duration(batches)
	var later [][]string
	for b := range batches {
		var evs []string
		for i := b * batch; i < min(n, (b+1)*batch); i++ {
			evs = append(evs, l.event(i))
		}
		for range 2 { // the same request twice
			if err := l.post(ctx, s.ingestor, evs); err != nil {
				t.Fatalf("workload: %v", err)
			}
			l.expect(t, evs)
		}
		if b%5 == 0 {
			later = append(later, evs[:5])
		}
		time.Sleep(pause)
	}
	for _, evs := range later { // later resends
		if err := l.post(ctx, s.ingestor, evs); err != nil {
			t.Fatalf("workload: %v", err)
		}
	}
	// Kafka-native copies of the first events, plus new ones only it sends.
	var native []string
	for i := range 10 {
		native = append(native, l.event(i), l.event(n+i))
	}
	l.native(t, s, native)
	// No timestamp: resends must not be double counted.
	var nots []string
	for k := range 3 {
		nots = append(nots, fmt.Sprintf(`{"source":%q,"metric":"nots","amount":"%d"}`, l.client, 1000+k))
	}
	for range 2 {
		if err := l.post(ctx, s.ingestor, nots); err != nil {
			t.Fatalf("workload: %v", err)
		}
		l.expect(t, nots)
	}
	// Invalid events: rejected with a reason, never counted.
	bad := []string{fmt.Sprintf(`{"source":%q,"amount":"abc"}`, l.client), fmt.Sprintf(`{"source":%q,"amount":"1","timestamp":"not a date"}`, l.client)}
	if err := l.post(ctx, s.ingestor, bad); err != nil {
		t.Fatalf("workload: %v", err)
	}
}

func waitDead(t *testing.T, s *stack, name string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for s.alive(t, name) {
		if time.Now().After(deadline) {
			t.Errorf("%s did not reach its failpoint within %v", name, timeout)
			s.kill9(t, name)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func sleepRandom(max time.Duration) {
	if max > 0 {
		time.Sleep(time.Duration(rand.Int64N(int64(max))))
	}
}

func writeFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
