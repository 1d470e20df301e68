// Package telemetry sets up what every service reports: JSON logs that
// carry the trace id, OpenTelemetry tracing (exported over OTLP when an
// endpoint is configured) and a Prometheus registry of its own.
package telemetry

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
)

// Propagator is the W3C trace context and baggage propagator used on HTTP
// requests and broker messages.
func Propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// NewLogger returns a JSON logger that adds the service name (unless empty;
// host.Open adds it to the logger it is given) and, when the
// context carries a span, its trace_id and span_id.
func NewLogger(w io.Writer, service string, level slog.Level) *slog.Logger {
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})
	l := slog.New(traceHandler{h})
	if service != "" {
		l = l.With("service", service)
	}
	return l
}

type traceHandler struct{ slog.Handler }

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return traceHandler{h.Handler.WithAttrs(a)}
}
func (h traceHandler) WithGroup(n string) slog.Handler { return traceHandler{h.Handler.WithGroup(n)} }

// TracerProvider is a service's tracer provider; Shutdown flushes what is
// still to be exported.
type TracerProvider interface {
	trace.TracerProvider
	Shutdown(context.Context) error
}

// NewTracerProvider returns a tracer provider for a service: the
// OpenTelemetry SDK's, with its default sampler (parent-based always-on, or
// the one the standard OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG name:
// parentbased_traceidratio and 0.1 records a tenth of the traces). Spans
// always get ids, so logs, requests and messages carry them and pass the
// trace on; they are exported over OTLP/HTTP only when endpoint is set (e.g.
// "localhost:4318"), else they end in memory.
func NewTracerProvider(ctx context.Context, service, endpoint string) (TracerProvider, error) {
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName(service))),
		sdktrace.WithIDGenerator(idGenerator{})}
	if endpoint != "" {
		exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(endpoint), otlptracehttp.WithInsecure())
		if err != nil {
			return nil, fmt.Errorf("otlp exporter: %w", err)
		}
		opts = append(opts, sdktrace.WithBatcher(exp))
	}
	return sdktrace.NewTracerProvider(opts...), nil
}

// NewRegistry returns a Prometheus registry with the Go and process
// collectors, whose every metric carries the service label.
func NewRegistry(service string) (*prometheus.Registry, prometheus.Registerer) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg, prometheus.WrapRegistererWith(prometheus.Labels{"service": service}, reg)
}

// AggregateTraceID is the trace of an aggregate, e.g. an order: every
// service derives it from the aggregate's id alone, so that the work on one
// order, wherever and whenever it happens, is one trace. It is a hash, not
// the id itself, because samplers read the trace id's low bits as random,
// which a UUIDv7's are not.
func AggregateTraceID(id string) trace.TraceID {
	sum := sha256.Sum256([]byte("fabrika aggregate " + id))
	var t trace.TraceID
	copy(t[:], sum[:16])
	return t
}

// StartInTrace starts a span in the trace of the aggregate id: a child of
// ctx's span when that is already in the aggregate's trace (a message of
// the order being handled), else a new root in it linked to ctx's span (a
// request that acts on the order, whose own trace is the request's).
func StartInTrace(ctx context.Context, tracer trace.Tracer, aggregate, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	tid := AggregateTraceID(aggregate)
	if cur := trace.SpanContextFromContext(ctx); cur.TraceID() != tid {
		opts = append(opts, trace.WithNewRoot())
		if cur.IsValid() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: cur}))
		}
		ctx = context.WithValue(ctx, rootTraceKey{}, tid)
	}
	return tracer.Start(ctx, name, opts...)
}

type rootTraceKey struct{}

// idGenerator is the SDK's random one, except that a root started by
// StartInTrace gets the aggregate's trace id.
type idGenerator struct{}

func (idGenerator) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	tid, ok := ctx.Value(rootTraceKey{}).(trace.TraceID)
	for !ok || !tid.IsValid() {
		binary.BigEndian.PutUint64(tid[:8], rand.Uint64())
		binary.BigEndian.PutUint64(tid[8:], rand.Uint64())
		ok = true
	}
	return tid, idGenerator{}.NewSpanID(ctx, tid)
}

func (idGenerator) NewSpanID(context.Context, trace.TraceID) trace.SpanID {
	var sid trace.SpanID
	for !sid.IsValid() {
		binary.BigEndian.PutUint64(sid[:], rand.Uint64())
	}
	return sid
}
