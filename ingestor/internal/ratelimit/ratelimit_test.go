package ratelimit_test

import (
	"bytes"
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/tally-dev/tally/ingestor/internal/ratelimit"
)

type fixture struct {
	mr   *miniredis.Miniredis
	reg  *prometheus.Registry
	logs *syncBuffer
	lim  *ratelimit.Limiter
	now  atomic.Int64
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newFixture(t *testing.T, withRedis bool) *fixture {
	t.Helper()
	f := &fixture{reg: prometheus.NewRegistry(), logs: &syncBuffer{}}
	f.now.Store(time.Date(2026, 12, 1, 23, 59, 58, 0, time.UTC).UnixNano())
	cfg := ratelimit.Config{Logger: slog.New(slog.NewTextHandler(f.logs, nil)), Registerer: f.reg,
		Now: func() time.Time { return time.Unix(0, f.now.Load()).UTC() }, RetryInterval: time.Second, Timeout: 200 * time.Millisecond}
	if withRedis {
		f.mr = miniredis.RunT(t)
		f.mr.SetTime(time.Unix(0, f.now.Load()))
		rdb := redis.NewClient(&redis.Options{Addr: f.mr.Addr(), MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
		t.Cleanup(func() { rdb.Close() })
		cfg.Redis = rdb
	}
	var err error
	if f.lim, err = ratelimit.New(cfg); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) advance(d time.Duration) {
	f.now.Add(int64(d))
	if f.mr != nil {
		f.mr.SetTime(time.Unix(0, f.now.Load()))
	}
}

func TestRateCountsEventsNotRequests(t *testing.T) {
	for _, withRedis := range []bool{true, false} {
		t.Run(map[bool]string{true: "redis", false: "per replica"}[withRedis], func(t *testing.T) {
			f := newFixture(t, withRedis)
			ctx := context.Background()
			p := ratelimit.Policy{EventsPerSecond: 10}
			v := f.lim.Admit(ctx, "k1", "acme", p, 7)
			if !v.Allowed || v.Limit != 10 || v.Remaining != 3 {
				t.Fatalf("first 7 of 10: %+v", v)
			}
			v = f.lim.Admit(ctx, "k1", "acme", p, 4)
			if v.Allowed || v.Reason != ratelimit.ReasonRate || v.RetryAfter <= 0 || v.RetryAfter > time.Second {
				t.Fatalf("4 more over a bucket of 3: %+v", v)
			}
			// The refused request took nothing: 3 still fit.
			if v = f.lim.Admit(ctx, "k1", "acme", p, 3); !v.Allowed || v.Remaining != 0 {
				t.Fatalf("the 3 left: %+v", v)
			}
			// Another key has its own bucket.
			if v = f.lim.Admit(ctx, "k2", "acme", p, 10); !v.Allowed {
				t.Fatalf("another key: %+v", v)
			}
			f.advance(500 * time.Millisecond)
			if v = f.lim.Admit(ctx, "k1", "acme", p, 5); !v.Allowed {
				t.Fatalf("half a second refills half: %+v", v)
			}
			if v = f.lim.Admit(ctx, "k1", "acme", p, 11); v.Allowed || v.Reason != ratelimit.ReasonBatch {
				t.Fatalf("a batch over the bucket: %+v", v)
			}
			if v = f.lim.Admit(ctx, "k1", "acme", ratelimit.Policy{}, 1_000_000); !v.Allowed || v.Limit != 0 {
				t.Fatalf("no policy, no limit: %+v", v)
			}
		})
	}
}

func TestFractionalRate(t *testing.T) {
	f := newFixture(t, true)
	p := ratelimit.Policy{EventsPerSecond: 0.5}
	if v := f.lim.Admit(context.Background(), "k", "t", p, 1); !v.Allowed {
		t.Fatalf("first: %+v", v)
	}
	v := f.lim.Admit(context.Background(), "k", "t", p, 1)
	if v.Allowed || v.RetryAfter < 1900*time.Millisecond || v.RetryAfter > 2*time.Second {
		t.Fatalf("one event per two seconds: %+v", v)
	}
}

func TestQuotaPerTenantPerUTCDay(t *testing.T) {
	for _, withRedis := range []bool{true, false} {
		t.Run(map[bool]string{true: "redis", false: "per replica"}[withRedis], func(t *testing.T) {
			f := newFixture(t, withRedis)
			ctx := context.Background()
			p := ratelimit.Policy{QuotaPerDay: 100}
			if v := f.lim.Admit(ctx, "k1", "acme", p, 60); !v.Allowed || v.QuotaUsed != 60 || v.Quota != 100 {
				t.Fatalf("60 of 100: %+v", v)
			}
			// Another key of the same tenant shares the tenant's day.
			v := f.lim.Admit(ctx, "k2", "acme", p, 50)
			if v.Allowed || v.Reason != ratelimit.ReasonQuota || v.QuotaUsed != 60 {
				t.Fatalf("50 more over 100: %+v", v)
			}
			// The clock says 23:59:58: the quota renews in two seconds.
			if v.RetryAfter != 2*time.Second {
				t.Fatalf("retry after %s, want until midnight UTC", v.RetryAfter)
			}
			if v := f.lim.Admit(ctx, "k1", "globex", p, 100); !v.Allowed {
				t.Fatalf("another tenant: %+v", v)
			}
			if v := f.lim.Admit(ctx, "k2", "acme", p, 40); !v.Allowed || v.QuotaUsed != 100 {
				t.Fatalf("the 40 left: %+v", v)
			}
			f.advance(3 * time.Second)
			if v := f.lim.Admit(ctx, "k1", "acme", p, 100); !v.Allowed || v.QuotaUsed != 100 {
				t.Fatalf("a new day: %+v", v)
			}
			if withRedis {
				key := ratelimit.QuotaKey("acme", time.Date(2026, 12, 2, 0, 0, 1, 0, time.UTC))
				if got, _ := f.mr.Get(key); got != "100" {
					t.Fatalf("%s = %q", key, got)
				}
				if ttl := f.mr.TTL(key); ttl <= 24*time.Hour {
					t.Fatalf("ttl %s", ttl)
				}
			}
		})
	}
}

func TestRateRefusalSpendsNoQuota(t *testing.T) {
	f := newFixture(t, true)
	p := ratelimit.Policy{EventsPerSecond: 5, QuotaPerDay: 1000}
	ctx := context.Background()
	f.lim.Admit(ctx, "k", "acme", p, 5)
	if v := f.lim.Admit(ctx, "k", "acme", p, 5); v.Allowed || v.Reason != ratelimit.ReasonRate {
		t.Fatalf("%+v", v)
	}
	if got, _ := f.mr.Get(ratelimit.QuotaKey("acme", time.Unix(0, f.now.Load()))); got != "5" {
		t.Fatalf("quota counted %q, want only the admitted 5", got)
	}
}

// TestDegradesWhenRedisIsGone: decisions go on per replica, the switch is
// logged once each way and counted, and Redis is tried again after the
// retry interval.
func TestDegradesWhenRedisIsGone(t *testing.T) {
	f := newFixture(t, true)
	ctx := context.Background()
	p := ratelimit.Policy{EventsPerSecond: 10, QuotaPerDay: 1000}
	if v := f.lim.Admit(ctx, "k", "acme", p, 4); !v.Allowed || f.lim.Degraded() {
		t.Fatalf("%+v", v)
	}
	addr := f.mr.Addr()
	f.mr.Close()
	for range 3 {
		if v := f.lim.Admit(ctx, "k", "acme", p, 3); !v.Allowed {
			t.Fatalf("per replica, a fresh bucket of 10 admits 3: %+v", v)
		}
	}
	if v := f.lim.Admit(ctx, "k", "acme", p, 3); v.Allowed || v.Reason != ratelimit.ReasonRate {
		t.Fatalf("per replica, the 10th to 12th event: %+v", v)
	}
	if !f.lim.Degraded() {
		t.Fatal("not degraded")
	}
	if got := counterSum(t, f.reg, "tally_ingestor_ratelimit_degraded"); got != 1 {
		t.Fatalf("degraded gauge %v", got)
	}
	if n := strings.Count(f.logs.String(), "rate limiter degraded"); n != 1 {
		t.Fatalf("logged %d times, want once:\n%s", n, f.logs)
	}
	local := counterSum(t, f.reg, "tally_ingestor_ratelimit_degraded_decisions_total")
	if local < 7 {
		t.Fatalf("degraded decisions counted %v", local)
	}

	// Redis comes back on the same address: the next try after the retry
	// interval goes shared again, logged once.
	mr := miniredis.NewMiniRedis()
	if err := mr.StartAddr(addr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mr.Close)
	f.lim.Admit(ctx, "k", "acme", p, 1)
	if !f.lim.Degraded() {
		t.Fatal("tried Redis again before the retry interval")
	}
	f.advance(1100 * time.Millisecond)
	mr.SetTime(time.Unix(0, f.now.Load()))
	if v := f.lim.Admit(ctx, "k", "acme", p, 10); !v.Allowed {
		t.Fatalf("shared again, Redis's bucket is fresh: %+v", v)
	}
	if f.lim.Degraded() || counterSum(t, f.reg, "tally_ingestor_ratelimit_degraded") != 0 {
		t.Fatal("still degraded")
	}
	if n := strings.Count(f.logs.String(), "rate limiter shared again"); n != 1 {
		t.Fatalf("recovery logged %d times:\n%s", n, f.logs)
	}
	if got := counterSum(t, f.reg, "tally_ingestor_ratelimit_degraded_transitions_total"); got != 2 {
		t.Fatalf("transitions %v", got)
	}
}

// TestSharedAcrossLimiters: limiters of several replicas, one Redis,
// concurrent requests: together they admit exactly one bucket.
func TestSharedAcrossLimiters(t *testing.T) {
	mr := miniredis.RunT(t)
	mr.SetTime(time.Now())
	var limiters []*ratelimit.Limiter
	for range 4 {
		rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
		t.Cleanup(func() { rdb.Close() })
		frozen := time.Now()
		l, err := ratelimit.New(ratelimit.Config{Redis: rdb, Logger: slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry(),
			Timeout: 5 * time.Second, Now: func() time.Time { return frozen }})
		if err != nil {
			t.Fatal(err)
		}
		limiters = append(limiters, l)
	}
	p := ratelimit.Policy{EventsPerSecond: 100, QuotaPerDay: 1_000_000}
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			for range 10 {
				if v := limiters[i%len(limiters)].Admit(context.Background(), "k", "acme", p, 2); v.Allowed {
					admitted.Add(2)
				}
			}
		})
	}
	wg.Wait()
	// miniredis's clock is frozen: the bucket does not refill. Never more
	// than the shared 100 (per-replica buckets would admit 400); each
	// limiter may drop at most its last lease of 1 + 1 events unused.
	if got := admitted.Load(); got > 100 || got < 100-4*2 {
		t.Fatalf("admitted %d events over 4 limiters, want the shared 100", got)
	}
	for _, l := range limiters {
		if l.Degraded() {
			t.Fatal("a limiter degraded")
		}
	}
}

func counterSum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// TestLeaseSavesRoundTrips: a busy key asks Redis once per lease (10 ms of
// its rate), not once per request; a lease lapses after 100 ms; a slow key
// asks every time.
func TestLeaseSavesRoundTrips(t *testing.T) {
	f := newFixture(t, true)
	ctx := context.Background()
	// commands counts what miniredis runs for fn (a script's own calls
	// included).
	commands := func(fn func()) int {
		before := f.mr.CommandCount()
		fn()
		return f.mr.CommandCount() - before
	}
	slow := ratelimit.Policy{EventsPerSecond: 50}
	f.lim.Admit(ctx, "warm", "acme", slow, 1) // connect and load the script
	oneCall := commands(func() { f.lim.Admit(ctx, "slow", "acme", slow, 1) })
	if got := commands(func() {
		for range 3 {
			f.lim.Admit(ctx, "slow", "acme", slow, 1)
		}
	}); got != 3*oneCall {
		t.Fatalf("a slow key: %d commands for 3 requests, want 3 × %d", got, oneCall)
	}
	busy := ratelimit.Policy{EventsPerSecond: 10_000} // a lease of 100 events
	if got := commands(func() {
		for i := range 101 {
			if v := f.lim.Admit(ctx, "busy", "acme", busy, 1); !v.Allowed {
				t.Fatalf("request %d: %+v", i, v)
			}
		}
	}); got != oneCall {
		t.Fatalf("%d Redis commands for 101 single-event requests, want one script run (%d)", got, oneCall)
	}
	f.advance(150 * time.Millisecond)
	if got := commands(func() { f.lim.Admit(ctx, "busy", "acme", busy, 1) }); got != oneCall {
		t.Fatalf("a lapsed lease was used (%d commands)", got)
	}
}

// TestQuotaLease: a busy tenant reserves its day ahead (one Redis round
// trip per lease) and gives back what a lapsed lease did not use, so the
// day's count stays exact.
func TestQuotaLease(t *testing.T) {
	f := newFixture(t, true)
	f.advance(time.Hour) // away from midnight
	ctx := context.Background()
	p := ratelimit.Policy{EventsPerSecond: 100_000, QuotaPerDay: 1_000_000} // leases of 1,000
	key := func() string { return ratelimit.QuotaKey("acme", time.Unix(0, f.now.Load())) }
	for range 50 {
		if v := f.lim.Admit(ctx, "k", "acme", p, 1); !v.Allowed || v.QuotaUsed > 50 {
			t.Fatalf("%+v", v)
		}
	}
	if got, _ := f.mr.Get(key()); got != "1001" {
		t.Fatalf("reserved %s, want one lease of 1 + 1,000", got)
	}
	f.advance(150 * time.Millisecond)
	if v := f.lim.Admit(ctx, "k", "acme", p, 1); !v.Allowed || v.QuotaUsed != 51 {
		t.Fatalf("%+v", v)
	}
	// The 951 unused were given back before the next lease of 1,001.
	if got, _ := f.mr.Get(key()); got != strconv.Itoa(50+1001) {
		t.Fatalf("counted %s, want 50 used + a new lease of 1,001", got)
	}
}
