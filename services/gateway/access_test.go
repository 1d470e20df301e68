package gateway_test

import (
	"net/http"
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
		"/staff/":             {allowed: []string{"manager", "operator", "admin"}},
		"/staff/admin/staff":  {allowed: []string{"admin"}},
		"/staff/admin/audit":  {allowed: []string{"admin"}},
	}
	internal := []string{"/metrics", "/healthz", "/readyz", "/admin/outbox", "/admin/dead-letters", "/pricing/prices",
		"/internal/x", "/api/metrics", "/api/healthz", "/api/admin/outbox", "/api/pricing/prices", "/debug/pprof/"}
	for path, want := range routes {
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
				if c.id != "" && want.upstream != "mes-api" {
					wantStatus = http.StatusForbidden // signed in, wrong role
				}
				if res.StatusCode != wantStatus {
					t.Errorf("%s GET %s: %d, want %d", who, path, res.StatusCode, wantStatus)
				}
			}
			if want.upstream == "" || res.StatusCode != http.StatusOK && want.upstream != "mes-api" {
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
			if (want.upstream == "shop" || want.upstream == "mes-api") && (ec.Identity == nil || ec.Identity.Staff() || ec.Identity.ClientAddr == "") {
				t.Errorf("%s GET %s: %s got identity %+v (headers %v), want the client's address only", who, path, want.upstream, ec.Identity, ec.IdentityHdr)
			}
			if want.upstream == "crm" || want.upstream == "mes-operator" {
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
			if want.upstream == "mes-api" && who == "apikey" && ec.Auth != "Bearer "+apiKey {
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
