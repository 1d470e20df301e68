package gateway_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/services/gateway"
)

// TestPublicAnswers: every kind of request through the public listener
// gets its answer with the gateway's headers.
func TestPublicAnswers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	anon := e.client()
	api := e.client()
	api.header.Set("Authorization", "Bearer "+apiKey)
	m := e.staff("maria", identity.RoleManager)
	op := e.staff("oleg", identity.RoleOperator, "WS-1")
	for _, tc := range []struct {
		name   string
		c      *client
		method string
		path   string
		status int
	}{
		{"shop read", anon, "GET", "/products/1?page=2", 200},
		{"shop head", anon, "HEAD", "/products/1", 200},
		{"api read", api, "GET", "/api/v1/orders/7", 200},
		{"crm read, manager", m, "GET", "/crm/orders", 200},
		{"mes read, operator", op, "GET", "/mes/queue", 200},
		{"crm read, anonymous", anon, "GET", "/crm/orders", 401},
		{"crm read, operator", op, "GET", "/crm/orders", 403},
		{"crm action", m, "POST", "/crm/orders/1/notes", 403}, // no CSRF token
		{"api action", api, "POST", "/api/v1/orders", 200},
		{"staff page", m, "GET", "/staff/", 200},
		{"refused path", anon, "GET", "/a//b", 400},
		{"internal route", anon, "GET", "/metrics", 404},
		{"redirect", m, "GET", "/crm", 308},
	} {
		res := tc.c.do(tc.method, tc.path, strings.NewReader(""), http.Header{"Accept": {"application/json"}})
		if res.StatusCode != tc.status {
			t.Errorf("%s: %d, want %d: %s", tc.name, res.StatusCode, tc.status, res.body)
		}
		if len(res.Header.Values("X-Request-Id")) != 1 || res.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: headers %v", tc.name, res.Header)
		}
	}
}

// TestPublicForwarding checks what a proxied read sends upstream and
// returns.
func TestPublicForwarding(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client()

	// The path as it came (escaped), the query unchanged; hop-by-hop
	// headers, and those Connection names, stay here.
	res := c.do("GET", "/products/a%20b%3Fc;v=1?q=1&x=%2F", nil, http.Header{
		"Connection": {"X-Secret, Keep-Alive"}, "X-Secret": {"s"}, "Keep-Alive": {"timeout=5"},
		"Proxy-Authorization": {"Basic eA=="}, "X-Kept": {"one", "two"}, "Fabrika_Identity": {"forged"},
		"Cookie": {gateway.SessionCookie + "=stolen; theme=dark"},
	})
	ec := res.echo(t)
	if ec.Path != "/products/a b?c;v=1" || ec.RawPath != "/products/a%20b%3Fc;v=1" || ec.Query != "q=1&x=%2F" {
		t.Errorf("upstream got path %q (raw %q), query %q", ec.Path, ec.RawPath, ec.Query)
	}
	for _, h := range []string{"X-Secret", "Keep-Alive", "Proxy-Authorization", "Fabrika_identity"} {
		if v := ec.Header.Values(h); len(v) > 0 {
			t.Errorf("upstream got %s: %q", h, v)
		}
	}
	if got := ec.Header.Values("X-Kept"); len(got) != 2 || got[0] != "one" || got[1] != "two" {
		t.Errorf("X-Kept: %q", got)
	}
	if ec.Cookie != "theme=dark" {
		t.Errorf("cookie upstream: %q", ec.Cookie)
	}
	if ec.Header.Get("User-Agent") != "Go-http-client/1.1" {
		t.Errorf("user agent: %q", ec.Header.Get("User-Agent"))
	}

	// HEAD: the upstream's length (of its echo), no body.
	head := c.do("HEAD", "/products/1", nil, nil)
	if head.StatusCode != 200 || len(head.body) != 0 || head.ContentLength < 100 {
		t.Errorf("HEAD: %d, %d bytes, Content-Length %d", head.StatusCode, len(head.body), head.ContentLength)
	}

	// A large answer comes whole.
	big := c.do("GET", "/large/file", nil, nil)
	want := bytes.Repeat([]byte("0123456789abcdef"), largeBody/16)
	if big.StatusCode != 200 || !bytes.Equal(big.body, want) || big.Header.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("large answer: %d, %d bytes, %q", big.StatusCode, len(big.body), big.Header.Get("Content-Type"))
	}
}

// TestPublicUpstreamFailures: a slow upstream is 504, a missing one 502, as
// problem+json with the gateway's headers.
func TestPublicUpstreamFailures(t *testing.T) {
	t.Parallel()
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + dead.Addr().String()
	dead.Close()
	e := newEnv(t, func(c *gateway.Config) { c.UpstreamTimeout = 200 * time.Millisecond; c.MESAPI = deadURL })
	c := e.client()
	for _, tc := range []struct {
		path   string
		status int
	}{{"/slow/x", http.StatusGatewayTimeout}, {"/api/v1/x", http.StatusBadGateway}} {
		start := time.Now()
		res := c.do("GET", tc.path, nil, nil)
		var p struct{ Status int }
		if res.StatusCode != tc.status || res.Header.Get("Content-Type") != "application/problem+json" || json.Unmarshal(res.body, &p) != nil || p.Status != tc.status {
			t.Errorf("%s: %d %q %s, want %d problem", tc.path, res.StatusCode, res.Header.Get("Content-Type"), res.body, tc.status)
		}
		if res.Header.Get("Content-Security-Policy") == "" || len(res.Header.Values("X-Request-Id")) != 1 {
			t.Errorf("%s: headers %v", tc.path, res.Header)
		}
		if d := time.Since(start); d > 1500*time.Millisecond {
			t.Errorf("%s: answered after %v", tc.path, d)
		}
	}
}

// TestPublicUnreadable: what the server cannot read is refused as problem+json.
func TestPublicUnreadable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u, _ := url.Parse(e.url)
	for _, tc := range []struct {
		name   string
		req    string
		status int
	}{
		{"headers too large", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 20<<10) + "\r\n\r\n", http.StatusRequestHeaderFieldsTooLarge},
		{"malformed header", "GET / HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n", http.StatusBadRequest},
		{"bad length", "POST /api/v1/x HTTP/1.1\r\nHost: x\r\nContent-Length: 3x\r\n\r\nabc", http.StatusBadRequest},
		{"no host", "GET / HTTP/1.1\r\n\r\n", http.StatusBadRequest},
		{"space in a header name", "GET / HTTP/1.1\r\nHost: x\r\nX Bad: 1\r\n\r\n", http.StatusBadRequest},
		{"control character in a value", "GET /crm/x HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n", http.StatusBadRequest},
		{"body too large", "POST /api/v1/x HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n", http.StatusRequestEntityTooLarge},
	} {
		conn, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprint(conn, tc.req)
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		body, _ := io.ReadAll(res.Body)
		conn.Close()
		if res.StatusCode != tc.status || res.Header.Get("Content-Type") != "application/problem+json" || res.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: %d %q %s, want %d", tc.name, res.StatusCode, res.Header.Get("Content-Type"), body, tc.status)
		}
	}
	for _, up := range e.ups {
		if h := up.hits(); len(h) > 0 {
			t.Errorf("%s received %v", up.name, h)
		}
	}
}

// TestPublicSlowClients: headers must come within ReadHeaderTimeout; a body
// may take until ReadTimeout.
func TestPublicSlowClients(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *gateway.Config) { c.ReadHeaderTimeout = 300 * time.Millisecond; c.ReadTimeout = 5 * time.Second })
	u, _ := url.Parse(e.url)
	dial := func() net.Conn {
		conn, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}

	// Headers that never end: the connection is closed.
	conn := dial()
	fmt.Fprint(conn, "GET / HTTP/1.1\r\nHost: x\r\n")
	start := time.Now()
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.ReadAll(conn); err != nil {
		t.Errorf("headers never ending: %v after %v, want the connection closed", err, time.Since(start))
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("headers never ending: closed after %v", d)
	}

	// A body that comes after the header timeout, within the read timeout.
	conn = dial()
	fmt.Fprintf(conn, "POST /api/v1/orders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n", apiKey)
	time.Sleep(800 * time.Millisecond) // the slow client under test: its body comes after the header timeout
	fmt.Fprint(conn, `{"a":1}`)
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("slow body: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("slow body: %d, want 200", res.StatusCode)
	}
	if hits := e.ups["mes-api"].hits(); len(hits) != 1 || hits[0].Body != `{"a":1}` {
		t.Errorf("mes-api received %+v", hits)
	}
}

// TestStaticPaths: the gateway's one static file is served; any other path
// below /staff/static/ is a 404 (a 400 when not canonical), never a 500 or
// a directory listing.
func TestStaticPaths(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client()
	if res := c.do("GET", "/staff/static/style.css", nil, nil); res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/css") {
		t.Errorf("style sheet: %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	for _, p := range []string{"/staff/static/", "/staff/static/nope.css", "/staff/static/style.css/", "/staff/static/templates/login.html",
		"/staff/static/%2e%2e/web.go", "/staff/static/..%2fweb.go", "/staff/static/style.css%00", "/staff/static//style.css"} {
		st := rawStatus(t, e.url, p)
		if st != http.StatusNotFound && st != http.StatusBadRequest {
			t.Errorf("%s: %d, want 404 (or 400)", p, st)
		}
	}
}
