package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fabrika/fabrika/platform/httpx"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/platform/webasset"
	"github.com/fabrika/fabrika/services/mes-api/internal/apikey"
	"github.com/fabrika/fabrika/services/mes-api/internal/app"
	"github.com/fabrika/fabrika/services/mes-api/internal/store"
)

// The admins' pages under /b2b/ (the gateway routes them here for role
// admin only): the API clients with their keys' scopes and last use, a new
// client, a new key (its secret shown once, on the answer to the form and
// never again), rolling and revoking keys and clients after a confirmation.

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/*
var staticFS embed.FS

type pages struct {
	api                                       *Handler
	clients, client, secret, confirm, problem *template.Template
	assets                                    *webasset.Set
	// page wraps a page's handler: admins only, forms same-origin only.
	page func(http.HandlerFunc) http.Handler
}

func newPages(api *Handler) *pages {
	p := &pages{api: api}
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err)
	}
	// Forms are same-origin only: a page elsewhere cannot make an admin's
	// browser post one (the gateway checks the session's token too).
	sameOrigin := http.NewCrossOriginProtection()
	sameOrigin.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.showError(w, r, httpx.NewProblem(http.StatusForbidden, "This form did not come from a Fabrika page. Go back, reload the page and try again."))
	}))
	p.page = func(f http.HandlerFunc) http.Handler {
		return api.identity.Require(sameOrigin.Handler(f), identity.RoleAdmin)
	}
	if p.assets, err = webasset.New(sub, "/b2b/static/", p.page(p.notFound)); err != nil {
		panic(err)
	}
	funcs := template.FuncMap{
		"asset": p.assets.URL,
		"when": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format("2006-01-02 15:04 UTC")
		},
	}
	t, err := webasset.Pages(templateFS, funcs)
	if err != nil {
		panic(err)
	}
	p.clients, p.client, p.secret = t["clients"], t["client"], t["secret"]
	p.confirm, p.problem = t["confirm"], t["problem"]
	return p
}

// routes adds the pages to mux, every one for admins only.
func (p *pages) routes(mux *http.ServeMux) {
	page := p.page
	// The style sheet and the icon hold nothing secret (the gateway serves
	// them to admins only anyway); a wrong path below them is the area's
	// 404 page.
	mux.Handle("GET /b2b/static/", p.assets)
	mux.Handle("/b2b/", page(p.notFound))
	mux.Handle("GET /b2b/{$}", page(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/b2b/clients", http.StatusSeeOther)
	}))
	mux.Handle("GET /b2b/clients", page(p.clientsPage))
	mux.Handle("POST /b2b/clients", page(p.createClient))
	mux.Handle("GET /b2b/clients/{id}", page(p.clientPage))
	mux.Handle("POST /b2b/clients/{id}/keys", page(p.createKey))
	mux.Handle("GET /b2b/clients/{id}/{action}", page(p.confirmPage))
	mux.Handle("POST /b2b/clients/{id}/revoke", page(p.revokeClient))
	mux.Handle("GET /b2b/clients/{id}/keys/{key}/{action}", page(p.confirmPage))
	mux.Handle("POST /b2b/clients/{id}/keys/{key}/revoke", page(p.revokeKey))
	mux.Handle("POST /b2b/clients/{id}/keys/{key}/roll", page(p.rollKey))
}

// view is what the layout renders: the title, who is signed in (for the
// header) and the page's own data.
type view struct {
	Title string
	Actor identity.Identity
	CSRF  string // the session's token for the forms (template "csrf")
	Page  any
}

// render writes a page with a status; no page of the area may be cached
// (a secret is shown on some, and all of them show live keys).
func (p *pages) render(w http.ResponseWriter, r *http.Request, t *template.Template, status int, title string, data any) {
	var buf bytes.Buffer
	v := view{Title: title, CSRF: identity.CSRFToken(r), Page: data}
	v.Actor, _ = identity.FromContext(r.Context())
	if err := t.Execute(&buf, v); err != nil {
		httpx.WriteError(w, r, p.api.log, fmt.Errorf("render page: %w", err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

type problemData struct{ Title, Detail string }

// showError shows err as the area's error page (a browser never sees
// problem+json): the problem's status and detail, or a logged 500.
func (p *pages) showError(w http.ResponseWriter, r *http.Request, err error) {
	pr := problemFor(err)
	if pr == nil {
		p.api.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		pr = httpx.NewProblem(http.StatusInternalServerError, "Something went wrong; it has been logged. Try again in a moment.")
		if httpx.Unavailable(err) {
			pr = httpx.NewProblem(http.StatusServiceUnavailable, "A service this page needs is unavailable; try again shortly.")
			pr.Headers = map[string]string{"Retry-After": httpx.RetryAfterOutage}
		}
	}
	for k, v := range pr.Headers {
		w.Header().Set(k, v)
	}
	p.render(w, r, p.problem, pr.Status, pr.Title, problemData{Title: pr.Title, Detail: sentence(pr.Detail)})
}

// notFound is the area's 404 page for any path it does not serve.
func (p *pages) notFound(w http.ResponseWriter, r *http.Request) {
	p.showError(w, r, httpx.NewProblem(http.StatusNotFound, "There is no page at "+r.URL.Path+"."))
}

// sentence starts a use case's message with a capital and ends it with a
// full stop, as the pages write.
func sentence(s string) string {
	if s == "" {
		return s
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// done are the messages a page shows after an action, by the key its
// redirect names in ?done=: never text from the URL.
var done = map[string]string{
	"created":        "Client created. Make it a key below.",
	"revoked":        "Key revoked: requests with it are refused from now on.",
	"client-revoked": "Client revoked with all its keys.",
}

type clientsData struct {
	Clients []store.Client
	Form    clientForm
	Error   string
	Errors  map[string]string
}

type clientForm struct{ Name, Email string }

func (p *pages) clientsPage(w http.ResponseWriter, r *http.Request) {
	p.showClients(w, r, http.StatusOK, clientsData{})
}

func (p *pages) showClients(w http.ResponseWriter, r *http.Request, status int, d clientsData) {
	cs, err := p.api.app.ListClients(r.Context())
	if err != nil {
		p.showError(w, r, err)
		return
	}
	d.Clients = cs
	p.render(w, r, p.clients, status, "API clients", d)
}

func (p *pages) createClient(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		p.showError(w, r, httpx.NewProblem(http.StatusBadRequest, "The form could not be read."))
		return
	}
	f := clientForm{Name: r.PostForm.Get("name"), Email: r.PostForm.Get("email")}
	c, err := p.api.app.CreateClient(r.Context(), f.Name, f.Email)
	if err != nil {
		pr := problemFor(err)
		if pr == nil || pr.Status >= 500 {
			p.showError(w, r, err)
			return
		}
		p.showClients(w, r, pr.Status, clientsData{Form: f, Error: sentence(pr.Detail), Errors: pr.Errors})
		return
	}
	http.Redirect(w, r, "/b2b/clients/"+url.PathEscape(c.ID)+"?done=created", http.StatusSeeOther)
}

type clientData struct {
	Client store.Client
	Done   string
	Form   keyForm
	Error  string
	Errors map[string]string
}

type keyForm struct {
	Scopes []string
	Rate   string
}

// AllScopes lists the scopes a key may hold, for the form's check boxes.
func (keyForm) AllScopes() []string { return apikey.AllScopes() }

// Has tells whether the form ticks scope.
func (f keyForm) Has(scope string) bool { return slices.Contains(f.Scopes, scope) }

// Live tells whether a key works (neither it nor its client is revoked).
func (d clientData) Live(k store.Key) bool {
	return k.RevokedAt.IsZero() && d.Client.RevokedAt.IsZero()
}

func (p *pages) clientPage(w http.ResponseWriter, r *http.Request) {
	p.showClient(w, r, http.StatusOK, clientData{Done: done[r.URL.Query().Get("done")],
		Form: keyForm{Scopes: []string{apikey.ScopeOrdersRead}}})
}

func (p *pages) showClient(w http.ResponseWriter, r *http.Request, status int, d clientData) {
	c, err := p.api.app.GetClient(r.Context(), r.PathValue("id"))
	if err != nil {
		p.showError(w, r, err)
		return
	}
	d.Client = c
	p.render(w, r, p.client, status, c.Name, d)
}

// secretData is a key just made or rolled: Key is its secret, shown on this
// one answer only.
type secretData struct {
	Client  store.Client
	Key     app.NewKey
	Rolled  string // the prefix of the key it replaced
	Scopes  string
	APIBase string
}

func (p *pages) createKey(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		p.showError(w, r, httpx.NewProblem(http.StatusBadRequest, "The form could not be read."))
		return
	}
	f := keyForm{Scopes: r.PostForm["scopes"], Rate: strings.TrimSpace(r.PostForm.Get("rate"))}
	rate := 0
	if f.Rate != "" {
		n, err := strconv.Atoi(f.Rate)
		msg := "must be a whole number"
		if err == nil {
			// The use case reads 0 as "the default"; typed, it is refused
			// like any other rate out of range.
			msg = "must be between 1 and 100000"
		}
		if err != nil || n == 0 {
			p.showClient(w, r, http.StatusUnprocessableEntity, clientData{Form: f, Error: "The key is not valid.",
				Errors: map[string]string{"rate_limit_per_minute": msg}})
			return
		}
		rate = n
	}
	k, err := p.api.app.CreateKey(r.Context(), r.PathValue("id"), f.Scopes, rate)
	if err != nil {
		pr := problemFor(err)
		if pr == nil || pr.Status >= 500 || pr.Status == http.StatusNotFound {
			p.showError(w, r, err)
			return
		}
		p.showClient(w, r, pr.Status, clientData{Form: f, Error: sentence(pr.Detail), Errors: pr.Errors})
		return
	}
	p.showSecret(w, r, http.StatusCreated, k, "")
}

func (p *pages) rollKey(w http.ResponseWriter, r *http.Request) {
	c, err := p.api.app.GetClient(r.Context(), r.PathValue("id"))
	if err != nil {
		p.showError(w, r, err)
		return
	}
	k, err := p.api.app.RollKey(r.Context(), c.ID, r.PathValue("key"))
	if err != nil {
		p.showError(w, r, err)
		return
	}
	old := ""
	for _, x := range c.Keys {
		if x.ID == r.PathValue("key") {
			old = x.Prefix
		}
	}
	p.showSecret(w, r, http.StatusCreated, k, old)
}

func (p *pages) showSecret(w http.ResponseWriter, r *http.Request, status int, k app.NewKey, rolled string) {
	c, err := p.api.app.GetClient(r.Context(), k.ClientID)
	if err != nil {
		p.showError(w, r, err)
		return
	}
	// The secret is never written anywhere but into this answer: not
	// cached (render), not logged, not in a URL.
	p.render(w, r, p.secret, status, "New key for "+c.Name, secretData{Client: c, Key: k, Rolled: rolled,
		Scopes: strings.Join(k.Scopes, ", "), APIBase: "/api/v1/"})
}

// confirmData asks before a revocation or a roll, which take effect at
// once for whoever uses the key.
type confirmData struct {
	Client store.Client
	Key    *store.Key
	Action string // revoke, roll
	Post   string // where the button posts
}

func (p *pages) confirmPage(w http.ResponseWriter, r *http.Request) {
	action := r.PathValue("action")
	keyID := r.PathValue("key")
	if action != "revoke" && (action != "roll" || keyID == "") {
		p.notFound(w, r)
		return
	}
	c, err := p.api.app.GetClient(r.Context(), r.PathValue("id"))
	if err != nil {
		p.showError(w, r, err)
		return
	}
	d := confirmData{Client: c, Action: action, Post: r.URL.Path}
	if keyID != "" {
		for i := range c.Keys {
			if c.Keys[i].ID == keyID {
				d.Key = &c.Keys[i]
			}
		}
		if d.Key == nil {
			p.showError(w, r, httpx.NewProblem(http.StatusNotFound, "The client has no key "+keyID+"."))
			return
		}
		if !d.Key.RevokedAt.IsZero() || !c.RevokedAt.IsZero() {
			p.showError(w, r, httpx.NewProblem(http.StatusConflict, "The key is revoked already; make a new one instead."))
			return
		}
	} else if !c.RevokedAt.IsZero() {
		p.showError(w, r, httpx.NewProblem(http.StatusConflict, "The client is revoked already."))
		return
	}
	p.render(w, r, p.confirm, http.StatusOK, strings.ToUpper(action[:1])+action[1:]+"?", d)
}

func (p *pages) revokeKey(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := p.api.app.RevokeKey(r.Context(), id, r.PathValue("key")); err != nil {
		p.showError(w, r, err)
		return
	}
	http.Redirect(w, r, "/b2b/clients/"+url.PathEscape(id)+"?done=revoked", http.StatusSeeOther)
}

func (p *pages) revokeClient(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := p.api.app.RevokeClient(r.Context(), id); err != nil {
		p.showError(w, r, err)
		return
	}
	http.Redirect(w, r, "/b2b/clients/"+url.PathEscape(id)+"?done=client-revoked", http.StatusSeeOther)
}
