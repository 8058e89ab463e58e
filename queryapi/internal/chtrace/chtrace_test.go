package chtrace

import (
	"context"
	"errors"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// fakeConn answers Exec and Query; the rest of driver.Conn is unused.
type fakeConn struct {
	driver.Conn
	err error
}

func (f fakeConn) Exec(context.Context, string, ...any) error { return f.err }
func (f fakeConn) Query(context.Context, string, ...any) (driver.Rows, error) {
	if f.err != nil {
		return nil, f.err
	}
	return fakeRows{}, nil
}

type fakeRows struct{ driver.Rows }

func (fakeRows) Close() error { return nil }
func (fakeRows) Err() error   { return nil }

func TestSpansAreChildrenOfTheRequest(t *testing.T) {
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

	ctx, request := tp.Tracer("test").Start(context.Background(), "GET /v1/aggregations")
	conn := Wrap(fakeConn{})
	rows, err := conn.Query(ctx, "SELECT 1")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(spans.GetSpans()); n != 0 {
		t.Errorf("%d spans ended before the rows were closed", n)
	}
	_ = rows.Close()
	if err := Wrap(fakeConn{err: errors.New("timeout")}).Exec(ctx, "SELECT 2"); err == nil {
		t.Fatal("the wrapper swallowed the error")
	}
	request.End()

	got := spans.GetSpans()
	if len(got) != 3 {
		t.Fatalf("%d spans, want query, exec and the request", len(got))
	}
	for _, s := range got[:2] {
		if s.Parent.SpanID() != request.SpanContext().SpanID() {
			t.Errorf("%s is not a child of the request span", s.Name)
		}
	}
	if got[0].Name != "clickhouse query" || got[1].Name != "clickhouse exec" || got[1].Status.Code != codes.Error {
		t.Errorf("spans: %s %s (status %v)", got[0].Name, got[1].Name, got[1].Status)
	}
}
