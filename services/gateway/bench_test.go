package gateway_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/fabrika/fabrika/platform/cputime"
	"github.com/fabrika/fabrika/platform/httpx"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/services/gateway"
)

// BenchmarkProxy is one request through the public handler (request
// observation, access log, span, route checks, session, identity token,
// proxy) to a loopback upstream that answers 100 bytes of JSON, and the
// same request straight to that upstream for comparison: the per-request
// CPU time and allocations the gateway adds, without the network between
// client and gateway (docs/BENCHMARKS.md, "gateway", has the end-to-end
// figures). The upstream's own work and allocations are counted too.
//
//	go test -run '^$' -bench Proxy -benchmem -count 5 ./services/gateway/
func BenchmarkProxy(b *testing.B) {
	up, _ := jsonUpstream(b)
	e := newEnv(b, func(c *gateway.Config) { c.Shop, c.CRM = up.URL, up.URL })
	m := e.staff("maria", identity.RoleManager)
	direct := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res, err := http.DefaultTransport.RoundTrip(r)
		if err != nil {
			b.Fatal(err)
		}
		defer res.Body.Close()
		w.WriteHeader(res.StatusCode)
		_, _ = w.(*httptest.ResponseRecorder).Body.ReadFrom(res.Body)
	})
	for _, tc := range []struct {
		name    string
		h       http.Handler
		target  string
		session bool
	}{
		{"direct", direct, up.URL + "/crm/orders/01JABCDEF", false},
		{"shop anonymous", e.gw.PublicHandler(), "/products/01JABCDEF", false},
		{"crm manager", e.gw.PublicHandler(), "/crm/orders/01JABCDEF", true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", tc.target, nil)
			req.RequestURI = "" // also a valid client request, for direct
			req.Header.Set("Accept", "application/json")
			if tc.session {
				req.AddCookie(&http.Cookie{Name: gateway.SessionCookie, Value: m.cookies[gateway.SessionCookie]})
			}
			b.ReportAllocs()
			cpu0 := cputime.Process()
			for b.Loop() {
				req.Header.Del(httpx.HeaderRequestID) // as a browser sends it: without
				w := httptest.NewRecorder()
				tc.h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("%s: %d %s", tc.target, w.Code, w.Body)
				}
			}
			// CPU time is less disturbed than wall time by whatever else
			// the machine runs.
			b.ReportMetric(float64(cputime.Process()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// jsonUpstream serves, on a loopback port until the benchmark ends, the
// answer the benchmarks' upstream gives: body, 97 bytes of JSON.
func jsonUpstream(b *testing.B) (up *httptest.Server, body []byte) {
	body = []byte(`{"id":"01JABCDEF","status":"placed","total":{"amount":12345,"currency":"EUR"},"lines":3}` + "\n")
	up = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	b.Cleanup(up.Close)
	return up, body
}
