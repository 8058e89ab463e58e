// Package chlimit bounds how many ClickHouse reads the query API runs at
// once. Callers beyond the bound wait in line for as long as their own
// context allows (the request's deadline), instead of failing on the
// driver's connection-pool timeout: a burst of requests is queued and
// answered, not turned into 503s while ClickHouse still has capacity.
package chlimit

import (
	"context"
	"sync"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Wrap returns conn with at most n reads (Query, QueryRow, Select, Exec) in
// flight; a Query holds its slot until its rows are closed. Ping and the
// other methods are not limited (health checks must not queue behind
// reads): give the driver's pool a few connections more than n.
func Wrap(conn driver.Conn, n int) driver.Conn {
	return limited{Conn: conn, slots: make(chan struct{}, max(1, n))}
}

type limited struct {
	driver.Conn
	slots chan struct{}
}

func (c limited) acquire(ctx context.Context) error {
	select {
	case c.slots <- struct{}{}:
		return nil
	default:
	}
	select {
	case c.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (c limited) release() { <-c.slots }

func (c limited) Query(ctx context.Context, query string, args ...any) (driver.Rows, error) {
	if err := c.acquire(ctx); err != nil {
		return nil, err
	}
	rows, err := c.Conn.Query(ctx, query, args...)
	if err != nil {
		c.release()
		return nil, err
	}
	return &limitedRows{Rows: rows, release: sync.OnceFunc(c.release)}, nil
}

func (c limited) QueryRow(ctx context.Context, query string, args ...any) driver.Row {
	if err := c.acquire(ctx); err != nil {
		return errRow{err}
	}
	defer c.release()
	return c.Conn.QueryRow(ctx, query, args...)
}

func (c limited) Select(ctx context.Context, dest any, query string, args ...any) error {
	if err := c.acquire(ctx); err != nil {
		return err
	}
	defer c.release()
	return c.Conn.Select(ctx, dest, query, args...)
}

func (c limited) Exec(ctx context.Context, query string, args ...any) error {
	if err := c.acquire(ctx); err != nil {
		return err
	}
	defer c.release()
	return c.Conn.Exec(ctx, query, args...)
}

// limitedRows gives the slot back when the rows are closed (at most once).
type limitedRows struct {
	driver.Rows
	release func()
}

func (r *limitedRows) Close() error {
	err := r.Rows.Close()
	r.release()
	return err
}

// errRow is the row of a read that never got a slot.
type errRow struct{ err error }

func (r errRow) Err() error           { return r.err }
func (r errRow) Scan(...any) error    { return r.err }
func (r errRow) ScanStruct(any) error { return r.err }
