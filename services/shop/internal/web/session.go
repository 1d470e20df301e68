package web

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strings"
	"time"

	"github.com/fabrika/fabrika/platform/bearer"
	"github.com/fabrika/fabrika/services/shop/internal/app"
)

// Cookie names.
const (
	sessionCookie = "shop_session"
	csrfCookie    = "shop_csrf"
	csrfField     = "csrf"
)

type ctxKey struct{}

// customer returns the signed-in customer put in the context by
// withCustomer, or nil.
func customer(ctx context.Context) *app.Customer {
	c, _ := ctx.Value(ctxKey{}).(*app.Customer)
	return c
}

// sessionToken is the token of the request: the Authorization bearer token
// (API clients) or the session cookie (browsers).
func sessionToken(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if t, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(t)
		}
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		return c.Value
	}
	return ""
}

// withCustomer resolves the session, if any; a request without a valid
// session goes on anonymously.
func (h *Handler) withCustomer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if t := sessionToken(r); t != "" {
			c, err := h.shop.Authenticate(r.Context(), t)
			if e, ok := app.AsError(err); err != nil && (!ok || e.Kind != app.KindUnauthorized) {
				// The session could not be checked: an outage, not "not
				// signed in" (a client takes 401 as final).
				h.log.ErrorContext(r.Context(), "session lookup failed", "path", r.URL.Path, "error", err)
				if strings.HasPrefix(r.URL.Path, APIPrefix+"/") {
					h.apiError(w, r, err)
				} else {
					h.pageError(w, r, err)
				}
				return
			}
			if err == nil {
				r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, &c))
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (h *Handler) setSession(w http.ResponseWriter, s app.Session) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: s.Token, Path: "/", Expires: s.Expires,
		MaxAge: int(time.Until(s.Expires).Seconds()), Secure: h.cfg.CookieSecure, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

func (h *Handler) clearSession(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		Secure: h.cfg.CookieSecure, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// csrfToken returns the browser's CSRF token, setting the cookie when the
// browser has none (double-submit: every form carries the cookie's value).
func (h *Handler) csrfToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 43 {
		return c.Value
	}
	t := bearer.New()
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: t, Path: "/", Secure: h.cfg.CookieSecure,
		HttpOnly: true, SameSite: http.SameSiteLaxMode})
	// Let the rest of this request see it too.
	r.AddCookie(&http.Cookie{Name: csrfCookie, Value: t})
	return t
}

// csrfOK tells whether a form post carries the token of its cookie.
func csrfOK(r *http.Request) bool {
	c, err := r.Cookie(csrfCookie)
	if err != nil || c.Value == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue(csrfField))) == 1
}

// clientIP is the address sign-in attempts are counted against: the one
// the gateway signed into the identity token, never a header a client
// could set (identity.Verifier.ClientAddr).
func (h *Handler) clientIP(r *http.Request) string { return h.cfg.Identity.ClientAddr(r) }
