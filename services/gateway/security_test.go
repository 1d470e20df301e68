package gateway_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/services/gateway"
	"github.com/fabrika/fabrika/services/gateway/internal/route"
)

func TestIdentityHeaderNeverTrusted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, otherKey, _ := identity.GenerateKey()
	forged, _ := identity.NewSigner(otherKey).Sign("crm", identity.Identity{Subject: "x", Name: "eve", Role: identity.RoleAdmin}, time.Now())
	genuine, _ := e.signer.Sign("crm", identity.Identity{Subject: "y", Name: "eve", Role: identity.RoleAdmin}, time.Now())
	expired, _ := e.signer.Sign("crm", identity.Identity{Subject: "z", Name: "eve", Role: identity.RoleAdmin}, time.Now().Add(-time.Hour))
	tokens := map[string]string{"forged": forged, "genuine but replayed": genuine, "expired": expired, "garbage": "not.a.token"}

	anon := e.client()
	anon.header.Set("Accept", "application/json")
	for name, tok := range tokens {
		for _, hdr := range []string{identity.Header, "fabrika_identity", "FABRIKA-IDENTITY"} {
			for _, path := range []string{"/crm/orders", "/mes/queue", "/staff/admin/staff"} {
				if res := anon.do("GET", path, nil, http.Header{hdr: {tok}}); res.StatusCode != http.StatusUnauthorized {
					t.Errorf("anonymous with %s token in %s to %s: %d, want 401", name, hdr, path, res.StatusCode)
				}
			}
			for _, path := range []string{"/", "/api/v1/orders"} {
				// Only the gateway's own token arrives: the client's address, no one signed in.
				res := anon.do("GET", path, nil, http.Header{hdr: {tok}, "Authorization": {"Bearer " + apiKey}})
				if ec := res.echo(t); len(ec.IdentityHdr) != 1 || ec.Identity == nil || ec.Identity.Staff() || ec.Identity.ClientAddr != "127.0.0.1" {
					t.Errorf("%s token in %s reached %s: %v %+v", name, hdr, ec.Service, ec.IdentityHdr, ec.Identity)
				}
			}
		}
	}
	if n := len(e.ups["crm"].hits()) + len(e.ups["mes-operator"].hits()); n != 0 {
		t.Errorf("staff upstreams were reached %d times without a session", n)
	}

	// A signed-in manager cannot raise their role with a header: the
	// gateway replaces it with the session's.
	m := e.staff("maria", identity.RoleManager)
	m.header.Set("Accept", "application/json")
	for name, tok := range tokens {
		if res := m.do("GET", "/mes/queue", nil, http.Header{identity.Header: {tok}}); res.StatusCode != http.StatusForbidden {
			t.Errorf("manager with an admin %s token on /mes/: %d, want 403", name, res.StatusCode)
		}
		res := m.do("GET", "/crm/orders", nil, http.Header{identity.Header: {tok}, "Fabrika_Identity": {tok}})
		ec := res.echo(t)
		if ec.Identity == nil || ec.Identity.Subject != m.id || ec.Identity.Role != identity.RoleManager || len(ec.IdentityHdr) != 1 {
			t.Errorf("manager with %s token: upstream saw %+v (headers %v)", name, ec.Identity, ec.IdentityHdr)
		}
	}
	// A disabled account's session ends at once (on this instance).
	a := e.staff("ada", identity.RoleAdmin)
	res := a.form("/staff/admin/staff/"+m.id, url.Values{"csrf_token": {a.csrf}, "role": {"manager"}, "disabled": {"1"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("disable: %d %s", res.StatusCode, res.body)
	}
	if res := m.do("GET", "/crm/orders", nil, nil); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("disabled manager: %d, want 401", res.StatusCode)
	}
}

func TestCSRF(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.staff("maria", identity.RoleManager)
	a := e.staff("ada", identity.RoleAdmin)
	mp := func(fields map[string]string) (io.Reader, string) {
		var b bytes.Buffer
		w := multipart.NewWriter(&b)
		for k, v := range fields {
			_ = w.WriteField(k, v)
		}
		_ = w.Close()
		return &b, w.FormDataContentType()
	}
	form := "application/x-www-form-urlencoded"
	for _, tc := range []struct {
		name   string
		c      *client
		path   string
		body   func() (io.Reader, string)
		header http.Header
		ok     bool
	}{
		{"form without token", m, "/crm/orders/1/note", func() (io.Reader, string) { return strings.NewReader("note=hi"), form }, nil, false},
		{"form with wrong token", m, "/crm/orders/1/note", func() (io.Reader, string) { return strings.NewReader("note=hi&csrf_token=nope"), form }, nil, false},
		{"form with another session's token", m, "/crm/orders/1/note", func() (io.Reader, string) { return strings.NewReader("note=hi&csrf_token=" + a.csrf), form }, nil, false},
		{"form with token", m, "/crm/orders/1/note", func() (io.Reader, string) { return strings.NewReader("note=hi&csrf_token=" + m.csrf), form }, nil, true},
		{"form with token, cross-site", m, "/crm/orders/1/note", func() (io.Reader, string) { return strings.NewReader("note=hi&csrf_token=" + m.csrf), form }, http.Header{"Sec-Fetch-Site": {"cross-site"}}, false},
		{"form with token, foreign origin", m, "/crm/orders/1/note", func() (io.Reader, string) { return strings.NewReader("note=hi&csrf_token=" + m.csrf), form }, http.Header{"Origin": {"https://evil.example"}}, false},
		{"multipart without token", m, "/crm/orders/1/file", func() (io.Reader, string) { return mp(map[string]string{"a": "b"}) }, nil, false},
		{"multipart with token", m, "/crm/orders/1/file", func() (io.Reader, string) { return mp(map[string]string{"a": "b", "csrf_token": m.csrf}) }, nil, true},
		{"text/plain without token", m, "/crm/orders/1/note", func() (io.Reader, string) { return strings.NewReader("note=hi"), "text/plain" }, nil, false},
		{"no body type without token", m, "/crm/orders/1/cancel", func() (io.Reader, string) { return nil, "" }, nil, false},
		{"no body type, header token", m, "/crm/orders/1/cancel", func() (io.Reader, string) { return nil, "" }, http.Header{"X-Csrf-Token": {m.csrf}}, true},
		{"JSON same-origin", m, "/crm/api/orders", func() (io.Reader, string) { return strings.NewReader(`{"a":1}`), "application/json" }, http.Header{"Sec-Fetch-Site": {"same-origin"}}, true},
		{"JSON cross-site", m, "/crm/api/orders", func() (io.Reader, string) { return strings.NewReader(`{"a":1}`), "application/json" }, http.Header{"Sec-Fetch-Site": {"cross-site"}}, false},
		{"JSON wrong header token", m, "/crm/api/orders", func() (io.Reader, string) { return strings.NewReader(`{"a":1}`), "application/json" }, http.Header{"X-Csrf-Token": {"nope"}}, true},
		{"own page without token", m, "/staff/password", func() (io.Reader, string) { return strings.NewReader("current=x"), form }, nil, false},
		{"admin page without token", a, "/staff/admin/staff", func() (io.Reader, string) {
			return strings.NewReader("login=x&role=manager&password=aaaaaaaaaaaaaa"), form
		}, nil, false},
		{"sign-out without token", m, "/staff/logout", func() (io.Reader, string) { return nil, form }, nil, false},
	} {
		before := len(e.ups["crm"].hits())
		body, ct := tc.body()
		h := http.Header{}
		if ct != "" {
			h.Set("Content-Type", ct)
		}
		for k, v := range tc.header {
			h[k] = v
		}
		res := tc.c.do("POST", tc.path, body, h)
		reached := len(e.ups["crm"].hits()) > before
		if tc.ok && (res.StatusCode != http.StatusOK || !reached) {
			t.Errorf("%s: %d (reached upstream %v), want 200: %s", tc.name, res.StatusCode, reached, res.body)
		}
		if !tc.ok && (res.StatusCode != http.StatusForbidden || reached) {
			t.Errorf("%s: %d (reached upstream %v), want 403", tc.name, res.StatusCode, reached)
		}
		if tc.ok && reached && strings.HasPrefix(ct, "application/x-www") {
			if got := e.ups["crm"].hits()[before].Body; got != "note=hi&csrf_token="+m.csrf {
				t.Errorf("%s: upstream got body %q", tc.name, got)
			}
		}
	}
	// Sign-in form without its cookie (login CSRF).
	c := e.client()
	res := c.form("/staff/login", url.Values{"login": {"maria"}, "password": {"a long enough password"}, "csrf_token": {"x"}})
	if res.StatusCode != http.StatusForbidden || c.cookies[gateway.SessionCookie] != "" {
		t.Errorf("sign-in without the form cookie: %d", res.StatusCode)
	}
}

// rawStatus sends a request line exactly as given.
func rawStatus(t *testing.T, base, target string) int {
	t.Helper()
	u, _ := url.Parse(base)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: application/json\r\nConnection: close\r\n\r\n", target, u.Host)
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s: %v", target, err)
	}
	res.Body.Close()
	return res.StatusCode
}

func TestPathTricksRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var targets []string
	for _, prefix := range []string{"/", "/crm/", "/mes/", "/api/", "/staff/", "/api/v1/"} {
		p := strings.TrimSuffix(prefix, "/")
		for _, name := range route.Forbidden() {
			targets = append(targets, prefix+name, prefix+strings.ToUpper(name), prefix+name+";x", prefix+name+".",
				p+"/../"+name, p+"/%2e%2e/"+name, p+"/%2E%2e/"+name, p+"/..%2f"+name, p+"%2f"+name, p+"/..%5c"+name,
				p+"/..\\"+name, p+"//"+name, p+"/./"+name, p+"/%252e%252e/"+name, p+"/x/../../"+name, p+"/..;/"+name)
		}
	}
	targets = append(targets, "/CRM/orders", "/Api/v1/orders", "/STAFF/admin/staff", "/%2fadmin/outbox", "//admin/outbox",
		"http://internal/admin/outbox", "/api/v1/%2e%2e/%2e%2e/metrics")
	for _, target := range targets {
		if st := rawStatus(t, e.url, target); st != http.StatusBadRequest && st != http.StatusNotFound {
			if strings.HasPrefix(target, "/crm/") || strings.HasPrefix(target, "/mes/") || strings.HasPrefix(target, "/staff/") || strings.HasPrefix(target, "/api/v1/") {
				// A page of the CRM named /crm/admin is the CRM's, and
				// mes-api's /v1/metrics is mes-api's: they need a session
				// or a key (401), or a slash (/staff/admin -> /staff/admin/).
				// What matters is checked below: no upstream saw an
				// internal route.
				if st == http.StatusUnauthorized || st == http.StatusPermanentRedirect {
					continue
				}
			}
			t.Errorf("%s: %d, want 400 or 404", target, st)
		}
	}
	for name, u := range e.ups {
		for _, h := range u.hits() {
			first := strings.ToLower(strings.Split(strings.TrimPrefix(h.Path, "/"), "/")[0])
			if slices.Contains(route.Forbidden(), strings.TrimRight(first, ". ")) {
				t.Errorf("%s received %s", name, h.Path)
			}
		}
	}
}

func TestHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client()
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for _, path := range []string{"/", "/api/v1/x", "/staff/login", "/metrics", "/crm/x", "/a//b"} {
		res := c.do("GET", path, nil, http.Header{"Traceparent": {tp}, "X-Forwarded-For": {"6.6.6.6"}, "X-Forwarded-Host": {"evil.example"}, "Forwarded": {"for=6.6.6.6"}})
		h := res.Header
		for k, want := range map[string]string{
			"Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'",
			"X-Content-Type-Options":  "nosniff",
			"Referrer-Policy":         "strict-origin-when-cross-origin",
		} {
			if got := h.Values(k); len(got) != 1 || got[0] != want {
				t.Errorf("%s: %s = %q, want exactly %q", path, k, got, want)
			}
		}
		if ids := h.Values("X-Request-Id"); len(ids) != 1 || ids[0] == "" || ids[0] == "upstream-made-this" {
			t.Errorf("%s: X-Request-Id %q", path, ids)
		}
		if h.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s: HSTS without TLS", path)
		}
		if strings.Contains(strings.Join(h.Values("Set-Cookie"), "\n"), gateway.SessionCookie+"=planted") {
			t.Errorf("%s: an upstream set the staff session cookie", path)
		}
		if path == "/" {
			ec := res.echo(t)
			host := strings.TrimPrefix(e.url, "http://")
			if ec.XFF != "127.0.0.1" || ec.XFProto != "http" || ec.XFHost != host {
				t.Errorf("forwarded headers: for=%q proto=%q host=%q", ec.XFF, ec.XFProto, ec.XFHost)
			}
			if ec.RequestID != h.Get("X-Request-Id") {
				t.Errorf("upstream got request id %q, client %q", ec.RequestID, h.Get("X-Request-Id"))
			}
			if !strings.Contains(ec.Traceparent, "4bf92f3577b34da6a3ce929d0e0e4736") {
				t.Errorf("trace context not passed on: %q", ec.Traceparent)
			}
			if !strings.Contains(strings.Join(h.Values("Set-Cookie"), "\n"), "upstream_cookie=kept") {
				t.Errorf("the shop's own cookie was dropped")
			}
		}
	}
	// A client's request id is kept (within bounds) end to end.
	res := c.do("GET", "/", nil, http.Header{"X-Request-Id": {"client-chose-this"}})
	if ec := res.echo(t); ec.RequestID != "client-chose-this" || res.Header.Get("X-Request-Id") != "client-chose-this" {
		t.Errorf("request id: upstream %q, response %q", ec.RequestID, res.Header.Get("X-Request-Id"))
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *gateway.Config) { c.MaxBodyBytes = 1024 })
	c := e.client()
	c.header.Set("Authorization", "Bearer "+apiKey)
	big := strings.Repeat("x", 4096)
	if res := c.do("POST", "/api/v1/orders", strings.NewReader(big), http.Header{"Content-Type": {"application/json"}}); res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("declared large body: %d, want 413", res.StatusCode)
	}
	// Chunked: the size is only known while streaming to the upstream.
	res := c.do("POST", "/api/v1/orders", io.MultiReader(strings.NewReader(big)), http.Header{"Content-Type": {"application/json"}})
	if res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked large body: %d, want 413", res.StatusCode)
	}
	if res := c.do("POST", "/api/v1/orders", strings.NewReader(big[:1000]), http.Header{"Content-Type": {"application/json"}}); res.StatusCode != http.StatusOK {
		t.Errorf("small body: %d", res.StatusCode)
	}
	m := e.staff("maria", identity.RoleManager)
	res = m.do("POST", "/crm/x", io.MultiReader(strings.NewReader("a="+big)), http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
	if res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked large form to a staff route: %d, want 413", res.StatusCode)
	}
}

// TestSignInDelaysAndRateLimits: failed sign-ins delay the next attempt
// more and more (429 with Retry-After, audited, counted), never lock the
// account: once the delay has passed the right password works.
func TestSignInDelaysAndRateLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.clock.Freeze()
	if err := gateway.CreateStaff(t.Context(), e.db, "lena", "a long enough password", identity.RoleManager, nil); err != nil {
		t.Fatal(err)
	}
	c := e.client()
	for i := range 3 { // free failures
		if res := c.signIn("lena", "wrong password!!", ""); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i+1, res.StatusCode)
		}
	}
	var waits []int
	for range 3 { // each failure doubles the delay
		c.signIn("lena", "wrong password!!", "")
		res := c.signIn("lena", "a long enough password", "")
		wait, _ := strconv.Atoi(res.Header.Get("Retry-After"))
		if res.StatusCode != http.StatusTooManyRequests || wait <= 0 {
			t.Fatalf("right password within the delay: %d, Retry-After %q", res.StatusCode, res.Header.Get("Retry-After"))
		}
		waits = append(waits, wait)
		e.clock.Advance(time.Duration(wait) * time.Second)
	}
	if waits[2] <= waits[0] {
		t.Errorf("delays %v do not grow", waits)
	}
	if res := c.signIn("lena", "a long enough password", ""); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("after the delay: %d %s", res.StatusCode, res.body)
	}
	// Per address: 20 attempts at once, any logins, then refused.
	e.clock.Advance(time.Hour)
	limited := false
	for i := range 30 {
		if res := e.client().signIn(fmt.Sprintf("user%d", i), "whatever password", ""); res.StatusCode == http.StatusTooManyRequests {
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("no per-address limit after 30 attempts from one address")
	}
	// The audit log and the metric tell the admin what happened.
	e.clock.Advance(time.Hour)
	adm := e.staff("ada", identity.RoleAdmin)
	var actions []string
	for _, en := range audit(t, adm, "lena") {
		actions = append(actions, en.Action+":"+en.Detail)
	}
	joined := strings.Join(actions, "\n")
	if !strings.Contains(joined, "signin:") || !strings.Contains(joined, "signin_throttled:") || !strings.Contains(joined, "the next attempt waits") {
		t.Errorf("audit of lena:\n%s", joined)
	}
	if n := e.counter("fabrika_gateway_signins_total", "result", "throttled"); n < 3 {
		t.Errorf("%v throttled sign-ins in the metrics, want 3 or more", n)
	}
}

type auditEntry struct {
	Login, Role, Action, Method, Path, IP, Detail string
	RequestID                                     string `json:"request_id"`
	Status                                        int
}

func audit(t *testing.T, adm *client, login string) []auditEntry {
	t.Helper()
	res := adm.do("GET", "/staff/admin/audit?format=json&login="+login, nil, nil)
	if res.StatusCode != 200 {
		t.Fatalf("audit: %d %s", res.StatusCode, res.body)
	}
	var out struct{ Entries []auditEntry }
	if err := json.Unmarshal(res.body, &out); err != nil {
		t.Fatal(err)
	}
	return out.Entries
}

func TestAuditAndStaffAdmin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	adm := e.staff("ada", identity.RoleAdmin)
	// An admin creates an operator through the pages.
	res := adm.form("/staff/admin/staff", url.Values{"csrf_token": {adm.csrf}, "login": {"olga"}, "role": {"operator"}, "workstations": {"WS-7"}, "password": {"short"}})
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(res.body), "at least 12 characters") {
		t.Fatalf("weak password: %d %s", res.StatusCode, res.body)
	}
	res = adm.form("/staff/admin/staff", url.Values{"csrf_token": {adm.csrf}, "login": {"olga"}, "role": {"operator"}, "workstations": {"WS-7"}, "password": {"a long password for WS-7"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d %s", res.StatusCode, res.body)
	}
	o := e.client()
	if res := o.signIn("olga", "a long password for WS-7", ""); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/mes/" {
		t.Fatalf("olga signs in: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	o.csrf = sessionCSRF(t, o)
	res = o.form("/mes/orders/1/start", url.Values{"csrf_token": {o.csrf}, "ws": {"WS-7"}})
	if ec := res.echo(t); ec.Identity == nil || !slices.Equal(ec.Identity.Workstations, []string{"WS-7"}) {
		t.Fatalf("olga's start: %+v", ec)
	}
	o.do("GET", "/mes/queue", nil, nil) // reads are not audited
	res = o.form("/staff/logout", url.Values{"csrf_token": {o.csrf}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out: %d", res.StatusCode)
	}
	entries := audit(t, adm, "olga")
	var got []string
	for _, en := range entries {
		got = append(got, fmt.Sprintf("%s %s %s %d %s", en.Action, en.Method, en.Path, en.Status, en.IP))
		if en.RequestID == "" {
			t.Errorf("audit entry %s %s without a request id", en.Action, en.Path)
		}
	}
	want := []string{"signout POST /staff/logout 303 127.0.0.1", "request POST /mes/orders/1/start 200 127.0.0.1", "signin POST /staff/login 303 127.0.0.1"}
	if !slices.Equal(got, want) {
		t.Errorf("audit of olga:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	entries = audit(t, adm, "ada")
	if len(entries) < 2 || entries[0].Action != "staff.create" || !strings.Contains(entries[0].Detail, "created olga as operator") {
		t.Errorf("admin's own actions: %+v", entries)
	}
	// The HTML view.
	res = adm.do("GET", "/staff/admin/audit", nil, nil)
	if res.StatusCode != 200 || !strings.Contains(string(res.body), "/mes/orders/1/start") || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Errorf("audit page: %d", res.StatusCode)
	}
	// Operators are bound to at least one workstation.
	if err := gateway.CreateStaff(t.Context(), e.db, "oleg", "a long enough password", identity.RoleOperator, nil); err == nil {
		t.Error("an operator without a workstation was created")
	}
	if err := gateway.CreateStaff(t.Context(), e.db, "ada", "a long enough password", identity.RoleAdmin, nil); err == nil {
		t.Error("a second account with one login was created")
	}
}
