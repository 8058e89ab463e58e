package seen

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/tally-dev/tally/event/seenkey"
)

func newRedis(t *testing.T) (*Redis, *miniredis.Miniredis) {
	t.Helper()
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr(), MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	return NewRedis(rdb, time.Second), m
}

// copies are copies of ids, all with fingerprint 1.
func copies(ids ...string) []Copy {
	out := make([]Copy, len(ids))
	for i, id := range ids {
		out[i] = Copy{ID: id, Fingerprint: 1}
	}
	return out
}

func TestClaim(t *testing.T) {
	r, m := newRedis(t)
	stored, fresh := strings.Repeat("a", 64), strings.Repeat("b", 64)
	key, field, _ := seenkey.Split(stored)
	m.HSet(key, field, "origin")
	ctx := context.Background()

	got, err := r.Claim(ctx, copies(stored, fresh))
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != Duplicate || got[1] != New {
		t.Fatalf("first claim = %v, want [stored=dup, fresh=new]", got)
	}
	// The seen-set is only read: its hash still holds exactly its entry.
	if fields, err := m.HKeys(key); err != nil || len(fields) != 1 || m.HGet(key, field) != "origin" {
		t.Errorf("the seen-set bucket holds %q after a claim (%v), want only its entry", fields, err)
	}
	if got, _ := r.Claim(ctx, copies(fresh)); got[0] != Duplicate {
		t.Errorf("a second copy within the window was answered %v, want duplicate", got[0])
	}
	claim, _ := seenkey.ClaimKey(fresh)
	if ttl := m.TTL(claim); ttl <= 0 || ttl > ClaimWindow {
		t.Errorf("claim ttl %s, want within (0, %s]", ttl, ClaimWindow)
	}
	m.FastForward(ClaimWindow + time.Second)
	if got, _ := r.Claim(ctx, copies(fresh)); got[0] != New {
		t.Errorf("after the window (and no seen entry) the claim should be free again")
	}
}

// Issue #13: a copy whose id is stored, or claimed, with another
// fingerprint is a conflict; with the same fingerprint a duplicate. The
// stored winner decides over a claim.
func TestClaimConflicts(t *testing.T) {
	r, m := newRedis(t)
	stored, claimed := strings.Repeat("a", 64), strings.Repeat("b", 64)
	key, field, _ := seenkey.Split(stored)
	m.HSet(key, field, seenkey.Encode(seenkey.Origin{Stream: 7, Partition: 3, Offset: 42, Fingerprint: 10}))
	ctx := context.Background()
	if got, err := r.Claim(ctx, []Copy{{ID: claimed, Fingerprint: 20}}); err != nil || got[0] != New {
		t.Fatalf("first claim: %v %v, want new", got, err)
	}
	cases := []struct {
		name string
		c    Copy
		want Verdict
	}{
		{"stored, same content", Copy{ID: stored, Fingerprint: 10}, Duplicate},
		{"stored, other content", Copy{ID: stored, Fingerprint: 11}, Conflict},
		{"claimed, same content", Copy{ID: claimed, Fingerprint: 20}, Duplicate},
		{"claimed, other content", Copy{ID: claimed, Fingerprint: 21}, Conflict},
	}
	for _, tc := range cases {
		got, err := r.Claim(ctx, []Copy{tc.c})
		if err != nil || got[0] != tc.want {
			t.Errorf("%s: %v %v, want %v", tc.name, got, err, tc.want)
		}
	}
	// A losing claim leaves the first claim's fingerprint in place.
	if got, _ := r.Claim(ctx, []Copy{{ID: claimed, Fingerprint: 20}}); got[0] != Duplicate {
		t.Errorf("after a conflicting copy, the first content: %v, want duplicate", got)
	}
	// The stored winner decides even when a claim with its content is held.
	m.HSet(key, field, seenkey.Encode(seenkey.Origin{Fingerprint: 30}))
	if got, _ := r.Claim(ctx, []Copy{{ID: stored, Fingerprint: 10}}); got[0] != Conflict {
		t.Errorf("stored winner with fingerprint 30, copy 10 (its claim says 10): %v, want conflict", got)
	}
}

func TestClaimConcurrent(t *testing.T) {
	r, _ := newRedis(t)
	id := strings.Repeat("c", 64)
	var wg sync.WaitGroup
	var mu sync.Mutex
	news := 0
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := r.Claim(context.Background(), copies(id))
			if err != nil {
				t.Error(err)
				return
			}
			if got[0] == New {
				mu.Lock()
				news++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if news != 1 {
		t.Errorf("%d of 16 concurrent claims won, want 1", news)
	}
}

func TestClaimErrors(t *testing.T) {
	r, m := newRedis(t)
	if _, err := r.Claim(context.Background(), copies("not-an-id")); err == nil {
		t.Error("a malformed id was answered")
	}
	m.Close()
	if got, err := r.Claim(context.Background(), copies(strings.Repeat("d", 64))); err == nil || got != nil {
		t.Errorf("redis down: %v %v, want an error and no answer", got, err)
	}
}

// gate is a go-redis hook that holds every claim pipeline until released
// and counts them.
type gate struct {
	release chan struct{}
	mu      sync.Mutex
	trips   int
	cmds    int // commands in the pipelines seen
}

func (g *gate) DialHook(next redis.DialHook) redis.DialHook { return next }
func (g *gate) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return next
}
func (g *gate) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		// go-redis sets up a new connection with a pipeline of its own.
		if len(cmds) == 0 || cmds[0].Name() != "hget" {
			return next(ctx, cmds)
		}
		g.mu.Lock()
		g.trips++
		g.cmds += len(cmds)
		g.mu.Unlock()
		<-g.release
		return next(ctx, cmds)
	}
}

func id(i int) string { return fmt.Sprintf("%064x", i+1) }

// Concurrent requests share round trips: while the first round trips are on
// the wire, every claim that arrives joins the next one.
func TestClaimsShareRoundTrips(t *testing.T) {
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr(), MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	g := &gate{release: make(chan struct{})}
	rdb.AddHook(g)
	r := NewRedis(rdb, 10*time.Second)

	const callers = 64
	var wg sync.WaitGroup
	answers := make([][]Verdict, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := r.Claim(context.Background(), copies(id(i), id(i+callers)))
			if err != nil {
				t.Error(err)
			}
			answers[i] = got
		}()
	}
	// Wait until every caller is either in a round trip the gate holds or
	// queued behind them (a caller's two ids are four commands).
	for {
		r.mu.Lock()
		queued := len(r.queue)
		r.mu.Unlock()
		g.mu.Lock()
		held := g.cmds / 4
		g.mu.Unlock()
		if queued+held == callers {
			break
		}
		runtime.Gosched()
	}
	close(g.release)
	wg.Wait()
	for i, a := range answers {
		if len(a) != 2 || a[0] != New || a[1] != New {
			t.Fatalf("caller %d: %v, want two new ids", i, a)
		}
	}
	// At most maxInFlight held round trips, then each goroutine takes the
	// whole queue once.
	g.mu.Lock()
	trips := g.trips
	g.mu.Unlock()
	if trips > 2*maxInFlight {
		t.Errorf("%d callers took %d round trips, want at most %d", callers, trips, 2*maxInFlight)
	}
	// Every claim was made: a second copy of any id is a duplicate.
	got, err := r.Claim(context.Background(), copies(id(0), id(2*callers-1)))
	if err != nil || got[0] != Duplicate || got[1] != Duplicate {
		t.Errorf("second copies answered %v (%v), want duplicates", got, err)
	}
}

// A large request (its own round trip) and a burst of small ones larger
// than one shared pipeline are answered whole.
func TestClaimLargeRequest(t *testing.T) {
	r, _ := newRedis(t)
	ids := make([]Copy, 3*maxBatchIDs/2)
	for i := range ids {
		ids[i] = Copy{ID: id(i), Fingerprint: 1}
	}
	got, err := r.Claim(context.Background(), ids)
	if err != nil || len(got) != len(ids) {
		t.Fatalf("claim of %d ids: %d answers, %v", len(ids), len(got), err)
	}
	for i, v := range got {
		if v != New {
			t.Fatalf("id %d answered %v on its first claim", i, v)
		}
	}
	var wg sync.WaitGroup
	for i := range 3 * maxBatchIDs / ownTripIDs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			small := ids[i*ownTripIDs/2 : (i+1)*ownTripIDs/2]
			got, err := r.Claim(context.Background(), small)
			if err != nil || len(got) != len(small) {
				t.Errorf("small claim %d: %d answers, %v", i, len(got), err)
				return
			}
			for j, v := range got {
				if v != Duplicate {
					t.Errorf("small claim %d: id %d answered new after the large claim took it", i, j)
				}
			}
		}()
	}
	wg.Wait()
}

// A caller waits at most the timeout, even when Redis never answers.
func TestClaimWaitsAtMostTheTimeout(t *testing.T) {
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr(), MaxRetries: -1})
	g := &gate{release: make(chan struct{})}
	rdb.AddHook(g)
	t.Cleanup(func() { close(g.release); rdb.Close() })
	r := NewRedis(rdb, 50*time.Millisecond)
	start := time.Now()
	got, err := r.Claim(context.Background(), copies(id(1)))
	if err == nil || got != nil {
		t.Fatalf("redis holding every answer: %v %v, want an error", got, err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("waited %s for a 50ms timeout", waited)
	}
}
