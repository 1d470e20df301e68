package httpx_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/fabrika/fabrika/platform/httpx"
	"github.com/fabrika/fabrika/platform/telemetry"
)

type order struct {
	Product  string `json:"product"`
	Quantity int    `json:"quantity"`
}

func decode(t *testing.T, contentType, body string) (order, *httpx.Problem) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	var o order
	err := httpx.DecodeJSON(httptest.NewRecorder(), r, 64, &o)
	if err == nil {
		return o, nil
	}
	p, ok := err.(*httpx.Problem)
	if !ok {
		t.Fatalf("error %T is not a *Problem: %v", err, err)
	}
	return o, p
}

func TestDecodeJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, ct, body string
		status         int
		field          string
	}{
		{"valid", "application/json", `{"product":"x","quantity":2}`, 0, ""},
		{"charset", "application/json; charset=utf-8", `{"product":"x"}`, 0, ""},
		{"problem json type", "application/merge-patch+json", `{}`, 0, ""},
		{"wrong content type", "text/plain", `{}`, 415, ""},
		{"no content type", "", `{}`, 415, ""},
		{"malformed", "application/json", `{"product":`, 400, ""},
		{"syntax", "application/json", `{"product" "x"}`, 400, ""},
		{"empty", "application/json", ``, 400, ""},
		{"wrong type", "application/json", `{"quantity":"two"}`, 400, "quantity"},
		{"unknown field", "application/json", `{"colour":"red"}`, 400, "colour"},
		{"two values", "application/json", `{} {}`, 400, ""},
		{"too large", "application/json", `{"product":"` + strings.Repeat("x", 100) + `"}`, 413, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, p := decode(t, tt.ct, tt.body)
			if tt.status == 0 {
				if p != nil {
					t.Fatalf("unexpected problem %+v", p)
				}
				return
			}
			if p == nil || p.Status != tt.status {
				t.Fatalf("got %+v, want status %d", p, tt.status)
			}
			if tt.field != "" && p.Errors[tt.field] == "" {
				t.Fatalf("problem %+v does not name field %q", p, tt.field)
			}
		})
	}
}

func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{"product":"x","quantity":2}`, `{`, `[]`, `null`, `{"quantity":1e999}`, "\x00", `{"a":1}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		o, p := decode(t, "application/json", body)
		if p != nil {
			if p.Status < 400 || p.Status > 499 {
				t.Fatalf("status %d for %q", p.Status, body)
			}
			return
		}
		// A body that decoded must be a valid JSON object holding only known fields.
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(body), &m); err != nil && body != "null" {
			t.Fatalf("accepted %q: %v (%+v)", body, err, o)
		}
	})
}

func TestWriteErrorHidesInternals(t *testing.T) {
	t.Parallel()
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/x", nil)
	httpx.WriteError(w, r, slog.New(slog.NewTextHandler(io.Discard, nil)), io.ErrUnexpectedEOF)
	if w.Code != 500 || w.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("got %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	if strings.Contains(w.Body.String(), "unexpected EOF") {
		t.Fatalf("internal error leaked: %s", w.Body)
	}
	w = httptest.NewRecorder()
	httpx.WriteError(w, r, nil, httpx.Invalid("bad", map[string]string{"qty": "too big"}))
	var p httpx.Problem
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Status != 422 || p.Errors["qty"] != "too big" || p.Instance != "/x" {
		t.Fatalf("problem %+v err %v", p, err)
	}
}

func TestObserveAndInstrument(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m, err := httpx.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	mux.HandleFunc("GET /boom", func(w http.ResponseWriter, r *http.Request) { panic("boom") })
	h := httpx.Observe("test", slog.New(slog.NewTextHandler(io.Discard, nil)), noop.NewTracerProvider(), telemetry.Propagator(), m.Instrument(mux))
	for _, path := range []string{"/orders/1", "/orders/2", "/boom"} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		if w.Header().Get(httpx.HeaderRequestID) == "" {
			t.Fatalf("%s: no request id", path)
		}
		if path == "/boom" && w.Code != 500 {
			t.Fatalf("panic gave %d", w.Code)
		}
	}
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/orders/3", nil)
	r.Header.Set(httpx.HeaderRequestID, "given-id")
	h.ServeHTTP(w, r)
	if w.Header().Get(httpx.HeaderRequestID) != "given-id" {
		t.Fatalf("request id not kept")
	}
	if got := testutil.ToFloat64(m2(t, reg)); got != 3 {
		t.Fatalf("orders route counted %v times, want 3", got)
	}
}

// m2 finds the counter of the orders route.
func m2(t *testing.T, reg *prometheus.Registry) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var total float64
	for _, mf := range mfs {
		if mf.GetName() != "fabrika_http_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "route" && l.GetValue() == "GET /orders/{id}" {
					total += m.GetCounter().GetValue()
				}
			}
		}
	}
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})
	c.Add(total)
	return c
}

// TestRequestID: a client's X-Request-Id is kept only when it is a short
// safe token; anything else (log injection, markup, long values) is replaced
// by a fresh id, which is itself a safe token.
func TestRequestID(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		sent string
		kept bool
	}{
		{"given-id", true},
		{"01J.ABC_def-9", true},
		{strings.Repeat("a", 64), true},
		{"", false},
		{strings.Repeat("a", 65), false},
		{"id with space", false},
		{"id\nlevel=ERROR msg=forged", false},
		{"<script>alert(1)</script>", false},
		{"ünïcode", false},
		{"a/b", false},
		{"id\x00", false},
	} {
		got := httpx.RequestID(tt.sent)
		if (got == tt.sent) != tt.kept {
			t.Errorf("RequestID(%q) = %q, kept %v, want kept %v", tt.sent, got, got == tt.sent, tt.kept)
		}
		if !tt.kept && httpx.RequestID(got) != got {
			t.Errorf("the generated id %q is not a safe token", got)
		}
	}
}

func FuzzRequestID(f *testing.F) {
	f.Add("given-id")
	f.Add("a\r\nb")
	f.Fuzz(func(t *testing.T, sent string) {
		got := httpx.RequestID(sent)
		if len(got) == 0 || len(got) > 64 || strings.ContainsFunc(got, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-')
		}) {
			t.Fatalf("RequestID(%q) = %q", sent, got)
		}
	})
}
