package shop_test

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/testenv"
	"github.com/fabrika/fabrika/services/shop"
)

func TestCatalogFollowsPriceLists(t *testing.T) {
	t.Parallel()
	e := start(t, shop.Config{})
	res := e.do("GET", "/shop/api/v1/catalog", "", nil, nil)
	if res.code != 503 || !strings.Contains(string(res.body), "no price list yet") {
		t.Fatalf("before any price list: %d %s", res.code, res.body)
	}
	res = e.do("POST", "/shop/api/v1/quotes", "", `{"product":"laser_cut_sheet","options":{"material":"steel_s235","width_mm":"200","height_mm":"100","thickness_mm":"2"},"quantity":10}`, nil)
	if res.code != 503 {
		t.Fatalf("quote before any price list: %d %s", res.code, res.body)
	}
	e.withPriceList()

	res = e.do("GET", "/shop/api/v1/catalog", "", nil, nil)
	if res.code != 200 || res.header.Get("ETag") != `"pl-1"` || !strings.Contains(res.header.Get("Cache-Control"), "max-age") {
		t.Fatalf("catalog: %d %v", res.code, res.header)
	}
	var cat struct {
		Version  int64 `json:"price_list_version"`
		Products []struct {
			Code, Tagline string
		}
	}
	res.json(t, &cat)
	if cat.Version != 1 || len(cat.Products) != 4 || cat.Products[0].Tagline == "" {
		t.Fatalf("catalog content: %+v", cat)
	}
	if res := e.do("GET", "/shop/api/v1/catalog", "", nil, map[string]string{"If-None-Match": `"pl-1"`}); res.code != 304 {
		t.Fatalf("revalidation: %d", res.code)
	}
	res = e.do("POST", "/shop/api/v1/quotes", "", `{"product":"laser_cut_sheet","options":{"material":"steel_s235","width_mm":"200","height_mm":"100","thickness_mm":"2"},"quantity":10}`, nil)
	var q contracts.Quote
	res.json(t, &q)
	want, _ := contracts.DemoPriceList(time.Now()).Quote(contracts.Config{Product: "laser_cut_sheet", Quantity: 10,
		Options: map[string]string{"material": "steel_s235", "width_mm": "200", "height_mm": "100", "thickness_mm": "2"}})
	if res.code != 200 || q.UnitPrice != want.UnitPrice || q.PriceListVersion != 1 || len(q.Breaks) == 0 {
		t.Fatalf("quote: %d %s", res.code, res.body)
	}

	// A newer price list replaces it (the cache is emptied on commit); an
	// older one arriving late does not come back.
	v3 := contracts.DemoPriceList(time.Now())
	v3.Version = 3
	v3.Products = v3.Products[:2]
	e.publish(contracts.PriceListPublished, "pricelist", v3)
	e.eventually("version 3", func() bool {
		return e.do("GET", "/shop/api/v1/catalog", "", nil, nil).header.Get("ETag") == `"pl-3"`
	})
	v2 := contracts.DemoPriceList(time.Now())
	v2.Version = 2
	e.publish(contracts.PriceListPublished, "pricelist", v2)
	e.eventually("version 2 stored", func() bool { return e.count(`SELECT COUNT(*) FROM price_list`) == 3 })
	res = e.do("GET", "/shop/api/v1/catalog", "", nil, nil)
	res.json(t, &cat)
	if cat.Version != 3 || len(cat.Products) != 2 {
		t.Fatalf("after an older list: version %d, %d products", cat.Version, len(cat.Products))
	}
	if res := e.do("GET", "/shop/api/v1/products/printed_3d_part", "", nil, nil); res.code != 404 {
		t.Fatalf("product dropped by v3: %d", res.code)
	}

	mres, err := e.client.Get("http://" + e.shop.AdminAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(mres.Body)
	mres.Body.Close()
	for _, s := range []string{`fabrika_cache_requests_total{cache="catalog",result="hit",service="shop"}`, `result="miss"`} {
		if !strings.Contains(string(metrics), s) {
			t.Fatalf("metrics lack %s", s)
		}
	}
}

func TestPlaceOrderIsIdempotent(t *testing.T) {
	t.Parallel()
	e := start(t, shop.Config{}).withPriceList()
	tok := e.signUp()

	res, o := e.place(tok, "key-1", orderBody(3))
	if res.code != 201 || o.Status != "placed" || len(o.Lines) != 3 || o.PriceListVersion != 1 {
		t.Fatalf("place: %d %s", res.code, res.body)
	}
	if !strings.HasPrefix(o.Number, fmt.Sprintf("S-%d-", time.Now().UTC().Year())) || len(o.Number) != len("S-2026-000001") {
		t.Fatalf("order number %q", o.Number)
	}
	var sum int64
	for _, l := range o.Lines {
		sum += l.Total
	}
	if sum != o.QuotedTotal || sum <= 0 {
		t.Fatalf("total %d, lines sum %d", o.QuotedTotal, sum)
	}
	res2, o2 := e.place(tok, "key-1", orderBody(3))
	if res2.code != 200 || o2.ID != o.ID || len(o2.Lines) != 3 || res2.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %s", res2.code, res2.body)
	}
	res3, _ := e.place(tok, "key-1", orderBody(2))
	if res3.code != 422 || !strings.Contains(string(res3.body), "idempotency") {
		t.Fatalf("same key, other body: %d %s", res3.code, res3.body)
	}
	// Keys belong to a customer: another customer may use the same key.
	res4, o4 := e.place(e.signUp(), "key-1", orderBody(3))
	if res4.code != 201 || o4.ID == o.ID {
		t.Fatalf("other customer, same key: %d", res4.code)
	}
	if n := e.count(`SELECT COUNT(*) FROM orders`); n != 2 {
		t.Fatalf("%d orders, want 2", n)
	}

	// The order.placed message reaches the broker with the quoted prices.
	var msgs [][]byte
	e.eventually("order.placed on the broker", func() bool {
		msgs = e.streamMessages(contracts.Subject(contracts.OrderPlaced))
		return len(msgs) == 2
	})
	var placed contracts.OrderPlacedV1
	for _, m := range msgs {
		var p contracts.OrderPlacedV1
		if err := json.Unmarshal(m, &p); err != nil {
			t.Fatal(err)
		}
		if p.OrderID == o.ID {
			placed = p
		}
	}
	if err := placed.Validate(); err != nil {
		t.Fatal(err)
	}
	if placed.Channel != "shop" || placed.Number != o.Number || placed.QuotedTotal != o.QuotedTotal ||
		placed.PriceListVersion != 1 || len(placed.Lines) != 3 || placed.Lines[0].UnitPrice != o.Lines[0].UnitPrice {
		t.Fatalf("order.placed: %+v", placed)
	}
}

func TestConcurrentRetriesCreateOneOrder(t *testing.T) {
	t.Parallel()
	e := start(t, shop.Config{}).withPriceList()
	tok := e.signUp()
	const n = 20
	var wg sync.WaitGroup
	codes := make([]int, n)
	ids := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, o := e.place(tok, "same-key", orderBody(5))
			codes[i], ids[i] = res.code, o.ID
		}()
	}
	wg.Wait()
	created := 0
	for i := range n {
		if codes[i] == 201 {
			created++
		} else if codes[i] != 200 {
			t.Fatalf("request %d: status %d", i, codes[i])
		}
		if ids[i] != ids[0] || ids[i] == "" {
			t.Fatalf("request %d got order %q, request 0 got %q", i, ids[i], ids[0])
		}
	}
	if created != 1 {
		t.Fatalf("%d requests created an order, want 1", created)
	}
	if c := e.count(`SELECT COUNT(*) FROM orders`); c != 1 {
		t.Fatalf("%d orders", c)
	}
	if c := e.count(`SELECT COUNT(*) FROM order_line`); c != 5 {
		t.Fatalf("%d lines", c)
	}
	e.eventually("one message", func() bool { return len(e.streamMessages(contracts.Subject(contracts.OrderPlaced))) == 1 })
}

// TestBrokerOutageLosesNothing places orders while the broker is down, with
// clients retrying each one concurrently; every order accepted with 201
// reaches the broker exactly once after it comes back.
func TestBrokerOutageLosesNothing(t *testing.T) {
	t.Parallel()
	// The outage needs a broker this test may stop: embedded, also in the
	// external-NATS suite.
	e := startOn(t, shop.Config{}, testenv.NewEmbeddedBroker(t)).withPriceList()
	tok := e.signUp()
	e.broker.Stop()
	e.eventually("shop sees the outage", func() bool { return !e.shop.NATS.IsConnected() })

	const orders, retries = 15, 3
	accepted := map[string]string{} // key -> order id
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range orders {
		for range retries {
			wg.Add(1)
			go func() {
				defer wg.Done()
				key := fmt.Sprintf("outage-%d", i)
				res, o := e.place(tok, key, orderBody(1+i%3))
				if res.code != 201 && res.code != 200 {
					t.Errorf("order %d: %d %s", i, res.code, res.body)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if prev, ok := accepted[key]; ok && prev != o.ID {
					t.Errorf("key %s gave orders %s and %s", key, prev, o.ID)
				}
				accepted[key] = o.ID
			}()
		}
	}
	wg.Wait()
	if len(accepted) != orders {
		t.Fatalf("%d orders accepted, want %d", len(accepted), orders)
	}
	if c := e.count(`SELECT COUNT(*) FROM outbox`); c != orders {
		t.Fatalf("%d messages waiting in the outbox, want %d", c, orders)
	}
	e.broker.Restart(t)
	var msgs [][]byte
	e.eventually("every order on the broker", func() bool {
		msgs = e.streamMessages(contracts.Subject(contracts.OrderPlaced))
		return len(msgs) >= orders && e.count(`SELECT COUNT(*) FROM outbox`) == 0
	})
	seen := map[string]int{}
	for _, m := range msgs {
		var p contracts.OrderPlacedV1
		if err := json.Unmarshal(m, &p); err != nil {
			t.Fatal(err)
		}
		seen[p.OrderID]++
	}
	for key, id := range accepted {
		if seen[id] != 1 {
			t.Errorf("order %s (key %s) reached the broker %d times", id, key, seen[id])
		}
	}
	if len(msgs) != orders {
		t.Fatalf("%d messages for %d orders", len(msgs), orders)
	}
}

func TestBadOrderRequests(t *testing.T) {
	t.Parallel()
	e := start(t, shop.Config{}).withPriceList()
	tok := e.signUp()
	with := func(mut func(b map[string]any)) map[string]any {
		b := orderBody(1)
		mut(b)
		return b
	}
	line := func(b map[string]any) map[string]any { return b["lines"].([]map[string]any)[0] }
	opts := func(b map[string]any) map[string]string { return line(b)["options"].(map[string]string) }
	big := strings.Repeat("x", 70<<10)
	tests := []struct {
		name   string
		body   any
		key    string
		hdr    map[string]string
		token  string
		code   int
		expect string // in the problem
	}{
		{"unknown product", with(func(b map[string]any) { line(b)["product"] = "teapot" }), "k", nil, tok, 422, `"lines[0].product"`},
		{"unknown material", with(func(b map[string]any) { opts(b)["material"] = "gold" }), "k", nil, tok, 422, `"lines[0].options.material"`},
		{"unknown option", with(func(b map[string]any) { opts(b)["colour"] = "red" }), "k", nil, tok, 422, `"lines[0].options.colour"`},
		{"width out of range", with(func(b map[string]any) { opts(b)["width_mm"] = "99999" }), "k", nil, tok, 422, `"lines[0].options.width_mm"`},
		{"width not a number", with(func(b map[string]any) { opts(b)["width_mm"] = "wide" }), "k", nil, tok, 422, `"lines[0].options.width_mm"`},
		{"quantity zero", with(func(b map[string]any) { line(b)["quantity"] = 0 }), "k", nil, tok, 422, `"lines[0].quantity"`},
		{"quantity too big", with(func(b map[string]any) { line(b)["quantity"] = 1000000 }), "k", nil, tok, 422, `"lines[0].quantity"`},
		{"quantity not a number", with(func(b map[string]any) { line(b)["quantity"] = "ten" }), "k", nil, tok, 400, `quantity`},
		{"bad lead", with(func(b map[string]any) { line(b)["lead"] = "yesterday" }), "k", nil, tok, 422, `"lines[0].lead"`},
		{"no lines", with(func(b map[string]any) { b["lines"] = []any{} }), "k", nil, tok, 422, `"lines"`},
		{"51 lines", orderBody(51), "k", nil, tok, 422, `at most 50 lines`},
		{"missing city", with(func(b map[string]any) { delete(b["delivery"].(map[string]string), "city") }), "k", nil, tok, 422, `"delivery.city"`},
		{"bad country", with(func(b map[string]any) { b["delivery"].(map[string]string)["country"] = "Germany" }), "k", nil, tok, 422, `"delivery.country"`},
		{"no such country", with(func(b map[string]any) { b["delivery"].(map[string]string)["country"] = "XX" }), "k", nil, tok, 422, `"delivery.country"`},
		{"bad postal code", with(func(b map[string]any) { b["delivery"].(map[string]string)["postal_code"] = "!" }), "k", nil, tok, 422, `"delivery.postal_code"`},
		{"bad email", with(func(b map[string]any) { b["contact"].(map[string]string)["email"] = "ada at home" }), "k", nil, tok, 422, `"contact.email"`},
		{"bad phone", with(func(b map[string]any) { b["contact"].(map[string]string)["phone"] = "call me" }), "k", nil, tok, 422, `"contact.phone"`},
		{"unknown field", with(func(b map[string]any) { b["discount"] = 100 }), "k", nil, tok, 400, `malformed`},
		{"malformed JSON", `{"lines": [`, "k", nil, tok, 400, `malformed`},
		{"trailing data", `{} {}`, "k", nil, tok, 400, `malformed`},
		{"oversize body", `{"lines": [], "x": "` + big + `"}`, "k", nil, tok, 413, `larger than`},
		{"wrong content type", orderBody(1), "k", map[string]string{"Content-Type": "text/plain"}, tok, 415, `application/json`},
		{"missing key", orderBody(1), "", nil, tok, 400, `Idempotency-Key`},
		{"key too long", orderBody(1), strings.Repeat("k", 129), nil, tok, 400, `Idempotency-Key`},
		{"not signed in", orderBody(1), "k", nil, "", 401, `sign in`},
		{"bad token", orderBody(1), "k", nil, "forged", 401, `sign in`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{"Idempotency-Key": tc.key}
			for k, v := range tc.hdr {
				hdr[k] = v
			}
			res := e.do("POST", "/shop/api/v1/orders", tc.token, tc.body, hdr)
			if res.code != tc.code || !strings.Contains(string(res.body), tc.expect) {
				t.Fatalf("got %d %s, want %d with %s", res.code, res.body, tc.code, tc.expect)
			}
			if ct := res.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("content type %q", ct)
			}
		})
	}
	if n := e.count(`SELECT COUNT(*) FROM orders`) + e.count(`SELECT COUNT(*) FROM outbox`); n != 0 {
		t.Fatalf("bad requests wrote %d rows", n)
	}
	// A reused key with a different body writes nothing either.
	if res, _ := e.place(tok, "used", orderBody(1)); res.code != 201 {
		t.Fatal(res.code)
	}
	if res, _ := e.place(tok, "used", orderBody(2)); res.code != 422 {
		t.Fatal(res.code)
	}
	if n := e.count(`SELECT COUNT(*) FROM orders`); n != 1 {
		t.Fatalf("%d orders", n)
	}
}
