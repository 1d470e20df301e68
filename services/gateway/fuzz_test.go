package gateway_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/services/gateway"
)

// FuzzGateway sends arbitrary request targets and headers through the
// whole gateway (its handler, then the public listener's edge) to stand-in
// upstreams: nothing internal is reached, no
// identity reaches the shop or mes-api, staff upstreams only see genuine
// tokens, and every response carries the security headers and a request id.
func FuzzGateway(f *testing.F) {
	for _, s := range []string{"/", "/crm/orders", "/api/v1/x?y=1", "/api/%2e%2e/metrics", "/staff/admin/audit", "/mes//x", "/%2fadmin", "/Metrics", "/staff/login"} {
		f.Add(s, "Fabrika-Identity", "forged", "GET")
		f.Add(s, "Cookie", "fabrika_staff=guess", "POST")
	}
	e := newEnv(f)
	m := e.staff("maria", identity.RoleManager)
	h := e.gw.PublicHandler()
	f.Fuzz(func(t *testing.T, target, hname, hvalue, method string) {
		u, err := url.ParseRequestURI(target)
		if err != nil || u.Opaque != "" || u.Host != "" || !strings.HasPrefix(target, "/") || strings.ContainsAny(target, " \t\r\n") {
			return
		}
		switch method {
		case "GET", "POST", "PUT", "DELETE", "HEAD":
		default:
			method = "GET"
		}
		req := httptest.NewRequest(method, target, strings.NewReader("a=b"))
		if hname != "" && !strings.ContainsAny(hname, "\r\n:\x00 ") && !strings.ContainsAny(hvalue, "\r\n\x00") {
			req.Header[hname] = []string{hvalue}
		}
		if len(target)%2 == 0 { // half of the requests as a signed-in manager
			req.AddCookie(&http.Cookie{Name: gateway.SessionCookie, Value: m.cookies[gateway.SessionCookie]})
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		// And the same through the public listener's edge, which proxies
		// the common reads itself.
		out, err := http.NewRequest(method, e.url, strings.NewReader("a=b"))
		if err != nil {
			t.Fatal(err)
		}
		out.URL.Opaque = target // sent as it is in the request line
		out.Header = req.Header.Clone()
		if method == "GET" || method == "HEAD" {
			out.Body, out.ContentLength = http.NoBody, 0
		}
		res, err := noRedirect.Do(out)
		if err != nil && strings.Contains(err.Error(), "invalid header field") {
			return // what Go's client will not send, no server sees either
		}
		if err != nil {
			t.Fatalf("%s %s through the edge: %v", method, target, err)
		}
		res.Body.Close()
		for _, res := range []*http.Response{rec.Result(), res} {
			if res.Header.Get("Content-Security-Policy") == "" || len(res.Header.Values("X-Request-Id")) != 1 || res.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Fatalf("%s %s: missing headers %v", method, target, res.Header)
			}
		}
		for name, up := range e.ups {
			for _, hit := range up.hits() {
				if forbidden(hit.Path) {
					t.Fatalf("%s %s: %s received internal %s", method, target, name, hit.Path)
				}
				if (name == "shop" || name == "mes-api") && len(hit.IdentityHdr) > 0 {
					t.Fatalf("%s %s: %s received identity headers %v", method, target, name, hit.IdentityHdr)
				}
				if (name == "crm" || name == "mes-operator") && hit.Identity != nil && hit.Identity.Subject != m.id {
					t.Fatalf("%s %s: %s received identity %+v", method, target, name, hit.Identity)
				}
			}
			up.mu.Lock()
			up.seen = nil
			up.mu.Unlock()
		}
	})
}
