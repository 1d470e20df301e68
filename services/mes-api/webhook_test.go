package mesapi_test

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/fabrika/fabrika/contracts"
)

type deliveryView struct {
	ID             string `json:"id"`
	WebhookID      string `json:"webhook_id"`
	Status         string `json:"status"`
	Attempts       int    `json:"attempts"`
	LastStatusCode int    `json:"last_status_code"`
	ReplayOf       string `json:"replay_of"`
	Log            []struct {
		N          int `json:"n"`
		StatusCode int `json:"status_code"`
	} `json:"attempt_log"`
}

func (e *env) deliveries(key, endpoint string) []deliveryView {
	e.t.Helper()
	var p struct {
		Data []deliveryView `json:"data"`
	}
	res := e.do("GET", "/v1/webhooks/"+endpoint+"/deliveries", key, nil, nil)
	if res.status != http.StatusOK {
		e.t.Fatalf("deliveries: %d %s", res.status, res.body)
	}
	res.json(e.t, &p)
	return p.Data
}

// placeAndPrice places an order and publishes its order.priced.
func (e *env) placeAndPrice(key string) order {
	e.t.Helper()
	res := e.do("POST", "/v1/orders", key, map[string]string{"Idempotency-Key": "k1"}, orderBody(5))
	if res.status != http.StatusCreated {
		e.t.Fatalf("place: %d %s", res.status, res.body)
	}
	var o order
	res.json(e.t, &o)
	e.publish(contracts.OrderPriced, o.ID, contracts.OrderPricedV1{OrderID: o.ID, Lines: []contracts.PricedLine{{LineNo: 1, Quantity: 5, UnitPrice: 100, Total: 500}},
		Total: 500, Routing: []contracts.RoutingStep{{Seq: 1}}, ShipDate: "2026-12-01", PricedAt: time.Now()})
	return o
}

func TestWebhookGivesUpAfterTheRetryWindow(t *testing.T) {
	t.Parallel()
	cfg := fastWebhooks()
	cfg.RetryFor = time.Second
	e := start(t, cfg, true)
	key := e.newKey("orders:write", "webhooks:manage")
	dead := newReceiver(t, 1_000_000) // always 500
	deadID := e.register(key, dead, contracts.OrderPriced, contracts.OrderNeedsReview)
	e.placeAndPrice(key)
	e.eventually("dead endpoint failed", func() bool {
		ds := e.deliveries(key, deadID)
		return len(ds) == 1 && ds[0].Status == "failed"
	})
	d := e.deliveries(key, deadID)[0]
	if d.Attempts < 1 || len(d.Log) != d.Attempts || d.LastStatusCode != 500 || len(dead.received()) != d.Attempts {
		t.Fatalf("failed delivery %+v, %d received", d, len(dead.received()))
	}
}

func TestWebhooksRetryAndReplay(t *testing.T) {
	t.Parallel()
	e := start(t, fastWebhooks(), true)
	key := e.newKey("orders:write", "orders:read", "webhooks:manage")

	flaky := newReceiver(t, 2) // 500, 500, then 204
	flakyID := e.register(key, flaky, contracts.OrderPriced)
	e.placeAndPrice(key)

	e.eventually("flaky endpoint delivered", func() bool {
		ds := e.deliveries(key, flakyID)
		return len(ds) == 1 && ds[0].Status == "delivered"
	})
	d := e.deliveries(key, flakyID)[0]
	var codes []int
	for _, a := range d.Log {
		codes = append(codes, a.StatusCode)
	}
	if d.Attempts != 3 || !slices.Equal(codes, []int{500, 500, 204}) || d.LastStatusCode != 204 {
		t.Fatalf("delivery log %+v", d)
	}
	got := flaky.received()
	if len(got) != 3 || got[0].id != got[2].id || got[0].id != d.WebhookID {
		t.Fatalf("retries must keep the webhook-id: %+v", got)
	}
	for _, r := range got {
		if !r.verified || r.event != contracts.OrderPriced || r.status != contracts.StatusPriced {
			t.Fatalf("delivery %+v", r)
		}
	}

	// Replay: a new delivery of the same message.
	res := e.do("POST", "/v1/webhooks/deliveries/"+d.ID+"/replay", key, nil, nil)
	if res.status != http.StatusAccepted {
		t.Fatalf("replay: %d %s", res.status, res.body)
	}
	var replay deliveryView
	res.json(t, &replay)
	if replay.ReplayOf != d.ID || replay.WebhookID != d.WebhookID {
		t.Fatalf("replay %+v", replay)
	}
	e.eventually("replay delivered", func() bool { return len(flaky.received()) == 4 })
	if r := flaky.received()[3]; !r.verified || r.id != d.WebhookID {
		t.Fatalf("replayed delivery %+v", r)
	}

	// Another client can neither see nor replay them.
	other := e.newKey("webhooks:manage")
	if r := e.do("GET", "/v1/webhooks/"+flakyID+"/deliveries", other, nil, nil); r.status != http.StatusNotFound {
		t.Fatalf("other client's log: %d", r.status)
	}
	if r := e.do("POST", "/v1/webhooks/deliveries/"+d.ID+"/replay", other, nil, nil); r.status != http.StatusNotFound {
		t.Fatalf("other client's replay: %d", r.status)
	}

	// Listing shows no secrets; deleting stops deliveries.
	res = e.do("GET", "/v1/webhooks", key, nil, nil)
	if res.status != http.StatusOK || contains(res.body, "whsec_") || !contains(res.body, flakyID) {
		t.Fatalf("list webhooks: %s", res.body)
	}
	if r := e.do("DELETE", "/v1/webhooks/"+flakyID, key, nil, nil); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if r := e.do("DELETE", "/v1/webhooks/"+flakyID, key, nil, nil); r.status != http.StatusNotFound {
		t.Fatalf("delete twice: %d", r.status)
	}
	if r := e.do("POST", "/v1/webhooks/deliveries/"+d.ID+"/replay", key, nil, nil); r.status != http.StatusConflict {
		t.Fatalf("replay to a deleted endpoint: %d", r.status)
	}
}

func TestCancellationRequest(t *testing.T) {
	t.Parallel()
	e := start(t, fastWebhooks(), true)
	key := e.newKey("orders:write", "orders:read")
	res := e.do("POST", "/v1/orders", key, map[string]string{"Idempotency-Key": "c1"}, orderBody(2))
	var o order
	res.json(t, &o)
	for range 2 { // twice: one event only
		res = e.do("POST", "/v1/orders/"+o.ID+"/cancel", key, nil, `{"reason":"wrong drawing"}`)
		if res.status != http.StatusAccepted {
			t.Fatalf("cancel: %d %s", res.status, res.body)
		}
	}
	var req contracts.OrderStatusChangedV1
	e.eventually("order.cancel_requested on the stream", func() bool {
		m, err := e.lastOnStream(contracts.OrderCancelRequested)
		return err == nil && jsonInto(m.Data, &req)
	})
	if req.OrderID != o.ID || req.Reason != "wrong drawing" || req.Channel != "api" {
		t.Fatalf("cancel_requested %+v", req)
	}
	s, _ := e.js.Stream(e.ctx, "FABRIKA")
	info, _ := s.Info(e.ctx, jetstreamSubjects(contracts.Subject(contracts.OrderCancelRequested)))
	if n := info.State.Subjects[contracts.Subject(contracts.OrderCancelRequested)]; n != 1 {
		t.Fatalf("%d cancel requests on the stream", n)
	}
	e.publish(contracts.OrderCancelled, o.ID, contracts.OrderStatusChangedV1{OrderID: o.ID, Reason: "client asked", At: time.Now()})
	e.eventually("cancelled", func() bool {
		e.do("GET", "/v1/orders/"+o.ID, key, nil, nil).json(t, &o)
		return o.Status == contracts.StatusCancelled
	})
	if r := e.do("POST", "/v1/orders/"+o.ID+"/cancel", key, nil, nil); r.status != http.StatusConflict {
		t.Fatalf("cancel a cancelled order: %d", r.status)
	}
	if r := e.do("POST", "/v1/orders/nope/cancel", key, nil, nil); r.status != http.StatusNotFound {
		t.Fatalf("cancel unknown: %d", r.status)
	}
}
