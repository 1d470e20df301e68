package shop_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/fabrika/fabrika/services/shop"
)

// The anonymous quote shows prices, never the factory's cost or routing
// (issue 17).
func TestQuoteHidesCostAndRouting(t *testing.T) {
	t.Parallel()
	e := start(t, shop.Config{}).withPriceList()
	res := e.do("POST", "/shop/api/v1/quotes", "", `{"product":"laser_cut_sheet","options":{"material":"steel_s235","width_mm":"200","height_mm":"100","thickness_mm":"2","finish":"powder_coat"},"quantity":10}`, nil)
	if res.code != 200 {
		t.Fatalf("quote: %d %s", res.code, res.body)
	}
	var q map[string]json.RawMessage
	res.json(t, &q)
	for _, k := range []string{"unit_cost", "routing", "cost"} {
		if _, ok := q[k]; ok {
			t.Errorf("the quote shows %q: %s", k, res.body)
		}
	}
	for _, s := range []string{"planned_minutes", "workstation", "unit_cost"} {
		if strings.Contains(string(res.body), s) {
			t.Errorf("the quote mentions %q: %s", s, res.body)
		}
	}
	if _, ok := q["unit_price"]; !ok {
		t.Fatalf("no price: %s", res.body)
	}
}

// The product page shows a price as soon as it opens, without a click or
// script.
func TestProductPageQuotesAtOnce(t *testing.T) {
	t.Parallel()
	e := start(t, shop.Config{}).withPriceList()
	res := e.browser().get("/catalog/laser_cut_sheet")
	if res.code != 200 || !strings.Contains(string(res.body), "per part") || !strings.Contains(string(res.body), "Your price") {
		t.Fatalf("product page: %d, no price shown", res.code)
	}
}

// After "sign in to add to cart" the customer is back on the product as
// they configured it.
func TestSignInReturnsToConfiguredProduct(t *testing.T) {
	t.Parallel()
	e := start(t, shop.Config{}).withPriceList()
	e.account("back@example.com", "B", "the right password", nil)
	b := e.browser()
	b.get("/catalog/laser_cut_sheet")
	res := b.post("/catalog/laser_cut_sheet", url.Values{"material": {"steel_s235"}, "finish": {"powder_coat"}, "width_mm": {"234"},
		"height_mm": {"111"}, "thickness_mm": {"2"}, "quantity": {"17"}, "lead": {"rush"}, "action": {"add"}})
	loc := res.header.Get("Location")
	if res.code != 303 || !strings.HasPrefix(loc, "/account/login?next=") {
		t.Fatalf("anonymous add to cart: %d %q", res.code, loc)
	}
	login := b.get(loc)
	if !strings.Contains(string(login.body), "come back to it") {
		t.Fatal("the sign-in page does not say why")
	}
	u, _ := url.Parse(loc)
	res = b.post("/account/login", url.Values{"email": {"back@example.com"}, "password": {"the right password"}, "next": {u.Query().Get("next")}})
	back := res.header.Get("Location")
	if res.code != 303 || !strings.HasPrefix(back, "/catalog/laser_cut_sheet?") {
		t.Fatalf("after sign-in: %d %q", res.code, back)
	}
	page := string(b.get(back).body)
	for _, s := range []string{`value="234"`, `value="111"`, `value="17"`, `value="rush" checked`, `value="powder_coat" selected`, "add the part to your cart"} {
		if !strings.Contains(page, s) {
			t.Errorf("the product page lost %s", s)
		}
	}
	// Then it goes into the cart as configured.
	res = b.post("/catalog/laser_cut_sheet", url.Values{"material": {"steel_s235"}, "finish": {"powder_coat"}, "width_mm": {"234"},
		"height_mm": {"111"}, "thickness_mm": {"2"}, "quantity": {"17"}, "lead": {"rush"}, "action": {"add"}})
	if res.code != 303 || res.header.Get("Location") != "/cart" {
		t.Fatalf("add after sign-in: %d %q", res.code, res.header.Get("Location"))
	}
}
