package chlimit

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// fakeConn answers every Query with rows that only count their Close.
type fakeConn struct {
	driver.Conn
	queries chan string
}

type fakeRows struct{ driver.Rows }

func (fakeRows) Close() error { return nil }

func (c fakeConn) Query(_ context.Context, q string, _ ...any) (driver.Rows, error) {
	c.queries <- q
	return fakeRows{}, nil
}

func (c fakeConn) Exec(_ context.Context, q string, _ ...any) error {
	c.queries <- q
	return nil
}

func TestAtMostNReadsAndTheRestWait(t *testing.T) {
	fake := fakeConn{queries: make(chan string, 10)}
	conn := Wrap(fake, 2)
	ctx := context.Background()
	r1, err := conn.Query(ctx, "q1")
	if err != nil {
		t.Fatal(err)
	}
	r2, err := conn.Query(ctx, "q2")
	if err != nil {
		t.Fatal(err)
	}
	// A third read waits; with a deadline it gives up with the deadline's
	// error, never reaching the driver.
	waitsOut(t, conn, "q3", "both slots taken")
	// Without one it waits until a slot is given back by Close.
	got := make(chan error, 1)
	go func() { got <- conn.Exec(ctx, "q4") }()
	select {
	case err := <-got:
		t.Fatalf("q4 ran while both slots were taken (err %v)", err)
	case <-time.After(20 * time.Millisecond):
	}
	if err := r1.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r1.Close(); err != nil { // a second Close must not free a second slot
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	// q4 released its slot; r2 still holds one: exactly one more fits.
	r5, err := conn.Query(ctx, "q5")
	if err != nil {
		t.Fatal(err)
	}
	waitsOut(t, conn, "q6", "r2 and q5 hold the slots")
	_ = r2.Close()
	_ = r5.Close()
	close(fake.queries)
	var ran []string
	for q := range fake.queries {
		ran = append(ran, q)
	}
	if want := []string{"q1", "q2", "q4", "q5"}; !slices.Equal(ran, want) {
		t.Fatalf("reached the driver: %v, want %v", ran, want)
	}
}

// waitsOut runs query q with a 20 ms deadline and fails unless it gave up
// with the deadline's error (why: what holds the slots).
func waitsOut(t *testing.T, conn driver.Conn, q, why string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := conn.Query(ctx, q); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%s: %v, want the deadline (%s)", q, err, why)
	}
}
