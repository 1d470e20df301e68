// Package web is the gateway's HTTP side: the public handler (Public:
// public.go, request.go) that checks every request (path, session, role,
// CSRF) and proxies it to its service (proxy.go) or serves the gateway's own
// pages under /staff/ (this file: sign-in and sign-out, a staff member's
// account page, the admins' staff accounts and audit log). The public
// handler has checked the session and the role (and the CSRF token of any
// unsafe request) before a request reaches the pages, except for the
// sign-in and sign-out pages, which check their own.
package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fabrika/fabrika/platform/bearer"
	"github.com/fabrika/fabrika/platform/httpx"
	"github.com/fabrika/fabrika/platform/webasset"
	"github.com/fabrika/fabrika/services/gateway/internal/staff"
	"github.com/fabrika/fabrika/services/gateway/internal/store"
)

// FieldCSRF is the form field carrying the CSRF token.
const FieldCSRF = "csrf_token"

//go:embed templates
var files embed.FS

//go:embed static
var static embed.FS

// Deps are what the pages need.
type Deps struct {
	Staff *staff.Service
	Store *store.Store
	Log   *slog.Logger
	// Audit records a staff action.
	Audit func(ctx context.Context, r *http.Request, a store.Account, action string, status int, detail string)
	// SignedIn counts sign-in results.
	SignedIn     func(result string)
	CookieName   string // the session cookie
	LoginCookie  string // the sign-in form's CSRF cookie
	CookieSecure bool
	// CheckOrigin refuses a request a browser marks as cross-origin.
	CheckOrigin func(*http.Request) error
	Now         func() time.Time
}

// Web is the gateway's pages.
type Web struct {
	d     Deps
	mux   *http.ServeMux
	pages map[string]*template.Template
}

// New builds the pages.
func New(d Deps) *Web {
	pages, err := webasset.Pages(files, nil)
	if err != nil {
		panic(err)
	}
	w := &Web{d: d, mux: http.NewServeMux(), pages: pages}
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err)
	}
	assets, err := webasset.New(sub, "/staff/static/", http.HandlerFunc(w.NotFound))
	if err != nil {
		panic(err)
	}
	m := w.mux
	m.Handle("/staff/static/", assets) // the style sheet, and the shared icon
	m.HandleFunc("GET /staff/login", w.loginForm)
	m.HandleFunc("POST /staff/login", w.login)
	m.HandleFunc("GET /staff/logout", w.logoutForm)
	m.HandleFunc("POST /staff/logout", w.logout)
	m.HandleFunc("GET /staff/{$}", w.account)
	m.HandleFunc("POST /staff/password", w.changePassword)
	m.HandleFunc("GET /staff/totp", w.totpForm)
	m.HandleFunc("POST /staff/totp", w.totpEnable)
	m.HandleFunc("GET /staff/admin/{$}", func(rw http.ResponseWriter, r *http.Request) {
		http.Redirect(rw, r, "/staff/admin/staff", http.StatusSeeOther)
	})
	m.HandleFunc("GET /staff/admin/staff", w.staffList)
	m.HandleFunc("POST /staff/admin/staff", w.staffCreate)
	m.HandleFunc("GET /staff/admin/staff/{id}", w.staffEdit)
	m.HandleFunc("POST /staff/admin/staff/{id}", w.staffUpdate)
	m.HandleFunc("POST /staff/admin/staff/{id}/password", w.staffPassword)
	m.HandleFunc("POST /staff/admin/staff/{id}/unlock", w.staffUnlock)
	m.HandleFunc("GET /staff/admin/audit", w.auditLog)
	m.HandleFunc("/", w.NotFound)
	return w
}

// NotFound answers a path nobody serves: a browser gets the staff pages'
// 404 page, anything else problem+json.
func (w *Web) NotFound(rw http.ResponseWriter, r *http.Request) {
	if !wantsHTML(r) {
		httpx.WriteProblem(rw, r, httpx.NewProblem(http.StatusNotFound, "no such page"))
		return
	}
	w.render(rw, r, http.StatusNotFound, "notfound", page{Path: r.URL.Path})
}

func (w *Web) ServeHTTP(rw http.ResponseWriter, r *http.Request) { w.mux.ServeHTTP(rw, r) }

type ctxKey int

const (
	keyCurrent ctxKey = iota
	keyNote
)

// WithCurrent returns ctx carrying the signed-in member.
func WithCurrent(ctx context.Context, c *staff.Current) context.Context {
	return context.WithValue(ctx, keyCurrent, c)
}

// CurrentFrom returns the signed-in member of a request.
func CurrentFrom(ctx context.Context) *staff.Current {
	c, _ := ctx.Value(keyCurrent).(*staff.Current)
	return c
}

// Note is what a page tells the audit log about an unsafe request it served.
type Note struct {
	Action string
	Detail string
}

// WithNote returns ctx carrying a note the page fills in.
func WithNote(ctx context.Context, n *Note) context.Context {
	return context.WithValue(ctx, keyNote, n)
}

func note(r *http.Request, action, detail string) {
	if n, ok := r.Context().Value(keyNote).(*Note); ok {
		n.Action, n.Detail = action, detail
	}
	if p := store.PendingAuditFrom(r.Context()); p != nil {
		p.Entry.Action, p.Entry.Detail = action, truncate(detail)
	}
}

// page is the data every template gets.
type page struct {
	Me     *store.Account
	CSRF   string
	Flash  string
	Error  string
	Errors map[string]string
	// page specific
	Login    string
	Next     string
	Accounts []accountView
	Account  accountView
	Roles    []string
	Form     accountForm
	// Workstations operators may be bound to (from the MES's price list).
	Workstations []store.Workstation
	Entries      []store.AuditEntry
	Filter       store.AuditFilter
	Older        string
	// TOTP enrolment: the new key, shown once.
	TOTPSecret, TOTPURL string
	// Path is the path a 404 page names.
	Path string
}

// StationName is what the MES's price list calls a workstation code, for
// the pages (people read names, not codes); the code when it named none.
func (p page) StationName(code string) string {
	for _, w := range p.Workstations {
		if w.Code == code && w.Name != "" {
			return w.Name
		}
	}
	return code
}

type accountView struct {
	store.Account
	Locked bool
}

type accountForm struct {
	Login        string
	Role         string
	Workstations []string
	Disabled     bool
}

// Has tells whether the form binds the workstation (its box is ticked).
func (f accountForm) Has(code string) bool { return slices.Contains(f.Workstations, code) }

func (w *Web) view(a store.Account) accountView {
	return accountView{Account: a, Locked: w.d.Staff.Delayed(a.Login) > 0}
}

func (w *Web) render(rw http.ResponseWriter, r *http.Request, status int, name string, p page) {
	if c := CurrentFrom(r.Context()); c != nil && p.Me == nil {
		me := c.Account
		p.Me, p.CSRF = &me, c.Session.CSRFToken
	}
	if p.Errors == nil {
		p.Errors = map[string]string{}
	}
	rw.Header().Set("Content-Type", "text/html; charset=utf-8")
	rw.Header().Set("Cache-Control", "no-store")
	rw.WriteHeader(status)
	if err := w.pages[name].ExecuteTemplate(rw, "layout", p); err != nil {
		w.d.Log.ErrorContext(r.Context(), "render page", "page", name, "error", err)
	}
}

// Forbidden answers a browser whose role may not open a page.
func Forbidden(rw http.ResponseWriter, r *http.Request, c *staff.Current) {
	rw.Header().Set("Content-Type", "text/html; charset=utf-8")
	rw.WriteHeader(http.StatusForbidden)
	me := c.Account
	t := template.Must(template.ParseFS(files, "templates/layout.html", "templates/forbidden.html"))
	_ = t.ExecuteTemplate(rw, "layout", page{Me: &me, CSRF: c.Session.CSRFToken, Errors: map[string]string{}})
}

// flashes are the messages a page shows after an action, by the key its
// redirect names in ?done=: never text from the URL, which anyone can
// write into a link.
var flashes = map[string]string{
	"password": "Password changed.",
	"saved":    "Saved.",
	"reset":    "Password reset; sessions ended.",
	"unlocked": "Sign-in delay lifted.",
	"totp":     "Two-factor sign-in is on.",
}

func flash(r *http.Request) string { return flashes[r.URL.Query().Get("done")] }

func wantsJSON(r *http.Request) bool {
	return r.URL.Query().Get("format") == "json" || strings.Contains(r.Header.Get("Accept"), "application/json")
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// safeNext keeps a post-sign-in redirect on the gateway's own staff pages.
func safeNext(next string) string {
	if next == "" || len(next) > 2048 || strings.ContainsAny(next, "\\\r\n\t") || strings.HasPrefix(next, "//") {
		return ""
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return ""
	}
	for _, p := range []string{"/crm/", "/mes/", "/b2b/", "/staff/"} {
		if strings.HasPrefix(u.Path, p) && !strings.Contains(u.Path, "/..") {
			return u.RequestURI()
		}
	}
	return ""
}

func home(role string) string {
	switch role {
	case staff.RoleManager:
		return "/crm/"
	case staff.RoleOperator:
		return "/mes/"
	default:
		return "/staff/"
	}
}

func (w *Web) setCookie(rw http.ResponseWriter, name, value string, maxAge int, mode http.SameSite) {
	http.SetCookie(rw, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true,
		Secure: w.d.CookieSecure, SameSite: mode})
}

func (w *Web) loginForm(rw http.ResponseWriter, r *http.Request) {
	tok := bearer.New()
	w.setCookie(rw, w.d.LoginCookie, tok, 3600, http.SameSiteStrictMode)
	w.render(rw, r, http.StatusOK, "login", page{CSRF: tok, Next: safeNext(r.URL.Query().Get("next"))})
}

func (w *Web) login(rw http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		httpx.WriteProblem(rw, r, httpx.NewProblem(http.StatusBadRequest, "malformed form"))
		return
	}
	login, pw, next := r.PostForm.Get("login"), r.PostForm.Get("password"), safeNext(r.PostForm.Get("next"))
	again := func(status int, msg string) {
		tok := bearer.New()
		w.setCookie(rw, w.d.LoginCookie, tok, 3600, http.SameSiteStrictMode)
		w.render(rw, r, status, "login", page{CSRF: tok, Next: next, Login: login, Error: msg})
	}
	c, err := r.Cookie(w.d.LoginCookie)
	if w.d.CheckOrigin(r) != nil || err != nil || c.Value == "" || c.Value != r.PostForm.Get(FieldCSRF) {
		w.d.SignedIn("csrf")
		again(http.StatusForbidden, "The sign-in form expired; please try again.")
		return
	}
	if len(login) > 128 || len(pw) > 1024 {
		again(http.StatusBadRequest, "Login or password too long.")
		return
	}
	if err := w.d.Staff.Allow(clientIP(r), login); err != nil {
		var rl *staff.RateLimitedError
		if errors.As(err, &rl) {
			// "rate_limited": too many attempts from the address;
			// "throttled": within the delay earlier failures imposed.
			result, action := "rate_limited", "signin_limited"
			if rl.Scope != "attempts" {
				result, action = "throttled", "signin_throttled"
			}
			w.d.SignedIn(result)
			rw.Header().Set("Retry-After", strconv.Itoa(int(rl.RetryAfter.Seconds())+1))
			w.d.Audit(r.Context(), r, store.Account{Login: trimLogin(login)}, action, http.StatusTooManyRequests,
				fmt.Sprintf("%s (by %s)", err, rl.Scope))
			again(http.StatusTooManyRequests, "Too many sign-in attempts; wait a little and try again.")
			return
		}
	}
	token, cur, err := w.d.Staff.SignIn(r.Context(), login, pw, r.PostForm.Get("code"), clientIP(r), r.UserAgent())
	var fail *staff.FailureError
	switch {
	case errors.As(err, &fail):
		w.d.SignedIn("failed")
		a := fail.Account
		a.Login = trimLogin(a.Login)
		detail := fail.Reason
		if fail.Delay.Wait > 0 {
			detail += fmt.Sprintf("; the next attempt waits %s (by %s)", fail.Delay.Wait.Round(time.Second), fail.Delay.Scope)
		}
		w.d.Audit(r.Context(), r, a, "signin_failed", http.StatusUnauthorized, detail)
		again(http.StatusUnauthorized, "Sign-in failed. Check your login and password; after repeated failures each new attempt must wait a little longer.")
		return
	case err != nil:
		httpx.WriteError(rw, r, w.d.Log, err)
		return
	}
	w.d.SignedIn("ok")
	w.setCookie(rw, w.d.LoginCookie, "", -1, http.SameSiteStrictMode)
	w.setCookie(rw, w.d.CookieName, token, int(w.d.Staff.Config().SessionTTL.Seconds()), http.SameSiteLaxMode)
	w.d.Audit(r.Context(), r, cur.Account, "signin", http.StatusSeeOther, "")
	if next == "" {
		next = home(cur.Account.Role)
	}
	http.Redirect(rw, r, next, http.StatusSeeOther)
}

func trimLogin(l string) string {
	l = staff.NormalizeLogin(l)
	if len(l) > 64 {
		l = l[:64]
	}
	return l
}

// sessionOf reads the session for the sign-out page (not a staff route, so
// the gateway has not looked).
func (w *Web) sessionOf(r *http.Request) *staff.Current {
	c, err := r.Cookie(w.d.CookieName)
	if err != nil {
		return nil
	}
	cur, err := w.d.Staff.Session(r.Context(), c.Value)
	if err != nil {
		return nil
	}
	return cur
}

func (w *Web) logoutForm(rw http.ResponseWriter, r *http.Request) {
	cur := w.sessionOf(r)
	if cur == nil {
		http.Redirect(rw, r, "/staff/login", http.StatusSeeOther)
		return
	}
	w.render(rw, r.WithContext(WithCurrent(r.Context(), cur)), http.StatusOK, "logout", page{})
}

func (w *Web) logout(rw http.ResponseWriter, r *http.Request) {
	cur := w.sessionOf(r)
	if cur == nil {
		w.setCookie(rw, w.d.CookieName, "", -1, http.SameSiteLaxMode)
		http.Redirect(rw, r, "/staff/login", http.StatusSeeOther)
		return
	}
	tok := r.Header.Get("X-Csrf-Token")
	if tok == "" {
		tok = r.PostFormValue(FieldCSRF)
	}
	if w.d.CheckOrigin(r) != nil || tok != cur.Session.CSRFToken {
		w.d.Audit(r.Context(), r, cur.Account, "csrf_refused", http.StatusForbidden, "sign-out without a valid CSRF token")
		httpx.WriteProblem(rw, r, httpx.NewProblem(http.StatusForbidden, "the form has no valid CSRF token; reload the page"))
		return
	}
	if err := w.d.Staff.SignOut(r.Context(), cur); err != nil {
		httpx.WriteError(rw, r, w.d.Log, err)
		return
	}
	w.setCookie(rw, w.d.CookieName, "", -1, http.SameSiteLaxMode)
	w.d.Audit(r.Context(), r, cur.Account, "signout", http.StatusSeeOther, "")
	http.Redirect(rw, r, "/staff/login", http.StatusSeeOther)
}

func (w *Web) account(rw http.ResponseWriter, r *http.Request) {
	if wantsJSON(r) {
		c := CurrentFrom(r.Context())
		httpx.WriteJSON(rw, http.StatusOK, map[string]any{"id": c.Account.ID, "login": c.Account.Login, "role": c.Account.Role,
			"workstations": c.Account.Workstations, "csrf_token": c.Session.CSRFToken})
		return
	}
	w.render(rw, r, http.StatusOK, "account", page{Flash: flash(r)})
}

func (w *Web) changePassword(rw http.ResponseWriter, r *http.Request) {
	cur := CurrentFrom(r.Context())
	if err := r.ParseForm(); err != nil {
		httpx.WriteProblem(rw, r, httpx.NewProblem(http.StatusBadRequest, "malformed form"))
		return
	}
	note(r, "password.change", "")
	pw := r.PostForm.Get("password")
	if pw != r.PostForm.Get("confirm") {
		w.render(rw, r, http.StatusUnprocessableEntity, "account", page{Errors: map[string]string{"confirm": "does not match"}})
		return
	}
	err := w.d.Staff.ChangePassword(r.Context(), cur, r.PostForm.Get("current"), pw)
	var inv *staff.InvalidError
	if errors.As(err, &inv) {
		w.render(rw, r, http.StatusUnprocessableEntity, "account", page{Errors: inv.Fields})
		return
	} else if err != nil {
		httpx.WriteError(rw, r, w.d.Log, err)
		return
	}
	http.Redirect(rw, r, "/staff/?done=password", http.StatusSeeOther)
}

// totpForm shows a new TOTP key to enrol (the account page links here; an
// admin without a second factor is sent here before anything else).
func (w *Web) totpForm(rw http.ResponseWriter, r *http.Request) {
	cur := CurrentFrom(r.Context())
	secret, url, err := w.d.Staff.NewTOTP(cur)
	if errors.Is(err, staff.ErrNoSecretKey) {
		w.render(rw, r, http.StatusServiceUnavailable, "totp", page{Error: "This server cannot keep two-factor keys yet (FABRIKA_SECRET_KEY is not set); tell its operator."})
		return
	} else if err != nil {
		httpx.WriteError(rw, r, w.d.Log, err)
		return
	}
	msg := ""
	if w.d.Staff.NeedsTOTP(cur) {
		msg = "Admins sign in with a second factor: set it up to go on."
	}
	w.render(rw, r, http.StatusOK, "totp", page{Error: msg, TOTPSecret: secret, TOTPURL: url})
}

func (w *Web) totpEnable(rw http.ResponseWriter, r *http.Request) {
	cur := CurrentFrom(r.Context())
	if err := r.ParseForm(); err != nil {
		httpx.WriteProblem(rw, r, httpx.NewProblem(http.StatusBadRequest, "malformed form"))
		return
	}
	note(r, "totp.enable", "")
	secret := r.PostForm.Get("secret")
	err := w.d.Staff.EnableTOTP(r.Context(), cur, secret, strings.TrimSpace(r.PostForm.Get("code")))
	var inv *staff.InvalidError
	if errors.As(err, &inv) {
		// The same key again, to try another code.
		w.render(rw, r, http.StatusUnprocessableEntity, "totp", page{Errors: inv.Fields, TOTPSecret: secret,
			TOTPURL: "otpauth://totp/Fabrika:" + url.PathEscape(cur.Account.Login) + "?issuer=Fabrika&secret=" + url.QueryEscape(secret)})
		return
	} else if err != nil {
		httpx.WriteError(rw, r, w.d.Log, err)
		return
	}
	http.Redirect(rw, r, "/staff/?done=totp", http.StatusSeeOther)
}

// formWorkstations reads the ticked workstation boxes; a value may also
// list several codes (a script posting "a,b").
func formWorkstations(r *http.Request) []string {
	var out []string
	for _, v := range r.PostForm["workstations"] {
		out = append(out, strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == ';' })...)
	}
	return out
}

// withWorkstations adds the known workstations to a page with a staff form.
func (w *Web) withWorkstations(r *http.Request, p page) (page, error) {
	ws, err := w.d.Staff.Workstations(r.Context())
	p.Workstations = ws
	return p, err
}

func (w *Web) staffList(rw http.ResponseWriter, r *http.Request) {
	w.renderStaff(rw, r, http.StatusOK, accountForm{Role: staff.RoleManager}, nil)
}

func (w *Web) renderStaff(rw http.ResponseWriter, r *http.Request, status int, f accountForm, errs map[string]string) {
	list, err := w.d.Staff.Accounts(r.Context())
	if err != nil {
		httpx.WriteError(rw, r, w.d.Log, err)
		return
	}
	views := make([]accountView, 0, len(list))
	for _, a := range list {
		views = append(views, w.view(a))
	}
	if wantsJSON(r) && errs == nil {
		out := make([]map[string]any, 0, len(list))
		for _, v := range views {
			out = append(out, map[string]any{"id": v.ID, "login": v.Login, "role": v.Role, "workstations": v.Workstations,
				"disabled": v.Disabled, "locked": v.Locked, "created_at": v.CreatedAt})
		}
		httpx.WriteJSON(rw, status, map[string]any{"staff": out})
		return
	}
	p, err := w.withWorkstations(r, page{Accounts: views, Roles: staff.Roles(), Form: f, Errors: errs})
	if err != nil {
		httpx.WriteError(rw, r, w.d.Log, err)
		return
	}
	w.render(rw, r, status, "staff", p)
}

func (w *Web) staffCreate(rw http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		httpx.WriteProblem(rw, r, httpx.NewProblem(http.StatusBadRequest, "malformed form"))
		return
	}
	f := accountForm{Login: r.PostForm.Get("login"), Role: r.PostForm.Get("role"), Workstations: formWorkstations(r)}
	// Noted before the change: its audit entry is written in its transaction.
	note(r, "staff.create", "created "+staff.NormalizeLogin(f.Login)+" as "+f.Role)
	a, err := w.d.Staff.Create(r.Context(), f.Login, r.PostForm.Get("password"), f.Role, f.Workstations)
	var inv *staff.InvalidError
	if errors.As(err, &inv) {
		note(r, "staff.create", "refused: "+inv.Error())
		w.renderStaff(rw, r, http.StatusUnprocessableEntity, f, inv.Fields)
		return
	} else if err != nil {
		httpx.WriteError(rw, r, w.d.Log, err)
		return
	}
	note(r, "staff.create", "created "+a.Login+" as "+a.Role)
	http.Redirect(rw, r, "/staff/admin/staff/"+a.ID, http.StatusSeeOther)
}

func (w *Web) loadAccount(rw http.ResponseWriter, r *http.Request) (store.Account, bool) {
	a, err := w.d.Staff.Account(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		httpx.WriteProblem(rw, r, httpx.NewProblem(http.StatusNotFound, "no such staff account"))
		return a, false
	} else if err != nil {
		httpx.WriteError(rw, r, w.d.Log, err)
		return a, false
	}
	return a, true
}

func formOf(a store.Account) accountForm {
	return accountForm{Login: a.Login, Role: a.Role, Workstations: a.Workstations, Disabled: a.Disabled}
}

func (w *Web) staffEdit(rw http.ResponseWriter, r *http.Request) {
	a, ok := w.loadAccount(rw, r)
	if !ok {
		return
	}
	w.renderEdit(rw, r, http.StatusOK, page{Account: w.view(a), Roles: staff.Roles(), Form: formOf(a), Flash: flash(r)})
}

func (w *Web) renderEdit(rw http.ResponseWriter, r *http.Request, status int, p page) {
	p, err := w.withWorkstations(r, p)
	if err != nil {
		httpx.WriteError(rw, r, w.d.Log, err)
		return
	}
	w.render(rw, r, status, "edit", p)
}

func (w *Web) staffUpdate(rw http.ResponseWriter, r *http.Request) {
	a, ok := w.loadAccount(rw, r)
	if !ok {
		return
	}
	if err := r.ParseForm(); err != nil {
		httpx.WriteProblem(rw, r, httpx.NewProblem(http.StatusBadRequest, "malformed form"))
		return
	}
	f := accountForm{Login: a.Login, Role: r.PostForm.Get("role"), Workstations: formWorkstations(r), Disabled: r.PostForm.Get("disabled") == "1"}
	cur := CurrentFrom(r.Context())
	errs := map[string]string{}
	if a.ID == cur.Account.ID && (f.Role != staff.RoleAdmin || f.Disabled) {
		errs["role"] = "you cannot take admin rights from yourself or disable yourself"
	}
	var err error
	if len(errs) == 0 {
		note(r, "staff.update", a.Login+": role "+f.Role+", workstations ["+strings.Join(f.Workstations, ", ")+"], disabled "+strconv.FormatBool(f.Disabled))
		err = w.d.Staff.Update(r.Context(), a.ID, f.Role, f.Workstations, f.Disabled)
	}
	var inv *staff.InvalidError
	if errors.As(err, &inv) {
		errs = inv.Fields
	} else if err != nil {
		httpx.WriteError(rw, r, w.d.Log, err)
		return
	}
	if len(errs) > 0 {
		note(r, "staff.update", "refused for "+a.Login)
		w.renderEdit(rw, r, http.StatusUnprocessableEntity, page{Account: w.view(a), Roles: staff.Roles(), Form: f, Errors: errs})
		return
	}
	note(r, "staff.update", a.Login+": role "+f.Role+", workstations ["+strings.Join(f.Workstations, ", ")+"], disabled "+strconv.FormatBool(f.Disabled))
	http.Redirect(rw, r, "/staff/admin/staff/"+a.ID+"?done=saved", http.StatusSeeOther)
}

func (w *Web) staffPassword(rw http.ResponseWriter, r *http.Request) {
	a, ok := w.loadAccount(rw, r)
	if !ok {
		return
	}
	note(r, "staff.password_reset", a.Login)
	err := w.d.Staff.ResetPassword(r.Context(), a.ID, r.PostFormValue("password"))
	var inv *staff.InvalidError
	if errors.As(err, &inv) {
		note(r, "staff.password_reset", "refused for "+a.Login)
		w.renderEdit(rw, r, http.StatusUnprocessableEntity, page{Account: w.view(a), Roles: staff.Roles(), Form: formOf(a), Errors: inv.Fields})
		return
	} else if err != nil {
		httpx.WriteError(rw, r, w.d.Log, err)
		return
	}
	note(r, "staff.password_reset", a.Login)
	http.Redirect(rw, r, "/staff/admin/staff/"+a.ID+"?done=reset", http.StatusSeeOther)
}

func (w *Web) staffUnlock(rw http.ResponseWriter, r *http.Request) {
	a, ok := w.loadAccount(rw, r)
	if !ok {
		return
	}
	if err := w.d.Staff.Unlock(r.Context(), a.ID); err != nil {
		httpx.WriteError(rw, r, w.d.Log, err)
		return
	}
	note(r, "staff.unlock", a.Login)
	http.Redirect(rw, r, "/staff/admin/staff/"+a.ID+"?done=unlocked", http.StatusSeeOther)
}

func (w *Web) auditLog(rw http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	f := store.AuditFilter{Login: staff.NormalizeLogin(q.Get("login")), Before: q.Get("before"), Limit: limit}
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	entries, err := w.d.Store.Audit(r.Context(), f)
	if err != nil {
		httpx.WriteError(rw, r, w.d.Log, err)
		return
	}
	older := ""
	if len(entries) == f.Limit {
		older = entries[len(entries)-1].ID
	}
	if wantsJSON(r) {
		if entries == nil {
			entries = []store.AuditEntry{}
		}
		httpx.WriteJSON(rw, http.StatusOK, map[string]any{"entries": entries, "older": older})
		return
	}
	w.render(rw, r, http.StatusOK, "audit", page{Entries: entries, Filter: f, Older: older})
}
