package gateway_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/services/gateway"
)

// TestAccessMatrix: every route family x every kind of caller, against
// running stand-in upstreams that verify the identity token.
func TestAccessMatrix(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	principals := map[string]*client{
		"anonymous": e.client(),
		"customer":  e.client(),
		"manager":   e.staff("maria", identity.RoleManager),
		"operator":  e.staff("otto", identity.RoleOperator, "WS-1", "WS-2"),
		"admin":     e.staff("ada", identity.RoleAdmin),
		"apikey":    e.client(),
	}
	principals["customer"].cookies["shop_session"] = "cust-1"
	principals["apikey"].header.Set("Authorization", "Bearer "+apiKey)
	for _, c := range principals {
		c.header.Set("Accept", "application/json")
	}
	everyone := []string{"anonymous", "customer", "manager", "operator", "admin", "apikey"}
	type expect struct {
		upstream string // "" for the gateway's own page
		path     string // what the upstream must see
		allowed  []string
	}
	routes := map[string]expect{
		"/":                   {upstream: "shop", path: "/", allowed: everyone},
		"/products/mug?c=red": {upstream: "shop", path: "/products/mug", allowed: everyone},
		"/crm/orders":         {upstream: "crm", path: "/crm/orders", allowed: []string{"manager", "admin"}},
		"/mes/queue":          {upstream: "mes-operator", path: "/mes/queue", allowed: []string{"operator", "admin"}},
		"/api/v1/orders":      {upstream: "mes-api", path: "/v1/orders", allowed: []string{"apikey"}},
		"/b2b/clients":        {upstream: "mes-api", path: "/b2b/clients", allowed: []string{"admin"}},
		// mes-api's admin pages through the API's prefix: no staff
		// identity goes with them, so nobody gets in.
		"/api/b2b/clients":   {upstream: "mes-api", path: "/b2b/clients"},
		"/staff/":            {allowed: []string{"manager", "operator", "admin"}},
		"/staff/admin/staff": {allowed: []string{"admin"}},
		"/staff/admin/audit": {allowed: []string{"admin"}},
	}
	internal := []string{"/metrics", "/healthz", "/readyz", "/admin/outbox", "/admin/dead-letters", "/pricing/prices",
		"/internal/x", "/api/metrics", "/api/healthz", "/api/admin/outbox", "/api/pricing/prices", "/debug/pprof/"}
	for path, want := range routes {
		api := strings.HasPrefix(path, "/api/") // answered by mes-api's key check, not the gateway's session check
		for _, who := range everyone {
			c := principals[who]
			res := c.do("GET", path, nil, nil)
			allowed := slices.Contains(want.allowed, who)
			switch {
			case allowed && res.StatusCode != http.StatusOK:
				t.Errorf("%s GET %s: %d, want 200: %s", who, path, res.StatusCode, res.body)
				continue
			case !allowed && res.StatusCode == http.StatusOK:
				t.Errorf("%s GET %s: 200, want refused: %s", who, path, res.body)
				continue
			case !allowed:
				wantStatus := http.StatusUnauthorized
				if c.id != "" && !api {
					wantStatus = http.StatusForbidden // signed in, wrong role
				}
				if res.StatusCode != wantStatus {
					t.Errorf("%s GET %s: %d, want %d", who, path, res.StatusCode, wantStatus)
				}
			}
			if want.upstream == "" || res.StatusCode != http.StatusOK && !api {
				continue
			}
			var ec echo
			if res.StatusCode == http.StatusOK {
				ec = res.echo(t)
			} else { // refused by mes-api itself: look at what it received
				hits := e.ups["mes-api"].hits()
				ec = hits[len(hits)-1]
			}
			if ec.Service != want.upstream || ec.Path != want.path {
				t.Errorf("%s GET %s reached %s %s, want %s %s", who, path, ec.Service, ec.Path, want.upstream, want.path)
			}
			// The public services learn the client's address, never a staff identity.
			if (want.upstream == "shop" || api) && (ec.Identity == nil || ec.Identity.Staff() || ec.Identity.ClientAddr == "") {
				t.Errorf("%s GET %s: %s got identity %+v (headers %v), want the client's address only", who, path, want.upstream, ec.Identity, ec.IdentityHdr)
			}
			if want.upstream == "crm" || want.upstream == "mes-operator" || strings.HasPrefix(path, "/b2b/") {
				if ec.Identity == nil || ec.Identity.Subject != c.id || ec.Identity.Role != who {
					t.Errorf("%s GET %s: upstream saw identity %+v, want subject %s role %s", who, path, ec.Identity, c.id, who)
				}
				if ec.CSRF != c.csrf {
					t.Errorf("%s GET %s: upstream got CSRF token %q, want the session's", who, path, ec.CSRF)
				}
			}
			if who == "operator" && ec.Identity.Staff() && !slices.Equal(ec.Identity.Workstations, []string{"WS-1", "WS-2"}) {
				t.Errorf("operator's workstations in the token: %v", ec.Identity.Workstations)
			}
			if strings.Contains(ec.Cookie, gateway.SessionCookie) {
				t.Errorf("%s GET %s: the staff session cookie reached %s", who, path, want.upstream)
			}
			if who == "customer" && want.upstream == "shop" && !strings.Contains(ec.Cookie, "shop_session=cust-1") {
				t.Errorf("customer's shop cookie arrived as %q", ec.Cookie)
			}
			if api && who == "apikey" && ec.Auth != "Bearer "+apiKey {
				t.Errorf("mes-api got Authorization %q", ec.Auth)
			}
		}
	}
	for _, path := range internal {
		for _, who := range everyone {
			if res := principals[who].do("GET", path, nil, nil); res.StatusCode != http.StatusNotFound {
				t.Errorf("%s GET %s: %d, want 404", who, path, res.StatusCode)
			}
		}
	}
	// An admin's form to mes-api's pages carries the session's CSRF token
	// and is audited like every other staff action.
	adm := principals["admin"]
	if res := adm.form("/b2b/clients", url.Values{"name": {"Gear Works"}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("admin's form without the CSRF token: %d", res.StatusCode)
	}
	res := adm.form("/b2b/clients", url.Values{"csrf_token": {adm.csrf}, "name": {"Gear Works"}})
	if ec := res.echo(t); ec.Path != "/b2b/clients" || ec.Method != "POST" || ec.Identity == nil || ec.Identity.Role != identity.RoleAdmin {
		t.Errorf("admin's form reached mes-api as %+v", ec)
	}
	var got []string
	for _, en := range audit(t, adm, "ada") {
		got = append(got, fmt.Sprintf("%s %s %s %d", en.Action, en.Method, en.Path, en.Status))
	}
	if !slices.Contains(got, "request POST /b2b/clients 200") || !slices.Contains(got, "csrf_refused POST /b2b/clients 403") {
		t.Errorf("audit of the admin's B2B forms:\n%s", strings.Join(got, "\n"))
	}
}

// TestNotFoundPages: a path nobody serves, asked for by a browser, gets
// the staff pages' "Not found" page (signed in or not); anything else gets
// problem+json; never net/http's bare "404 page not found".
func TestNotFoundPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	adm := e.staff("ada", identity.RoleAdmin)
	html := http.Header{"Accept": {"text/html,application/xhtml+xml"}}
	for _, tc := range []struct {
		c    *client
		path string
		me   bool // the page shows who is signed in
	}{
		{adm, "/staff/nope", true}, {adm, "/staff/admin/nope", true}, {adm, "/staff/static/nope.css", false},
		{e.client(), "/staff/static/nope.css", false}, {e.client(), "/metrics", false}, {adm, "/CRM/orders", false},
	} {
		res := tc.c.do("GET", tc.path, nil, html)
		body := string(res.body)
		if res.StatusCode != http.StatusNotFound || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") ||
			!strings.Contains(body, "<h1>Not found</h1>") || !strings.Contains(body, `href="/staff/static/style.css"`) ||
			strings.Contains(body, "404 page not found") {
			t.Errorf("browser GET %s: %d %s\n%s", tc.path, res.StatusCode, res.Header.Get("Content-Type"), body)
		}
		if tc.me != strings.Contains(body, "ada (admin)") {
			t.Errorf("browser GET %s: shows the signed-in admin = %v, want %v", tc.path, !tc.me, tc.me)
		}
		res = tc.c.do("GET", tc.path, nil, http.Header{"Accept": {"application/json"}})
		if res.StatusCode != http.StatusNotFound || res.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("API GET %s: %d %s", tc.path, res.StatusCode, res.Header.Get("Content-Type"))
		}
	}
}

// TestBrowserSignInFlow: a browser without a session is sent to sign in and
// comes back where it wanted to go.
func TestBrowserSignInFlow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client()
	res := c.do("GET", "/crm/orders?page=2", nil, http.Header{"Accept": {"text/html"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/staff/login?next=%2Fcrm%2Forders%3Fpage%3D2" {
		t.Fatalf("anonymous browser: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	res = c.do("GET", "/staff/login?next=%2Fcrm%2Forders%3Fpage%3D2", nil, nil)
	if res.StatusCode != 200 || !strings.Contains(string(res.body), `name="next" value="/crm/orders?page=2"`) {
		t.Fatalf("sign-in page: %d %s", res.StatusCode, res.body)
	}
	login := c.cookies[gateway.LoginCookie]
	if login == "" {
		t.Fatal("no sign-in form cookie")
	}
	if err := gateway.CreateStaff(t.Context(), e.db, "mike", "a long enough password", identity.RoleManager, nil); err != nil {
		t.Fatal(err)
	}
	res = c.form("/staff/login", map[string][]string{"login": {"Mike"}, "password": {"a long enough password"}, "csrf_token": {login}, "next": {"/crm/orders?page=2"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/crm/orders?page=2" {
		t.Fatalf("sign in: %d to %q: %s", res.StatusCode, res.Header.Get("Location"), res.body)
	}
	var ck *http.Cookie
	for _, x := range res.Cookies() {
		if x.Name == gateway.SessionCookie {
			ck = x
		}
	}
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Secure {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Lax, not Secure (CookieSecure off)", ck)
	}
	res = c.do("GET", "/crm/orders?page=2", nil, http.Header{"Accept": {"text/html"}})
	if ec := res.echo(t); ec.Query != "page=2" || ec.Identity == nil || ec.Identity.Name != "mike" {
		t.Fatalf("after sign-in: %+v", ec)
	}
	// A wrong role in a browser gets a page, not a redirect loop.
	if res := c.do("GET", "/mes/queue", nil, http.Header{"Accept": {"text/html"}}); res.StatusCode != http.StatusForbidden {
		t.Fatalf("manager on /mes/: %d", res.StatusCode)
	}
	// An open redirect through next is refused.
	for _, next := range []string{"//evil.example/", "https://evil.example/", "/\\evil.example", "/metrics", "/crm/../admin"} {
		c2 := e.client()
		res := c2.signIn("mike", "a long enough password", next)
		if loc := res.Header.Get("Location"); loc != "/crm/" {
			t.Errorf("next=%q: redirected to %q, want /crm/", next, loc)
		}
	}
	// Sign-out ends the session.
	res = c.form("/staff/logout", map[string][]string{"csrf_token": {sessionCSRF(t, c)}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out: %d %s", res.StatusCode, res.body)
	}
	if res := c.do("GET", "/crm/orders", nil, nil); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("after sign-out: %d", res.StatusCode)
	}
}

func sessionCSRF(t *testing.T, c *client) string {
	t.Helper()
	res := c.do("GET", "/staff/", nil, http.Header{"Accept": {"application/json"}})
	if res.StatusCode != 200 {
		t.Fatalf("account: %d", res.StatusCode)
	}
	i := strings.Index(string(res.body), `"csrf_token":"`)
	if i < 0 {
		t.Fatalf("no csrf token in %s", res.body)
	}
	rest := string(res.body[i+len(`"csrf_token":"`):])
	return rest[:strings.IndexByte(rest, '"')]
}
