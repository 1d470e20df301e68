// Package web serves the CRM's pages (html/template, under /crm/) and its
// JSON API (under /crm/api/v1/), every route for managers and admins only.
// Errors are turned into HTTP statuses in one place, problemFor.
package web

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/fabrika/fabrika/platform/httpx"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/services/crm/internal/app"
	"github.com/fabrika/fabrika/services/crm/internal/listquery"
	"github.com/fabrika/fabrika/services/crm/internal/order"
)

// Handler serves the CRM's routes.
type Handler struct {
	app   *app.App
	log   *slog.Logger
	pages *pages
	mux   *http.ServeMux
}

// New builds the routes; verifier checks the gateway's identity token.
func New(a *app.App, verifier *identity.Verifier, log *slog.Logger) *Handler {
	h := &Handler{app: a, log: log, mux: http.NewServeMux()}
	h.pages = parsePages(http.HandlerFunc(h.notFound))
	staff := func(f http.HandlerFunc) http.Handler {
		return verifier.Require(f, identity.RoleManager, identity.RoleAdmin)
	}
	// Forms are same-origin only: a page elsewhere cannot make a manager's
	// browser post an action (the gateway checks the session's token too).
	sameOrigin := http.NewCrossOriginProtection()
	sameOrigin.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.pageError(w, r, httpx.NewProblem(http.StatusForbidden, "This form did not come from a Fabrika page. Go back, reload the page and try again."))
	}))
	page := func(f http.HandlerFunc) http.Handler { return staff(sameOrigin.Handler(f).ServeHTTP) }
	// The style sheet and the icon hold nothing secret; the gateway serves
	// them to signed-in staff only anyway.
	h.mux.Handle("GET /crm/static/", h.pages.assets)
	h.mux.Handle("/crm/", page(h.notFound))
	h.mux.Handle("/crm/api/", staff(func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusNotFound, "no such resource"))
	}))
	h.mux.Handle("GET /crm/{$}", page(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/crm/orders", http.StatusSeeOther)
	}))
	h.mux.Handle("GET /crm/orders", page(h.ordersPage))
	h.mux.Handle("GET /crm/orders/{id}", page(h.orderPage))
	h.mux.Handle("POST /crm/orders/{id}/{action}", page(h.orderAction))
	h.mux.Handle("GET /crm/customers", page(h.customersPage))
	h.mux.Handle("GET /crm/customers/{id}", page(h.customerPage))
	h.mux.Handle("GET /crm/stuck", page(h.stuckPage))

	h.mux.Handle("GET /crm/api/v1/orders", staff(h.apiOrders))
	h.mux.Handle("GET /crm/api/v1/orders/{id}", staff(h.apiOrder))
	h.mux.Handle("POST /crm/api/v1/orders/{id}/{action}", staff(h.apiAction))
	h.mux.Handle("GET /crm/api/v1/customers/{id}", staff(h.apiCustomer))
	h.mux.Handle("GET /crm/api/v1/stuck", staff(h.apiStuck))
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// problemFor maps the use cases' errors to HTTP; nil means an internal error.
func problemFor(err error) *httpx.Problem {
	var qe *listquery.Error
	var ve *order.ValidationError
	var ce *order.ConflictError
	var te *order.TransitionError
	var p *httpx.Problem
	switch {
	case errors.As(err, &p):
		return p
	case errors.As(err, &qe):
		pr := httpx.NewProblem(http.StatusBadRequest, qe.Error())
		pr.Errors = map[string]string{qe.Field: qe.Message}
		return pr
	case errors.As(err, &ve):
		return httpx.Invalid("some fields are not valid", ve.Fields)
	case errors.As(err, &ce):
		pr := httpx.NewProblem(http.StatusConflict, ce.Error())
		pr.Type = "https://fabrika.dev/problems/version-conflict"
		return pr
	case errors.As(err, &te):
		pr := httpx.NewProblem(http.StatusConflict, te.Error())
		pr.Type = "https://fabrika.dev/problems/invalid-transition"
		return pr
	case errors.Is(err, order.ErrNotFound):
		return httpx.NewProblem(http.StatusNotFound, "no such order or customer")
	}
	return nil
}

func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if p := problemFor(err); p != nil {
		httpx.WriteProblem(w, r, p)
		return
	}
	httpx.WriteError(w, r, h.log, err)
}

// actor is the name recorded as "by" for the signed-in staff member.
func actor(r *http.Request) string {
	id, _ := identity.FromContext(r.Context())
	if id.Name != "" {
		return id.Name
	}
	return id.Subject
}

// parseVersion reads a version from an If-Match value: 3, "3" or W/"3".
func parseVersion(s string) (int64, bool) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "W/")
	s = strings.Trim(s, `"`)
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n > 0
}

// matches tells whether an If-None-Match header holds etag.
func matches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}
