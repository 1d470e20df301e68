// Package web is mes-operator's HTTP side: pages made for a tablet on the
// shop floor under /mes/ and the same operations as a JSON API under
// /mes/api/v1/. Every route requires an operator (or admin) identity signed
// by the gateway; actions carry a client event id so that a retry is
// applied once.
package web

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/fabrika/fabrika/platform/httpx"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/services/mes-operator/internal/app"
	"github.com/fabrika/fabrika/services/mes-operator/internal/production"
	"github.com/fabrika/fabrika/services/mes-operator/internal/store"
)

// UseCases is what the handlers need from the application.
type UseCases interface {
	Workstations(ctx context.Context, actor identity.Identity) ([]store.Workstation, error)
	WorkstationQueue(ctx context.Context, actor identity.Identity, code string) (app.Queue, error)
	Order(ctx context.Context, actor identity.Identity, id string) (app.OrderView, error)
	Operation(ctx context.Context, actor identity.Identity, id string) (app.OperationView, error)
	Act(ctx context.Context, actor identity.Identity, opID string, act production.Action) (app.Result, error)
	Ship(ctx context.Context, actor identity.Identity, orderID string, s production.Shipment) (app.Result, error)
	Labels(ctx context.Context) (store.Labels, error)
}

var _ UseCases = (*app.App)(nil)

// Handler serves the pages and the API.
type Handler struct {
	uc    UseCases
	ident *identity.Verifier
	log   *slog.Logger
	pages *pages
	// LoginURL is where a browser without a staff identity is sent.
	loginURL string
}

// New builds the handlers. loginURL is the gateway's staff sign-in page.
func New(uc UseCases, ident *identity.Verifier, log *slog.Logger, loginURL string) (*Handler, error) {
	h := &Handler{uc: uc, ident: ident, log: log, loginURL: loginURL}
	p, err := parsePages(http.HandlerFunc(h.notFound))
	if err != nil {
		return nil, err
	}
	h.pages = p
	return h, nil
}

// Routes returns every route of the service, all behind the operator role.
func (h *Handler) Routes() http.Handler {
	api := http.NewServeMux()
	api.HandleFunc("GET /mes/api/v1/workstations", h.apiWorkstations)
	api.HandleFunc("GET /mes/api/v1/workstations/{ws}/queue", h.apiQueue)
	api.HandleFunc("GET /mes/api/v1/operations/{id}", h.apiOperation)
	api.HandleFunc("POST /mes/api/v1/operations/{id}/{action}", h.apiAct)
	api.HandleFunc("GET /mes/api/v1/orders/{id}", h.apiOrder)
	api.HandleFunc("POST /mes/api/v1/orders/{id}/ship", h.apiShip)
	api.HandleFunc("/mes/api/", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusNotFound, "no such resource"))
	})

	pages := http.NewServeMux()
	pages.HandleFunc("GET /mes/{$}", h.pageIndex)
	pages.HandleFunc("GET /mes/workstations/{ws}", h.pageQueue)
	pages.HandleFunc("POST /mes/operations/{id}/{action}", h.pageAct)
	pages.HandleFunc("GET /mes/orders/{id}", h.pageOrder)
	pages.HandleFunc("POST /mes/orders/{id}/ship", h.pageShip)
	pages.HandleFunc("/mes/", h.notFound)
	// Forms are same-origin only: a page elsewhere cannot make an
	// operator's browser post an action.
	csrf := http.NewCrossOriginProtection()

	roles := []string{identity.RoleOperator, identity.RoleAdmin}
	mux := http.NewServeMux()
	mux.Handle("/mes/api/v1/", h.ident.Require(api, roles...))
	mux.Handle("/mes/", h.toLogin(h.ident.Require(csrf.Handler(pages), roles...)))
	// The style sheet and the icon hold nothing secret; the gateway serves
	// them to signed-in staff only anyway.
	mux.Handle("GET /mes/static/", h.pages.assets)
	return mux
}

// toLogin sends a browser that comes without any identity to the gateway's
// sign-in page instead of answering 401.
func (h *Handler) toLogin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.loginURL != "" && r.Method == http.MethodGet && r.Header.Get(identity.Header) == "" {
			http.Redirect(w, r, h.loginURL+"?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func actor(r *http.Request) identity.Identity {
	id, _ := identity.FromContext(r.Context())
	return id
}
