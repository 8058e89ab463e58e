// Package ratelimit decides whether an API key may send n more events now:
// a rate (events per second per key) and a quota (events per UTC day per
// tenant). Both count events, not requests — a batch of 500 costs 500.
//
// Shared: the rate is a GCRA bucket in Redis (github.com/go-redis/redis_rate,
// one Lua script, so every ingestor replica draws from the same bucket and
// the limit holds however requests are spread over replicas). A replica
// takes a busy key's events from the bucket 10 ms at a time (a lease, held
// at most 100 ms), so the limit costs one Redis round trip per key per
// 10 ms instead of one per request; a lease never grants what the bucket
// did not. The quota is
// a Redis counter per tenant and UTC day, checked and incremented by one
// script, so concurrent requests can never together overshoot it.
//
// Degraded: when Redis does not answer, each replica limits on its own
// (golang.org/x/time/rate buckets and in-memory day counters) rather than
// refusing every request or letting everything through. With R replicas a
// key may then send up to R times its rate; that is the price of staying up,
// and the transition is logged once each way and counted in
// tally_ingestor_ratelimit_degraded_*. While degraded, Redis is tried again
// at most once per RetryInterval, so a dead Redis costs one timeout per
// interval, not one per request.
//
// A refused request sends nothing: the events a replica took for it stay in
// its lease for the next request (or lapse), and the quota script
// reserves only when the whole batch fits. The quota is leased too (a
// busy tenant's day is reserved 10 ms of its rate at a time, at most a
// thousandth of the quota), and what a lapsed lease did not use is given
// back. The rate is checked first, so a request refused for its rate
// never spends quota. Events of a request the event log later fails (503)
// stay counted: some of them may have landed.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"
)

// Policy is what one key may send.
type Policy struct {
	// EventsPerSecond is the key's rate (0: unlimited). The bucket holds one
	// second of events, so a request may carry at most that many.
	EventsPerSecond float64
	// QuotaPerDay bounds the tenant's events per UTC day (0: unlimited).
	QuotaPerDay int64
}

// Reasons a request is refused.
const (
	// ReasonRate: over the key's rate; retry after RetryAfter.
	ReasonRate = "rate"
	// ReasonBatch: the request alone holds more events than the key's
	// bucket; no retry helps, the batch must be split.
	ReasonBatch = "batch"
	// ReasonQuota: the tenant's daily quota is spent; it renews at the
	// next UTC midnight (RetryAfter).
	ReasonQuota = "quota"
)

// Verdict is the answer for one request.
type Verdict struct {
	Allowed bool
	Reason  string // why it was refused; "" when allowed
	// Rate state for the RateLimit headers; Limit is 0 when the key has no
	// rate limit.
	Limit     int           // the bucket's size: events allowed at once
	Remaining int           // events that could be sent right now
	Reset     time.Duration // until the bucket is full again
	// Window is the time the bucket takes to refill from empty (one
	// second, or longer for rates below one event per second).
	Window time.Duration
	// RetryAfter is when a refused request may succeed.
	RetryAfter time.Duration
	// Quota is the daily quota applied (0: none) and QuotaUsed the tenant's
	// events counted today, including this request when allowed.
	Quota, QuotaUsed int64
}

// Config wires a Limiter.
type Config struct {
	// Redis holds the shared state; nil limits per replica only.
	Redis redis.UniversalClient
	// Timeout bounds each Redis call (default 50 ms).
	Timeout time.Duration
	// RetryInterval is how often a degraded limiter tries Redis again
	// (default 1 s).
	RetryInterval time.Duration
	Logger        *slog.Logger
	Registerer    prometheus.Registerer
	Now           func() time.Time
}

// Limiter is safe for concurrent use.
type Limiter struct {
	cfg     Config
	shared  *redis_rate.Limiter
	metrics *metrics

	degraded  atomic.Bool
	retryAtNs atomic.Int64 // while degraded: when to try Redis again

	mu          sync.Mutex
	leases      sync.Map                 // key id -> *lease: events taken from the shared bucket
	quotaLeases sync.Map                 // tenant -> *lease: events reserved of its day
	buckets     map[string]*rate.Limiter // key id -> per-replica bucket
	days        map[string]int64         // tenant + day -> events counted locally
	day         string                   // the UTC day days holds
}

// New returns a Limiter.
func New(cfg Config) (*Limiter, error) {
	if cfg.Logger == nil || cfg.Registerer == nil {
		return nil, errors.New("ratelimit: Logger and Registerer are required")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 50 * time.Millisecond
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	l := &Limiter{cfg: cfg, metrics: m, buckets: map[string]*rate.Limiter{}, days: map[string]int64{}}
	if cfg.Redis != nil {
		l.shared = redis_rate.NewLimiter(cfg.Redis)
	} else {
		l.degraded.Store(true)
		m.degraded.Set(1)
	}
	return l, nil
}

// Degraded reports whether the limiter currently limits per replica.
func (l *Limiter) Degraded() bool { return l.degraded.Load() }

// Admit decides whether key (of tenant) may send n events under p. It never
// fails: without Redis it decides per replica.
func (l *Limiter) Admit(ctx context.Context, key, tenant string, p Policy, n int) Verdict {
	now := l.cfg.Now()
	v := Verdict{Allowed: true, Window: time.Second}
	if p.EventsPerSecond > 0 {
		lim := gcra(p.EventsPerSecond)
		v.Limit, v.Window = lim.Burst, lim.Period
		if n > lim.Burst {
			v.Allowed, v.Reason, v.Remaining = false, ReasonBatch, lim.Burst
			l.metrics.refused.WithLabelValues(ReasonBatch).Add(float64(n))
			return v
		}
		if !l.rate(ctx, key, p.EventsPerSecond, lim, n, now, &v) {
			v.Allowed, v.Reason = false, ReasonRate
			l.metrics.refused.WithLabelValues(ReasonRate).Add(float64(n))
			return v
		}
	}
	if p.QuotaPerDay > 0 {
		v.Quota = p.QuotaPerDay
		// Reserve ahead like the rate's lease, but never more than a
		// thousandth of the day.
		extra := min(leaseExtra(p.EventsPerSecond), int(p.QuotaPerDay/1000))
		if !l.quota(ctx, tenant, p.QuotaPerDay, n, extra, now, &v) {
			v.Allowed, v.Reason = false, ReasonQuota
			v.RetryAfter = nextUTCDay(now).Sub(now)
			l.metrics.refused.WithLabelValues(ReasonQuota).Add(float64(n))
			return v
		}
	}
	return v
}

// gcra turns events per second into redis_rate's integer limit: whole
// events per second when the rate is at least one, else one event per
// 1/rate seconds. The bucket holds one second of events (at least one).
func gcra(eps float64) redis_rate.Limit {
	if eps >= 1 {
		r := int(math.Round(eps))
		return redis_rate.Limit{Rate: r, Burst: r, Period: time.Second}
	}
	return redis_rate.Limit{Rate: 1, Burst: 1, Period: time.Duration(float64(time.Second) / eps)}
}

// leaseTTL bounds how long a replica may hold events it took from the
// shared bucket ahead of need; unused ones are dropped, never sent late.
const leaseTTL = 100 * time.Millisecond

// leaseExtra is how many events beyond a request's own a replica takes
// from the shared bucket in one round trip: 10 ms of the key's rate. A
// busy key then costs one Redis call per 10 ms per replica instead of one
// per request; a slow key (under 100 events/s) takes none and asks Redis
// every time. Either way no replica can send an event the shared bucket
// did not grant: a lease can only make the limit stricter, by the events
// it drops unused.
func leaseExtra(eps float64) int { return int(eps / 100) }

// lease is what a replica holds of one key's bucket (or one tenant's day).
// Requests take from it without a lock; refills are serialized by mu.
type lease struct {
	mu      sync.Mutex
	tokens  atomic.Int64 // granted, not yet used
	untilNs atomic.Int64 // when the unused tokens lapse
	shared  atomic.Int64 // rate: the bucket's remaining at the last grant; quota: the day's count
	resetNs atomic.Int64 // rate: when the bucket is full again, as of the last grant
	day     atomic.Int64 // quota: the UTC day (days since the epoch) the tokens are of
}

// take uses n of the held tokens if the lease has not lapsed.
func (ls *lease) take(n, nowNs int64) bool {
	if nowNs >= ls.untilNs.Load() {
		return false
	}
	for {
		t := ls.tokens.Load()
		if t < n {
			return false
		}
		if ls.tokens.CompareAndSwap(t, t-n) {
			return true
		}
	}
}

// drain takes every held token out; lapsed ones are reported as lapsed.
func (ls *lease) drain(nowNs int64) (held, lapsed int64) {
	t := ls.tokens.Swap(0)
	if nowNs >= ls.untilNs.Load() {
		return 0, t
	}
	return t, 0
}

// leaseOf finds (or makes) the lease of key in m without a lock on the
// hot path.
func leaseOf(m *sync.Map, key string) *lease {
	if v, ok := m.Load(key); ok {
		return v.(*lease)
	}
	v, _ := m.LoadOrStore(key, &lease{})
	return v.(*lease)
}

func (l *Limiter) rate(ctx context.Context, key string, eps float64, lim redis_rate.Limit, n int, now time.Time, v *Verdict) bool {
	if !l.useRedis(now) {
		return l.rateLocal(key, eps, lim, n, now, v)
	}
	nowNs, need := now.UnixNano(), int64(n)
	ls := leaseOf(&l.leases, key)
	if !ls.take(need, nowNs) {
		ls.mu.Lock()
		defer ls.mu.Unlock()
		if !ls.take(need, nowNs) { // nobody refilled it meanwhile
			held, _ := ls.drain(nowNs)
			ctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
			res, err := l.shared.AllowAtMost(ctx, "tally:ingest:"+key, lim, int(need-held)+leaseExtra(eps))
			cancel()
			if err != nil {
				ls.tokens.Add(held)
				l.failed(now, "rate", err)
				return l.rateLocal(key, eps, lim, n, now, v)
			}
			l.healthy()
			total := held + int64(res.Allowed)
			ls.shared.Store(int64(res.Remaining))
			ls.resetNs.Store(nowNs + int64(max(res.ResetAfter, 0)))
			ls.untilNs.Store(nowNs + int64(leaseTTL))
			if total < need {
				ls.tokens.Add(total)
				v.Remaining, v.Reset = res.Remaining+int(total), max(res.ResetAfter, 0)
				// The events still missing come back at the key's rate.
				v.RetryAfter = max(res.RetryAfter, time.Duration(float64(need-total)/eps*float64(time.Second)))
				return false
			}
			ls.tokens.Add(total - need)
		}
	}
	v.Remaining = int(ls.shared.Load() + ls.tokens.Load())
	v.Reset = time.Duration(max(ls.resetNs.Load()-nowNs, 0))
	return true
}

// rateLocal decides with this replica's own bucket for the key.
func (l *Limiter) rateLocal(key string, eps float64, lim redis_rate.Limit, n int, now time.Time, v *Verdict) bool {
	l.metrics.local.WithLabelValues("rate").Inc()
	l.mu.Lock()
	b, ok := l.buckets[key]
	if !ok {
		b = rate.NewLimiter(rate.Limit(eps), lim.Burst)
		l.buckets[key] = b
	} else if b.Limit() != rate.Limit(eps) || b.Burst() != lim.Burst {
		b.SetLimitAt(now, rate.Limit(eps))
		b.SetBurstAt(now, lim.Burst)
	}
	l.mu.Unlock()
	r := b.ReserveN(now, n)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		v.RetryAfter = d
		v.Remaining = max(int(b.TokensAt(now)), 0)
		v.Reset = time.Duration(float64(lim.Burst) / eps * float64(time.Second))
		return false
	}
	tokens := b.TokensAt(now)
	v.Remaining = max(int(tokens), 0)
	v.Reset = time.Duration((float64(lim.Burst) - tokens) / eps * float64(time.Second))
	return true
}

// quotaScript reserves events of a tenant's day: at least ARGV[1] (the
// request's), at most ARGV[2] (with a lease), never past the quota
// ARGV[3]; ARGV[4] is the counter's TTL in seconds. Returns {granted,
// used}: granted is 0 when the request's events do not fit.
var quotaScript = redis.NewScript(`
local used = tonumber(redis.call("GET", KEYS[1]) or "0")
local need = tonumber(ARGV[1])
local avail = tonumber(ARGV[3]) - used
if avail < need then
  return {0, used}
end
local grant = math.min(tonumber(ARGV[2]), avail)
used = redis.call("INCRBY", KEYS[1], grant)
if used == grant then
  redis.call("EXPIRE", KEYS[1], ARGV[4])
end
return {grant, used}
`)

// quotaReturn gives unused reserved events back to a day's counter.
var quotaReturn = redis.NewScript(`
local left = redis.call("DECRBY", KEYS[1], ARGV[1])
if left < 0 then
  redis.call("SET", KEYS[1], 0, "KEEPTTL")
end
return left
`)

// quotaTTL keeps a day's counter a little past its day, for clock skew
// between replicas.
const quotaTTL = 48 * time.Hour

// QuotaKey is the Redis key counting tenant's events on now's UTC day.
func QuotaKey(tenant string, now time.Time) string {
	return "tally:quota:" + tenant + ":" + now.UTC().Format(time.DateOnly)
}

// quota counts n events against tenant's day; extra is how many more to
// reserve ahead (a lease, like the rate's), 0 for none. What a lapsed
// lease did not use is given back, so the day's count stays exact (a
// replica that dies holding a lease over-counts by at most that lease).
func (l *Limiter) quota(ctx context.Context, tenant string, quota int64, n, extra int, now time.Time, v *Verdict) bool {
	if !l.useRedis(now) {
		return l.quotaLocal(tenant, quota, n, now, v)
	}
	nowNs, need := now.UnixNano(), int64(n)
	day := nowNs / int64(24*time.Hour)
	ls := leaseOf(&l.quotaLeases, tenant)
	if ls.day.Load() != day || !ls.take(need, nowNs) {
		ls.mu.Lock()
		defer ls.mu.Unlock()
		if ls.day.Load() != day {
			// Yesterday's reservation: nothing to give back to.
			ls.tokens.Store(0)
			ls.untilNs.Store(0)
			ls.shared.Store(0)
			ls.day.Store(day)
		}
		if !ls.take(need, nowNs) {
			redisKey := QuotaKey(tenant, now)
			held, lapsed := ls.drain(nowNs)
			if lapsed > 0 {
				ctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
				err := quotaReturn.Run(ctx, l.cfg.Redis, []string{redisKey}, lapsed).Err()
				cancel()
				if err != nil {
					l.failed(now, "quota", err)
					return l.quotaLocal(tenant, quota, n, now, v)
				}
				ls.shared.Add(-lapsed)
			}
			ctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
			res, err := quotaScript.Run(ctx, l.cfg.Redis, []string{redisKey}, need-held, need-held+int64(extra), quota,
				int(quotaTTL/time.Second)).Int64Slice()
			cancel()
			if err == nil && len(res) != 2 {
				err = fmt.Errorf("quota script answered %v", res)
			}
			if err != nil {
				ls.tokens.Add(held)
				l.failed(now, "quota", err)
				return l.quotaLocal(tenant, quota, n, now, v)
			}
			l.healthy()
			ls.shared.Store(res[1])
			ls.untilNs.Store(nowNs + int64(leaseTTL))
			if res[0] == 0 {
				ls.tokens.Add(held)
				v.QuotaUsed = res[1] - held
				return false
			}
			ls.tokens.Add(held + res[0] - need)
		}
	}
	v.QuotaUsed = ls.shared.Load() - ls.tokens.Load()
	return true
}

// quotaLocal counts a tenant's day in this replica's memory.
func (l *Limiter) quotaLocal(tenant string, quota int64, n int, now time.Time, v *Verdict) bool {
	l.metrics.local.WithLabelValues("quota").Inc()
	l.mu.Lock()
	defer l.mu.Unlock()
	if day := now.UTC().Format(time.DateOnly); day != l.day {
		clear(l.days)
		l.day = day
	}
	used := l.days[tenant]
	if used+int64(n) > quota {
		v.QuotaUsed = used
		return false
	}
	l.days[tenant] = used + int64(n)
	v.QuotaUsed = used + int64(n)
	return true
}

// useRedis says whether to ask Redis now: always when healthy, once per
// RetryInterval while degraded.
func (l *Limiter) useRedis(now time.Time) bool {
	if l.shared == nil {
		return false
	}
	if !l.degraded.Load() {
		return true
	}
	at := l.retryAtNs.Load()
	if now.UnixNano() < at {
		return false
	}
	// One caller probes; the others keep deciding locally meanwhile.
	return l.retryAtNs.CompareAndSwap(at, now.Add(l.cfg.RetryInterval).UnixNano())
}

func (l *Limiter) failed(now time.Time, what string, err error) {
	l.retryAtNs.Store(now.Add(l.cfg.RetryInterval).UnixNano())
	if l.degraded.CompareAndSwap(false, true) {
		l.metrics.degraded.Set(1)
		l.metrics.transitions.WithLabelValues("degraded").Inc()
		l.cfg.Logger.Warn("rate limiter degraded: Redis did not answer, limiting per replica until it does",
			"check", what, "error", err)
	}
}

func (l *Limiter) healthy() {
	if l.degraded.CompareAndSwap(true, false) {
		l.metrics.degraded.Set(0)
		l.metrics.transitions.WithLabelValues("shared").Inc()
		l.cfg.Logger.Info("rate limiter shared again: Redis answers")
	}
}

func nextUTCDay(now time.Time) time.Time {
	y, m, d := now.UTC().Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
}

// Seconds renders a duration as whole seconds, rounded up (at least min).
func Seconds(d time.Duration, minimum int) string {
	s := int(math.Ceil(d.Seconds()))
	return strconv.Itoa(max(s, minimum))
}

type metrics struct {
	degraded    prometheus.Gauge
	transitions *prometheus.CounterVec
	local       *prometheus.CounterVec
	refused     *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		degraded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tally_ingestor_ratelimit_degraded",
			Help: "1 while rate limits and quotas are enforced per replica because Redis does not answer.",
		}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tally_ingestor_ratelimit_degraded_transitions_total",
			Help: "Switches between shared (Redis) and per-replica limiting, by the state entered.",
		}, []string{"to"}),
		local: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tally_ingestor_ratelimit_degraded_decisions_total",
			Help: "Rate and quota decisions taken per replica (Redis unavailable), by check.",
		}, []string{"check"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tally_ingestor_ratelimit_refused_events_total",
			Help: "Events refused (429/413) by rate limit, batch size over the bucket, or daily quota.",
		}, []string{"reason"}),
	}
	for _, c := range []prometheus.Collector{m.degraded, m.transitions, m.local, m.refused} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register rate limit metrics: %w", err)
		}
	}
	return m, nil
}
