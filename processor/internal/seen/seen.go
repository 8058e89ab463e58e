// Package seen is the pipeline's SeenSet on Redis: every winner's origin,
// plus one watermark per owner partition below which a miss can be trusted
// (layout in github.com/tally-dev/tally/event/seenkey; protocol in
// docs/design/read-model.md, R3).
//
// It is a cache, never the source of truth, and it is built so that it can
// never lie about what it does not know:
//   - a lookup reads the watermark and the entries in one Lua call, one
//     atomic snapshot, so a flush cannot fall between them;
//   - marking writes the entries first and then moves the watermark with a
//     compare-and-set that refuses when the watermark is missing or behind
//     the batch (a flush or a failed mark in between): the next batch heals;
//   - healing holds a random token while it refills a partition and sets
//     the watermark only if the token survived, i.e. nothing was flushed
//     while it ran;
//   - Redis must not evict or expire entries (maxmemory-policy noeviction,
//     no TTL). Guarded reads the server's policy; under any other it makes
//     every lookup decline, so the pipeline decides from ClickHouse —
//     slower, never inexact.
package seen

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tally-dev/tally/event/seenkey"
	"github.com/tally-dev/tally/processor/internal/pipeline"
)

// Redis is the Redis-backed seen-set.
type Redis struct {
	client *redis.Client
	// chunk bounds the commands of one pipelined round trip while healing.
	chunk int
}

// NewRedis wraps a client.
func NewRedis(client *redis.Client) *Redis { return &Redis{client: client, chunk: 10_000} }

var _ pipeline.SeenSet = (*Redis)(nil)

// lookupScript returns the watermark (KEYS[1]) and the value of field
// ARGV[i] in hash KEYS[i+1], atomically.
var lookupScript = redis.NewScript(`
local out = {redis.call('GET', KEYS[1]) or false}
for i = 1, #ARGV do
  out[i + 1] = redis.call('HGET', KEYS[i + 1], ARGV[i]) or false
end
return out`)

// advanceScript moves watermark KEYS[1] to ARGV[2] if it is at least
// ARGV[1]; returns 1 if it moved (or was already past), 0 if it refused.
var advanceScript = redis.NewScript(`
local wm = redis.call('GET', KEYS[1])
if not wm or tonumber(wm) < tonumber(ARGV[1]) then return 0 end
if tonumber(wm) < tonumber(ARGV[2]) then redis.call('SET', KEYS[1], ARGV[2]) end
return 1`)

// finishHealScript sets watermark KEYS[1] to at least ARGV[2] if heal token
// KEYS[2] still holds ARGV[1], and releases the token.
var finishHealScript = redis.NewScript(`
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
local wm = redis.call('GET', KEYS[1])
if not wm or tonumber(wm) < tonumber(ARGV[2]) then redis.call('SET', KEYS[1], ARGV[2]) end
redis.call('DEL', KEYS[2])
return 1`)

// Lookup answers every probe; one round trip.
func (r *Redis) Lookup(ctx context.Context, probes []pipeline.Probe) ([]pipeline.Answer, error) {
	var out []pipeline.Answer
	err := r.withScripts(ctx, func() error {
		var err error
		out, err = r.lookup(ctx, probes)
		return err
	})
	return out, err
}

func (r *Redis) lookup(ctx context.Context, probes []pipeline.Probe) ([]pipeline.Answer, error) {
	pipe := r.client.Pipeline()
	cmds := make([]*redis.Cmd, len(probes))
	for i, p := range probes {
		keys := make([]string, 0, len(p.IDs)+1)
		args := make([]any, 0, len(p.IDs))
		keys = append(keys, seenkey.Watermark(p.Stream, p.N, p.Part))
		for _, id := range p.IDs {
			k, f, err := seenkey.Split(id)
			if err != nil {
				return nil, fmt.Errorf("redis lookup: %w", err)
			}
			keys = append(keys, k)
			args = append(args, f)
		}
		cmds[i] = lookupScript.EvalSha(ctx, pipe, keys, args...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("redis lookup: %w", err)
	}
	out := make([]pipeline.Answer, len(probes))
	for i, p := range probes {
		res, err := cmds[i].Slice()
		if err != nil {
			return nil, fmt.Errorf("redis lookup: %w", err)
		}
		a := pipeline.Answer{Watermark: -1, Found: make(map[string]pipeline.Origin)}
		if s, ok := res[0].(string); ok {
			if a.Watermark, err = strconv.ParseInt(s, 10, 64); err != nil {
				return nil, fmt.Errorf("redis lookup: watermark %q: %w", s, err)
			}
		}
		for j, id := range p.IDs {
			s, ok := res[j+1].(string)
			if !ok {
				continue
			}
			o, ok := seenkey.Decode(s)
			if !ok {
				return nil, fmt.Errorf("redis lookup: unreadable entry for %s", id)
			}
			a.Found[id] = pipeline.Origin(o)
		}
		out[i] = a
	}
	return out, nil
}

// withScripts runs f, loading the scripts and running it once more if the
// server did not know them (first use, or a restart emptied its cache).
func (r *Redis) withScripts(ctx context.Context, f func() error) error {
	err := f()
	if !isNoScript(err) {
		return err
	}
	for _, s := range []*redis.Script{lookupScript, advanceScript, finishHealScript} {
		if err := s.Load(ctx, r.client).Err(); err != nil {
			return fmt.Errorf("redis scripts: %w", err)
		}
	}
	return f()
}

func isNoScript(err error) bool {
	return err != nil && strings.Contains(err.Error(), "NOSCRIPT")
}

// Mark adds winners (HSETNX: the first original stays) and then moves each
// watermark, in one round trip.
func (r *Redis) Mark(ctx context.Context, marks []pipeline.Marks) error {
	return r.withScripts(ctx, func() error { return r.mark(ctx, marks) })
}

func (r *Redis) mark(ctx context.Context, marks []pipeline.Marks) error {
	pipe := r.client.Pipeline()
	for _, m := range marks {
		for id, o := range m.Winners {
			k, f, err := seenkey.Split(id)
			if err != nil {
				return fmt.Errorf("redis mark: %w", err)
			}
			pipe.HSetNX(ctx, k, f, seenkey.Encode(seenkey.Origin(o)))
		}
		advanceScript.EvalSha(ctx, pipe, []string{seenkey.Watermark(m.Stream, m.N, m.Part)}, m.From, m.To)
	}
	cmds, err := pipe.Exec(ctx)
	if err != nil {
		return fmt.Errorf("redis mark: %w", err)
	}
	for _, c := range cmds {
		if err := c.Err(); err != nil {
			return fmt.Errorf("redis mark: %w", err)
		}
	}
	return nil
}

// Heal adds every winner yielded and then sets the partition's watermark to
// to. It runs on one dedicated connection, which breaks — failing the heal —
// if Redis restarts or fails over meanwhile, and it finishes only if its
// random token survived: a flush, or a restore of a snapshot taken during the
// heal, leaves the partition incomplete, and the pipeline decides from
// ClickHouse until a later heal succeeds.
func (r *Redis) Heal(ctx context.Context, stream string, n, part int32, to int64,
	winners func(each func(string, pipeline.Origin) error) error) error {
	conn := r.client.Conn()
	defer conn.Close()
	var b [16]byte
	_, _ = rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	tokenKey := seenkey.HealToken(stream, n, part)
	if err := conn.Set(ctx, tokenKey, token, time.Hour).Err(); err != nil {
		return fmt.Errorf("redis heal: %w", err)
	}
	pipe := conn.Pipeline()
	flush := func() error {
		if pipe.Len() == 0 {
			return nil
		}
		_, err := pipe.Exec(ctx)
		return err
	}
	err := winners(func(id string, o pipeline.Origin) error {
		k, f, err := seenkey.Split(id)
		if err != nil {
			return err
		}
		pipe.HSetNX(ctx, k, f, seenkey.Encode(seenkey.Origin(o)))
		if pipe.Len() >= r.chunk {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return fmt.Errorf("redis heal: %w", err)
	}
	ok, err := finishHealScript.Run(ctx, conn, []string{seenkey.Watermark(stream, n, part), tokenKey}, token, to).Int()
	if err != nil {
		return fmt.Errorf("redis heal: %w", err)
	}
	if ok != 1 {
		return errors.New("redis heal: redis lost the heal token (flushed or restored while healing)")
	}
	return nil
}

// Policy returns the server's maxmemory-policy.
func (r *Redis) Policy(ctx context.Context) (string, error) {
	m, err := r.client.ConfigGet(ctx, "maxmemory-policy").Result()
	if err != nil {
		return "", fmt.Errorf("redis config: %w", err)
	}
	return m["maxmemory-policy"], nil
}

// Ping checks that Redis answers.
func (r *Redis) Ping(ctx context.Context) error { return r.client.Ping(ctx).Err() }

// Guarded trusts the seen-set only while Redis promises not to forget:
// maxmemory-policy noeviction. Under any other policy it declines lookups
// (the pipeline then decides from ClickHouse) and heals, and keeps marking.
// Run re-reads the policy periodically, so a CONFIG SET takes effect.
type Guarded struct {
	*Redis
	trusted atomic.Bool
	reason  atomic.Value // string
	logger  *slog.Logger
}

// NewGuarded wraps r; it starts untrusted until the first check passes.
func NewGuarded(r *Redis, logger *slog.Logger) *Guarded {
	g := &Guarded{Redis: r, logger: logger}
	g.reason.Store("redis eviction policy not checked yet")
	return g
}

// Check reads the policy, and whether Redis ever evicted a key, once.
func (g *Guarded) Check(ctx context.Context) {
	policy, err := g.Policy(ctx)
	if err != nil {
		// Unreachable Redis fails lookups by itself; keep the last verdict.
		return
	}
	if n := g.evicted(ctx); n > 0 {
		g.reason.Store(fmt.Sprintf("redis has evicted %d keys since it started; deciding from ClickHouse", n))
		if g.trusted.Swap(false) {
			g.logger.Warn("redis evicted keys; the pipeline decides from ClickHouse until Redis restarts with noeviction", "evicted_keys", n)
		}
		return
	}
	switch {
	case policy == "noeviction":
		if !g.trusted.Swap(true) {
			g.logger.Info("redis seen-set trusted", "maxmemory-policy", policy)
		}
	default:
		g.reason.Store("redis maxmemory-policy is " + policy + ", which may forget entries; deciding from ClickHouse")
		if g.trusted.Swap(false) {
			g.logger.Warn("redis may evict entries; the pipeline decides from ClickHouse until maxmemory-policy is noeviction",
				"maxmemory-policy", policy)
		}
	}
}

// evicted reads evicted_keys from INFO stats (0 when the server does not say).
func (g *Guarded) evicted(ctx context.Context) int64 {
	info, err := g.client.Info(ctx, "stats").Result()
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "evicted_keys:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// Run checks the policy every interval until ctx ends.
func (g *Guarded) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		g.Check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Lookup declines while untrusted.
func (g *Guarded) Lookup(ctx context.Context, probes []pipeline.Probe) ([]pipeline.Answer, error) {
	if !g.trusted.Load() {
		return nil, errors.New(g.reason.Load().(string))
	}
	return g.Redis.Lookup(ctx, probes)
}

// Heal declines while untrusted: a watermark must not vouch for entries
// that may be evicted.
func (g *Guarded) Heal(ctx context.Context, stream string, n, part int32, to int64,
	winners func(each func(string, pipeline.Origin) error) error) error {
	if !g.trusted.Load() {
		return errors.New(g.reason.Load().(string))
	}
	return g.Redis.Heal(ctx, stream, n, part, to, winners)
}
