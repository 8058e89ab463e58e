package faults

import (
	"errors"
	"testing"
	"time"
)

func TestBoardExpiresFaults(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := &Board{now: func() time.Time { return now }}
	if d, err := b.ClickHouse(); d != 0 || err != nil {
		t.Fatalf("fresh board: %v %v", d, err)
	}
	if _, err := b.Apply(Request{Target: "clickhouse", Mode: Fail, DurationSeconds: 10}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ClickHouse(); !errors.Is(err, ErrInjected) {
		t.Fatalf("clickhouse fault not active: %v", err)
	}
	now = now.Add(11 * time.Second)
	if _, err := b.ClickHouse(); err != nil {
		t.Fatalf("fault did not expire: %v", err)
	}
	if _, err := b.Apply(Request{Target: "clickhouse", Mode: Slow, SlowMs: 250}); err != nil {
		t.Fatal(err)
	}
	if d, _ := b.ClickHouse(); d != 250*time.Millisecond {
		t.Fatalf("slow = %v", d)
	}
	if _, err := b.Apply(Request{Target: "redis", Mode: Fail}); err != nil {
		t.Fatal(err)
	}
	if b.Redis() == nil {
		t.Fatal("redis fault not active")
	}
	b.Clear()
	if b.Redis() != nil || b.State().ClickHouse.Mode != OK {
		t.Fatal("clear left faults behind")
	}
}

func TestApplyRejectsBadRequests(t *testing.T) {
	b := NewBoard()
	for _, r := range []Request{
		{Target: "kafka", Mode: Fail},
		{Target: "redis", Mode: Slow, SlowMs: 10},
		{Target: "clickhouse", Mode: Slow},
		{Target: "clickhouse", Mode: "broken"},
		{Target: "clickhouse", Mode: Fail, DurationSeconds: -1},
	} {
		if _, err := b.Apply(r); err == nil {
			t.Errorf("Apply(%+v) accepted", r)
		}
	}
	if b.State().ClickHouse.Mode != OK {
		t.Fatal("a rejected request changed the board")
	}
}
