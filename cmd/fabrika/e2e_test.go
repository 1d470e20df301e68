package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/fabrika/fabrika/cmd/internal/logtail"
	"github.com/fabrika/fabrika/contracts"
	mesapi "github.com/fabrika/fabrika/services/mes-api"
)

const staffPassword = "a long enough password"

// running is a Main started by a test.
type running struct {
	m       *Main
	public  string // the gateway's public base URL
	logPath string
	// stop stops the platform and waits for it (the cleanup does if the
	// test does not).
	stop func()
}

// startMain runs the whole platform in this process on a temp data dir and
// free ports (PostgreSQL and an external NATS when the tests ask for them).
// setup runs before Run, with the databases' DSNs known.
func startMain(t *testing.T, setup func(ctx context.Context, m *Main)) *running {
	t.Helper()
	natsURL := externalNATS(t)
	dsns := serviceDSNs(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "fabrika.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	m := NewMain()
	m.Config.DataDir = dir
	m.Config.NATSURL = natsURL
	m.Config.BasePort = freeBasePort(t, 12)
	m.Config.AdminBasePort = m.Config.BasePort + 6
	m.Config.LogOutput = logf
	m.Config.LogLevel = slog.LevelInfo
	m.Config.DSNs = dsns
	m.Config.AllowPrivateWebhooks = true // the webhook sink listens on loopback
	ctx, cancel := context.WithCancel(context.Background())
	setup(ctx, m)
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("platform stopped with: %v", err)
				}
			case <-time.After(60 * time.Second):
				t.Errorf("platform did not stop within 60s of cancellation")
			}
		})
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("platform log (tail):\n%s", logtail.Tail(logPath, 12000))
		}
	})
	select {
	case <-m.Ready():
	case err := <-done:
		t.Fatalf("platform did not start: %v\n%s", err, logtail.Tail(logPath, 8000))
	case <-time.After(90 * time.Second):
		t.Fatalf("platform not ready after 90s\n%s", logtail.Tail(logPath, 8000))
	}
	r := &running{m: m, public: "http://127.0.0.1:" + strconv.Itoa(m.Config.BasePort), logPath: logPath, stop: stop}
	probe := newClient(t, r.public)
	eventually(t, 30*time.Second, "the gateway's public port", func() (bool, string) {
		res := probe.get("/staff/login")
		return res.code == 200, res.String()
	})
	for _, s := range platformServices {
		internal := newClient(t, "http://"+m.AdminAddr(s))
		eventually(t, 30*time.Second, s+" /readyz", func() (bool, string) {
			res := internal.get("/readyz")
			return res.code == 200, res.String()
		})
	}
	return r
}

// dsnOf is the database Run gives a service: never one from the test
// runner's environment.
func dsnOf(m *Main, service string) string {
	if dsn := m.Config.DSNs[service]; dsn != "" {
		return dsn
	}
	return filepath.Join(m.Config.DataDir, service+".db")
}

// webhookSink is the API client's webhook endpoint: it keeps every delivery
// with whether its Standard Webhooks signature verified.
type webhookSink struct {
	srv    *httptest.Server
	mu     sync.Mutex
	secret string
	got    []delivery
}

type delivery struct {
	id, event, status, orderID string
	signed                     error
}

func newWebhookSink(t *testing.T) *webhookSink {
	s := &webhookSink{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var p struct {
			Type string `json:"type"`
			Data struct {
				Order struct {
					ID     string `json:"id"`
					Status string `json:"status"`
				} `json:"order"`
			} `json:"data"`
		}
		_ = json.Unmarshal(body, &p)
		s.mu.Lock()
		defer s.mu.Unlock()
		id := r.Header.Get("webhook-id")
		s.got = append(s.got, delivery{id: id, event: p.Type, status: p.Data.Order.Status, orderID: p.Data.Order.ID,
			signed: verifyWebhook(s.secret, id, r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature"), body, time.Now())})
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *webhookSink) deliveries() []delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.got)
}

// verifyWebhook checks a delivery as the Standard Webhooks specification
// tells a receiver to: HMAC-SHA256 under the base64 secret after "whsec_",
// over "id.timestamp.body", one of the space-separated "v1,<base64>"
// signatures matching, the timestamp within five minutes. Written here from
// the specification, not shared with mes-api, so that the two can disagree.
func verifyWebhook(secret, id, ts, signatures string, body []byte, now time.Time) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil || len(key) == 0 || !strings.HasPrefix(secret, "whsec_") {
		return fmt.Errorf("secret %q is not whsec_<base64>", secret)
	}
	if id == "" {
		return errors.New("no webhook-id")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("webhook-timestamp %q: %w", ts, err)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return fmt.Errorf("webhook-timestamp %s is %s away", ts, d)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, s := range strings.Fields(signatures) {
		v, sig, _ := strings.Cut(s, ",")
		got, err := base64.StdEncoding.DecodeString(sig)
		if v == "v1" && err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return fmt.Errorf("webhook-signature %q does not match", signatures)
}

// TestWholeFlow is issue 6's end-to-end test: a shop order and an API order
// go through every service - priced by mes-calc, confirmed by a manager in
// the CRM, produced and shipped by an operator - and the customer's page,
// the API client's GET and its webhook all show them shipped. Everything a
// person or client does goes through the gateway's public port.
func TestWholeFlow(t *testing.T) {
	t.Parallel()
	stations := demoStations()
	var creds mesapi.Credentials
	p := startMain(t, func(ctx context.Context, m *Main) {
		seedStaff(ctx, t, m, staffAccount{"mia.manager", "manager", nil}, staffAccount{"otto.operator", "operator", stations})
		creds = seedAPIClient(ctx, t, m, "Bolt & Nut AG", "buy@bolt.example")
	})
	// Generous: the machine may be running every other suite meanwhile.
	const wait = 90 * time.Second
	began := time.Now()
	phase := func(what string) { t.Logf("%-48s %s", what, time.Since(began).Round(time.Millisecond)) }

	// Operational routes are internal only: not on the public port, but on
	// every service's admin listener.
	pub := newClient(t, p.public)
	for _, path := range []string{"/metrics", "/healthz", "/readyz", "/admin/outbox", "/admin/dead-letters", "/pricing/price-list", "/api/metrics", "/api/admin/outbox"} {
		if res := pub.get(path); res.code != http.StatusNotFound {
			t.Errorf("GET %s on the public port: %s, want 404", path, res)
		}
	}
	for _, s := range platformServices {
		res := newClient(t, "http://"+p.m.AdminAddr(s)).get("/metrics")
		if res.code != 200 || !strings.Contains(string(res.body), "fabrika_outbox_published_total") {
			t.Errorf("%s internal /metrics: %d, fabrika_outbox_published_total present: %v", s, res.code, strings.Contains(string(res.body), "fabrika_outbox_published_total"))
		}
	}

	// A shop customer signs up and orders, once mes-calc's price list has
	// reached the shop.
	shopper, fromShop := placeShopOrder(t, p.public, "Ada")

	// The B2B client registers a webhook and orders through the API.
	b2b := newClient(t, p.public)
	b2b.header.Set("Authorization", "Bearer "+creds.Key)
	sink := newWebhookSink(t)
	res := b2b.do("POST", "/api/v1/webhooks", map[string]any{"url": sink.srv.URL + "/hooks/fabrika"}, nil)
	if res.code != http.StatusCreated {
		t.Fatalf("register webhook: %s", res)
	}
	var ep struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	res.decode(t, &ep)
	sink.mu.Lock()
	sink.secret = ep.Secret
	sink.mu.Unlock()
	orderKey, order := uuid.NewString(), apiOrder()
	eventually(t, wait, "the API's order (the price list from mes-calc)", func() (bool, string) {
		res = b2b.do("POST", "/api/v1/orders", order, map[string]string{"Idempotency-Key": orderKey})
		return res.code == http.StatusCreated, res.String()
	})
	var apiPlaced struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	res.decode(t, &apiPlaced)
	if apiPlaced.ID == "" || apiPlaced.Status != contracts.StatusPlaced {
		t.Fatalf("API order: %s", res)
	}
	if again := b2b.do("POST", "/api/v1/orders", order, map[string]string{"Idempotency-Key": orderKey}); !strings.Contains(string(again.body), apiPlaced.ID) {
		t.Errorf("the API order's retry with the same Idempotency-Key: %s, want the first answer", again)
	}
	orders := []string{fromShop.ID, apiPlaced.ID}
	phase("both orders placed")

	// Both are priced by mes-calc and show so in the CRM; the manager
	// confirms each with the version read.
	manager := newClient(t, p.public)
	manager.staffSignIn("mia.manager", staffPassword)
	for _, id := range orders {
		o := pricedInCRM(t, manager, id, wait)
		res := manager.do("POST", "/crm/api/v1/orders/"+id+"/confirm", map[string]any{"version": o.Order.Version}, nil)
		if res.code != 200 {
			t.Fatalf("confirm %s in the CRM: %s", id, res)
		}
		if res := manager.do("POST", "/crm/api/v1/orders/"+id+"/confirm", map[string]any{"version": o.Order.Version}, nil); res.code < 400 {
			t.Errorf("confirming %s again with the old version: %s, want a refusal", id, res)
		}
	}
	phase("both priced and confirmed in the CRM")
	// The CRM's list shows both.
	res = manager.do("GET", "/crm/api/v1/orders?limit=200", nil, nil)
	for _, id := range orders {
		if res.code != 200 || !strings.Contains(string(res.body), id) {
			t.Errorf("the CRM's order list does not show %s: %s", id, res)
		}
	}

	// The operator works every operation of both orders in sequence, then
	// ships them.
	operator := newClient(t, p.public)
	operator.staffSignIn("otto.operator", staffPassword)
	for i, id := range orders {
		produceAndShip(t, operator, id, fmt.Sprintf("JD%08d", i+1))
	}

	phase("both produced and shipped")
	// The shop customer sees the order shipped, with its story.
	eventually(t, wait, "the shop order shipped on the customer's page", func() (bool, string) {
		res := shopper.get("/shop/api/v1/orders/" + fromShop.ID)
		var o struct {
			Status   string `json:"status"`
			Timeline []struct {
				Kind string `json:"kind"`
			} `json:"timeline"`
		}
		if res.code != 200 || json.Unmarshal(res.body, &o) != nil {
			return false, res.String()
		}
		var kinds []string
		for _, e := range o.Timeline {
			kinds = append(kinds, e.Kind)
		}
		return o.Status == contracts.StatusShipped && hasEach(kinds, statusEvents...), res.String()
	})
	// The API client's GET too, with carrier and tracking.
	eventually(t, wait, "the API order shipped for the client", func() (bool, string) {
		res := b2b.get("/api/v1/orders/" + apiPlaced.ID)
		var o struct {
			Status   string `json:"status"`
			Carrier  string `json:"carrier"`
			Tracking string `json:"tracking_number"`
		}
		if res.code != 200 || json.Unmarshal(res.body, &o) != nil {
			return false, res.String()
		}
		return o.Status == contracts.StatusShipped && o.Carrier == "DHL" && o.Tracking == "JD00000002", res.String()
	})
	// And its webhook received a correctly signed order.shipped, after one
	// for each earlier status change of its own order, none twice.
	eventually(t, wait, "signed webhooks up to order.shipped", func() (bool, string) {
		var events, seen []string
		for _, d := range sink.deliveries() {
			if d.event == contracts.OrderShipped && d.status != contracts.StatusShipped {
				t.Errorf("order.shipped delivery %s shows status %q", d.id, d.status)
			}
			if d.signed == nil && d.orderID == apiPlaced.ID {
				events = append(events, d.event)
			}
			seen = append(seen, fmt.Sprintf("%s/%s/%s signature: %v", d.orderID, d.event, d.status, d.signed))
		}
		return hasEach(events, statusEvents[1:]...), fmt.Sprint(seen)
	})
	for _, d := range sink.deliveries() {
		if d.signed != nil {
			t.Errorf("webhook delivery %s (%s): %v", d.id, d.event, d.signed)
		}
		if d.orderID != apiPlaced.ID {
			t.Errorf("the API client was told about another order: %+v", d)
		}
	}
	if n := len(sink.deliveries()); n != len(statusEvents)-1 {
		t.Errorf("%d webhook deliveries, want %d", n, len(statusEvents)-1)
	}
	phase("shipped at the shop, the API and its webhook")
	// The CRM, fed by the same events, shows both shipped.
	for _, id := range orders {
		eventually(t, wait, "order "+id+" shipped in the CRM", func() (bool, string) {
			res := manager.get("/crm/api/v1/orders/" + id)
			var o crmOrder
			if res.code != 200 || json.Unmarshal(res.body, &o) != nil {
				return false, res.String()
			}
			var types []string
			for _, e := range o.Timeline {
				types = append(types, e.Type)
			}
			return o.Order.Status == contracts.StatusShipped && hasEach(types, statusEvents...), res.String()
		})
	}
	phase("shipped in the CRM")
}

// statusEvents are the events of an order's way from placed to shipped.
var statusEvents = []string{contracts.OrderPlaced, contracts.OrderPriced, contracts.OrderConfirmed,
	contracts.OrderInProduction, contracts.OrderProduced, contracts.OrderShipped}

// hasEach tells whether got holds each of want exactly once.
func hasEach(got []string, want ...string) bool {
	for _, w := range want {
		n := 0
		for _, g := range got {
			if g == w {
				n++
			}
		}
		if n != 1 {
			return false
		}
	}
	return true
}

// mesOperation is what mes-operator's JSON API shows of an operation.
type mesOperation struct {
	ID          string `json:"id"`
	LineNo      int    `json:"line_no"`
	Seq         int    `json:"seq"`
	Workstation string `json:"workstation"`
	State       string `json:"state"`
	Quantity    int    `json:"quantity"` // ordered; a step finishes with every part counted
}

// produceAndShip works through an order's operations at the operator's
// workstations, always the first ready one, and ships the order.
func produceAndShip(t *testing.T, op *client, orderID, tracking string) {
	t.Helper()
	type mesOrder struct {
		Status     string         `json:"status"`
		Operations []mesOperation `json:"operations"`
	}
	read := func() (mesOrder, response) {
		res := op.get("/mes/api/v1/orders/" + orderID)
		var o mesOrder
		if res.code == 200 {
			res.decode(t, &o)
		}
		return o, res
	}
	var o mesOrder
	eventually(t, 90*time.Second, "order "+orderID+" planned at mes-operator", func() (bool, string) {
		var res response
		o, res = read()
		return res.code == 200 && len(o.Operations) > 0, res.String()
	})
	act := func(opID, action string, body map[string]any) {
		t.Helper()
		body["event_id"] = uuid.NewString()
		res := op.do("POST", "/mes/api/v1/operations/"+opID+"/"+action, body, nil)
		if res.code != 200 && res.code != 201 {
			t.Fatalf("%s operation %s of order %s: %s", action, opID, orderID, res)
		}
		// The same event id again is a replay, not a second action.
		again := op.do("POST", "/mes/api/v1/operations/"+opID+"/"+action, body, nil)
		if again.code != res.code || again.header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("retry of %s on %s: %s (replayed %q), want the first answer replayed", action, opID, again, again.header.Get("Idempotent-Replayed"))
		}
	}
	for step := 0; ; step++ {
		if step > 50 {
			t.Fatalf("order %s: operations never all done: %+v", orderID, o.Operations)
		}
		var next *mesOperation
		open := 0
		for i := range o.Operations {
			x := &o.Operations[i]
			if x.State != "done" {
				open++
			}
			if x.State == "ready" && (next == nil || x.LineNo < next.LineNo || (x.LineNo == next.LineNo && x.Seq < next.Seq)) {
				next = x
			}
		}
		if open == 0 {
			break
		}
		if next == nil {
			t.Fatalf("order %s: open operations but none ready: %+v", orderID, o.Operations)
		}
		// A waiting operation cannot start out of sequence.
		for _, x := range o.Operations {
			if x.State == "waiting" {
				res := op.do("POST", "/mes/api/v1/operations/"+x.ID+"/start", map[string]any{"event_id": uuid.NewString()}, nil)
				if res.code != http.StatusConflict {
					t.Errorf("starting waiting operation %s: %s, want 409", x.ID, res)
				}
				break
			}
		}
		act(next.ID, "start", map[string]any{})
		if next.Quantity == 0 {
			t.Fatalf("order %s: operation %s does not say the ordered quantity", orderID, next.ID)
		}
		act(next.ID, "finish", map[string]any{"good_qty": next.Quantity})
		o, _ = read()
	}
	if o.Status != contracts.StatusProduced {
		t.Errorf("order %s after its last operation: status %q, want produced", orderID, o.Status)
	}
	res := op.do("POST", "/mes/api/v1/orders/"+orderID+"/ship", map[string]any{"event_id": uuid.NewString(), "carrier": "DHL", "tracking_number": tracking}, nil)
	if res.code != 200 && res.code != 201 {
		t.Fatalf("ship order %s: %s", orderID, res)
	}
	if o, _ = read(); o.Status != contracts.StatusShipped {
		t.Errorf("order %s after shipping: status %q at mes-operator", orderID, o.Status)
	}
}
