package shop_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/fabrika/fabrika/services/shop"
)

// While the shop's database is unreachable, a signed-in customer gets 503
// with Retry-After, never "sign in first" (issue 16, point 11): a client
// takes 401 as final and drops the order.
func TestSessionLookupDuringOutageIs503(t *testing.T) {
	t.Parallel()
	e := start(t, shop.Config{SessionCacheTTL: -1})
	tok := e.signUp()
	if res := e.do("GET", "/shop/api/v1/me", tok, nil, nil); res.code != 200 {
		t.Fatalf("me: %d", res.code)
	}
	if err := e.shop.DB.Close(); err != nil { // the database goes away
		t.Fatal(err)
	}
	for _, path := range []string{"/shop/api/v1/me", "/shop/api/v1/orders"} {
		res := e.do("GET", path, tok, nil, nil)
		if res.code != http.StatusServiceUnavailable || res.header.Get("Retry-After") == "" ||
			res.header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("%s during the outage: %d %v %s", path, res.code, res.header, res.body)
		}
	}
	res := e.do("POST", "/shop/api/v1/orders", tok, orderBody(1), map[string]string{"Idempotency-Key": "outage-1"})
	if res.code != http.StatusServiceUnavailable {
		t.Fatalf("place during the outage: %d %s", res.code, res.body)
	}
	// A browser with the session cookie gets the error page, not the
	// sign-in form.
	res = e.do("GET", "/orders", "", nil, map[string]string{"Cookie": "shop_session=" + tok})
	if res.code != http.StatusServiceUnavailable || res.header.Get("Retry-After") == "" ||
		!strings.Contains(string(res.body), "unavailable") {
		t.Fatalf("page during the outage: %d %v", res.code, res.header.Get("Location"))
	}
}
