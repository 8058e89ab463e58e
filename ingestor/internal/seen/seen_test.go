package seen

import (
	"context"
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

func TestClaim(t *testing.T) {
	r, m := newRedis(t)
	stored, fresh := strings.Repeat("a", 64), strings.Repeat("b", 64)
	key, field, _ := seenkey.Split(stored)
	m.HSet(key, field, "origin")
	ctx := context.Background()

	got, err := r.Claim(ctx, []string{stored, fresh})
	if err != nil {
		t.Fatal(err)
	}
	if !got[0] || got[1] {
		t.Fatalf("first claim = %v, want [stored=dup, fresh=new]", got)
	}
	// The seen-set is only read: its hash still holds exactly its entry.
	if fields, err := m.HKeys(key); err != nil || len(fields) != 1 || m.HGet(key, field) != "origin" {
		t.Errorf("the seen-set bucket holds %q after a claim (%v), want only its entry", fields, err)
	}
	if got, _ := r.Claim(ctx, []string{fresh}); !got[0] {
		t.Errorf("a second copy within the window was answered new")
	}
	claim, _ := seenkey.ClaimKey(fresh)
	if ttl := m.TTL(claim); ttl <= 0 || ttl > ClaimWindow {
		t.Errorf("claim ttl %s, want within (0, %s]", ttl, ClaimWindow)
	}
	m.FastForward(ClaimWindow + time.Second)
	if got, _ := r.Claim(ctx, []string{fresh}); got[0] {
		t.Errorf("after the window (and no seen entry) the claim should be free again")
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
			got, err := r.Claim(context.Background(), []string{id})
			if err != nil {
				t.Error(err)
				return
			}
			if !got[0] {
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
	if _, err := r.Claim(context.Background(), []string{"not-an-id"}); err == nil {
		t.Error("a malformed id was answered")
	}
	m.Close()
	if got, err := r.Claim(context.Background(), []string{strings.Repeat("d", 64)}); err == nil || got != nil {
		t.Errorf("redis down: %v %v, want an error and no answer", got, err)
	}
}
