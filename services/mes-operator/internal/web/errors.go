package web

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/fabrika/fabrika/platform/httpx"
	"github.com/fabrika/fabrika/services/mes-operator/internal/production"
)

// problemFor turns an error into the problem shown to the client: the one
// place where errors become HTTP statuses. It returns nil for an internal
// error, whose detail is logged and not shown.
func problemFor(err error) *httpx.Problem {
	var p *httpx.Problem
	if errors.As(err, &p) {
		return p
	}
	e, ok := production.AsError(err)
	if !ok {
		return nil
	}
	switch e.Kind {
	case production.KindInvalid:
		var fields map[string]string
		if e.Field != "" {
			fields = map[string]string{e.Field: e.Message}
		}
		return httpx.Invalid(e.Message, fields)
	case production.KindConflict:
		return httpx.NewProblem(http.StatusConflict, e.Message)
	case production.KindNotFound:
		return httpx.NewProblem(http.StatusNotFound, e.Message)
	case production.KindForbidden:
		return httpx.NewProblem(http.StatusForbidden, e.Message)
	}
	return nil
}

// writeError answers an API request with err as problem+json.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	if p := problemFor(err); p != nil {
		httpx.WriteProblem(w, r, p)
		return
	}
	httpx.WriteError(w, r, log, err)
}
