package shop_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/services/shop"
)

func TestTimelineFollowsEvents(t *testing.T) {
	t.Parallel()
	e := start(t, shop.Config{}).withPriceList()
	tok := e.signUp()
	_, o := e.place(tok, "timeline", orderBody(2))
	at := time.Now().UTC()
	routing := []contracts.RoutingStep{{LineNo: 1, Seq: 1, Operation: "laser_cut", Workstation: "laser", PlannedMinutes: 10}}

	// An event for an order the shop does not own (an API order) is acked and ignored.
	e.publish(contracts.OrderConfirmed, "0190aaaa-0000-7000-8000-000000000000", contracts.OrderConfirmedV1{
		OrderID: "0190aaaa-0000-7000-8000-000000000000", Channel: "api", Routing: routing, At: at})
	e.publish(contracts.OrderPriced, o.ID, contracts.OrderPricedV1{OrderID: o.ID, Channel: "shop", Total: 12345, Currency: "EUR",
		Lines: []contracts.PricedLine{{LineNo: 1, Quantity: 10, UnitPrice: 1000, Total: 10000}}, Routing: routing,
		LeadDays: 10, ShipDate: "2026-12-10", PricedAt: at})
	e.publish(contracts.OrderConfirmed, o.ID, contracts.OrderConfirmedV1{OrderID: o.ID, Channel: "shop", Routing: routing, ShipDate: "2026-12-10", By: "manager", At: at.Add(time.Second)})
	e.publish(contracts.OrderOnHold, o.ID, contracts.OrderStatusChangedV1{OrderID: o.ID, Reason: "waiting for material", At: at.Add(2 * time.Second)})
	e.publish(contracts.OrderResumed, o.ID, contracts.OrderStatusChangedV1{OrderID: o.ID, At: at.Add(3 * time.Second)})
	e.publish(contracts.OrderInProduction, o.ID, contracts.OrderStatusChangedV1{OrderID: o.ID, At: at.Add(4 * time.Second)})
	// Late and out of order: a second "priced" must not move the order back.
	e.publish(contracts.OrderPriced, o.ID, contracts.OrderPricedV1{OrderID: o.ID, Channel: "shop", Total: 12345, Currency: "EUR",
		Lines: []contracts.PricedLine{{LineNo: 1, Quantity: 10, UnitPrice: 1000, Total: 10000}}, Routing: routing,
		LeadDays: 10, ShipDate: "2026-12-10", PricedAt: at.Add(5 * time.Second)})
	e.publish(contracts.CompensationGranted, o.ID, contracts.CompensationGrantedV1{CompensationID: "c1", OrderID: o.ID, CustomerID: "x",
		Kind: "voucher", Amount: 2500, Currency: "EUR", Reason: "late delivery", By: "manager", At: at.Add(6 * time.Second)})

	var got orderOut
	// The order's row, lines and timeline are read by separate queries: a
	// read between two inbox commits may see the timeline ahead of the
	// status, so wait for both.
	e.eventually("timeline", func() bool {
		e.do("GET", "/shop/api/v1/orders/"+o.ID, tok, nil, nil).json(t, &got)
		return len(got.Timeline) == 8 && got.Status == contracts.StatusInProduction
	})
	if got.Status != contracts.StatusInProduction || got.PricedTotal != 12345 {
		t.Fatalf("status %s priced %d", got.Status, got.PricedTotal)
	}
	kinds := make([]string, len(got.Timeline))
	for i, ev := range got.Timeline {
		kinds[i] = ev.Kind
	}
	want := "order.placed order.priced order.confirmed order.on_hold order.resumed order.in_production order.priced compensation.granted"
	if strings.Join(kinds, " ") != want {
		t.Fatalf("timeline %v", kinds)
	}
	if got.Timeline[7].Amount != 2500 {
		t.Fatalf("compensation %+v", got.Timeline[7])
	}
	if n := e.count(`SELECT COUNT(*) FROM dead_letter`); n != 0 {
		t.Fatalf("%d dead letters", n)
	}
	if n := e.count(`SELECT COUNT(*) FROM orders`); n != 1 {
		t.Fatalf("the foreign order was stored: %d orders", n)
	}
	// In production: too late to cancel.
	res := e.do("POST", "/shop/api/v1/orders/"+o.ID+"/cancel", tok, `{}`, nil)
	if res.code != 409 {
		t.Fatalf("cancel in production: %d %s", res.code, res.body)
	}
}

func TestCancellationIsARequest(t *testing.T) {
	t.Parallel()
	e := start(t, shop.Config{}).withPriceList()
	tok := e.signUp()
	_, o := e.place(tok, "cancel-me", orderBody(1))
	if !o.Cancellable {
		t.Fatal("a placed order must be cancellable")
	}
	res := e.do("POST", "/shop/api/v1/orders/"+o.Number+"/cancel", tok, `{"reason":"ordered the wrong size"}`, nil)
	var got orderOut
	res.json(t, &got)
	if res.code != 202 || got.Status != contracts.StatusPlaced || !got.CancelRequested || got.Cancellable {
		t.Fatalf("cancel: %d %s", res.code, res.body)
	}
	if res := e.do("POST", "/shop/api/v1/orders/"+o.ID+"/cancel", tok, `{}`, nil); res.code != 202 {
		t.Fatalf("second request: %d", res.code)
	}
	if res := e.do("POST", "/shop/api/v1/orders/"+o.ID+"/cancel", tok, ``, map[string]string{"Content-Type": "text/plain"}); res.code != 415 {
		t.Fatalf("cancel without JSON: %d", res.code)
	}
	var reqs [][]byte
	e.eventually("cancel request on the broker", func() bool {
		reqs = e.streamMessages(contracts.Subject(contracts.OrderCancelRequested))
		return len(reqs) >= 1
	})
	if len(reqs) != 1 || !strings.Contains(string(reqs[0]), o.ID) || !strings.Contains(string(reqs[0]), "wrong size") {
		t.Fatalf("cancel requests: %s", reqs)
	}
	// Another customer cannot see or cancel it.
	other := e.signUp()
	if res := e.do("POST", "/shop/api/v1/orders/"+o.ID+"/cancel", other, `{}`, nil); res.code != 404 {
		t.Fatalf("other customer's cancel: %d", res.code)
	}
	if res := e.do("GET", "/shop/api/v1/orders/"+o.ID, other, nil, nil); res.code != 404 {
		t.Fatalf("other customer's read: %d", res.code)
	}
	e.publish(contracts.OrderCancelled, o.ID, contracts.OrderStatusChangedV1{OrderID: o.ID, Reason: "customer asked", By: "crm", At: time.Now()})
	e.eventually("cancelled", func() bool {
		e.do("GET", "/shop/api/v1/orders/"+o.ID, tok, nil, nil).json(t, &got)
		return got.Status == contracts.StatusCancelled
	})
	// Cancelled is final.
	e.publish(contracts.OrderConfirmed, o.ID, contracts.OrderConfirmedV1{OrderID: o.ID, Routing: []contracts.RoutingStep{{Seq: 1, Operation: "x", Workstation: "laser"}}, At: time.Now()})
	e.eventually("confirmed noted", func() bool {
		e.do("GET", "/shop/api/v1/orders/"+o.ID, tok, nil, nil).json(t, &got)
		return len(got.Timeline) == 4
	})
	if got.Status != contracts.StatusCancelled || got.Timeline[1].Kind != "order.cancel_requested" || got.Timeline[1].Label != "Cancellation requested" {
		t.Fatalf("after cancel: %+v", got)
	}
}

func TestMyOrdersPages(t *testing.T) {
	t.Parallel()
	e := start(t, shop.Config{}).withPriceList()
	tok := e.signUp()
	other := e.signUp()
	const n = 25
	ids := make([]string, n)
	for i := range n {
		_, o := e.place(tok, fmt.Sprintf("k%d", i), orderBody(1))
		ids[i] = o.ID
	}
	e.place(other, "k0", orderBody(1))
	for _, i := range []int{3, 7, 11} {
		e.publish(contracts.OrderNeedsReview, ids[i], contracts.OrderNeedsReviewV1{OrderID: ids[i], Reason: "odd size", At: time.Now()})
	}
	type page struct {
		Orders []struct{ ID, Status string }
		Next   string `json:"next_cursor"`
	}
	var seen []string
	cursor := ""
	for pages := 0; ; pages++ {
		var p page
		res := e.do("GET", "/shop/api/v1/orders?limit=10&cursor="+url.QueryEscape(cursor), tok, nil, nil)
		if res.code != 200 {
			t.Fatalf("page: %d %s", res.code, res.body)
		}
		res.json(t, &p)
		for _, o := range p.Orders {
			seen = append(seen, o.ID)
		}
		if p.Next == "" {
			if pages != 2 {
				t.Fatalf("%d pages", pages+1)
			}
			break
		}
		cursor = p.Next
	}
	if len(seen) != n {
		t.Fatalf("%d orders listed, want %d", len(seen), n)
	}
	for i := range n { // newest first
		if seen[i] != ids[n-1-i] {
			t.Fatalf("position %d: %s, want %s", i, seen[i], ids[n-1-i])
		}
	}
	e.eventually("status filter", func() bool {
		var p page
		e.do("GET", "/shop/api/v1/orders?status=needs_review&limit=2", tok, nil, nil).json(t, &p)
		if len(p.Orders) != 2 || p.Orders[0].ID != ids[11] || p.Next == "" {
			return false
		}
		var p2 page
		e.do("GET", "/shop/api/v1/orders?status=needs_review&limit=2&cursor="+p.Next, tok, nil, nil).json(t, &p2)
		return len(p2.Orders) == 1 && p2.Orders[0].ID == ids[3] && p2.Next == ""
	})
	for _, bad := range []string{"cursor=nonsense!", "cursor=MTox", "cursor=" + strings.Repeat("A", 200), "status=lost", "limit=0", "limit=1000", "limit=x"} {
		res := e.do("GET", "/shop/api/v1/orders?"+bad, tok, nil, nil)
		if res.code != 400 || res.header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("%s: %d %s", bad, res.code, res.body)
		}
	}
}

// TestMyOrdersCacheFollowsChanges runs with a page cache that would keep a
// page for an hour: every change the list shows below comes from the
// invalidation after the commit, not from the page expiring.
func TestMyOrdersCacheFollowsChanges(t *testing.T) {
	t.Parallel()
	e := start(t, shop.Config{OrdersCacheTTL: time.Hour}).withPriceList()
	tok := e.signUp()
	type page struct {
		Orders []struct {
			ID, Status      string
			PricedTotal     int64 `json:"priced_total"`
			CancelRequested bool  `json:"cancel_requested"`
		}
	}
	list := func(etag string) (response, page) {
		t.Helper()
		var hdr map[string]string
		if etag != "" {
			hdr = map[string]string{"If-None-Match": etag}
		}
		res := e.do("GET", "/shop/api/v1/orders", tok, nil, hdr)
		var p page
		if res.code == 200 {
			res.json(t, &p)
		}
		return res, p
	}
	_, first := e.place(tok, "c1", orderBody(1))
	res, p := list("")
	etag := res.header.Get("ETag")
	if res.code != 200 || len(p.Orders) != 1 || etag == "" || res.header.Get("Cache-Control") != "private, no-cache" {
		t.Fatalf("first list: %d %q %s", res.code, etag, res.body)
	}
	if res, _ := list(etag); res.code != 304 || len(res.body) != 0 {
		t.Fatalf("unchanged list: %d %s", res.code, res.body)
	}
	// Pages are kept per customer: another one sees only their own orders,
	// and the first customer's ETag means nothing to them.
	other := e.signUp()
	if res := e.do("GET", "/shop/api/v1/orders", other, nil, map[string]string{"If-None-Match": etag}); res.code != 200 || strings.Contains(string(res.body), first.ID) {
		t.Fatalf("another customer's list: %d %s", res.code, res.body)
	}

	// The cache really answers: a change behind the shop's back (as another
	// instance's would be) is not seen until the page expires.
	if _, err := e.shop.DB.ExecContext(e.ctx, `UPDATE orders SET quoted_total = quoted_total + 1 WHERE id = $1`, first.ID); err != nil {
		t.Fatal(err)
	}
	if res, _ := list(etag); res.code != 304 {
		t.Fatalf("the page was not served from the cache: %d %s", res.code, res.body)
	}

	steps := []struct {
		name   string
		change func()
		ok     func(page) bool
	}{
		{"a placed order", func() { e.place(tok, "c2", orderBody(2)) },
			func(p page) bool { return len(p.Orders) == 2 }},
		{"a status event through the inbox", func() {
			e.publish(contracts.OrderPriced, first.ID, contracts.OrderPricedV1{OrderID: first.ID, Channel: "shop", Total: 4242, Currency: "EUR",
				Lines:    []contracts.PricedLine{{LineNo: 1, Quantity: 10, UnitPrice: 424, Total: 4242}},
				Routing:  []contracts.RoutingStep{{LineNo: 1, Seq: 1, Operation: "laser_cut", Workstation: "laser", PlannedMinutes: 10}},
				LeadDays: 10, ShipDate: "2026-12-10", PricedAt: time.Now()})
		}, func(p page) bool {
			return len(p.Orders) == 2 && p.Orders[1].Status == contracts.StatusPriced && p.Orders[1].PricedTotal == 4242
		}},
		{"a cancellation request", func() {
			if res := e.do("POST", "/shop/api/v1/orders/"+first.ID+"/cancel", tok, `{}`, nil); res.code != 202 {
				t.Fatalf("cancel: %d %s", res.code, res.body)
			}
		}, func(p page) bool { return len(p.Orders) == 2 && p.Orders[1].CancelRequested }},
	}
	for _, s := range steps {
		s.change()
		// Events arrive asynchronously; the others are visible at once.
		e.eventually(s.name+" in my orders", func() bool {
			res, p := list(etag)
			if res.code != 200 || !s.ok(p) {
				return false
			}
			if next := res.header.Get("ETag"); next == etag || next == "" {
				t.Fatalf("%s: the page changed but its ETag did not: %q", s.name, next)
			}
			etag = res.header.Get("ETag")
			return true
		})
		if res, _ := list(etag); res.code != 304 {
			t.Fatalf("after %s: the new page is not cached: %d", s.name, res.code)
		}
	}
}
