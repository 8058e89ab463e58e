//go:build chaos

package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
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
}

var processors = []string{"processor-1", "processor-2", "processor-3"}

func cases() []chaosCase {
	return []chaosCase{
		{name: "none (resends, kcat, no timestamps, invalid)"},
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
	run := time.Now().Format("150405")
	var rows []outcome
	failed := false
	all := cases()
	if s.cluster() {
		all = append(all, clusterCases()...)
	}
	// CHAOS_CASES (a regular expression) runs the matching cases only, to
	// repeat one case by hand; CI never sets it.
	only, err := regexp.Compile(os.Getenv("CHAOS_CASES"))
	if err != nil {
		t.Fatalf("CHAOS_CASES: %v", err)
	}
	for i, cc := range all {
		if cc.long && !p.long || !only.MatchString(cc.name) {
			continue
		}
		client := fmt.Sprintf("chaos-%s-%02d", run, i)
		l := newLedger(t, client)
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
		workload(t, s, l, p)
		wg.Wait()
		s.up(t) // whatever the fault left down comes back
		if cc.after != nil {
			cc.after(t, s)
		}
		o := c.settle(t, l, cc.name, 3*time.Minute)
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
	}
	out := filepath.Join(s.root, ".stack-test", "chaos-report.txt")
	if d := os.Getenv("CHAOS_REPORT"); d != "" {
		out = d
	}
	report(t, rows, out)
	if failed {
		t.Log("see the table above; logs are under " + s.dir + "/log")
	}
}

// workload sends the case's events: batches over HTTP, each resent at once
// (same request) and some again later, a share through kcat straight into
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
	// Kafka-native copies of the first events, plus new ones only kcat sends.
	var native []string
	for i := range 10 {
		native = append(native, l.event(i), l.event(n+i))
	}
	l.kcat(t, s.kafka, "events.raw", native)
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
