// Package web is mes-calc's HTTP side: the price administration as a JSON
// API under /pricing/, registered on the host's admin listener (the service
// serves no people). Errors become problem+json in one place, writeError.
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/httpx"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/platform/text"
	"github.com/fabrika/fabrika/services/mes-calc/internal/app"
	"github.com/fabrika/fabrika/services/mes-calc/internal/calc"
	"github.com/fabrika/fabrika/services/mes-calc/internal/pricing"
	"github.com/fabrika/fabrika/services/mes-calc/internal/store"
)

// UseCases is what the handlers need from the application.
type UseCases interface {
	PriceList(ctx context.Context) (contracts.PriceListV1, error)
	Version(ctx context.Context, version int64) (store.Version, error)
	Change(ctx context.Context, by string, ifVersion int64, change pricing.Change) (contracts.PriceListV1, error)
	Calculation(ctx context.Context, orderID string) (store.Calculation, error)
	Load(ctx context.Context, from calc.Day, days int) ([]store.DayLoad, error)
	Now() time.Time
}

var _ UseCases = (*app.App)(nil)

// Handler serves the price administration.
type Handler struct {
	uc  UseCases
	log *slog.Logger
}

// New builds the handlers.
func New(uc UseCases, log *slog.Logger) *Handler { return &Handler{uc: uc, log: log} }

// AdminRoutes registers the price administration with handle (the host's
// admin listener, where every route needs the admin credential: the admin
// token, or an identity token with the admin role).
func (s *Handler) AdminRoutes(register func(pattern string, h http.Handler)) {
	handle := func(pattern string, h http.HandlerFunc) { register(pattern, h) }

	handle("GET /pricing/price-list", s.getPriceList)
	handle("GET /pricing/price-list/versions/{version}", s.getVersion)
	handle("PUT /pricing/settings", s.putSettings)
	handle("PUT /pricing/materials/{code}", putEntry(s, pricing.PutMaterial,
		func(m *contracts.Material) *string { return &m.Code }))
	handle("PUT /pricing/finishes/{code}", putEntry(s, pricing.PutFinish,
		func(f *contracts.Finish) *string { return &f.Code }))
	handle("PUT /pricing/workstations/{code}", putEntry(s, pricing.PutWorkstation,
		func(w *contracts.Workstation) *string { return &w.Code }))
	handle("PUT /pricing/products/{code}", putEntry(s, pricing.PutProduct,
		func(p *contracts.Product) *string { return &p.Code }))
	for _, kind := range []string{"materials", "finishes", "workstations", "products"} {
		handle("DELETE /pricing/"+kind+"/{code}", s.deleteEntry(kind))
	}
	handle("GET /pricing/calculations/{order_id}", s.getCalculation)
	handle("GET /pricing/load", s.getLoad)
}

// writeError maps the service's errors to HTTP, in one place.
func (s *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var fe text.FieldErrors
	switch {
	case errors.As(err, &fe):
		httpx.WriteProblem(w, r, httpx.Invalid("the change would make the price list invalid", fe))
	case errors.Is(err, pricing.ErrNotFound), errors.Is(err, store.ErrNotFound):
		httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusNotFound, err.Error()))
	case errors.Is(err, app.ErrVersionMismatch):
		httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusPreconditionFailed, err.Error()))
	default:
		httpx.WriteError(w, r, s.log, err)
	}
}

func (s *Handler) getPriceList(w http.ResponseWriter, r *http.Request) {
	pl, err := s.uc.PriceList(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("ETag", strconv.Quote(strconv.FormatInt(pl.Version, 10)))
	httpx.WriteJSON(w, http.StatusOK, pl)
}

func (s *Handler) getVersion(w http.ResponseWriter, r *http.Request) {
	v, err := strconv.ParseInt(r.PathValue("version"), 10, 64)
	if err != nil || v < 1 {
		httpx.WriteProblem(w, r, httpx.Invalid("bad version", map[string]string{"version": "must be a positive integer"}))
		return
	}
	ver, err := s.uc.Version(r.Context(), v)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, ver)
}

// ifMatch reads an optional If-Match: "<version>" header.
func ifMatch(r *http.Request) (int64, error) {
	h := strings.TrimSpace(r.Header.Get("If-Match"))
	if h == "" || h == "*" {
		return 0, nil
	}
	v, err := strconv.ParseInt(strings.Trim(strings.TrimPrefix(h, "W/"), `"`), 10, 64)
	if err != nil || v < 1 {
		return 0, httpx.Invalid("bad If-Match", map[string]string{"If-Match": `must be a price list version, e.g. "7"`})
	}
	return v, nil
}

func (s *Handler) change(w http.ResponseWriter, r *http.Request, change pricing.Change) {
	ifv, err := ifMatch(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	by := "admin"
	if id, ok := identity.FromContext(r.Context()); ok {
		by = id.Name
	}
	pl, err := s.uc.Change(r.Context(), by, ifv, change)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("ETag", strconv.Quote(strconv.FormatInt(pl.Version, 10)))
	httpx.WriteJSON(w, http.StatusOK, pl)
}

func (s *Handler) putSettings(w http.ResponseWriter, r *http.Request) {
	var st pricing.Settings
	if err := httpx.DecodeJSON(w, r, 0, &st); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.change(w, r, pricing.PutSettings(st))
}

// putEntry decodes an entry whose code is the path's {code} (the body may
// repeat it, but not differ) and applies its change.
func putEntry[T any](s *Handler, change func(T) pricing.Change, code func(*T) *string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var v T
		if err := httpx.DecodeJSON(w, r, 0, &v); err != nil {
			s.writeError(w, r, err)
			return
		}
		c := code(&v)
		switch path := r.PathValue("code"); {
		case *c == "":
			*c = path
		case *c != path:
			s.writeError(w, r, text.FieldErrors{"code": fmt.Sprintf("must be %q as in the path, or left out", path)})
			return
		}
		s.change(w, r, change(v))
	}
}

func (s *Handler) deleteEntry(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.change(w, r, pricing.Delete(kind, r.PathValue("code")))
	}
}

func (s *Handler) getCalculation(w http.ResponseWriter, r *http.Request) {
	c, err := s.uc.Calculation(r.Context(), r.PathValue("order_id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := struct {
		store.Calculation
		Result any `json:"result,omitempty"`
	}{Calculation: c}
	if c.Result != "" {
		out.Result = jsonRaw(c.Result)
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

type jsonRaw string

func (j jsonRaw) MarshalJSON() ([]byte, error) { return []byte(j), nil }

func (s *Handler) getLoad(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	from := calc.DayOf(s.uc.Now())
	fields := map[string]string{}
	if v := q.Get("from"); v != "" {
		t, err := time.Parse(time.DateOnly, v)
		if err != nil {
			fields["from"] = "must be a date YYYY-MM-DD"
		}
		from = calc.DayOf(t)
	}
	days := 30
	if v := q.Get("days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 366 {
			fields["days"] = "must be 1 to 366"
		}
		days = n
	}
	if len(fields) > 0 {
		httpx.WriteProblem(w, r, httpx.Invalid("bad query", fields))
		return
	}
	load, err := s.uc.Load(r.Context(), from, days)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if load == nil {
		load = []store.DayLoad{}
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"from": from.String(), "days": days, "load": load})
}
