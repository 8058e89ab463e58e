package stats

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type countingSource struct {
	calls atomic.Int64
	delay time.Duration
	err   error
}

func (c *countingSource) Snapshot(context.Context) (Snapshot, error) {
	n := c.calls.Add(1)
	time.Sleep(c.delay)
	if c.err != nil {
		return Snapshot{}, c.err
	}
	return Snapshot{Received: n}, nil
}

func TestSharedRunsOneComputationForConcurrentCallers(t *testing.T) {
	src := &countingSource{delay: 50 * time.Millisecond}
	s := NewShared(src, time.Second)
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			snap, err := s.Snapshot(context.Background())
			if err != nil || snap.Received != 1 {
				t.Errorf("snapshot = %+v, %v", snap, err)
			}
		}()
	}
	wg.Wait()
	if got := src.calls.Load(); got != 1 {
		t.Fatalf("%d computations for 20 concurrent callers, want 1", got)
	}
}

func TestSharedRefreshesAfterMaxAge(t *testing.T) {
	now := time.Unix(0, 0)
	src := &countingSource{}
	s := NewShared(src, time.Second)
	s.now = func() time.Time { return now }
	ctx := context.Background()
	_, _ = s.Snapshot(ctx)
	_, _ = s.Snapshot(ctx)
	if src.calls.Load() != 1 {
		t.Fatal("a fresh snapshot was recomputed")
	}
	now = now.Add(1500 * time.Millisecond)
	snap, _ := s.Snapshot(ctx)
	if src.calls.Load() != 2 || snap.Received != 2 {
		t.Fatalf("stale snapshot reused: calls %d, snap %+v", src.calls.Load(), snap)
	}
}

func TestSharedHoldsErrorsBriefly(t *testing.T) {
	now := time.Unix(0, 0)
	src := &countingSource{err: errors.New("clickhouse down")}
	s := NewShared(src, time.Second)
	s.now = func() time.Time { return now }
	for range 3 {
		if _, err := s.Snapshot(context.Background()); err == nil {
			t.Fatal("error swallowed")
		}
	}
	if src.calls.Load() != 1 {
		t.Fatalf("%d scans started while the last one had just failed, want 1", src.calls.Load())
	}
	now = now.Add(ErrorHold + time.Millisecond)
	src.err = nil
	if _, err := s.Snapshot(context.Background()); err != nil || src.calls.Load() != 2 {
		t.Fatalf("no retry after the hold: err %v, calls %d", err, src.calls.Load())
	}
}

type blockingSource struct{ started chan struct{} }

func (b blockingSource) Snapshot(ctx context.Context) (Snapshot, error) {
	close(b.started)
	select {
	case <-ctx.Done():
		return Snapshot{}, ctx.Err()
	case <-time.After(100 * time.Millisecond):
		return Snapshot{Received: 7}, nil
	}
}

// A caller that leaves while its snapshot is computed must not fail the
// others: the computation runs on its own deadline.
func TestSharedSurvivesTheFirstCallerLeaving(t *testing.T) {
	src := blockingSource{started: make(chan struct{})}
	s := NewShared(src, time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-src.started
		cancel()
	}()
	if _, err := s.Snapshot(ctx); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("first caller: %v", err)
	}
	snap, err := s.Snapshot(context.Background())
	if err != nil || snap.Received != 7 {
		t.Fatalf("second caller got %+v, %v; the first caller's cancellation leaked", snap, err)
	}
}
