package httpx

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// HeaderRequestID carries a request's id; one is made when a request comes
// without it.
const HeaderRequestID = "X-Request-Id"

type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Observe wraps a handler with what every service needs on every request:
// the W3C trace context taken from the request (a server span), a request id,
// recovery from panics (500 problem) and one access log line.
func Observe(service string, log *slog.Logger, tp trace.TracerProvider, prop propagation.TextMapPropagator, next http.Handler) http.Handler {
	tracer := Tracer(tp)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ctx := prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := StartServerSpan(ctx, tracer, r.Method, r.URL.Path)
		defer span.End()
		id := RequestID(r.Header.Get(HeaderRequestID))
		w.Header().Set(HeaderRequestID, id)
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.ErrorContext(ctx, "panic serving request", "panic", p, "path", r.URL.Path, "request_id", id)
				if sw.status == 0 {
					WriteProblem(sw, r, NewProblem(http.StatusInternalServerError, "internal error; it has been logged"))
				}
			}
			span.SetAttributes(attribute.Int("http.response.status_code", sw.status))
			LogRequest(ctx, log, r.Method, r.URL.Path, sw.status, sw.bytes, start, id)
		}()
		next.ServeHTTP(sw, r.WithContext(ctx))
	})
}

// Tracer is the tracer of the server spans Observe starts.
func Tracer(tp trace.TracerProvider) trace.Tracer {
	return tp.Tracer("github.com/fabrika/fabrika/platform/httpx")
}

var serverKind = trace.WithSpanKind(trace.SpanKindServer)

// StartServerSpan starts the server span of a request, as Observe does: a
// server that does not go through Observe (the gateway's edge) names and
// describes its spans the same way.
func StartServerSpan(ctx context.Context, tracer trace.Tracer, method, path string) (context.Context, trace.Span) {
	return tracer.Start(ctx, method+" "+path, serverKind,
		trace.WithAttributes(attribute.String("http.request.method", method), attribute.String("url.path", path)))
}

// RequestID returns the id a client sent when it is a short safe token (1
// to 64 of A-Z a-z 0-9 . _ -), else a new one: the id is echoed, logged and
// stored, so nothing else a client sends may pass as one.
func RequestID(sent string) string {
	if len(sent) == 0 || len(sent) > 64 {
		return newID()
	}
	for i := 0; i < len(sent); i++ {
		switch c := sent[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return newID()
		}
	}
	return sent
}

// LogRequest writes a request's access log line: info, error for a 5xx,
// debug for the health and metrics routes.
func LogRequest(ctx context.Context, log *slog.Logger, method, path string, status, bytes int, start time.Time, id string) {
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	if path == "/healthz" || path == "/readyz" || path == "/metrics" {
		level = slog.LevelDebug
	}
	if !log.Enabled(ctx, level) {
		return
	}
	// The record is built here rather than by log.LogAttrs, which looks up
	// its caller's program counter (runtime.Callers, a sixth of the line's
	// cost: BenchmarkLogRequest) for a source no handler of ours prints; an
	// access line's source would be this function anyway. Typed attributes:
	// no value boxed.
	r := slog.NewRecord(time.Now(), level, "http request", 0)
	r.AddAttrs(slog.String("method", method), slog.String("path", path),
		slog.Int("status", status), slog.Int("bytes", bytes),
		slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000), slog.String("request_id", id))
	_ = log.Handler().Handle(ctx, r)
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
