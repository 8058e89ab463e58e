// Package chtrace traces the query API's ClickHouse calls: a wrapper around
// the driver's connection that runs every query in a client span (the SQL
// without its arguments as db.query.text), a child of the HTTP request's
// span. main wires it when trace export is configured.
package chtrace

import (
	"context"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Wrap returns conn with its reads traced.
func Wrap(conn driver.Conn) driver.Conn {
	return tracedConn{Conn: conn, tracer: otel.Tracer("github.com/tally-dev/tally/queryapi/clickhouse")}
}

type tracedConn struct {
	driver.Conn
	tracer trace.Tracer
}

func (c tracedConn) start(ctx context.Context, op, query string) (context.Context, trace.Span) {
	return c.tracer.Start(ctx, "clickhouse "+op, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("db.system.name", "clickhouse"), attribute.String("db.query.text", query)))
}

func end(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

func (c tracedConn) Query(ctx context.Context, query string, args ...any) (driver.Rows, error) {
	ctx, span := c.start(ctx, "query", query)
	rows, err := c.Conn.Query(ctx, query, args...)
	if err != nil {
		end(span, err)
		return nil, err
	}
	return tracedRows{Rows: rows, span: span}, nil
}

func (c tracedConn) QueryRow(ctx context.Context, query string, args ...any) driver.Row {
	ctx, span := c.start(ctx, "query", query)
	row := c.Conn.QueryRow(ctx, query, args...)
	end(span, row.Err())
	return row
}

func (c tracedConn) Select(ctx context.Context, dest any, query string, args ...any) error {
	ctx, span := c.start(ctx, "select", query)
	err := c.Conn.Select(ctx, dest, query, args...)
	end(span, err)
	return err
}

func (c tracedConn) Exec(ctx context.Context, query string, args ...any) error {
	ctx, span := c.start(ctx, "exec", query)
	err := c.Conn.Exec(ctx, query, args...)
	end(span, err)
	return err
}

// tracedRows ends the query's span when the rows are closed: the span
// covers reading the result, not only sending the query.
type tracedRows struct {
	driver.Rows
	span trace.Span
}

func (r tracedRows) Close() error {
	err := r.Rows.Close()
	if err == nil {
		err = r.Err()
	}
	end(r.span, err)
	return err
}
