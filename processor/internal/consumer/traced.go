package consumer

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/tally-dev/tally/event/telemetry"
	"github.com/tally-dev/tally/processor/internal/pipeline"
)

// Traced wraps p so every batch runs in a "process batch" span that links
// the producer span of each of its records (the ingestor's, or a
// Kafka-native producer's traceparent header), so one event's trace
// continues from the ingestor through Kafka into the processor. main wires
// it when trace export is configured (event/telemetry).
func Traced(p Processor) Processor {
	return traced{Processor: p, tracer: otel.Tracer("github.com/tally-dev/tally/processor")}
}

type traced struct {
	Processor
	tracer trace.Tracer
}

func (t traced) Process(ctx context.Context, records []*kgo.Record) (pipeline.Result, error) {
	ctx, span := t.tracer.Start(ctx, "process batch", trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithLinks(telemetry.Links(records)...),
		trace.WithAttributes(attribute.Int("messaging.batch.message_count", len(records))))
	defer span.End()
	res, err := t.Processor.Process(ctx, records)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	return res, err
}
