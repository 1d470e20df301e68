// Package web is the shop's HTTP side: the customer's pages (html/template,
// forms that re-render with messages next to their fields) and the JSON API
// under /shop/api/v1, both over the same session.
package web

import (
	"embed"
	"log/slog"
	"net/http"

	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/services/shop/internal/app"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Config tunes the HTTP side.
type Config struct {
	// CookieSecure marks the session and CSRF cookies Secure; turn it off
	// only for local http.
	CookieSecure bool
	// Identity verifies the gateway's identity token, which carries the
	// client's address that per-address limits count against; without it
	// (the shop reached directly) the socket peer is the client.
	Identity *identity.Verifier
	// MaxBody bounds a request body (default 64 KiB: 50 lines fit easily).
	MaxBody int64
}

// APIPrefix starts every JSON route.
const APIPrefix = "/shop/api/v1"

// Handler serves the pages and the API.
type Handler struct {
	shop  *app.Shop
	cfg   Config
	log   *slog.Logger
	pages *pages
	mux   *http.ServeMux
	// sameOrigin refuses a form posted from another origin (Sec-Fetch-Site,
	// Origin); the CSRF token covers a browser that sends neither.
	sameOrigin *http.CrossOriginProtection
}

// New builds the handler.
func New(shop *app.Shop, cfg Config, log *slog.Logger) (*Handler, error) {
	if cfg.MaxBody == 0 {
		cfg.MaxBody = 64 << 10
	}
	h := &Handler{shop: shop, cfg: cfg, log: log, mux: http.NewServeMux(), sameOrigin: http.NewCrossOriginProtection()}
	p, err := parsePages(http.HandlerFunc(h.notFound))
	if err != nil {
		return nil, err
	}
	h.pages = p
	h.apiRoutes()
	h.pageRoutes()
	return h, nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.withCustomer(h.mux).ServeHTTP(w, r)
}
