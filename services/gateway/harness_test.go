package gateway_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/host"
	"github.com/fabrika/fabrika/platform/httpx"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/telemetry"
	"github.com/fabrika/fabrika/platform/testenv"
	"github.com/fabrika/fabrika/services/gateway"
	"github.com/fabrika/fabrika/services/gateway/internal/route"
	"github.com/fabrika/fabrika/services/gateway/migrations"
)

const apiKey = "key-123"

// largeBody is the size of a stand-in upstream's /large/ answer.
const largeBody = 8 << 20

// echo is what a stand-in upstream answers: what it received.
type echo struct {
	Service     string             `json:"service"`
	Method      string             `json:"method"`
	Path        string             `json:"path"`
	Query       string             `json:"query"`
	Identity    *identity.Identity `json:"identity"`
	IdentityHdr []string           `json:"identity_headers"` // every header name that looks like an identity header
	Cookie      string             `json:"cookie"`
	Auth        string             `json:"authorization"`
	XFF         string             `json:"xff"`
	XFProto     string             `json:"xfproto"`
	XFHost      string             `json:"xfhost"`
	RequestID   string             `json:"request_id"`
	Traceparent string             `json:"traceparent"`
	CSRF        string             `json:"csrf"`
	Body        string             `json:"body"`
	RawPath     string             `json:"raw_path"` // the path as it came, escaped
	Header      http.Header        `json:"header"`
}

// upstream stands in for a service: it verifies the identity token the way
// the real services do (identity.Verifier.Require) and echoes the request.
type upstream struct {
	name string
	srv  *httptest.Server
	mu   sync.Mutex
	seen []echo
}

func (u *upstream) hits() []echo {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]echo(nil), u.seen...)
}

func newUpstream(t testing.TB, name string, pub ed25519.PublicKey, roles ...string) *upstream {
	u := &upstream{name: name}
	v := identity.NewVerifier(name, pub) // each service verifies the tokens made for it
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		e := echo{Service: name, Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Cookie: r.Header.Get("Cookie"),
			Auth: r.Header.Get("Authorization"), XFF: r.Header.Get("X-Forwarded-For"), XFProto: r.Header.Get("X-Forwarded-Proto"),
			XFHost: r.Header.Get("X-Forwarded-Host"), RequestID: r.Header.Get(httpx.HeaderRequestID),
			Traceparent: r.Header.Get("Traceparent"), CSRF: r.Header.Get("X-Csrf-Token"), Body: string(body),
			RawPath: r.URL.EscapedPath(), Header: r.Header}
		for k := range r.Header {
			if n := strings.ToLower(strings.ReplaceAll(k, "_", "-")); n == "fabrika-identity" {
				e.IdentityHdr = append(e.IdentityHdr, k)
			}
		}
		if id, err := v.Identify(r); err == nil {
			e.Identity = &id
		}
		u.mu.Lock()
		u.seen = append(u.seen, e)
		u.mu.Unlock()
		// mes-api's admin pages (/b2b/) take an admin's identity, the rest
		// an API key.
		if name == "mes-api" && strings.HasPrefix(r.URL.Path, "/b2b/") && (e.Identity == nil || e.Identity.Role != identity.RoleAdmin) {
			httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusUnauthorized, "admins only"))
			return
		}
		if name == "mes-api" && !strings.HasPrefix(r.URL.Path, "/b2b/") && r.Header.Get("Authorization") != "Bearer "+apiKey {
			httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusUnauthorized, "API key required"))
			return
		}
		// Headers the gateway must override or drop.
		w.Header().Set("Content-Security-Policy", "default-src *")
		w.Header().Set(httpx.HeaderRequestID, "upstream-made-this")
		w.Header().Add("Set-Cookie", gateway.SessionCookie+"=planted; Path=/")
		w.Header().Add("Set-Cookie", "upstream_cookie=kept; Path=/")
		httpx.WriteJSON(w, http.StatusOK, e)
	})
	if roles != nil {
		h = v.Require(h, roles...)
	}
	// The host's operational routes, as every real service has them: the
	// test proves the gateway never reaches them.
	mux := http.NewServeMux()
	for _, p := range []string{"/metrics", "/healthz", "/readyz", "/admin/", "/pricing/", "/internal/"} {
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			u.mu.Lock()
			u.seen = append(u.seen, echo{Service: name, Method: r.Method, Path: r.URL.Path})
			u.mu.Unlock()
			w.WriteHeader(http.StatusTeapot)
		})
	}
	// Answers the gateway must pass on as they come: a large body, streamed
	// in chunks (/large/), and one that takes its time (/slow/).
	mux.HandleFunc("/large/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		chunk := []byte(strings.Repeat("0123456789abcdef", 4096)) // 64 KiB
		for range largeBody / len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/slow/", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.Handle("/", h)
	u.srv = httptest.NewServer(mux)
	t.Cleanup(u.srv.Close)
	return u
}

// clock is real time moved by Advance, or, once frozen, a time that moves
// only by Advance (rate limits then do not refill while a slow machine runs
// the test; identity tokens signed at a frozen time expire for upstreams
// after a minute of real time, so frozen tests do not proxy staff).
type clock struct {
	mu     sync.Mutex
	d      time.Duration
	frozen time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.frozen.IsZero() {
		return c.frozen.Add(c.d)
	}
	return time.Now().Add(c.d)
}

func (c *clock) Freeze() {
	c.mu.Lock()
	c.frozen = time.Now()
	c.mu.Unlock()
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.d += d
	c.mu.Unlock()
}

type env struct {
	t      testing.TB
	broker *testenv.Broker
	dsn    string
	gw     *gateway.Service
	h      *host.Host
	db     *sqldb.DB
	url    string
	signer *identity.Signer
	ups    map[string]*upstream
	clock  *clock
	logs   *testenv.LogBuffer // every line the gateway logged, at debug level and up
}

func newEnv(t testing.TB, mod ...func(*gateway.Config)) *env {
	t.Helper()
	return newEnvOn(t, testenv.NewBroker(t), testenv.DSN(t), mod...)
}

// newEnvOn is newEnv on a given broker and database: the second replica of
// a gateway shares both with the first.
func newEnvOn(t testing.TB, b *testenv.Broker, dsn string, mod ...func(*gateway.Config)) *env {
	t.Helper()
	ctx := context.Background()
	pub, priv, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, broker: b, dsn: dsn, signer: identity.NewSigner(priv), clock: &clock{}, ups: map[string]*upstream{}, logs: &testenv.LogBuffer{}}
	e.ups["shop"] = newUpstream(t, "shop", pub)
	e.ups["crm"] = newUpstream(t, "crm", pub, identity.RoleManager, identity.RoleAdmin)
	e.ups["mes-operator"] = newUpstream(t, "mes-operator", pub, identity.RoleOperator, identity.RoleAdmin)
	e.ups["mes-api"] = newUpstream(t, "mes-api", pub)
	deps := b.Deps(t, "gateway")
	deps.Logger = telemetry.NewLogger(e.logs, "gateway", slog.LevelDebug)
	hc := testenv.HostConfig(t, "gateway", migrations.FS)
	hc.DSN = dsn
	h, err := host.Open(ctx, hc, deps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.DB.Close() })
	cfg := gateway.Config{Shop: e.ups["shop"].srv.URL, CRM: e.ups["crm"].srv.URL, MESOperator: e.ups["mes-operator"].srv.URL,
		MESAPI: e.ups["mes-api"].srv.URL, Signer: e.signer, Now: e.clock.Now,
		AllowAdminWithoutTOTP: true} // TestAdminTOTP turns it off
	for _, m := range mod {
		m(&cfg)
	}
	gw, err := gateway.New(ctx, h, cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.gw, e.db, e.h = gw, h.DB, h
	// The workstations the tests bind operators to, as the MES's price
	// list would bring them.
	pl := contracts.DemoPriceList(time.Now())
	for _, w := range []string{"WS-1", "WS-2", "WS-7"} {
		pl.Workstations = append(pl.Workstations, contracts.Workstation{Code: w, Name: "Bench " + w, HourlyRate: 1000, HoursPerDay: 8})
	}
	if err := gateway.LearnWorkstations(ctx, h.DB, pl); err != nil {
		t.Fatal(err)
	}
	// The public listener as in production (plain HTTP).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 2)
	go func() { done <- gw.ServePublic(sctx, ln) }()
	go func() { done <- h.Caches.Run(sctx) }() // as host.Run does: the other replicas' invalidations
	t.Cleanup(func() {
		stop()
		for range 2 {
			if err := <-done; err != nil {
				t.Errorf("public listener or cache bus: %v", err)
			}
		}
	})
	e.url = "http://" + ln.Addr().String()
	if tt, ok := t.(*testing.T); ok {
		tt.Cleanup(func() {
			for name, u := range e.ups {
				for _, h := range u.hits() {
					if forbidden(h.Path) {
						tt.Errorf("%s: internal route %s reached through the gateway", name, h.Path)
					}
				}
			}
		})
	}
	return e
}

// forbidden tells whether an upstream path is one of the internal routes,
// spelled any way a server might read it.
func forbidden(p string) bool {
	first := strings.ToLower(strings.Split(strings.TrimPrefix(p, "/"), "/")[0])
	first, _, _ = strings.Cut(first, ";")
	return slices.Contains(route.Forbidden(), strings.TrimRight(first, ". "))
}

// staff creates an account and returns a signed-in client for it.
func (e *env) staff(login, role string, ws ...string) *client {
	e.t.Helper()
	if err := gateway.CreateStaff(context.Background(), e.db, login, "a long enough password", role, ws); err != nil {
		e.t.Fatal(err)
	}
	c := e.client()
	res := c.signIn(login, "a long enough password", "")
	if res.StatusCode != http.StatusSeeOther || c.cookies[gateway.SessionCookie] == "" {
		e.t.Fatalf("sign in %s: %d %s", login, res.StatusCode, res.body)
	}
	var me struct {
		ID   string `json:"id"`
		CSRF string `json:"csrf_token"`
	}
	res = c.do("GET", "/staff/", nil, http.Header{"Accept": {"application/json"}})
	if res.StatusCode != 200 {
		e.t.Fatalf("account page of %s: %d", login, res.StatusCode)
	}
	if err := json.Unmarshal(res.body, &me); err != nil {
		e.t.Fatal(err)
	}
	c.id, c.csrf = me.ID, me.CSRF
	return c
}

type client struct {
	e       *env
	cookies map[string]string
	header  http.Header
	id      string
	csrf    string
}

func (e *env) client() *client {
	return &client{e: e, cookies: map[string]string{}, header: http.Header{}}
}

type response struct {
	*http.Response
	body []byte
}

func (r response) echo(t testing.TB) echo {
	t.Helper()
	var e echo
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("not an upstream echo (%d): %s", r.StatusCode, r.body)
	}
	return e
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func (c *client) do(method, path string, body io.Reader, h http.Header) response {
	c.e.t.Helper()
	req, err := http.NewRequest(method, c.e.url+path, body)
	if err != nil {
		c.e.t.Fatal(err)
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	for k, v := range h {
		req.Header[k] = v
	}
	for k, v := range c.cookies {
		req.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	res, err := noRedirect.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	for _, ck := range res.Cookies() {
		if ck.MaxAge < 0 {
			delete(c.cookies, ck.Name)
		} else {
			c.cookies[ck.Name] = ck.Value
		}
	}
	return response{Response: res, body: b}
}

func (c *client) form(path string, v url.Values) response {
	c.e.t.Helper()
	return c.do("POST", path, strings.NewReader(v.Encode()), http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
}

func (c *client) signIn(login, pw, next string) response {
	c.e.t.Helper()
	c.do("GET", "/staff/login", nil, nil)
	return c.form("/staff/login", url.Values{"login": {login}, "password": {pw}, "csrf_token": {c.cookies[gateway.LoginCookie]}, "next": {next}})
}
