package gateway_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/services/gateway"
)

// FuzzGateway sends arbitrary request targets and headers through the
// whole gateway (its handler, then the public listener) to stand-in
// upstreams: nothing internal is reached, no
// staff identity reaches the shop or mes-api (only the gateway's token with
// the client's address), staff upstreams only see genuine
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
		// And the same through the public listener.
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
			t.Fatalf("%s %s through the public listener: %v", method, target, err)
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
				if (name == "shop" || name == "mes-api") && (len(hit.IdentityHdr) != 1 || hit.Identity == nil || hit.Identity.Staff()) {
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

// FuzzEdgeRaw sends arbitrary request heads, as bytes, to the public
// listener: whatever net/http's server makes of them, every answer carries the
// security headers and one request id, nothing internal is reached, and no
// staff identity reaches the shop or mes-api.
func FuzzEdgeRaw(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /crm/x HTTP/1.1\r\nHost: x\r\nFabrika-Identity: forged\r\n\r\n",
		"GET /api/v1/x HTTP/1.1\r\nHost: x\r\nFabrika_Identity: forged\r\nConnection: Fabrika-Identity\r\n\r\n",
		"GET /%2e%2e/metrics HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET http://x/metrics HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nX Bad: 1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\n\r\n",
		"POST /api/v1/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
		"GET / HTTP/1.0\r\n\r\n",
	} {
		f.Add(s)
	}
	e := newEnv(f)
	u, _ := url.Parse(e.url)
	f.Fuzz(func(t *testing.T, head string) {
		conn, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
		if _, err := io.WriteString(conn, head); err != nil {
			return
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.CloseWrite() // nothing more comes: the server answers or closes
		}
		br := bufio.NewReader(conn)
		for {
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				break // closed without (another) answer, or not HTTP: nothing to check
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode >= 200 && (res.Header.Get("X-Frame-Options") != "DENY" || len(res.Header.Values("X-Request-Id")) != 1) {
				t.Fatalf("%q: %d without the gateway's headers: %v", head, res.StatusCode, res.Header)
			}
		}
		for name, up := range e.ups {
			for _, hit := range up.hits() {
				if forbidden(hit.Path) {
					t.Fatalf("%q: %s received internal %s", head, name, hit.Path)
				}
				if (name == "shop" || name == "mes-api") && (len(hit.IdentityHdr) != 1 || hit.Identity == nil || hit.Identity.Staff()) {
					t.Fatalf("%q: %s received identity headers %v", head, name, hit.IdentityHdr)
				}
			}
			up.mu.Lock()
			up.seen = nil
			up.mu.Unlock()
		}
	})
}
