package mesapi_test

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/platform/webasset"
	mesapi "github.com/fabrika/fabrika/services/mes-api"
)

// page sends a browser's request to the admins' pages as the gateway
// forwards it: a fresh staff token of role, the session's CSRF token, and
// a form body when form is not nil. Redirects are not followed.
func (e *env) page(method, path, role string, form url.Values, hdr ...string) (int, http.Header, string) {
	e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(e.ctx, method, e.base+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if role != "" {
		tok, err := e.signer.Sign("mes-api", identity.Identity{Subject: "staff-1", Name: "ada", Role: role}, time.Now())
		if err != nil {
			e.t.Fatal(err)
		}
		req.Header.Set(identity.Header, tok)
		req.Header.Set(identity.HeaderCSRF, "csrf-of-the-session")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return res.StatusCode, res.Header, string(b)
}

var plainKey = regexp.MustCompile(`fk_live_[0-9a-f]{8}_[A-Za-z0-9_-]{20,}`)

// TestAdminPages: an admin lists the API clients, creates one, makes a key
// (its secret shown once, on the answer only, never cached), sees its scopes
// and last use, rolls it and revokes it after a confirmation, and revokes
// the client; bad input re-renders the form with its message; only admins
// get in; unknown paths get the area's 404 page, and the API's problem+json.
func TestAdminPages(t *testing.T) {
	t.Parallel()
	e := start(t, fastWebhooks(), false)
	admin := identity.RoleAdmin
	mustPage := func(method, path string, form url.Values, want int) (http.Header, string) {
		t.Helper()
		status, h, body := e.page(method, path, admin, form)
		if status != want {
			t.Fatalf("%s %s: %d, want %d:\n%s", method, path, status, want, body)
		}
		if want != http.StatusSeeOther {
			if !strings.HasPrefix(h.Get("Content-Type"), "text/html") || h.Get("Cache-Control") != "no-store" {
				t.Errorf("%s %s: Content-Type %q, Cache-Control %q; want an HTML page, no-store", method, path, h.Get("Content-Type"), h.Get("Cache-Control"))
			}
			if m := webasset.Inline(body); m != "" {
				t.Errorf("%s %s has inline %q", method, path, m)
			}
			if !regexp.MustCompile(`href="/b2b/static/style\.css\?v=[0-9a-f]+"`).MatchString(body) || !strings.Contains(body, `rel="icon"`) {
				t.Errorf("%s %s links no style sheet or icon", method, path)
			}
			if !strings.Contains(body, `action="/staff/logout"`) || !strings.Contains(body, "ada (admin)") {
				t.Errorf("%s %s: the header shows no sign-out or no signed-in name", method, path)
			}
		}
		return h, body
	}

	// Only admins; a browser without a token is never served a page.
	for role, want := range map[string]int{"": http.StatusUnauthorized, identity.RoleManager: http.StatusForbidden, identity.RoleOperator: http.StatusForbidden} {
		if status, _, body := e.page("GET", "/b2b/clients", role, nil); status != want {
			t.Errorf("role %q: %d, want %d: %s", role, status, want, body)
		}
		if status, _, _ := e.page("POST", "/b2b/clients", role, url.Values{"name": {"Sneaky"}}); status != want {
			t.Errorf("role %q posting a client: %d, want %d", role, status, want)
		}
	}

	_, body := mustPage("GET", "/b2b/clients", nil, http.StatusOK)
	if !strings.Contains(body, "No API clients yet.") || !strings.Contains(body, `name="csrf_token" value="csrf-of-the-session"`) {
		t.Fatalf("empty list, or no CSRF field in the form:\n%s", body)
	}
	if _, _, body := e.page("GET", "/b2b/", admin, nil); !strings.Contains(body, "/b2b/clients") {
		t.Errorf("/b2b/ does not lead to the clients: %s", body)
	}

	// Bad input: the form again with its message and what was typed.
	_, body = mustPage("POST", "/b2b/clients", url.Values{"name": {" "}, "email": {"not an address"}}, http.StatusUnprocessableEntity)
	if !strings.Contains(body, "The client is not valid.") || !strings.Contains(body, "is required") ||
		!strings.Contains(body, "must be an e-mail address") || !strings.Contains(body, `value="not an address"`) {
		t.Errorf("bad client form:\n%s", body)
	}
	if n := e.count("api_client"); n != 0 {
		t.Fatalf("a bad form made %d clients", n)
	}

	h, _ := mustPage("POST", "/b2b/clients", url.Values{"name": {"Gear Works"}, "email": {"it@gear.example"}}, http.StatusSeeOther)
	loc := h.Get("Location")
	clientPath, _, _ := strings.Cut(loc, "?")
	if !strings.HasPrefix(loc, "/b2b/clients/") || !strings.HasSuffix(loc, "?done=created") {
		t.Fatalf("created client: to %q", loc)
	}
	_, body = mustPage("GET", loc, nil, http.StatusOK)
	if !strings.Contains(body, "Client created.") || !strings.Contains(body, "Gear Works") || !strings.Contains(body, "No keys yet.") {
		t.Errorf("client page:\n%s", body)
	}

	// A key: no scope, or a rate that is not a number, is refused by field.
	for _, tc := range []struct {
		form url.Values
		msg  string
	}{
		{url.Values{"rate": {"50"}}, "at least one scope is required"},
		{url.Values{"scopes": {"orders:read"}, "rate": {"fifty"}}, "must be a whole number"},
		{url.Values{"scopes": {"orders:read"}, "rate": {"0"}}, "must be between 1 and 100000"},
		{url.Values{"scopes": {"root"}}, "unknown scope"},
	} {
		if _, body := mustPage("POST", clientPath+"/keys", tc.form, http.StatusUnprocessableEntity); !strings.Contains(body, tc.msg) {
			t.Errorf("key form %v: no %q:\n%s", tc.form, tc.msg, body)
		}
	}
	if n := e.count("api_key"); n != 0 {
		t.Fatalf("bad key forms made %d keys", n)
	}

	// The secret on the answer, once.
	_, body = mustPage("POST", clientPath+"/keys", url.Values{"scopes": {"orders:read", "webhooks:manage"}, "rate": {"50"}}, http.StatusCreated)
	key := plainKey.FindString(body)
	if key == "" || !strings.Contains(body, "shown only on this page") || !strings.Contains(body, "orders:read, webhooks:manage") {
		t.Fatalf("new key page:\n%s", body)
	}
	if res := e.do("GET", "/v1/orders", key, nil, nil); res.status != http.StatusOK || res.header.Get("RateLimit-Limit") != "50" {
		t.Fatalf("the new key: %d %v", res.status, res.header)
	}
	_, list := mustPage("GET", "/b2b/clients", nil, http.StatusOK)
	_, card := mustPage("GET", clientPath, nil, http.StatusOK)
	prefix := key[:len("fk_live_")+8]
	for name, page := range map[string]string{"list": list, "client": card} {
		if plainKey.MatchString(page) {
			t.Errorf("the %s page shows a secret again", name)
		}
		if !strings.Contains(page, prefix+"…") || !strings.Contains(page, `<span class="scope">webhooks:manage</span>`) {
			t.Errorf("the %s page does not show the key and its scopes:\n%s", name, page)
		}
	}
	// Its last use, written when the key was used just now.
	if !strings.Contains(list, "last used "+time.Now().UTC().Format("2006-01-02")) || strings.Contains(card, ">never<") {
		t.Errorf("the key's last use is not shown:\n%s\n%s", list, card)
	}

	cs, err := mesapi.ListClients(e.ctx, e.h.DB)
	if err != nil || len(cs) != 1 || len(cs[0].Keys) != 1 {
		t.Fatalf("clients: %+v %v", cs, err)
	}
	keyPath := clientPath + "/keys/" + cs[0].Keys[0].ID

	// Roll: asked first, then a new secret; the old key stops at once.
	_, body = mustPage("GET", keyPath+"/roll", nil, http.StatusOK)
	if !strings.Contains(body, `action="`+keyPath+`/roll"`) || !strings.Contains(body, "Roll the key "+prefix) {
		t.Errorf("roll confirmation:\n%s", body)
	}
	if n := e.count("api_key"); n != 1 {
		t.Fatalf("the confirmation page changed the keys: %d", n)
	}
	_, body = mustPage("POST", keyPath+"/roll", url.Values{}, http.StatusCreated)
	rolled := plainKey.FindString(body)
	if rolled == "" || rolled == key || !strings.Contains(body, prefix+"…</code> is revoked") {
		t.Fatalf("rolled key page:\n%s", body)
	}
	if res := e.do("GET", "/v1/orders", key, nil, nil); res.status != http.StatusUnauthorized {
		t.Errorf("the rolled-over key: %d", res.status)
	}
	if res := e.do("GET", "/v1/orders", rolled, nil, nil); res.status != http.StatusOK || res.header.Get("RateLimit-Limit") != "50" {
		t.Errorf("the new key: %d %v", res.status, res.header)
	}
	// The old key cannot be rolled again.
	if _, body := mustPage("POST", keyPath+"/roll", url.Values{}, http.StatusConflict); !strings.Contains(body, "the key is revoked") &&
		!strings.Contains(body, "The key is revoked") {
		t.Errorf("roll of a revoked key:\n%s", body)
	}

	// Revoke: asked first, then the key is refused.
	cs, _ = mesapi.ListClients(e.ctx, e.h.DB)
	var newID string
	for _, k := range cs[0].Keys {
		if k.RevokedAt.IsZero() {
			newID = k.ID
		}
	}
	newPath := clientPath + "/keys/" + newID
	if _, body := mustPage("GET", newPath+"/revoke", nil, http.StatusOK); !strings.Contains(body, `action="`+newPath+`/revoke"`) {
		t.Errorf("revoke confirmation:\n%s", body)
	}
	h, _ = mustPage("POST", newPath+"/revoke", url.Values{}, http.StatusSeeOther)
	if h.Get("Location") != clientPath+"?done=revoked" {
		t.Errorf("revoked: to %q", h.Get("Location"))
	}
	if res := e.do("GET", "/v1/orders", rolled, nil, nil); res.status != http.StatusUnauthorized {
		t.Errorf("the revoked key: %d", res.status)
	}
	if _, body := mustPage("GET", clientPath+"?done=revoked", nil, http.StatusOK); strings.Count(body, `class="revoked"`) != 2 ||
		strings.Contains(body, "/roll\"") || !strings.Contains(body, "Key revoked") {
		t.Errorf("client page after the revocations:\n%s", body)
	}

	// The client: asked first, then revoked; no new key is offered.
	mustPage("GET", clientPath+"/revoke", nil, http.StatusOK)
	mustPage("POST", clientPath+"/revoke", url.Values{}, http.StatusSeeOther)
	if _, body := mustPage("GET", clientPath, nil, http.StatusOK); strings.Contains(body, "Make a key") || !strings.Contains(body, "revoked") {
		t.Errorf("revoked client page:\n%s", body)
	}
	if _, body := mustPage("POST", clientPath+"/keys", url.Values{"scopes": {"orders:read"}}, http.StatusConflict); !strings.Contains(body, "The client is revoked.") {
		t.Errorf("key for a revoked client:\n%s", body)
	}

	// A form from another site is refused with the area's page.
	if status, h, body := e.page("POST", "/b2b/clients", admin, url.Values{"name": {"Cross"}}, "Sec-Fetch-Site", "cross-site"); status != http.StatusForbidden ||
		!strings.HasPrefix(h.Get("Content-Type"), "text/html") || !strings.Contains(body, "did not come from a Fabrika page") {
		t.Errorf("cross-site form: %d %s", status, body)
	}

	// Unknown paths: the area's 404 page; elsewhere problem+json.
	for _, path := range []string{"/b2b/nope", "/b2b/clients/nope", "/b2b/clients/" + cs[0].ID + "/keys/nope/roll", "/b2b/static/nope.css", "/b2b/clients/" + cs[0].ID + "/frobnicate"} {
		if _, body := mustPage("GET", path, nil, http.StatusNotFound); !strings.Contains(body, "<h1>Not Found</h1>") {
			t.Errorf("%s: not the area's 404 page:\n%s", path, body)
		}
	}
	for _, tc := range []struct {
		method, path string
		status       int
	}{{"GET", "/nope", 404}, {"GET", "/v1/nope", 404}, {"PUT", "/v1/orders", 405}, {"DELETE", "/clients", 405}} {
		status, h, body := e.page(tc.method, tc.path, "", nil)
		if status != tc.status || h.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s %s: %d %s %s, want %d problem+json", tc.method, tc.path, status, h.Get("Content-Type"), body, tc.status)
		}
		if tc.status == 405 && h.Get("Allow") == "" {
			t.Errorf("%s %s: 405 without Allow", tc.method, tc.path)
		}
	}
}
