package mesapi_test

import (
	"fmt"
	"net/http"
	"testing"

	mesapi "github.com/fabrika/fabrika/services/mes-api"
)

// Round trips through the real service (HTTP, key check, rate limiter,
// database, outbox) on SQLite or, with FABRIKA_TEST_ENGINE=postgres,
// PostgreSQL.
func BenchmarkAPI(b *testing.B) {
	e := start(b, fastWebhooks(), true)
	cr, err := mesapi.CreateClient(e.ctx, e.h.DB, "Bench AG", "", nil, 100_000)
	if err != nil {
		b.Fatal(err)
	}
	key := cr.Key
	first := e.do("POST", "/v1/orders", key, map[string]string{"Idempotency-Key": "replayed"}, orderBody(10))
	if first.status != http.StatusCreated {
		b.Fatalf("place: %d %s", first.status, first.body)
	}
	var o order
	first.json(b, &o)
	body := orderBody(10)

	b.Run("PlaceOrder", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if r := e.do("POST", "/v1/orders", key, map[string]string{"Idempotency-Key": fmt.Sprintf("bench-%d", i)}, body); r.status != http.StatusCreated {
				b.Fatalf("%d %s", r.status, r.body)
			}
		}
	})
	b.Run("ReplayOrder", func(b *testing.B) {
		for b.Loop() {
			if r := e.do("POST", "/v1/orders", key, map[string]string{"Idempotency-Key": "replayed"}, body); r.status != http.StatusCreated {
				b.Fatalf("%d %s", r.status, r.body)
			}
		}
	})
	b.Run("Quote", func(b *testing.B) {
		for b.Loop() {
			if r := e.do("POST", "/v1/quotes", key, nil, quoteBody); r.status != http.StatusOK {
				b.Fatalf("%d %s", r.status, r.body)
			}
		}
	})
	b.Run("GetOrder", func(b *testing.B) {
		for b.Loop() {
			if r := e.do("GET", "/v1/orders/"+o.ID, key, nil, nil); r.status != http.StatusOK {
				b.Fatalf("%d %s", r.status, r.body)
			}
		}
	})
}
