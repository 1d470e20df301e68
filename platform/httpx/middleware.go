package httpx

import (
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
	tracer := tp.Tracer("github.com/fabrika/fabrika/platform/httpx")
	server := trace.WithSpanKind(trace.SpanKindServer) // made once, not per request
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ctx := prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := tracer.Start(ctx, r.Method+" "+r.URL.Path, server,
			trace.WithAttributes(attribute.String("http.request.method", r.Method), attribute.String("url.path", r.URL.Path)))
		defer span.End()
		id := r.Header.Get(HeaderRequestID)
		if id == "" || len(id) > 128 {
			id = newID()
		}
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
			level := slog.LevelInfo
			if sw.status >= 500 {
				level = slog.LevelError
			}
			if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" || r.URL.Path == "/metrics" {
				level = slog.LevelDebug
			}
			// Typed attributes: the same line as with key-value pairs,
			// without boxing each value on every request.
			log.LogAttrs(ctx, level, "http request", slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.Int("status", sw.status), slog.Int("bytes", sw.bytes),
				slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000), slog.String("request_id", id))
		}()
		next.ServeHTTP(sw, r.WithContext(ctx))
	})
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
