package mesapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/broker"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/services/mes-api/internal/webhook"
)

type order struct {
	ID          string `json:"id"`
	Number      string `json:"number"`
	Status      string `json:"status"`
	QuotedTotal int64  `json:"quoted_total"`
	PricedTotal int64  `json:"priced_total"`
	ShipDate    string `json:"ship_date"`
	Carrier     string `json:"carrier"`
	Tracking    string `json:"tracking_number"`
	History     []struct {
		Event, Status string
	} `json:"history"`
}

// receiver is a client's webhook endpoint that verifies every delivery.
type receiver struct {
	t      *testing.T
	mu     sync.Mutex
	secret string
	fail   int // answer 500 to this many deliveries first
	got    []received
	srv    *httptest.Server
}

type received struct {
	id, event, status string
	history           []string // the events of the order's history the delivery carries
	verified          bool
}

func newReceiver(t *testing.T, fail int) *receiver {
	r := &receiver{t: t, fail: fail}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var p struct {
			Type string `json:"type"`
			Data struct {
				Order order `json:"order"`
			} `json:"data"`
		}
		_ = json.Unmarshal(body, &p)
		r.mu.Lock()
		defer r.mu.Unlock()
		err := webhook.Verify(r.secret, req.Header.Get("webhook-id"), req.Header.Get("webhook-timestamp"), req.Header.Get("webhook-signature"), body, time.Now(), 5*time.Minute)
		var history []string
		for _, h := range p.Data.Order.History {
			history = append(history, h.Event)
		}
		r.got = append(r.got, received{id: req.Header.Get("webhook-id"), event: p.Type, status: p.Data.Order.Status, history: history, verified: err == nil})
		if r.fail > 0 {
			r.fail--
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) received() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func (e *env) register(key string, r *receiver, events ...string) string {
	e.t.Helper()
	res := e.do("POST", "/v1/webhooks", key, nil, map[string]any{"url": r.srv.URL + "/hook", "events": events})
	if res.status != http.StatusCreated {
		e.t.Fatalf("register webhook: %d %s", res.status, res.body)
	}
	var ep struct{ ID, Secret string }
	res.json(e.t, &ep)
	r.mu.Lock()
	r.secret = ep.Secret
	r.mu.Unlock()
	return ep.ID
}

func TestOrderThroughTheAPIFollowsThePlatformsEvents(t *testing.T) {
	t.Parallel()
	e := start(t, fastWebhooks(), true)

	// An admin makes the client and its key through the admin routes.
	res := e.admin("POST", "/clients", identity.RoleAdmin, map[string]string{"name": "Bolt & Nut AG", "email": "buy@bolt.example"})
	if res.status != http.StatusCreated {
		t.Fatalf("create client: %d %s", res.status, res.body)
	}
	var client struct{ ID string }
	res.json(t, &client)
	if r := e.admin("POST", "/clients", identity.RoleManager, map[string]string{"name": "x"}); r.status != http.StatusForbidden {
		t.Fatalf("a manager created a client: %d", r.status)
	}
	res = e.admin("POST", "/clients/"+client.ID+"/keys", identity.RoleAdmin, map[string]any{"scopes": []string{"orders:read", "orders:write", "webhooks:manage"}})
	if res.status != http.StatusCreated {
		t.Fatalf("create key: %d %s", res.status, res.body)
	}
	var key struct{ Key, Prefix string }
	res.json(t, &key)
	res = e.admin("GET", "/clients/"+client.ID, identity.RoleAdmin, nil)
	if res.status != http.StatusOK || !json.Valid(res.body) || contains(res.body, key.Key) || !contains(res.body, key.Prefix) {
		t.Fatalf("client shows its key or no prefix: %s", res.body)
	}

	hook := newReceiver(t, 0)
	e.register(key.Key, hook)

	res = e.do("POST", "/v1/quotes", key.Key, nil, quoteBody)
	var q struct {
		Total int64
		Lines []struct {
			UnitPrice int64 `json:"unit_price"`
		}
	}
	res.json(t, &q)
	if res.status != http.StatusOK || q.Total <= 0 || q.Lines[0].UnitPrice*10 != q.Total {
		t.Fatalf("quote: %d %s", res.status, res.body)
	}

	res = e.do("POST", "/v1/orders", key.Key, map[string]string{"Idempotency-Key": "order-1"}, orderBody(10))
	if res.status != http.StatusCreated {
		t.Fatalf("place: %d %s", res.status, res.body)
	}
	var o order
	res.json(t, &o)
	if o.Status != contracts.StatusPlaced || o.QuotedTotal != q.Total {
		t.Fatalf("placed order: %s", res.body)
	}

	// order.placed reaches the stream with the client as customer.
	var placed contracts.OrderPlacedV1
	e.eventually("order.placed on the stream", func() bool {
		m, err := e.lastOnStream(contracts.OrderPlaced)
		return err == nil && json.Unmarshal(m.Data, &placed) == nil
	})
	if placed.OrderID != o.ID || placed.Channel != contracts.ChannelAPI || placed.Customer.ID != client.ID ||
		placed.Customer.Company != "Bolt & Nut AG" || placed.QuotedTotal != q.Total || placed.Validate() != nil {
		t.Fatalf("order.placed: %+v", placed)
	}

	// The platform reports progress; a late and a foreign event change nothing.
	now := time.Now().UTC()
	e.publish(contracts.OrderPriced, o.ID, contracts.OrderPricedV1{OrderID: o.ID, Channel: "api", Lines: []contracts.PricedLine{{LineNo: 1, Quantity: 10, UnitPrice: 500, Total: 5000}},
		Total: 5000, Currency: "EUR", PriceListVersion: 1, Routing: []contracts.RoutingStep{{Seq: 1, Operation: "laser_cut", Workstation: "laser"}},
		LeadDays: 10, ShipDate: "2026-12-09", PricedAt: now})
	e.publish(contracts.OrderConfirmed, o.ID, contracts.OrderConfirmedV1{OrderID: o.ID, Number: o.Number, Channel: "api",
		Routing: []contracts.RoutingStep{{Seq: 1, Operation: "laser_cut", Workstation: "laser"}}, ShipDate: "2026-12-09", By: "manager", At: now})
	for _, ev := range []string{contracts.OrderInProduction, contracts.OrderProduced} {
		e.publish(ev, o.ID, contracts.OrderStatusChangedV1{OrderID: o.ID, At: now})
	}
	e.publish(contracts.OrderShipped, o.ID, contracts.OrderShippedV1{OrderID: o.ID, Carrier: "DHL", TrackingNumber: "JD0123", By: "op", At: now})
	e.publish(contracts.OrderConfirmed, o.ID, contracts.OrderConfirmedV1{OrderID: o.ID, Routing: []contracts.RoutingStep{{Seq: 1}}, At: now})
	e.publish(contracts.OrderCancelled, "shop-order", contracts.OrderStatusChangedV1{OrderID: "shop-order", At: now})

	e.eventually("shipped", func() bool {
		res := e.do("GET", "/v1/orders/"+o.ID, key.Key, nil, nil)
		res.json(t, &o)
		return o.Status == contracts.StatusShipped
	})
	if o.PricedTotal != 5000 || o.ShipDate != "2026-12-09" || o.Carrier != "DHL" || o.Tracking != "JD0123" {
		t.Fatalf("shipped order: %+v", o)
	}
	var statuses []string
	for _, h := range o.History {
		statuses = append(statuses, h.Status)
	}
	want := []string{"placed", "priced", "confirmed", "in_production", "produced", "shipped"}
	if !slices.Equal(statuses, want) {
		t.Fatalf("history %v, want %v", statuses, want)
	}

	// One signed webhook per status change, and no sixth: once the orders
	// consumer has every event handled and acknowledged and no delivery is
	// left waiting, every webhook the events made has been sent.
	e.eventually("every event handled and every webhook sent", func() bool {
		c, err := e.js.Consumer(e.ctx, broker.StreamName, e.h.Inbox.ConsumerName("orders"))
		if err != nil {
			return false
		}
		ci, err := c.Info(e.ctx)
		if err != nil || ci.NumPending > 0 || ci.NumAckPending > 0 {
			return false
		}
		var waiting int
		err = e.h.DB.QueryRowContext(e.ctx, `SELECT COUNT(*) FROM webhook_delivery WHERE status = 'pending'`).Scan(&waiting)
		return err == nil && waiting == 0 && len(hook.received()) >= 5
	})
	got := hook.received()
	var events []string
	for _, r := range got {
		if !r.verified {
			t.Errorf("delivery %s has a bad signature", r.id)
		}
		events = append(events, r.event)
		// The order's whole history, up to the change the delivery tells.
		if len(r.history) < 2 || r.history[0] != contracts.OrderPlaced || r.history[len(r.history)-1] != r.event {
			t.Errorf("delivery %s of %s carries the history %v", r.id, r.event, r.history)
		}
	}
	slices.Sort(events)
	wantEvents := []string{"order.confirmed", "order.in_production", "order.priced", "order.produced", "order.shipped"}
	if !slices.Equal(events, wantEvents) {
		t.Fatalf("webhooks %v, want %v", events, wantEvents)
	}
	if e.count("api_order") != 1 {
		t.Fatal("a foreign order was stored")
	}

	// Listing: status filter and cursor pagination.
	for i := range 4 {
		r := e.do("POST", "/v1/orders", key.Key, map[string]string{"Idempotency-Key": "more-" + string(rune('a'+i))}, orderBody(i+1))
		if r.status != http.StatusCreated {
			t.Fatalf("place %d: %d %s", i, r.status, r.body)
		}
	}
	var page struct {
		Data       []order `json:"data"`
		NextCursor string  `json:"next_cursor"`
	}
	e.do("GET", "/v1/orders?status=shipped", key.Key, nil, nil).json(t, &page)
	if len(page.Data) != 1 || page.Data[0].ID != o.ID || page.NextCursor != "" {
		t.Fatalf("shipped filter: %+v", page)
	}
	seen := map[string]bool{}
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		page.NextCursor = ""
		e.do("GET", "/v1/orders?limit=2&cursor="+cursor, key.Key, nil, nil).json(t, &page)
		for _, x := range page.Data {
			if seen[x.ID] {
				t.Fatalf("order %s on two pages", x.ID)
			}
			seen[x.ID] = true
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	if len(seen) != 5 {
		t.Fatalf("pages held %d orders, want 5", len(seen))
	}
	// Another client sees none of them.
	other := e.newKey("orders:read")
	if r := e.do("GET", "/v1/orders/"+o.ID, other, nil, nil); r.status != http.StatusNotFound {
		t.Fatalf("another client read the order: %d", r.status)
	}
	e.do("GET", "/v1/orders", other, nil, nil).json(t, &page)
	if len(page.Data) != 0 {
		t.Fatal("another client lists the orders")
	}
}

func contains(b []byte, s string) bool { return s != "" && strings.Contains(string(b), s) }
