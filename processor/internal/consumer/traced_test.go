package consumer

import (
	"context"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kotel"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/tally-dev/tally/event/telemetry"
	"github.com/tally-dev/tally/processor/internal/pipeline"
)

type stubProcessor struct {
	Processor
	err error
	ctx context.Context
}

func (s *stubProcessor) Process(ctx context.Context, _ []*kgo.Record) (pipeline.Result, error) {
	s.ctx = ctx
	return pipeline.Result{}, s.err
}

// A batch span links every record's producer span and is the context the
// pipeline runs in; a failed batch marks the span.
func TestTracedLinksRecords(t *testing.T) {
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

	var recs []*kgo.Record
	var producers []string
	for range 3 {
		ctx, s := tp.Tracer("producer").Start(context.Background(), "produce")
		r := &kgo.Record{Value: []byte("{}")}
		telemetry.Propagator.Inject(ctx, kotel.NewRecordCarrier(r))
		s.End()
		recs = append(recs, r)
		producers = append(producers, s.SpanContext().SpanID().String())
	}
	recs = append(recs, &kgo.Record{Value: []byte("no trace")})

	stub := &stubProcessor{err: errors.New("clickhouse down")}
	if _, err := Traced(stub).Process(context.Background(), recs); err == nil {
		t.Fatal("the wrapper swallowed the error")
	}
	var batch sdktrace.ReadOnlySpan
	for _, s := range spans.GetSpans().Snapshots() {
		if s.Name() == "process batch" {
			batch = s
		}
	}
	if batch == nil {
		t.Fatal("no batch span")
	}
	if len(batch.Links()) != 3 {
		t.Fatalf("batch span has %d links, want 3", len(batch.Links()))
	}
	for i, l := range batch.Links() {
		if l.SpanContext.SpanID().String() != producers[i] {
			t.Errorf("link %d = %s, want %s", i, l.SpanContext.SpanID(), producers[i])
		}
	}
	if batch.Status().Code != codes.Error {
		t.Errorf("failed batch span status %v", batch.Status())
	}
	if got := trace.SpanContextFromContext(stub.ctx).SpanID(); got != batch.SpanContext().SpanID() {
		t.Errorf("the pipeline ran in span %s, not the batch span", got)
	}
}
