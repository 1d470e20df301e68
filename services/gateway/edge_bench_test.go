package gateway_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/fabrika/fabrika/platform/host"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/platform/telemetry"
	"github.com/fabrika/fabrika/platform/testenv"
	"github.com/fabrika/fabrika/services/gateway"
	"github.com/fabrika/fabrika/services/gateway/migrations"
)

// BenchmarkEdge is one request through the edge's handler, called without
// a network between client and gateway, to a loopback upstream answering
// 97 bytes of JSON: the gateway as production builds it (JSON access log,
// discarded; the tracer of a deployment without a collector, which gives
// spans ids; the route, session and header checks), and
// "floor", the same upstream round trip over the same fasthttp client
// with none of the gateway's work. The difference in cpu-ns/op is what
// the gateway's own work costs a request; the upstream's CPU is in both.
//
//	go test -run '^$' -bench Edge -benchmem -count 5 ./services/gateway/
func BenchmarkEdge(b *testing.B) {
	up, body := jsonUpstream(b)

	ctx := context.Background()
	log := telemetry.NewLogger(io.Discard, "gateway", slog.LevelInfo)
	tp, err := telemetry.NewTracerProvider(ctx, "gateway", "")
	if err != nil {
		b.Fatal(err)
	}
	br := testenv.NewBroker(b)
	h, err := host.Open(ctx, testenv.HostConfig(b, "gateway", migrations.FS),
		host.Deps{Logger: log, NATS: br.Connect(b, "gateway"), TracerProvider: tp})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { h.DB.Close() })
	_, priv, err := identity.GenerateKey()
	if err != nil {
		b.Fatal(err)
	}
	gw, err := gateway.New(ctx, h, gateway.Config{Shop: up.URL, CRM: up.URL, Signer: identity.NewSigner(priv)})
	if err != nil {
		b.Fatal(err)
	}
	if err := gateway.CreateStaff(ctx, h.DB, "maria", "a long enough password", identity.RoleManager, nil); err != nil {
		b.Fatal(err)
	}
	session := signInEdge(b, gw, "maria", "a long enough password")

	hc := &fasthttp.HostClient{Addr: up.Listener.Addr().String(), NoDefaultUserAgentHeader: true,
		DisableHeaderNamesNormalizing: true, DisablePathNormalizing: true}
	floor := func(ctx *fasthttp.RequestCtx) {
		ctx.Request.Header.Del("Connection")
		if err := hc.DoTimeout(&ctx.Request, &ctx.Response, 10*time.Second); err != nil {
			ctx.Error(err.Error(), fasthttp.StatusBadGateway)
		}
	}
	client := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 40000}
	for _, tc := range []struct {
		name    string
		h       fasthttp.RequestHandler
		target  string
		session bool
	}{
		{"floor", floor, "/products/01JABCDEF", false},
		{"shop anonymous", gw.EdgeHandler(), "/products/01JABCDEF", false},
		{"crm manager", gw.EdgeHandler(), "/crm/orders/01JABCDEF", true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var req fasthttp.Request
			req.Header.SetMethod("GET")
			req.SetRequestURI(tc.target)
			req.Header.SetHost("shop.example")
			req.Header.Set("Accept", "application/json")
			req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) bench")
			req.Header.Set("Accept-Encoding", "gzip, deflate, br")
			req.Header.Set("Accept-Language", "en-GB,en;q=0.9")
			if tc.session {
				req.Header.SetCookie(gateway.SessionCookie, session)
			}
			var rc fasthttp.RequestCtx
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				rc.Init(&req, client, nil)
				tc.h(&rc)
				if rc.Response.StatusCode() != http.StatusOK || len(rc.Response.Body()) != len(body) { // Body reads a streamed answer to its end
					b.Fatalf("%s: %d %q", tc.target, rc.Response.StatusCode(), rc.Response.Body())
				}
				rc.Response.Reset()
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// signInEdge signs in through the gateway's form, over the edge, and
// returns the session cookie's value.
func signInEdge(b *testing.B, gw *gateway.Service, login, password string) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gw.ServePublic(ctx, ln) }()
	defer func() { stop(); <-done }()
	c := (&env{t: b, url: "http://" + ln.Addr().String()}).client()
	if res := c.signIn(login, password, ""); res.StatusCode != http.StatusSeeOther || c.cookies[gateway.SessionCookie] == "" {
		b.Fatalf("sign in %s: %d %s", login, res.StatusCode, res.body)
	}
	return c.cookies[gateway.SessionCookie]
}
