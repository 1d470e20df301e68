// Package httpx is the HTTP plumbing every service shares: problem+json
// errors (RFC 9457), strict JSON request bodies, request ids, access logs,
// trace context, panics turned into 500s, and the health and metrics routes.
package httpx

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
)

// Problem is an RFC 9457 problem detail. Errors maps a field to what is
// wrong with it, for forms and API clients alike.
type Problem struct {
	Type     string            `json:"type,omitempty"`
	Title    string            `json:"title"`
	Status   int               `json:"status"`
	Detail   string            `json:"detail,omitempty"`
	Instance string            `json:"instance,omitempty"`
	Errors   map[string]string `json:"errors,omitempty"`
	// Headers are set on the response (Retry-After, ...); not serialised.
	Headers map[string]string `json:"-"`
}

func (p *Problem) Error() string {
	if p.Detail != "" {
		return p.Title + ": " + p.Detail
	}
	return p.Title
}

// NewProblem builds a problem with the status's text as title.
func NewProblem(status int, detail string) *Problem {
	return &Problem{Title: http.StatusText(status), Status: status, Detail: detail}
}

// Invalid is a 422 whose Errors name the fields at fault.
func Invalid(detail string, fields map[string]string) *Problem {
	p := NewProblem(http.StatusUnprocessableEntity, detail)
	p.Errors = fields
	return p
}

// WriteProblem writes p as application/problem+json.
func WriteProblem(w http.ResponseWriter, r *http.Request, p *Problem) {
	if p.Instance == "" && r != nil {
		p.Instance = r.URL.Path
	}
	if p.Title == "" {
		p.Title = http.StatusText(p.Status)
	}
	for k, v := range p.Headers {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// WriteError writes err as a problem: a *Problem as it is; a dependency
// that is down (Unavailable) as a 503 with Retry-After; anything else as a
// 500. The last two are logged at ERROR, their detail not shown.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var p *Problem
	if errors.As(err, &p) {
		WriteProblem(w, r, p)
		return
	}
	if Unavailable(err) {
		log.ErrorContext(r.Context(), "dependency unavailable", "method", r.Method, "path", r.URL.Path, "error", err)
		p := NewProblem(http.StatusServiceUnavailable, "a service this request needs is unavailable; try again shortly")
		p.Headers = map[string]string{"Retry-After": RetryAfterOutage}
		WriteProblem(w, r, p)
		return
	}
	log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "error", err)
	WriteProblem(w, r, NewProblem(http.StatusInternalServerError, "the request could not be completed; it has been logged"))
}

// WriteJSON writes v as JSON with the status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
