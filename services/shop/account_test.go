package shop_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fabrika/fabrika/platform/ratelimit"
	"github.com/fabrika/fabrika/platform/testenv"
	"github.com/fabrika/fabrika/services/shop"
)

// Sign-up tells no one whether an address has an account (issue 15, point
// 8): the same status and body for a new and a taken address, by API and
// by form.
func TestSignUpDoesNotRevealAccounts(t *testing.T) {
	t.Parallel()
	e := start(t, shop.Config{})
	signUp := func(email string) response {
		return e.do("POST", "/shop/api/v1/accounts", "", map[string]string{"email": email, "name": "Eve", "password": "a long enough password"}, nil)
	}
	first := signUp("taken@example.com")
	taken := signUp("taken@example.com")
	fresh := signUp("fresh@example.com")
	if taken.code != fresh.code || string(taken.body) != string(fresh.body) || taken.header.Get("Set-Cookie") != fresh.header.Get("Set-Cookie") {
		t.Fatalf("taken: %d %s; fresh: %d %s", taken.code, taken.body, fresh.code, fresh.body)
	}
	if first.code != http.StatusAccepted || strings.Contains(string(taken.body), "exists") {
		t.Fatalf("sign-up: %d %s", taken.code, taken.body)
	}
	pageOf := func(email string) string {
		b := e.browser()
		b.get("/account/signup")
		res := b.post("/account/signup", url.Values{"email": {email}, "name": {"Eve"}, "password": {"a long enough password"}})
		return strings.ReplaceAll(string(res.body), email, "ADDRESS")[strings.Index(string(res.body), "<main>"):]
	}
	if a, b := pageOf("taken@example.com"), pageOf("other@example.com"); a != b {
		t.Fatalf("the pages differ:\n%s\n---\n%s", a, b)
	}
	// The owner of the taken address is told by e-mail; the new address
	// gets its confirmation link.
	if e.mails("taken@example.com") < 2 || e.mailToken("fresh@example.com", "/account/confirm") == "" {
		t.Fatal("e-mails missing")
	}
	// Signing in before confirming gets nowhere, whatever the password.
	if res := e.do("POST", "/shop/api/v1/sessions", "", map[string]string{"email": "fresh@example.com", "password": "a long enough password"}, nil); res.code != 401 {
		t.Fatalf("unconfirmed sign-in: %d", res.code)
	}
}

// Sign-ups are limited per client address (each costs a 19 MiB hash).
func TestSignUpIsRateLimited(t *testing.T) {
	t.Parallel()
	e := start(t, shop.Config{SignUpsPerIP: ratelimit.Rate{Events: 2, Per: time.Hour}})
	for i, want := range []int{202, 202, 429} {
		res := e.do("POST", "/shop/api/v1/accounts", "", map[string]string{"email": "s" + string(rune('a'+i)) + "@example.com", "name": "S", "password": "a long enough password"}, nil)
		if res.code != want || (want == 429 && res.header.Get("Retry-After") == "") {
			t.Fatalf("sign-up %d: %d %v", i, res.code, res.header)
		}
	}
}

// A customer changes the password with the current one; the other
// sessions end (issue 15, point 13).
func TestChangePassword(t *testing.T) {
	t.Parallel()
	e := start(t, shop.Config{})
	tok := e.account("change@example.com", "C", "the old password", nil)
	other := e.do("POST", "/shop/api/v1/sessions", "", map[string]string{"email": "change@example.com", "password": "the old password"}, nil)
	var o struct{ Token string }
	other.json(t, &o)
	change := func(current, next string) response {
		return e.do("POST", "/shop/api/v1/me/password", tok, map[string]string{"current_password": current, "password": next}, nil)
	}
	if res := change("not the password", "a brand new password"); res.code != 422 || !strings.Contains(string(res.body), "current_password") {
		t.Fatalf("wrong current password: %d %s", res.code, res.body)
	}
	if res := change("the old password", "password123"); res.code != 422 {
		t.Fatalf("common password: %d %s", res.code, res.body)
	}
	res := change("the old password", "a brand new password")
	if res.code != 201 {
		t.Fatalf("change: %d %s", res.code, res.body)
	}
	var n struct{ Token string }
	res.json(t, &n)
	if res := e.do("GET", "/shop/api/v1/me", o.Token, nil, nil); res.code != 401 {
		t.Fatalf("another session survived the change: %d", res.code)
	}
	if res := e.do("GET", "/shop/api/v1/me", n.Token, nil, nil); res.code != 200 {
		t.Fatalf("the new session: %d", res.code)
	}
	for pw, want := range map[string]int{"the old password": 401, "a brand new password": 201} {
		if res := e.do("POST", "/shop/api/v1/sessions", "", map[string]string{"email": "change@example.com", "password": pw}, nil); res.code != want {
			t.Fatalf("sign in with %q: %d", pw, res.code)
		}
	}
	// The page: the account page has the form; a wrong current password
	// shows next to its field.
	b := e.browser()
	b.get("/account/login")
	b.post("/account/login", url.Values{"email": {"change@example.com"}, "password": {"a brand new password"}})
	if res := b.get("/account"); res.code != 200 || !strings.Contains(string(res.body), `name="current_password"`) {
		t.Fatalf("account page: %d", res.code)
	}
	if res := b.post("/account/password", url.Values{"current_password": {"nope nope nope"}, "password": {"another new password"}}); res.code != 422 ||
		!fieldError(res.body, "is not your current password") {
		t.Fatalf("page: %d", res.code)
	}
	if res := b.post("/account/password", url.Values{"current_password": {"a brand new password"}, "password": {"another new password"}}); res.code != 303 ||
		res.header.Get("Location") != "/account?changed=password" {
		t.Fatalf("page change: %d", res.code)
	}
}

// A forgotten password is reset with an e-mailed link: single use, with an
// expiry, the same answer for unknown addresses (issue 15, point 13).
func TestResetPassword(t *testing.T) {
	t.Parallel()
	clock := testenv.NewClock(time.Now())
	e := start(t, shop.Config{Now: clock.Now})
	old := e.account("reset@example.com", "R", "the forgotten one", nil)
	forgot := func(email string) response {
		return e.do("POST", "/shop/api/v1/password-resets", "", map[string]string{"email": email}, nil)
	}
	known, unknown := forgot("reset@example.com"), forgot("nobody@example.com")
	if known.code != 202 || known.code != unknown.code || string(known.body) != string(unknown.body) {
		t.Fatalf("known %d %s, unknown %d %s", known.code, known.body, unknown.code, unknown.body)
	}
	if e.mails("nobody@example.com") != 0 {
		t.Fatal("mail to an address without an account")
	}
	token := e.mailToken("reset@example.com", "/account/reset")
	reset := func(token, pw string) response {
		return e.do("POST", "/shop/api/v1/password-resets/complete", "", map[string]string{"token": token, "password": pw}, nil)
	}
	if res := reset(token, "qwertyuiop"); res.code != 422 {
		t.Fatalf("a common password: %d %s", res.code, res.body)
	}
	if res := reset(token, "remembered at last"); res.code != 201 {
		t.Fatalf("reset: %d %s", res.code, res.body)
	}
	if res := reset(token, "and once again please"); res.code != 422 {
		t.Fatalf("the link worked twice: %d", res.code)
	}
	if res := e.do("GET", "/shop/api/v1/me", old, nil, nil); res.code != 401 {
		t.Fatalf("the old session survived the reset: %d", res.code)
	}
	if res := e.do("POST", "/shop/api/v1/sessions", "", map[string]string{"email": "reset@example.com", "password": "remembered at last"}, nil); res.code != 201 {
		t.Fatalf("sign in with the new password: %d", res.code)
	}
	// A link expires.
	forgot("reset@example.com")
	late := e.mailToken("reset@example.com", "/account/reset")
	clock.Advance(2 * time.Hour)
	if res := reset(late, "too late for this one"); res.code != 422 {
		t.Fatalf("an expired link: %d", res.code)
	}
	// The pages: the link opens a form that carries the token in its body.
	b := e.browser()
	b.get("/account/forgot")
	if res := b.post("/account/forgot", url.Values{"email": {"reset@example.com"}}); res.code != 200 || !strings.Contains(string(res.body), "If an account exists") {
		t.Fatalf("forgot page: %d", res.code)
	}
	tok := e.mailToken("reset@example.com", "/account/reset")
	if res := b.get("/account/reset?token=" + tok); res.code != 200 || res.header.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("reset page: %d", res.code)
	}
	if res := b.post("/account/reset", url.Values{"token": {tok}, "password": {"chosen in a browser"}}); res.code != 303 {
		t.Fatalf("reset by page: %d %s", res.code, res.body)
	}
}

// /static/ answers 404 for anything but its files: no listing, no 500
// (issue 15, point 13); an unknown path gets the shop's 404 page.
func TestStaticBadPaths(t *testing.T) {
	t.Parallel()
	e := start(t, shop.Config{})
	for _, p := range []string{"/static/", "/static/nope.css", "/static/..%2fstatic", "/static/%2e%2e/templates/layout.html", "/static/style.css/x"} {
		res := e.do("GET", p, "", nil, nil)
		if res.code != 404 || strings.Contains(string(res.body), "style.css</a>") {
			t.Errorf("%s: %d %.80s", p, res.code, res.body)
		}
	}
	// Any path the shop does not serve: its own page, never the bare
	// "404 page not found" of net/http.
	for _, p := range []string{"/no-such", "/static/nope.css", "/catalog/x/y"} {
		res := e.do("GET", p, "", nil, map[string]string{"Accept": "text/html"})
		if body := string(res.body); res.code != 404 || !strings.Contains(body, "There is no page at "+p+".") ||
			!strings.Contains(body, `rel="stylesheet"`) || strings.Contains(body, "404 page not found") {
			t.Errorf("%s: %d %.200s", p, res.code, res.body)
		}
	}
	if res := e.do("GET", "/static/style.css", "", nil, nil); res.code != 200 {
		t.Fatalf("style: %d", res.code)
	}
}
