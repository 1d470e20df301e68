package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// TraceIDOf returns the trace id in a message's W3C trace context headers
// (traceparent), or "" when they carry none that is valid.
func TraceIDOf(headers map[string]string) string {
	sc := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier(headers)))
	if !sc.TraceID().IsValid() {
		return ""
	}
	return sc.TraceID().String()
}
