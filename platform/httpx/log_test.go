package httpx_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/fabrika/fabrika/platform/httpx"
	"github.com/fabrika/fabrika/platform/telemetry"
)

// TestLogRequest reads the access log lines back: their fields, their
// level by status and path, and the trace of the request's span.
func TestLogRequest(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	ctx, span := httpx.StartServerSpan(context.Background(), httpx.Tracer(tp), "GET", "/orders/1")
	defer span.End()
	for _, tc := range []struct {
		path   string
		status int
		level  string // "" for none at the info level
	}{
		{"/orders/1", 200, "INFO"},
		{"/orders/1", 404, "INFO"},
		{"/orders/1", 502, "ERROR"},
		{"/healthz", 200, ""},
		{"/metrics", 500, ""},
	} {
		var buf bytes.Buffer
		log := telemetry.NewLogger(&buf, "shop", slog.LevelInfo)
		httpx.LogRequest(ctx, log, "GET", tc.path, tc.status, 123, time.Now().Add(-1500*time.Microsecond), "req-1")
		if tc.level == "" {
			if buf.Len() != 0 {
				t.Errorf("%s %d: logged at info: %s", tc.path, tc.status, buf.Bytes())
			}
			continue
		}
		var line map[string]any
		if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
			t.Fatalf("%s %d: %v: %s", tc.path, tc.status, err, buf.Bytes())
		}
		want := map[string]any{"level": tc.level, "msg": "http request", "service": "shop", "method": "GET", "path": tc.path,
			"status": float64(tc.status), "bytes": float64(123), "request_id": "req-1",
			"trace_id": span.SpanContext().TraceID().String(), "span_id": span.SpanContext().SpanID().String()}
		for k, v := range want {
			if line[k] != v {
				t.Errorf("%s %d: %s = %v, want %v", tc.path, tc.status, k, line[k], v)
			}
		}
		if d, _ := line["duration_ms"].(float64); d < 1.5 {
			t.Errorf("duration_ms = %v, want at least 1.5", line["duration_ms"])
		}
		if _, ok := line["time"].(string); !ok {
			t.Errorf("no time: %s", buf.Bytes())
		}
	}
}

// BenchmarkLogRequest is one access log line, as every request writes it,
// to a discarding writer: the cost of formatting it.
//
//	go test -run '^$' -bench LogRequest -benchmem -count 5 ./platform/httpx/
func BenchmarkLogRequest(b *testing.B) {
	tp := sdktrace.NewTracerProvider()
	ctx, span := httpx.StartServerSpan(context.Background(), httpx.Tracer(tp), "GET", "/products/01JABCDEF")
	defer span.End()
	log := telemetry.NewLogger(io.Discard, "gateway", slog.LevelInfo)
	b.ReportAllocs()
	for b.Loop() {
		httpx.LogRequest(ctx, log, "GET", "/products/01JABCDEF", 200, 97, time.Now(), "0123456789abcdef01234567")
	}
}
