// Package faults is the processor's fault-injection switchboard (dev only):
// it makes ClickHouse writes fail or slow down and Redis calls fail, for a
// while or until cleared, so people and the chaos suite can watch the
// pipeline hold its invariants under failure. When fault injection is off
// the board is never consulted (the admin routes answer 403).
package faults

import (
	"errors"
	"sync"
	"time"
)

// Mode is a target's behaviour.
type Mode string

// Modes a target can be in.
const (
	OK   Mode = "ok"
	Fail Mode = "fail"
	Slow Mode = "slow"
)

// ErrInjected is the error returned for an injected failure.
var ErrInjected = errors.New("injected fault")

// TargetState is one target's current setting.
type TargetState struct {
	Mode   Mode       `json:"mode"`
	SlowMs int        `json:"slowMs,omitempty"`
	Until  *time.Time `json:"until"`
}

// State is the whole board, as served by GET /v1/faults.
type State struct {
	ClickHouse TargetState `json:"clickhouse"`
	Redis      TargetState `json:"redis"`
}

// Request changes one target (PUT /v1/faults).
type Request struct {
	Target          string `json:"target"`
	Mode            Mode   `json:"mode"`
	DurationSeconds int    `json:"durationSeconds"`
	SlowMs          int    `json:"slowMs"`
}

// Board holds the current faults. The zero value is ready, with no faults.
type Board struct {
	mu    sync.Mutex
	state State
	now   func() time.Time
}

// NewBoard returns an empty board.
func NewBoard() *Board { return &Board{now: time.Now} }

// Apply validates and applies a request, returning the new state.
func (b *Board) Apply(r Request) (State, error) {
	var errs []error
	if r.Target != "clickhouse" && r.Target != "redis" {
		errs = append(errs, errors.New(`target must be "clickhouse" or "redis"`))
	}
	switch r.Mode {
	case OK, Fail:
	case Slow:
		if r.Target == "redis" {
			errs = append(errs, errors.New(`redis supports modes "ok" and "fail"`))
		}
		if r.SlowMs <= 0 || r.SlowMs > 60_000 {
			errs = append(errs, errors.New("slowMs must be in 1..60000 for mode slow"))
		}
	default:
		errs = append(errs, errors.New(`mode must be "ok", "fail" or "slow"`))
	}
	if r.DurationSeconds < 0 || r.DurationSeconds > 3600 {
		errs = append(errs, errors.New("durationSeconds must be in 0..3600 (0 = until cleared)"))
	}
	if err := errors.Join(errs...); err != nil {
		return b.State(), err
	}
	t := TargetState{Mode: r.Mode}
	if r.Mode == Slow {
		t.SlowMs = r.SlowMs
	}
	if r.DurationSeconds > 0 && r.Mode != OK {
		until := b.clock().Add(time.Duration(r.DurationSeconds) * time.Second).UTC()
		t.Until = &until
	}
	b.mu.Lock()
	if r.Target == "clickhouse" {
		b.state.ClickHouse = t
	} else {
		b.state.Redis = t
	}
	b.mu.Unlock()
	return b.State(), nil
}

// Clear removes every fault.
func (b *Board) Clear() State {
	b.mu.Lock()
	b.state = State{}
	b.mu.Unlock()
	return b.State()
}

// State returns the current state with expired faults cleared.
func (b *Board) State() State {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.clock()
	b.state.ClickHouse = expire(b.state.ClickHouse, now)
	b.state.Redis = expire(b.state.Redis, now)
	return b.state
}

// ClickHouse returns the delay to add before a write and the error to fail
// it with (nil when writes should go through).
func (b *Board) ClickHouse() (time.Duration, error) {
	if b == nil {
		return 0, nil
	}
	s := b.State().ClickHouse
	switch s.Mode {
	case Fail:
		return 0, ErrInjected
	case Slow:
		return time.Duration(s.SlowMs) * time.Millisecond, nil
	}
	return 0, nil
}

// Redis returns the error to fail a Redis call with, or nil.
func (b *Board) Redis() error {
	if b == nil {
		return nil
	}
	if b.State().Redis.Mode == Fail {
		return ErrInjected
	}
	return nil
}

func (b *Board) clock() time.Time {
	if b.now == nil {
		return time.Now()
	}
	return b.now()
}

func expire(t TargetState, now time.Time) TargetState {
	if t.Mode == "" || t.Until != nil && !now.Before(*t.Until) {
		return TargetState{Mode: OK}
	}
	return t
}
