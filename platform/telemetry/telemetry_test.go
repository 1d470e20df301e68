package telemetry_test

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/fabrika/fabrika/platform/telemetry"
)

// TestTracerWithoutExporter: spans of a provider without an exporter carry
// ids and pass the trace on: a root span starts a sampled trace, so that a
// service further on that exports records its part.
func TestTracerWithoutExporter(t *testing.T) {
	ctx := context.Background()
	tp, err := telemetry.NewTracerProvider(ctx, "shop", "")
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Shutdown(ctx)
	tr := tp.Tracer("test")
	prop := telemetry.Propagator()

	rctx, root := tr.Start(ctx, "GET /orders", trace.WithSpanKind(trace.SpanKindServer))
	rsc := root.SpanContext()
	if !rsc.IsValid() || !rsc.IsSampled() {
		t.Fatalf("root: valid %v, sampled %v", rsc.IsValid(), rsc.IsSampled())
	}
	root.SetAttributes(attribute.Int("status", 200))
	root.End()

	_, child := tr.Start(rctx, "publish")
	if csc := child.SpanContext(); csc.TraceID() != rsc.TraceID() || csc.SpanID() == rsc.SpanID() || !csc.SpanID().IsValid() || !csc.IsSampled() {
		t.Fatalf("child %v of %v: same trace, a span id of its own, sampled", csc, rsc)
	}
	_, again := tr.Start(ctx, "GET /orders")
	if again.SpanContext().TraceID() == rsc.TraceID() {
		t.Fatal("two roots share a trace id")
	}
	_, fresh := tr.Start(rctx, "job", trace.WithNewRoot())
	if fresh.SpanContext().TraceID() == rsc.TraceID() {
		t.Fatal("WithNewRoot kept the parent's trace")
	}

	// A remote parent, as a request or a message brings it: its trace id,
	// flags and state are kept, and passed on.
	for _, tc := range []struct{ traceparent, state string }{
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "vendor=a"},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", ""},
	} {
		in := propagation.MapCarrier{"traceparent": tc.traceparent, "tracestate": tc.state}
		sctx, span := tr.Start(prop.Extract(ctx, in), "handle")
		out := propagation.MapCarrier{}
		prop.Inject(sctx, out)
		sc := span.SpanContext()
		want := "00-4bf92f3577b34da6a3ce929d0e0e4736-" + sc.SpanID().String() + tc.traceparent[52:]
		if sc.SpanID().String() == "00f067aa0ba902b7" || out["traceparent"] != want || out["tracestate"] != tc.state {
			t.Errorf("parent %s: passed on %q %q, want %q %q", tc.traceparent, out["traceparent"], out["tracestate"], want, tc.state)
		}
	}
}

// BenchmarkSpan is a request's server span as httpx starts it, with its
// status, propagated upstream, without an exporter.
//
//	go test -run '^$' -bench Span -benchmem -count 5 ./platform/telemetry/
func BenchmarkSpan(b *testing.B) {
	tp, err := telemetry.NewTracerProvider(context.Background(), "gateway", "")
	if err != nil {
		b.Fatal(err)
	}
	prop := telemetry.Propagator()
	tr := tp.Tracer("github.com/fabrika/fabrika/platform/httpx")
	b.ReportAllocs()
	for b.Loop() {
		ctx, span := tr.Start(context.Background(), "GET /products/01JABCDEF", trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", "GET"), attribute.String("url.path", "/products/01JABCDEF")))
		out := propagation.MapCarrier{}
		prop.Inject(ctx, out)
		span.SetAttributes(attribute.Int("http.response.status_code", 200))
		span.End()
	}
}

// TestTracerWithExporter: with an endpoint the spans are recorded, unless
// the standard OTEL_TRACES_SAMPLER samples them out; they keep their ids.
func TestTracerWithExporter(t *testing.T) {
	for _, tc := range []struct {
		sampler, arg string
		recording    bool
	}{
		{"", "", true},
		{"always_off", "", false},
		{"parentbased_traceidratio", "0", false},
		{"parentbased_traceidratio", "1", true},
	} {
		t.Run(tc.sampler+tc.arg, func(t *testing.T) {
			t.Setenv("OTEL_TRACES_SAMPLER", tc.sampler)
			t.Setenv("OTEL_TRACES_SAMPLER_ARG", tc.arg)
			ctx := context.Background()
			tp, err := telemetry.NewTracerProvider(ctx, "shop", "127.0.0.1:1") // nothing listens: spans end, no export succeeds
			if err != nil {
				t.Fatal(err)
			}
			_, span := tp.Tracer("test").Start(ctx, "GET /orders")
			if span.IsRecording() != tc.recording || !span.SpanContext().IsValid() || span.SpanContext().IsSampled() != tc.recording {
				t.Errorf("recording %v, valid %v, sampled %v; want recording and sampled %v", span.IsRecording(),
					span.SpanContext().IsValid(), span.SpanContext().IsSampled(), tc.recording)
			}
			span.End()
			sctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			defer cancel()
			_ = tp.Shutdown(sctx) // the export fails: nothing listens
		})
	}
}

// TestStartInTrace: a span for an aggregate is in the trace its id names,
// whatever trace the caller is in: the child of a span already in it, else
// a root linked to the caller's span.
func TestStartInTrace(t *testing.T) {
	ctx := context.Background()
	tp, err := telemetry.NewTracerProvider(ctx, "crm", "")
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Shutdown(ctx)
	tr := tp.Tracer("test")
	order := "01a24df5-5bed-7ebe-b006-6439d59b9474"
	want := telemetry.AggregateTraceID(order)
	if !want.IsValid() || want == telemetry.AggregateTraceID("01a24df5-5bed-7ebe-b006-6439d59b9475") || want != telemetry.AggregateTraceID(order) {
		t.Fatalf("AggregateTraceID(%s) = %s: valid, stable and its own", order, want)
	}
	reqCtx, req := tr.Start(ctx, "POST /orders/x/confirm")
	inCtx, in := telemetry.StartInTrace(ctx, tr, order, "placed")
	for _, tc := range []struct {
		name       string
		ctx        context.Context
		parent     trace.SpanID // invalid: a root
		linkedSpan trace.SpanID // invalid: no link
	}{
		{"no span", ctx, trace.SpanID{}, trace.SpanID{}},
		{"a request's span", reqCtx, trace.SpanID{}, req.SpanContext().SpanID()},
		{"a span of the order's trace", inCtx, in.SpanContext().SpanID(), trace.SpanID{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, span := telemetry.StartInTrace(tc.ctx, tr, order, "send")
			defer span.End()
			ro := span.(sdktrace.ReadOnlySpan)
			var linked trace.SpanID
			if l := ro.Links(); len(l) == 1 {
				linked = l[0].SpanContext.SpanID()
			} else if len(l) > 1 {
				t.Errorf("%d links", len(l))
			}
			if sc := span.SpanContext(); sc.TraceID() != want || !sc.IsSampled() || ro.Parent().SpanID() != tc.parent || linked != tc.linkedSpan {
				t.Errorf("trace %s sampled %v parent %s link %s; want trace %s, parent %s, link %s", sc.TraceID(), sc.IsSampled(),
					ro.Parent().SpanID(), linked, want, tc.parent, tc.linkedSpan)
			}
		})
	}
}
