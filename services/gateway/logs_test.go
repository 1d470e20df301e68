package gateway_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fabrika/fabrika/services/gateway"
)

// TestNoSecretsInLogs sends every kind of malformed request with an
// Authorization header, a staff session cookie and a password in a JSON
// body, and reads every line the gateway logged (its own, the access log,
// and the HTTP server's error log): none may carry any of them.
func TestNoSecretsInLogs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *gateway.Config) { c.MaxBodyBytes = 1024 })
	const (
		auth   = "Bearer sEcReT-aUtH-7f3a9c"
		cookie = "sEcReT-cOoKiE-51be02"
		pw     = "sEcReT-pAsSwOrD-d41d8c"
	)
	secrets := []string{auth, cookie, pw, "sEcReT"}
	heads := "Authorization: " + auth + "\r\nCookie: " + gateway.SessionCookie + "=" + cookie + "; theme=dark\r\n"
	body := `{"login":"ada","password":"` + pw + `"`
	u, _ := url.Parse(e.url)
	for _, tc := range []struct {
		name string
		req  string
	}{
		{"bad request line", "GE T /staff/login HTTP/1.1\r\nHost: x\r\n" + heads + "Content-Length: " + fmt.Sprint(len(body)) + "\r\n\r\n" + body},
		{"bad protocol", "POST /staff/login HTTP/9.9\r\nHost: x\r\n" + heads + "Content-Length: " + fmt.Sprint(len(body)) + "\r\n\r\n" + body},
		{"header without a colon", "POST /api/v1/orders HTTP/1.1\r\nHost: x\r\n" + heads + "No colon " + pw + "\r\n\r\n"},
		{"space in a header name", "GET /crm/x HTTP/1.1\r\nHost: x\r\n" + heads + "X Pass: " + pw + "\r\n\r\n"},
		{"control character in a value", "GET /crm/x HTTP/1.1\r\nHost: x\r\n" + heads + "X-A: " + pw + "\x01\r\n\r\n"},
		{"no host", "GET /crm/x HTTP/1.1\r\n" + heads + "\r\n"},
		{"headers too large", "GET /crm/x HTTP/1.1\r\nHost: x\r\n" + heads + "X-Big: " + strings.Repeat(pw, 1000) + "\r\n\r\n"},
		{"bad content length", "POST /api/v1/orders HTTP/1.1\r\nHost: x\r\n" + heads + "Content-Length: 3x\r\n\r\n" + body},
		{"bad chunk", "POST /api/v1/orders HTTP/1.1\r\nHost: x\r\n" + heads + "Transfer-Encoding: chunked\r\n\r\nzz\r\n" + body + "\r\n0\r\n\r\n"},
		{"unknown transfer encoding", "POST /api/v1/orders HTTP/1.1\r\nHost: x\r\n" + heads + "Transfer-Encoding: " + pw + "\r\n\r\n" + body},
		{"body too large", "POST /api/v1/orders HTTP/1.1\r\nHost: x\r\n" + heads + "Content-Length: 99999\r\n\r\n" + strings.Repeat(body, 10)},
		{"chunked body too large", "POST /api/v1/orders HTTP/1.1\r\nHost: x\r\n" + heads + "Transfer-Encoding: chunked\r\n\r\n" + fmt.Sprintf("%x\r\n%s\r\n", 2000, strings.Repeat("p", 2000-len(pw))+pw) + "0\r\n\r\n"},
		{"bad JSON to the sign-in page", "POST /staff/login HTTP/1.1\r\nHost: x\r\n" + heads + "Content-Type: application/json\r\nContent-Length: " + fmt.Sprint(len(body)) + "\r\n\r\n" + body},
		{"bad form to the sign-in page", "POST /staff/login HTTP/1.1\r\nHost: x\r\n" + heads + "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: " + fmt.Sprint(len(pw)+11) + "\r\n\r\npassword=%%" + pw},
		{"bad JSON to a staff route", "POST /crm/orders HTTP/1.1\r\nHost: x\r\n" + heads + "Content-Type: application/json\r\nContent-Length: " + fmt.Sprint(len(body)) + "\r\n\r\n" + body},
		{"bad JSON to the API", "POST /api/v1/orders HTTP/1.1\r\nHost: x\r\n" + heads + "Content-Type: application/json\r\nContent-Length: " + fmt.Sprint(len(body)) + "\r\n\r\n" + body},
		{"refused path", "GET /api/%2e%2e/metrics?password=" + pw + " HTTP/1.1\r\nHost: x\r\n" + heads + "\r\n"},
		{"bad target", "GET /x%zz" + pw + " HTTP/1.1\r\nHost: x\r\n" + heads + "\r\n"},
		{"absolute target", "GET http://" + pw + "@x/metrics HTTP/1.1\r\nHost: x\r\n" + heads + "\r\n"},
	} {
		conn, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.WriteString(conn, tc.req)
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Errorf("%s: no answer: %v", tc.name, err)
		} else {
			if res.StatusCode < 400 {
				t.Errorf("%s: %d, want a refusal", tc.name, res.StatusCode)
			}
			res.Body.Close()
		}
		conn.Close()
	}
	// An upstream that is down: the error the gateway logs names no secret
	// either.
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + dead.Addr().String()
	dead.Close()
	d := newEnv(t, func(c *gateway.Config) { c.MESAPI = deadURL })
	res := d.client().do("POST", "/api/v1/orders?password="+pw, strings.NewReader(body), http.Header{"Authorization": {auth}, "Content-Type": {"application/json"}})
	if res.StatusCode != http.StatusBadGateway {
		t.Errorf("dead upstream: %d", res.StatusCode)
	}

	logs := e.logs.String() + d.logs.String()
	// The capture works: the requests that reached the handler were logged.
	if !strings.Contains(logs, `"msg":"http request"`) || !strings.Contains(d.logs.String(), "upstream unavailable") {
		t.Fatalf("the logs were not captured:\n%s", logs)
	}
	for _, s := range secrets {
		for line := range strings.Lines(logs) {
			if strings.Contains(strings.ToLower(line), strings.ToLower(s)) {
				t.Errorf("a log line carries %q: %s", s, line)
			}
		}
	}
}
