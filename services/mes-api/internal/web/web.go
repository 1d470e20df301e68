// Package web is mes-api's HTTP face: the B2B routes under /v1 (API key
// authentication, scopes, rate limits, problem+json errors) described by the
// embedded OpenAPI document, and the internal admin routes under /clients
// (staff identity, role admin) that manage clients and keys.
package web

import (
	_ "embed"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/fabrika/fabrika/platform/httpx"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/platform/ratelimit"
	"github.com/fabrika/fabrika/services/mes-api/internal/app"
	"github.com/fabrika/fabrika/services/mes-api/internal/store"
)

//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the embedded OpenAPI 3.1 document.
func OpenAPI() []byte { return openAPI }

// Handler serves the routes.
type Handler struct {
	app      *app.App
	limiter  *ratelimit.Limiter
	badKeys  *ratelimit.Throttle
	identity *identity.Verifier
	log      *slog.Logger
	pages    *pages
}

// New builds the HTTP layer.
//
// badKeys throttles, per client address, the requests that send an unknown
// or revoked API key (so keys cannot be guessed at speed).
func New(a *app.App, limiter *ratelimit.Limiter, badKeys *ratelimit.Throttle, v *identity.Verifier, log *slog.Logger) *Handler {
	api := &Handler{app: a, limiter: limiter, badKeys: badKeys, identity: v, log: log}
	api.pages = newPages(api)
	return api
}

// Route is one route of the B2B API. Scopes lists the scopes of which a key
// needs one; none means no key is needed.
type Route struct {
	Method  string
	Path    string
	Scopes  []string
	Handler func(w http.ResponseWriter, r *http.Request, who store.Principal)
}

// Pattern is the route's ServeMux pattern.
func (rt Route) Pattern() string { return rt.Method + " " + rt.Path }

// Routes lists the B2B routes; the OpenAPI document must describe exactly
// these.
func (api *Handler) Routes() []Route {
	const (
		read  = "orders:read"
		write = "orders:write"
		hooks = "webhooks:manage"
	)
	return []Route{
		{"GET", "/v1/openapi.json", nil, api.openapi},
		{"POST", "/v1/quotes", []string{read, write}, api.quote},
		{"POST", "/v1/orders", []string{write}, api.placeOrder},
		{"GET", "/v1/orders", []string{read}, api.listOrders},
		{"GET", "/v1/orders/{id}", []string{read}, api.getOrder},
		{"POST", "/v1/orders/{id}/cancel", []string{write}, api.cancelOrder},
		{"POST", "/v1/webhooks", []string{hooks}, api.createWebhook},
		{"GET", "/v1/webhooks", []string{hooks}, api.listWebhooks},
		{"DELETE", "/v1/webhooks/{id}", []string{hooks}, api.deleteWebhook},
		{"GET", "/v1/webhooks/{id}/deliveries", []string{hooks}, api.listDeliveries},
		{"POST", "/v1/webhooks/deliveries/{id}/replay", []string{hooks}, api.replayDelivery},
	}
}

// AdminRoute is an internal route for staff with the admin role.
type AdminRoute struct {
	Method, Path string
	Handler      http.HandlerFunc
}

// AdminRoutes lists the admin routes.
func (api *Handler) AdminRoutes() []AdminRoute {
	return []AdminRoute{
		{"POST", "/clients", api.createClient},
		{"GET", "/clients", api.listClients},
		{"GET", "/clients/{id}", api.getClient},
		{"POST", "/clients/{id}/revoke", api.revokeClient},
		{"POST", "/clients/{id}/keys", api.createKey},
		{"POST", "/clients/{id}/keys/{key_id}/revoke", api.revokeKey},
	}
}

// Handler returns every route: the B2B API, the admin routes and the
// admins' pages under /b2b/. Any other path, and a known path with another
// method, is answered with problem+json (404, 405), never net/http's plain
// text.
func (api *Handler) Handler() http.Handler {
	mux := http.NewServeMux()
	allow := map[string][]string{}
	for _, rt := range api.Routes() {
		mux.Handle(rt.Pattern(), api.authenticated(rt))
		allow[rt.Path] = append(allow[rt.Path], rt.Method)
	}
	for _, rt := range api.AdminRoutes() {
		mux.Handle(rt.Method+" "+rt.Path, api.identity.Require(rt.Handler, identity.RoleAdmin))
		allow[rt.Path] = append(allow[rt.Path], rt.Method)
	}
	// A pattern without a method is less specific than the routes' own, so
	// it answers only the methods they do not take.
	for path, methods := range allow {
		if slices.Contains(methods, http.MethodGet) {
			methods = append(methods, http.MethodHead)
		}
		allowed := strings.Join(methods, ", ")
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			p := httpx.NewProblem(http.StatusMethodNotAllowed, r.Method+" is not allowed here; use "+allowed)
			p.Headers = map[string]string{"Allow": allowed}
			httpx.WriteProblem(w, r, p)
		})
	}
	api.pages.routes(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusNotFound, "no such resource"))
	})
	return mux
}

// authenticated checks the key, the rate limit and the scope before the
// route's handler runs.
func (api *Handler) authenticated(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rt.Scopes == nil {
			rt.Handler(w, r, store.Principal{})
			return
		}
		scheme, key, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(key) == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="fabrika"`)
			httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusUnauthorized, "send your API key as Authorization: Bearer <key>"))
			return
		}
		addr := api.clientAddr(r)
		if wait := api.badKeys.Wait(addr); wait > 0 {
			p := httpx.NewProblem(http.StatusTooManyRequests, "too many requests with an invalid API key from this address; wait before trying again")
			p.Headers = map[string]string{"Retry-After": strconv.Itoa(max(1, ceilSeconds(wait.Seconds())))}
			httpx.WriteProblem(w, r, p)
			return
		}
		who, err := api.app.Authenticate(r.Context(), strings.TrimSpace(key))
		if errors.Is(err, app.ErrBadKey) {
			api.badKeys.Fail(addr)
			w.Header().Set("WWW-Authenticate", `Bearer realm="fabrika", error="invalid_token"`)
			httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusUnauthorized, "the API key is unknown or revoked"))
			return
		}
		if err != nil {
			api.writeError(w, r, err)
			return
		}
		d := api.limiter.AllowRate(who.Key.ID, ratelimit.PerMinute(who.Key.RatePerMinute))
		h := w.Header()
		h.Set("RateLimit-Limit", strconv.Itoa(d.Limit))
		h.Set("RateLimit-Remaining", strconv.Itoa(d.Remaining))
		h.Set("RateLimit-Reset", strconv.Itoa(ceilSeconds(d.Reset.Seconds())))
		if !d.Allowed {
			p := httpx.NewProblem(http.StatusTooManyRequests, "rate limit of "+strconv.Itoa(d.Limit)+" requests per minute exceeded")
			p.Headers = map[string]string{"Retry-After": strconv.Itoa(max(1, ceilSeconds(d.RetryAfter.Seconds())))}
			httpx.WriteProblem(w, r, p)
			return
		}
		if !hasAny(who.Key.Scopes, rt.Scopes) {
			httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusForbidden, "this key lacks the scope "+strings.Join(rt.Scopes, " or ")))
			return
		}
		rt.Handler(w, r, who)
	})
}

// clientAddr is the client's address as the gateway signed it in the
// identity token; a request without one (mes-api reached directly, as in
// its own tests) is judged by its socket peer.
func (api *Handler) clientAddr(r *http.Request) string { return api.identity.ClientAddr(r) }

func ceilSeconds(s float64) int {
	n := int(s)
	if float64(n) < s {
		n++
	}
	return n
}

func hasAny(have, want []string) bool {
	for _, w := range want {
		for _, h := range have {
			if h == w {
				return true
			}
		}
	}
	return false
}

// problemFor is the one place where the use cases' errors become HTTP
// statuses; nil means an internal error (a 500, or a 503 for a dependency
// that is down).
func problemFor(err error) *httpx.Problem {
	var p *httpx.Problem
	if errors.As(err, &p) {
		return p
	}
	var ae *app.Error
	if !errors.As(err, &ae) {
		return nil
	}
	status := map[app.Kind]int{
		app.KindBadRequest: http.StatusBadRequest, app.KindUnauthenticated: http.StatusUnauthorized,
		app.KindForbidden: http.StatusForbidden, app.KindNotFound: http.StatusNotFound, app.KindConflict: http.StatusConflict,
		app.KindInvalid: http.StatusUnprocessableEntity, app.KindUnavailable: http.StatusServiceUnavailable,
	}[ae.Kind]
	if status == 0 {
		return nil
	}
	p = httpx.NewProblem(status, ae.Msg)
	p.Errors = ae.Fields
	if status == http.StatusServiceUnavailable || status == http.StatusConflict {
		p.Headers = map[string]string{"Retry-After": "1"}
	}
	return p
}

// writeError writes err as problem+json (problemFor).
func (api *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if p := problemFor(err); p != nil {
		httpx.WriteProblem(w, r, p)
		return
	}
	httpx.WriteError(w, r, api.log, err)
}

// readJSONBody reads a JSON body of at most limit bytes as it is.
func readJSONBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return nil, httpx.NewProblem(http.StatusUnsupportedMediaType, "the body must be application/json")
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var maxErr *http.MaxBytesError
	if errors.As(err, &maxErr) {
		return nil, httpx.NewProblem(http.StatusRequestEntityTooLarge, "the body is larger than "+strconv.FormatInt(limit, 10)+" bytes")
	}
	if err != nil {
		return nil, httpx.NewProblem(http.StatusBadRequest, "the body could not be read")
	}
	return b, nil
}

// queryLimit reads the limit query parameter (0 when absent).
func queryLimit(r *http.Request) (int, error) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, httpx.Invalid("the limit is not valid", map[string]string{"limit": "must be a whole number"})
	}
	if n == 0 {
		n = -1 // an explicit 0 is refused like any other out-of-range value
	}
	return n, nil
}
