package gateway_test

import (
	"net/http"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/fabrika/fabrika/platform/identity"
)

// TestIdentityTokenPerRequest (issue 15.3, 16.9): the gateway makes a staff
// member's token for the one service a request goes to and for that
// request only, with the client's address in it (not the address a client
// claims in X-Forwarded-For); the service it was not made for refuses it,
// and so does the same service a second time. Before, one token of
// audience fabrika-internal served every service for a minute.
func TestIdentityTokenPerRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.staff("maria", identity.RoleManager)
	m.header.Set("Accept", "application/json")
	spoof := http.Header{"X-Forwarded-For": {"203.0.113.66"}}
	var tokens []string
	ids := map[string]bool{}
	for range 2 {
		ec := m.do("GET", "/crm/orders", nil, spoof).echo(t)
		if ec.Identity == nil || ec.Identity.Subject != m.id || ec.Identity.ClientAddr != "127.0.0.1" || ids[ec.Identity.TokenID] {
			t.Fatalf("crm saw %+v", ec.Identity)
		}
		ids[ec.Identity.TokenID] = true
		tok := ec.Header.Get(identity.Header)
		var c jwt.RegisteredClaims
		if _, _, err := jwt.NewParser().ParseUnverified(tok, &c); err != nil || len(c.Audience) != 1 || c.Audience[0] != "crm" {
			t.Fatalf("token claims %+v, %v; want audience crm", c, err)
		}
		tokens = append(tokens, tok)
	}
	// A token taken from the CRM's traffic, replayed.
	for _, tc := range []struct {
		path string
		want int
	}{{"/orders", http.StatusUnauthorized}, {"/queue", http.StatusUnauthorized}} {
		for _, up := range []string{"crm", "mes-operator"} {
			req, _ := http.NewRequest("GET", e.ups[up].srv.URL+tc.path, nil)
			req.Header.Set(identity.Header, tokens[0])
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tc.want {
				t.Errorf("crm's token replayed at %s%s: %d, want %d", up, tc.path, res.StatusCode, tc.want)
			}
		}
	}
	// A client who is not staff: the shop gets a token with the address.
	anon := e.client()
	anon.header.Set("Accept", "application/json")
	ec := anon.do("GET", "/", nil, spoof).echo(t)
	if ec.Identity == nil || ec.Identity.Staff() || ec.Identity.ClientAddr != "127.0.0.1" {
		t.Fatalf("shop saw %+v", ec.Identity)
	}
}

// counter is the value of the gateway's counter name whose label has value.
func (e *env) counter(name, label, value string) float64 {
	e.t.Helper()
	mfs, err := e.h.Registry().Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
