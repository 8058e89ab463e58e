package faults

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/tally-dev/tally/event/schema"
	"github.com/tally-dev/tally/processor/internal/pipeline"
)

// The wrappers below put the switchboard, the seed's simulated failure and
// the chaos suite's crash points around the pipeline's ports. main wires
// them only when fault injection is enabled; the pipeline never sees them.

// Crash is called at a failpoint; in the processor it kills the process.
type Crash func(point string)

// Store wraps a pipeline.Store: injected ClickHouse faults, the simulated
// first-write failure of batches that ask for it, and the "mid-insert"
// (rows written, read model not) and "after-insert" (both written, Redis
// not marked) crash points.
type Store struct {
	pipeline.Store
	Board     *Board
	Failpoint string
	Crash     Crash
	// Simulated counts simulated failures.
	Simulated func()

	mu        sync.Mutex
	simulated map[string]bool
}

// ErrSimulated is the seed's simulated database failure.
var ErrSimulated = errors.New("simulated database failure (simulateFailure=true)")

func (s *Store) fault(ctx context.Context) error {
	d, err := s.Board.ClickHouse()
	if err != nil {
		return fmt.Errorf("clickhouse: %w", err)
	}
	if d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Write applies faults, then writes.
func (s *Store) Write(ctx context.Context, b pipeline.Batch) error {
	if b.Simulate && s.simulateOnce(b) {
		if s.Simulated != nil {
			s.Simulated()
		}
		return ErrSimulated
	}
	if err := s.fault(ctx); err != nil {
		return err
	}
	if err := s.Store.Write(ctx, b); err != nil {
		return err
	}
	if s.Failpoint == "mid-insert" && len(b.Winners) > 0 {
		s.Crash(s.Failpoint)
	}
	return nil
}

// simulateOnce reports whether this is the first write of the batch (named
// by its first source), remembering it.
func (s *Store) simulateOnce(b pipeline.Batch) bool {
	key := batchKey(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.simulated == nil {
		s.simulated = make(map[string]bool)
	}
	if s.simulated[key] {
		delete(s.simulated, key)
		return false
	}
	s.simulated[key] = true
	return true
}

func batchKey(b pipeline.Batch) string {
	src := pipeline.Source{Offset: math.MaxInt64}
	pick := func(s pipeline.Source) {
		if s.Offset < src.Offset || s.Offset == src.Offset && s.Partition < src.Partition {
			src = s
		}
	}
	for _, w := range b.Winners {
		pick(w.Source)
	}
	for _, d := range b.Duplicates {
		pick(d.Source)
	}
	for _, r := range b.Rejected {
		pick(r.Source)
	}
	return src.Stream + "/" + strconv.Itoa(int(src.Partition)) + "/" + strconv.FormatInt(src.Offset, 10)
}

// WriteState applies faults, then writes.
func (s *Store) WriteState(ctx context.Context, rows []pipeline.StateRow) error {
	if err := s.fault(ctx); err != nil {
		return err
	}
	if err := s.Store.WriteState(ctx, rows); err != nil {
		return err
	}
	if s.Failpoint == "after-insert" && hasProcessed(rows) {
		s.Crash(s.Failpoint)
	}
	return nil
}

func hasProcessed(rows []pipeline.StateRow) bool {
	for _, r := range rows {
		if r.Key.Kind == schema.KindCounter && r.Key.Metric == schema.OutcomeProcessed {
			return true
		}
	}
	return false
}

// Seen wraps a pipeline.SeenSet: injected Redis faults and the
// "after-mark" crash point (Redis marked, offsets not committed).
type Seen struct {
	pipeline.SeenSet
	Board     *Board
	Failpoint string
	Crash     Crash
}

// Lookup fails while Redis is faulted.
func (s *Seen) Lookup(ctx context.Context, probes []pipeline.Probe) ([]pipeline.Answer, error) {
	if err := s.Board.Redis(); err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	return s.SeenSet.Lookup(ctx, probes)
}

// Mark fails while Redis is faulted; crashes after marking at "after-mark".
func (s *Seen) Mark(ctx context.Context, marks []pipeline.Marks) error {
	if err := s.Board.Redis(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	if err := s.SeenSet.Mark(ctx, marks); err != nil {
		return err
	}
	if s.Failpoint == "after-mark" && hasWinners(marks) {
		s.Crash(s.Failpoint)
	}
	return nil
}

func hasWinners(marks []pipeline.Marks) bool {
	for _, m := range marks {
		if len(m.Winners) > 0 {
			return true
		}
	}
	return false
}

// Heal fails while Redis is faulted.
func (s *Seen) Heal(ctx context.Context, stream string, n, part int32, to int64,
	winners func(each func(string, pipeline.Origin) error) error) error {
	if err := s.Board.Redis(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return s.SeenSet.Heal(ctx, stream, n, part, to, winners)
}
