package gateway_test

import (
	"fmt"
	"net/http"
	"net/netip"
	"testing"

	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/services/gateway"
)

// TestTrustedProxies: behind a trusted proxy the client's address is the
// rightmost forwarded hop that is not a trusted proxy; whatever a client
// writes into X-Forwarded-For itself is never believed. The test's client
// connects from 127.0.0.1, which plays the proxy.
func TestTrustedProxies(t *testing.T) {
	t.Parallel()
	trusted := func(cidrs ...string) func(*gateway.Config) {
		return func(c *gateway.Config) {
			for _, s := range cidrs {
				c.TrustedProxies = append(c.TrustedProxies, netip.MustParsePrefix(s))
			}
		}
	}
	behind := newEnv(t, trusted("127.0.0.0/8", "10.0.0.0/8"))
	notBehind := newEnv(t, trusted("10.0.0.0/8")) // the peer is not a proxy
	for _, tc := range []struct {
		name string
		e    *env
		xff  []string
		want string
	}{
		{"no forwarded header", behind, nil, "127.0.0.1"},
		{"one hop", behind, []string{"203.0.113.9"}, "203.0.113.9"},
		{"a client's own hop before it", behind, []string{"1.2.3.4, 203.0.113.9"}, "203.0.113.9"},
		{"an internal proxy after it", behind, []string{"203.0.113.9, 10.1.2.3"}, "203.0.113.9"},
		{"hops on two lines", behind, []string{"198.51.100.1", "203.0.113.9"}, "203.0.113.9"},
		{"garbage before it", behind, []string{"not-an-ip, 203.0.113.9"}, "203.0.113.9"},
		{"garbage last", behind, []string{"203.0.113.9, not-an-ip"}, "127.0.0.1"},
		{"only trusted hops", behind, []string{"10.1.2.3"}, "10.1.2.3"},
		{"IPv4 in IPv6", behind, []string{"::ffff:203.0.113.9"}, "203.0.113.9"},
		{"IPv6", behind, []string{"2001:db8::1"}, "2001:db8::1"},
		{"peer not trusted", notBehind, []string{"203.0.113.9"}, "127.0.0.1"},
	} {
		res := tc.e.client().do("GET", "/", nil, http.Header{"X-Forwarded-For": tc.xff})
		ec := res.echo(t)
		if ec.XFF != tc.want {
			t.Errorf("%s: upstream got X-Forwarded-For %q, want %q", tc.name, ec.XFF, tc.want)
		}
		// Services take the client's address from the signed identity.
		if ec.Identity == nil || ec.Identity.ClientAddr != tc.want {
			t.Errorf("%s: the identity token names the client %+v, want %q", tc.name, ec.Identity, tc.want)
		}
	}

	// The audit log records the client's address.
	e := behind
	if err := gateway.CreateStaff(t.Context(), e.db, "maria", "a long enough password", identity.RoleManager, nil); err != nil {
		t.Fatal(err)
	}
	c := e.client()
	c.header.Set("X-Forwarded-For", "203.0.113.9")
	if res := c.signIn("maria", "a long enough password", ""); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in: %d %s", res.StatusCode, res.body)
	}
	adm := e.staff("ada", identity.RoleAdmin)
	if en := audit(t, adm, "maria"); len(en) == 0 || en[0].Action != "signin" || en[0].IP != "203.0.113.9" {
		t.Errorf("audit of maria's sign-in: %+v", en)
	}

	// Per-address sign-in limits count each client, not the proxy: one
	// client spending its attempts leaves another's alone.
	attempt := func(addr string, i int) int {
		c := e.client()
		c.header.Set("X-Forwarded-For", addr)
		return c.signIn(fmt.Sprintf("nobody%d", i), "whatever password", "").StatusCode
	}
	limited := false
	for i := range 60 {
		if attempt("198.51.100.7", i) == http.StatusTooManyRequests {
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("no per-address limit for 198.51.100.7 after 60 attempts")
	}
	if st := attempt("198.51.100.8", 100); st == http.StatusTooManyRequests {
		t.Errorf("another client behind the same proxy was limited too: %d", st)
	}
}
