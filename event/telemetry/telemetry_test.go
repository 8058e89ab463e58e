package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func TestEnabled(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		want bool
	}{
		{nil, false},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, true},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, true},
		{map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, false},
		{map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, false},
		{map[string]string{"OTEL_TRACES_EXPORTER": "zipkin", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, false},
	} {
		if got := Enabled(func(k string) string { return c.env[k] }); got != c.want {
			t.Errorf("Enabled(%v) = %v, want %v", c.env, got, c.want)
		}
	}
}

// TestTraceCrossesKafka: a record produced inside a span (as the ingestor
// produces inside its request's span) carries the span in its headers, and
// a consumer's batch span links it — the trace crosses Kafka.
func TestTraceCrossesKafka(t *testing.T) {
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(Propagator)
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "raw"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	producer, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.DefaultProduceTopic("raw"), KafkaHooks())
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	ctx, request := tp.Tracer("test").Start(context.Background(), "POST /v1/events")
	if err := producer.ProduceSync(ctx, &kgo.Record{Value: []byte(`{}`)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	request.End()

	consumer, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ConsumeTopics("raw"), KafkaHooks())
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for len(recs) == 0 && fctx.Err() == nil {
		recs = append(recs, consumer.PollFetches(fctx).Records()...)
	}
	if len(recs) != 1 {
		t.Fatalf("consumed %d records", len(recs))
	}
	links := Links(recs)
	if len(links) != 1 {
		t.Fatalf("links = %v, want the record's producer span", links)
	}
	if got, want := links[0].SpanContext.TraceID(), request.SpanContext().TraceID(); got != want {
		t.Errorf("the record's span is in trace %s, the request's is %s", got, want)
	}
	// The linked span is the produce span, a child of the request.
	var produce sdktrace.ReadOnlySpan
	for _, s := range spans.GetSpans().Snapshots() {
		if s.SpanContext().SpanID() == links[0].SpanContext.SpanID() {
			produce = s
		}
	}
	if produce == nil || produce.Parent().SpanID() != request.SpanContext().SpanID() {
		t.Errorf("linked span %v is not the request's produce span", links[0].SpanContext.SpanID())
	}
	if l := Links([]*kgo.Record{{Value: []byte("x")}}); len(l) != 0 {
		t.Errorf("a record without trace headers gives links %v", l)
	}
}

func TestLogHandler(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(LogHandler(slog.NewJSONHandler(&buf, nil))).With("service", "x")
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("test").Start(context.Background(), "op")
	defer span.End()
	log.InfoContext(ctx, "with span")
	log.Info("without")
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	var with, without map[string]any
	_ = json.Unmarshal(lines[0], &with)
	_ = json.Unmarshal(lines[1], &without)
	if with["trace_id"] != span.SpanContext().TraceID().String() || with["span_id"] != span.SpanContext().SpanID().String() {
		t.Errorf("log line with a span: %s", lines[0])
	}
	if _, ok := without["trace_id"]; ok {
		t.Errorf("log line without a span has a trace id: %s", lines[1])
	}
}
