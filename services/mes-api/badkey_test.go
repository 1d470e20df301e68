package mesapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/fabrika/fabrika/platform/identity"
)

// TestInvalidKeysThrottledPerAddress is issue 15 point 8 for the API: an
// address that keeps sending unknown keys gets 429 with Retry-After after
// ten, without its guesses being judged; another address (as the gateway
// signs it in the identity token) is not affected.
func TestInvalidKeysThrottledPerAddress(t *testing.T) {
	t.Parallel()
	e := start(t, fastWebhooks(), false)
	from := func(addr string) map[string]string {
		tok, err := e.signer.Sign("mes-api", identity.Identity{ClientAddr: addr}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return map[string]string{identity.Header: tok}
	}
	good := e.newKey("orders:read")
	for i := range 11 {
		if r := e.do("GET", "/v1/orders", "fk_live_guess", from("203.0.113.7"), nil); r.status != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d %s", i+1, r.status, r.body)
		}
	}
	r := e.do("GET", "/v1/orders", "fk_live_guess", from("203.0.113.7"), nil)
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Fatalf("12th guess: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/v1/orders", good, from("198.51.100.9"), nil); r.status != http.StatusOK {
		t.Fatalf("another address: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/v1/orders", "fk_live_guess", from("198.51.100.9"), nil); r.status != http.StatusUnauthorized {
		t.Fatalf("another address's first guess: %d %s", r.status, r.body)
	}
}
