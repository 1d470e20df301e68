package web

import (
	"bufio"
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/fabrika/fabrika/platform/httpx"
	"github.com/fabrika/fabrika/services/gateway/internal/route"
	"github.com/fabrika/fabrika/services/gateway/internal/staff"
	"github.com/fabrika/fabrika/services/gateway/internal/store"
)

// Cookies and headers of the gateway.
const (
	// SessionCookie holds a staff session's random token.
	SessionCookie = "fabrika_staff"
	// LoginCookie binds the sign-in form to the browser (login CSRF).
	LoginCookie = "fabrika_login"
	// HeaderCSRF carries the session's CSRF token: from the gateway to the
	// CRM and mes-operator (to put in their forms as the csrf_token field
	// or in their pages for scripts), and from staff scripts back to the
	// gateway.
	HeaderCSRF = "X-Csrf-Token"
)

// securityHeaders are set on every response; upstreams' own values of them
// are dropped so that the gateway's policy is the one in force.
func securityHeaders(tls bool) http.Header {
	h := http.Header{}
	h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "strict-origin-when-cross-origin")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	if tls {
		h.Set(headerHSTS, "max-age=31536000; includeSubDomains")
	}
	return h
}

const headerHSTS = "Strict-Transport-Security"

// setSecurityHeaders puts the security headers on a response. The values
// are shared by every response, built once: one-element slices that
// nothing changes in place (Set replaces a slice, Add grows a copy).
func (s *Public) setSecurityHeaders(h http.Header, r *http.Request) {
	sec := s.secHeaders
	if r.TLS != nil {
		sec = s.secHeadersTLS
	}
	for k, v := range sec {
		h[k] = v[:1:1]
	}
}

// gatewayHeaders are the response headers the gateway owns.
var gatewayHeaders = []string{"Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options",
	"Cross-Origin-Opener-Policy", "Strict-Transport-Security", httpx.HeaderRequestID}

type proxyKey int

// keyProxy is the context key of a proxied request's proxyReq.
const keyProxy proxyKey = 0

// proxyReq is what Rewrite needs to know about a request. It is the
// proxied request's context (Value(keyProxy) returns it) and carries the
// response's status recorder: one allocation instead of three.
type proxyReq struct {
	context.Context
	rec    statusRecorder
	target string // upstream name
	path   string // checked path for the upstream
	token  string // identity token; "" for none
	csrf   string
	reqID  string
}

func (p *proxyReq) Value(key any) any {
	if key == keyProxy {
		return p
	}
	return p.Context.Value(key)
}

func (s *Public) serve(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if len(s.cfg.TrustedProxies) > 0 {
		// From here on the request's RemoteAddr is its client's, for
		// every use: limits, audit, X-Forwarded-For.
		if a := s.clientAddr(r); a != peerAddr(r.RemoteAddr) {
			r2 := new(http.Request)
			*r2 = *r
			r2.RemoteAddr = netip.AddrPortFrom(a, 0).String()
			r = r2
		}
	}
	h := w.Header()
	s.setSecurityHeaders(h, r)
	reqID := h.Get(httpx.HeaderRequestID) // set by httpx.Observe in front
	if reqID == "" {
		reqID = httpx.RequestID(r.Header.Get(httpx.HeaderRequestID))
		h.Set(httpx.HeaderRequestID, reqID)
	}
	if v := r.Header[httpx.HeaderRequestID]; len(v) != 1 || v[0] != reqID {
		// The audit log, the gateway's own pages and the upstream read it
		// from the request.
		r.Header.Set(httpx.HeaderRequestID, reqID)
	}
	m, err := s.routes.Resolve(r.URL.Path, r.URL.EscapedPath())
	var redirect *route.Redirect
	switch {
	case errors.As(err, &redirect):
		loc := redirect.Location
		if r.URL.RawQuery != "" {
			loc += "?" + r.URL.RawQuery
		}
		http.Redirect(w, r, loc, http.StatusPermanentRedirect)
		return
	case errors.Is(err, route.ErrBadPath):
		s.metrics.refused.WithLabelValues("bad_path").Inc()
		httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusBadRequest, "the path is not in canonical form"))
		return
	case err != nil:
		s.metrics.refused.WithLabelValues("no_route").Inc()
		s.pages.NotFound(w, r)
		return
	}
	if r.ContentLength > s.cfg.MaxBodyBytes {
		s.metrics.refused.WithLabelValues("too_large").Inc()
		// Answered at once and the connection closed: the server does not
		// wait for a body nobody will read.
		h.Set("Connection", "close")
		httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusRequestEntityTooLarge, "the body is larger than "+strconv.FormatInt(s.cfg.MaxBodyBytes, 10)+" bytes"))
		return
	}
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	}

	rt := m.Route
	var cur *staff.Current
	if rt.Staff() {
		var ok bool
		if cur, ok = s.authenticate(w, r, rt); !ok {
			return
		}
		if !safeMethod(r.Method) {
			if err := s.checkCSRF(r, cur); err != nil {
				if errors.Is(err, errTooLarge) {
					httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusRequestEntityTooLarge, "the body is larger than "+strconv.FormatInt(s.cfg.MaxBodyBytes, 10)+" bytes"))
					return
				}
				s.metrics.refused.WithLabelValues("csrf").Inc()
				httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusForbidden, err.Error()))
				s.audit(r.Context(), r, cur.Account, "csrf_refused", http.StatusForbidden, err.Error())
				return
			}
			// The gateway's own staff actions write their audit entry in
			// the transaction of the change (store.PendingAudit); anything
			// else is recorded when the answer is known.
			note := &Note{Action: "request"}
			pending := &store.PendingAudit{}
			if e, err := s.auditEntry(r, cur.Account, "request", http.StatusSeeOther, ""); err == nil {
				pending.Entry = e
			}
			r = r.WithContext(store.WithPendingAudit(WithNote(r.Context(), note), pending))
			rec := &statusRecorder{ResponseWriter: w}
			w = rec
			defer func() {
				if !pending.Written {
					s.audit(context.WithoutCancel(r.Context()), r, cur.Account, note.Action, rec.code(), note.Detail)
				}
			}()
		}
	}

	if rt.Upstream == "" {
		if cur != nil {
			r = r.WithContext(WithCurrent(r.Context(), cur))
		}
		s.pages.ServeHTTP(w, r)
		return
	}
	target := s.upstreams[rt.Upstream]
	if target == nil {
		httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusServiceUnavailable, rt.Upstream+" is not configured"))
		return
	}
	pr := &proxyReq{Context: r.Context(), target: rt.Upstream, path: m.Path, reqID: reqID}
	tok, err := s.identityToken(rt.Upstream, clientIP(r), cur)
	if err != nil {
		httpx.WriteError(w, r, s.log, err)
		return
	}
	pr.token = tok
	if cur != nil {
		pr.csrf = cur.Session.CSRFToken
	}
	rec, ok := w.(*statusRecorder)
	if !ok {
		pr.rec.ResponseWriter = w
		rec = &pr.rec
	}
	s.proxy.ServeHTTP(rec, r.WithContext(pr))
	s.metrics.observeUpstream(rt.Upstream, rec.code(), time.Since(start))
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// authenticate finds the staff session of a request to a staff route and
// checks its role: a browser without a session is sent to the sign-in page,
// anything else gets 401; a wrong role is 403.
func (s *Public) authenticate(w http.ResponseWriter, r *http.Request, rt route.Route) (*staff.Current, bool) {
	var cur *staff.Current
	if c, err := r.Cookie(SessionCookie); err == nil {
		var serr error
		cur, serr = s.staff.Session(r.Context(), c.Value)
		if serr != nil && !errors.Is(serr, staff.ErrNoSession) {
			httpx.WriteError(w, r, s.log, serr)
			return nil, false
		}
	}
	if cur == nil {
		s.metrics.refused.WithLabelValues("no_session").Inc()
		if wantsHTML(r) {
			http.Redirect(w, r, "/staff/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return nil, false
		}
		httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusUnauthorized, "sign in as staff at /staff/login"))
		return nil, false
	}
	if !rt.Allows(cur.Account.Role) {
		s.metrics.refused.WithLabelValues("role").Inc()
		if wantsHTML(r) {
			Forbidden(w, r, cur)
			return nil, false
		}
		httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusForbidden, "role "+cur.Account.Role+" may not use "+rt.Prefix))
		return nil, false
	}
	if s.staff.NeedsTOTP(cur) && r.URL.Path != "/staff/totp" {
		s.metrics.refused.WithLabelValues("totp").Inc()
		if wantsHTML(r) {
			http.Redirect(w, r, "/staff/totp", http.StatusSeeOther)
			return nil, false
		}
		httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusForbidden, "an admin must turn on two-factor sign-in first, at /staff/totp"))
		return nil, false
	}
	return cur, true
}

// wantsHTML tells a browser navigation (redirect to sign-in) from an API
// call (401 problem).
func wantsHTML(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) && strings.Contains(r.Header.Get("Accept"), "text/html")
}

// checkCSRF applies the gateway's CSRF rule to an unsafe request of a
// signed-in member: the browser's cross-origin signals (Sec-Fetch-Site,
// Origin) must not show another origin, and a request a browser could send
// cross-site without a preflight (no body type, or a form type:
// urlencoded, multipart, text/plain) must carry the session's token in the
// X-Csrf-Token header or the csrf_token form field. JSON and other
// non-simple bodies need no token: a browser cannot send them cross-origin
// without a CORS preflight, which the gateway never grants.
func (s *Public) checkCSRF(r *http.Request, cur *staff.Current) error {
	if err := s.csrf.Check(r); err != nil {
		return errors.New("cross-origin request refused")
	}
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "", "application/x-www-form-urlencoded", "multipart/form-data", "text/plain":
	default:
		return nil
	}
	want := cur.Session.CSRFToken
	if got := r.Header.Get(HeaderCSRF); got != "" {
		if tokenEqual(got, want) {
			return nil
		}
		return errors.New("the CSRF token is not valid; reload the page")
	}
	got, err := formToken(r, mt, params)
	if err != nil {
		return err
	}
	if !tokenEqual(got, want) {
		return errors.New("the form has no valid CSRF token; reload the page")
	}
	return nil
}

var errTooLarge = errors.New("the body is too large")

func tokenEqual(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// formToken reads the csrf_token field of a form body and puts the body
// back for whoever serves the request.
func formToken(r *http.Request, mt string, params map[string]string) (string, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return "", nil
	}
	body, err := io.ReadAll(r.Body)
	_ = r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return "", errTooLarge
		}
		return "", errors.New("the body could not be read")
	}
	switch mt {
	case "application/x-www-form-urlencoded":
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return "", errors.New("malformed form")
		}
		return v.Get(FieldCSRF), nil
	case "multipart/form-data":
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		for {
			p, err := mr.NextPart()
			if err != nil {
				return "", nil
			}
			if p.FormName() == FieldCSRF {
				v, _ := io.ReadAll(io.LimitReader(p, 256))
				return string(v), nil
			}
		}
	case "text/plain":
		sc := bufio.NewScanner(bytes.NewReader(body))
		for sc.Scan() {
			if v, ok := strings.CutPrefix(strings.TrimRight(sc.Text(), "\r"), FieldCSRF+"="); ok {
				return v, nil
			}
		}
	}
	return "", nil
}

// audit records a staff action. A failure to record is logged; the action
// has happened already.
func (s *Public) audit(ctx context.Context, r *http.Request, a store.Account, action string, status int, detail string) {
	e, err := s.auditEntry(r, a, action, status, detail)
	if err != nil {
		s.log.ErrorContext(ctx, "audit id", "error", err)
		return
	}
	if err := s.store.AddAudit(ctx, e); err != nil {
		s.log.ErrorContext(ctx, "audit entry lost", "error", err, "login", a.Login, "action", action, "path", e.Path)
	}
}

// auditEntry is the audit entry of a request.
func (s *Public) auditEntry(r *http.Request, a store.Account, action string, status int, detail string) (store.AuditEntry, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return store.AuditEntry{}, err
	}
	p := r.URL.Path
	if len(p) > 1000 {
		p = p[:1000]
	}
	return store.AuditEntry{ID: id.String(), At: s.cfg.Now().UTC(), StaffID: a.ID, Login: a.Login, Role: a.Role, Action: action,
		Method: r.Method, Path: p, Status: status, IP: clientIP(r), RequestID: r.Header.Get(httpx.HeaderRequestID), Detail: truncate(detail)}, nil
}

func truncate(detail string) string {
	if len(detail) > 1000 {
		return detail[:1000]
	}
	return detail
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusRecorder) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}
