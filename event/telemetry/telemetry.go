// Package telemetry wires OpenTelemetry tracing into Tally's services the
// way operators configure it everywhere else: by the standard OTEL_*
// environment variables, off unless an exporter is configured.
//
// One event's trace crosses the services: the ingestor continues the
// caller's W3C traceparent (or starts a trace) for the HTTP request, its
// Kafka produce span travels in the record's headers (franz-go's kotel
// plugin), and the processor's batch span links every record's producer
// span — also for Kafka-native producers that set traceparent themselves.
// Logs written with a context carry trace_id and span_id (LogHandler).
package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kotel"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
)

// Propagator is W3C trace context and baggage, as every service uses.
var Propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// Enabled reports whether getenv configures trace export: an OTLP endpoint
// (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) or
// OTEL_TRACES_EXPORTER=otlp, unless OTEL_SDK_DISABLED=true or
// OTEL_TRACES_EXPORTER=none.
func Enabled(getenv func(string) string) bool {
	if strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") {
		return false
	}
	switch strings.ToLower(getenv("OTEL_TRACES_EXPORTER")) {
	case "none":
		return false
	case "otlp":
		return true
	case "":
	default:
		return false // exporters other than OTLP are not built in
	}
	return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// Setup installs the global tracer provider and propagator for service
// ("ingestor", "processor", "queryapi"). Without export configured the
// provider records nothing, but the propagator still carries an incoming
// trace context through to Kafka, so a producer's trace is not cut. The
// returned function flushes and stops the exporter.
func Setup(ctx context.Context, service string) (func(context.Context) error, error) {
	otel.SetTextMapPropagator(Propagator)
	if !Enabled(os.Getenv) {
		return func(context.Context) error { return nil }, nil
	}
	// The exporter reads OTEL_EXPORTER_OTLP_* (endpoint, headers, TLS,
	// timeout) itself.
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("otlp trace exporter: %w", err)
	}
	name := os.Getenv("OTEL_SERVICE_NAME")
	if name == "" {
		name = "tally-" + service
	}
	// OTEL_RESOURCE_ATTRIBUTES and OTEL_TRACES_SAMPLER(_ARG) are read by
	// the SDK.
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(semconv.ServiceName(name)))
	if err != nil {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	return tp.Shutdown, nil
}

// KafkaHooks instruments a franz-go client: produce spans inject their
// context into each record's headers, consume spans continue it.
func KafkaHooks() kgo.Opt {
	tracer := kotel.NewTracer(kotel.TracerProvider(otel.GetTracerProvider()), kotel.TracerPropagator(Propagator))
	return kgo.WithHooks(kotel.NewKotel(kotel.WithTracer(tracer)).Hooks()...)
}

// RecordContext is the trace context a record's headers carry (the
// producer's span), or ctx unchanged.
func RecordContext(ctx context.Context, r *kgo.Record) context.Context {
	return Propagator.Extract(ctx, kotel.NewRecordCarrier(r))
}

// maxLinks bounds the links of one batch span.
const maxLinks = 1000

// Links are the producer spans of records, one link per distinct span, at
// most 1000.
func Links(records []*kgo.Record) []trace.Link {
	var links []trace.Link
	seen := map[trace.SpanID]bool{}
	for _, r := range records {
		sc := trace.SpanContextFromContext(RecordContext(context.Background(), r))
		if !sc.IsValid() || seen[sc.SpanID()] {
			continue
		}
		seen[sc.SpanID()] = true
		links = append(links, trace.Link{SpanContext: sc})
		if len(links) == maxLinks {
			break
		}
	}
	return links
}

// LogHandler adds trace_id and span_id to records logged with a context
// that holds a span.
func LogHandler(h slog.Handler) slog.Handler { return logHandler{h} }

type logHandler struct{ slog.Handler }

func (l logHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return l.Handler.Handle(ctx, r)
}

func (l logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return logHandler{l.Handler.WithAttrs(as)}
}
func (l logHandler) WithGroup(name string) slog.Handler { return logHandler{l.Handler.WithGroup(name)} }
