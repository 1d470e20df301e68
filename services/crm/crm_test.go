package crm_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/host"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/platform/outbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
	"github.com/fabrika/fabrika/services/crm"
)

type env struct {
	t      *testing.T
	broker *testenv.Broker
	crm    *testenv.Running
	base   string
	signer *identity.Signer
	pub    ed25519.PublicKey
}

func startCRM(t *testing.T, b *testenv.Broker) *env {
	t.Helper()
	pub, priv, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	h, err := host.Open(ctx, testenv.HostConfig(t, "crm", crm.Migrations), b.Deps(t, "crm"))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := crm.New(ctx, h, crm.Config{Identity: identity.NewVerifier("crm", pub)})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, broker: b, signer: identity.NewSigner(priv), pub: pub, base: "http://" + h.Addr()}
	e.crm = testenv.Run(t, h, svc.Handler())
	return e
}

func (e *env) token(role string) string {
	tok, err := e.signer.Sign("crm", identity.Identity{Subject: "u-" + role, Name: role + "-mia", Role: role}, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// do sends a request as a manager (role "" sends no token).
func (e *env) do(method, path, role string, body io.Reader, hdr map[string]string) (*http.Response, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.base+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if role != "" {
		req.Header.Set(identity.Header, e.token(role))
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, b := testenv.Send(e.t, client, req)
	return resp, string(b)
}

func (e *env) getJSON(path string, v any) {
	e.t.Helper()
	resp, body := e.do("GET", path, identity.RoleManager, nil, nil)
	if resp.StatusCode != 200 {
		e.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		e.t.Fatal(err)
	}
}

// producer stands in for the shop and the MES: a host whose outbox emits
// the events.
type producer struct {
	cfg host.Config
	run *testenv.Running
}

func startProducer(t *testing.T, b *testenv.Broker, cfg host.Config) *producer {
	t.Helper()
	h, err := host.Open(context.Background(), cfg, b.Deps(t, cfg.Service))
	if err != nil {
		t.Fatal(err)
	}
	return &producer{cfg: cfg, run: testenv.Run(t, h, nil)}
}

// emit enqueues events in the producer's outbox, through db (the running
// host's, or the database opened while the producer is stopped).
func emit(t *testing.T, db *sqldb.DB, events ...event) {
	t.Helper()
	err := db.InTx(context.Background(), func(ctx context.Context, tx *sqldb.Tx) error {
		for _, ev := range events {
			m, err := outbox.NewMessage(contracts.Subject(ev.typ), ev.key, ev.payload)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO outbox (id, subject, msg_key, payload, headers, created_at) VALUES ($1, $2, $3, $4, '{}', $5)`,
				m.ID, m.Subject, m.Key, string(m.Payload), m.CreatedAt.UnixMicro()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

type event struct {
	typ, key string
	payload  any
}

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func placedEv(i int, channel string) event {
	id := fmt.Sprintf("order-%03d", i)
	cust := contracts.Customer{ID: fmt.Sprintf("cust-%d", i%4), Name: fmt.Sprintf("Customer %d", i%4), Email: fmt.Sprintf("c%d@example.com", i%4)}
	if channel == "api" {
		cust.Company = "Acme Industries"
	}
	return event{contracts.OrderPlaced, id, contracts.OrderPlacedV1{OrderID: id, Number: fmt.Sprintf("FAB-%04d", i), Channel: channel,
		Customer: cust, Currency: "EUR", QuotedTotal: int64(1000 + i), PlacedAt: t0.Add(time.Duration(i) * time.Minute),
		Lines: []contracts.LineItem{{LineNo: 1, Product: "laser_cut_sheet", Quantity: 2, Lead: "standard", UnitPrice: 500, Total: 1000,
			Options: map[string]string{contracts.OptMaterial: "steel_s235", contracts.OptFinish: "powder_coat",
				contracts.OptWidth: "200", contracts.OptHeight: "100", contracts.OptThickness: "2"}}}}}
}

func pricedEv(i int) event {
	id := fmt.Sprintf("order-%03d", i)
	return event{contracts.OrderPriced, id, contracts.OrderPricedV1{OrderID: id, Total: int64(2000 + i), Currency: "EUR", PriceListVersion: 7,
		Lines:    []contracts.PricedLine{{LineNo: 1, Quantity: 2, UnitPrice: 1000, Total: 2000}},
		Routing:  []contracts.RoutingStep{{LineNo: 1, Seq: 1, Operation: "cut", Workstation: "LASER1", PlannedMinutes: 3}},
		ShipDate: "2026-03-20", PricedAt: t0.Add(time.Hour)}}
}

type listPage struct {
	Orders []struct {
		ID     string `json:"id"`
		Number string `json:"number"`
		Status string `json:"status"`
	} `json:"orders"`
	Next   string           `json:"next_cursor"`
	Counts map[string]int64 `json:"counts"`
}

type card struct {
	Order struct {
		ID      string `json:"id"`
		Status  string `json:"status"`
		Version int64  `json:"version"`
	} `json:"order"`
	Timeline []struct {
		Type   string `json:"type"`
		Source string `json:"source"`
	} `json:"timeline"`
	Notes []struct{ Body string } `json:"notes"`
}

// brokerWait is how long a test waits for an event's effect. It is
// generous: after a broker restart the inbox's pull consumer takes from one
// to several tens of seconds to fetch again on a loaded machine.
const brokerWait = 90 * time.Second

func (e *env) orderCount() int64 {
	var p listPage
	e.getJSON("/crm/api/v1/orders?limit=1", &p)
	return p.Counts["all"]
}

func TestHTTP(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	e := startCRM(t, b)
	p := startProducer(t, b, testenv.HostConfig(t, "shop", nil))
	emit(t, p.run.Host().DB, placedEv(1, "shop"), placedEv(2, "api"), pricedEv(1))
	// Events of different orders are handled in any order: wait for both.
	testenv.EventuallyTrue(t, brokerWait, "three events", func() bool {
		resp, body := e.do("GET", "/crm/api/v1/orders/order-001", identity.RoleManager, nil, nil)
		resp2, _ := e.do("GET", "/crm/api/v1/orders/order-002", identity.RoleManager, nil, nil)
		return resp.StatusCode == 200 && strings.Contains(body, `"status":"priced"`) && resp2.StatusCode == 200
	})

	// Identity: none, operator, manager, admin.
	if resp, _ := e.do("GET", "/crm/api/v1/orders", "", nil, nil); resp.StatusCode != 401 {
		t.Fatalf("no token: %d", resp.StatusCode)
	}
	if resp, _ := e.do("GET", "/crm/orders", identity.RoleOperator, nil, nil); resp.StatusCode != 403 {
		t.Fatalf("operator: %d", resp.StatusCode)
	}
	if resp, _ := e.do("POST", "/crm/orders/order-001/confirm", "", strings.NewReader("version=2"),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"}); resp.StatusCode != 401 {
		t.Fatalf("form post without identity: %d", resp.StatusCode)
	}

	// List, ETag, 304.
	resp, body := e.do("GET", "/crm/api/v1/orders", identity.RoleAdmin, nil, nil)
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != 200 || etag == "" || !strings.Contains(body, "FAB-0002") {
		t.Fatalf("list: %d %q %s", resp.StatusCode, etag, body)
	}
	if resp, _ := e.do("GET", "/crm/api/v1/orders", identity.RoleManager, nil, map[string]string{"If-None-Match": etag}); resp.StatusCode != 304 {
		t.Fatalf("If-None-Match: %d", resp.StatusCode)
	}
	if resp, body := e.do("GET", "/crm/orders?channel=api", identity.RoleManager, nil, nil); resp.StatusCode != 200 ||
		!strings.Contains(body, "FAB-0002") || strings.Contains(body, "FAB-0001") {
		t.Fatalf("orders page: %d %s", resp.StatusCode, body)
	}

	// Bad input: clear 4xx.
	for _, q := range []string{"status=lost", "cursor=xyz", "from=2026-02-30", "from=2026-03-02&to=2026-03-01", "sort=name", "limit=-1"} {
		resp, body := e.do("GET", "/crm/api/v1/orders?"+q, identity.RoleManager, nil, nil)
		if resp.StatusCode != 400 || !strings.Contains(resp.Header.Get("Content-Type"), "problem+json") || !strings.Contains(body, `"errors"`) {
			t.Errorf("%s: %d %s", q, resp.StatusCode, body)
		}
		resp, body = e.do("GET", "/crm/orders?"+q, identity.RoleManager, nil, nil)
		if resp.StatusCode != 400 || !strings.Contains(body, "class=\"error\"") {
			t.Errorf("page %s: %d", q, resp.StatusCode)
		}
	}
	if resp, _ := e.do("GET", "/crm/api/v1/orders/nope", identity.RoleManager, nil, nil); resp.StatusCode != 404 {
		t.Errorf("unknown order: %d", resp.StatusCode)
	}

	// Actions over JSON.
	jsonHdr := map[string]string{"Content-Type": "application/json"}
	var c card
	e.getJSON("/crm/api/v1/orders/order-001", &c)
	v := c.Order.Version
	if resp, body := e.do("POST", "/crm/api/v1/orders/order-001/confirm", identity.RoleManager, nil, nil); resp.StatusCode != 428 {
		t.Errorf("no version: %d %s", resp.StatusCode, body)
	}
	if resp, body := e.do("POST", "/crm/api/v1/orders/order-001/confirm", identity.RoleManager, nil,
		map[string]string{"If-Match": fmt.Sprintf(`"%d"`, v-1)}); resp.StatusCode != 409 || !strings.Contains(body, "changed by someone else") {
		t.Errorf("stale If-Match: %d %s", resp.StatusCode, body)
	}
	long, _ := json.Marshal(map[string]any{"version": v, "note": strings.Repeat("n", 2001)})
	if resp, body := e.do("POST", "/crm/api/v1/orders/order-001/notes", identity.RoleManager, bytes.NewReader(long), jsonHdr); resp.StatusCode != 422 || !strings.Contains(body, `"note"`) {
		t.Errorf("long note: %d %s", resp.StatusCode, body)
	}
	if resp, body := e.do("POST", "/crm/api/v1/orders/order-002/confirm", identity.RoleManager, strings.NewReader(`{"version":1}`), jsonHdr); resp.StatusCode != 409 || !strings.Contains(body, "only a priced order") {
		t.Errorf("confirm placed: %d %s", resp.StatusCode, body)
	}
	e.getJSON("/crm/api/v1/orders/order-001", &c)
	if c.Order.Version != v || len(c.Timeline) != 2 {
		t.Fatalf("refused actions wrote something: %+v", c)
	}
	if resp, body := e.do("POST", "/crm/api/v1/orders/order-001/confirm", identity.RoleManager, strings.NewReader(fmt.Sprintf(`{"version":%d}`, v)), jsonHdr); resp.StatusCode != 200 || !strings.Contains(body, `"confirmed"`) {
		t.Fatalf("confirm: %d %s", resp.StatusCode, body)
	}

	// Actions through the form: re-render with the message, or redirect.
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	vals := url.Values{"version": {fmt.Sprint(v + 1)}, "note": {strings.Repeat("x", 2001)}}
	if resp, body := e.do("POST", "/crm/orders/order-001/notes", identity.RoleManager, strings.NewReader(vals.Encode()), form); resp.StatusCode != 422 ||
		!strings.Contains(body, "at most 2000") {
		t.Errorf("form long note: %d", resp.StatusCode)
	}
	vals = url.Values{"version": {fmt.Sprint(v)}, "note": {"hello"}}
	if resp, body := e.do("POST", "/crm/orders/order-001/notes", identity.RoleManager, strings.NewReader(vals.Encode()), form); resp.StatusCode != 409 ||
		!strings.Contains(body, "changed by someone else") {
		t.Errorf("form stale version: %d", resp.StatusCode)
	}
	// A form from another origin is refused before it is read (the same
	// post from the CRM's own page then works at the same version).
	vals = url.Values{"version": {fmt.Sprint(v + 1)}, "note": {"hello"}}
	for _, h := range []map[string]string{{"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}} {
		h["Content-Type"] = form["Content-Type"]
		if resp, body := e.do("POST", "/crm/orders/order-001/notes", identity.RoleManager, strings.NewReader(vals.Encode()), h); resp.StatusCode != 403 ||
			!strings.Contains(body, "did not come from a Fabrika page") {
			t.Errorf("cross-origin form %v: %d %s", h, resp.StatusCode, body)
		}
	}
	sameOrigin := map[string]string{"Content-Type": form["Content-Type"], "Sec-Fetch-Site": "same-origin", "Origin": e.base}
	if resp, _ := e.do("POST", "/crm/orders/order-001/notes", identity.RoleManager, strings.NewReader(vals.Encode()), sameOrigin); resp.StatusCode != 303 {
		t.Errorf("form note: %d", resp.StatusCode)
	}
	vals = url.Values{"version": {fmt.Sprint(v + 2)}, "kind": {"voucher"}, "amount": {"12.50"}, "reason": {"late delivery"}}
	if resp, _ := e.do("POST", "/crm/orders/order-001/compensations", identity.RoleManager, strings.NewReader(vals.Encode()), form); resp.StatusCode != 303 {
		t.Errorf("form compensation: %d", resp.StatusCode)
	}
	resp, body = e.do("GET", "/crm/orders/order-001", identity.RoleManager, nil, nil)
	if resp.StatusCode != 200 || !strings.Contains(body, "hello") || !strings.Contains(body, "12.50 EUR") || !strings.Contains(body, "manager-mia") {
		t.Fatalf("card: %d %s", resp.StatusCode, body)
	}
	// Every POST form on the card carries the session's CSRF token the
	// gateway sent (escaped), and none without one.
	if strings.Contains(body, "csrf_token") {
		t.Errorf("card without a gateway token has a token field: %s", body)
	}
	resp, body = e.do("GET", "/crm/orders/order-001", identity.RoleManager, nil, map[string]string{identity.HeaderCSRF: `t"<k`})
	forms, fields := strings.Count(body, `method="post"`), strings.Count(body, `<input type="hidden" name="csrf_token" value="t&#34;&lt;k">`)
	if resp.StatusCode != 200 || forms < 2 || fields != forms {
		t.Errorf("card with a token: %d, %d POST forms, %d token fields", resp.StatusCode, forms, fields)
	}
	if resp, body := e.do("GET", "/crm/customers/cust-1", identity.RoleManager, nil, nil); resp.StatusCode != 200 || !strings.Contains(body, "12.50 EUR") {
		t.Fatalf("customer card: %d %s", resp.StatusCode, body)
	}
	if resp, _ := e.do("GET", "/crm/stuck", identity.RoleManager, nil, nil); resp.StatusCode != 200 {
		t.Fatalf("stuck: %d", resp.StatusCode)
	}
}

// TestIsolation: with the producer (the shop) stopped, and the broker down
// for a while, the CRM serves its pages and takes actions; once they are
// back it catches up with every event queued in the producer's outbox.
func TestIsolation(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	e := startCRM(t, b)
	pcfg := testenv.HostConfig(t, "shop", nil)
	p := startProducer(t, b, pcfg)
	emit(t, p.run.Host().DB, placedEv(1, "shop"), pricedEv(1), placedEv(2, "shop"))
	testenv.EventuallyTrue(t, brokerWait, "first events", func() bool { return e.orderCount() == 2 })

	// The shop stops. Orders keep being written in its database (its
	// outbox), as if placed just before it went down.
	p.run.Stop(t)
	db, err := sqldb.Open(context.Background(), pcfg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	var queued []event
	for i := 3; i <= 40; i++ {
		queued = append(queued, placedEv(i, "shop"), pricedEv(i))
	}
	// An event before its order: priced for 41 first.
	queued = append(queued, pricedEv(41), placedEv(41, "api"))
	emit(t, db, queued...)
	db.Close()

	// The CRM still serves and acts.
	if resp, body := e.do("GET", "/crm/orders", identity.RoleManager, nil, nil); resp.StatusCode != 200 || !strings.Contains(body, "FAB-0002") {
		t.Fatalf("orders page with the shop down: %d", resp.StatusCode)
	}
	var c card
	e.getJSON("/crm/api/v1/orders/order-001", &c)
	if !testenv.ExternalNATS() {
		b.Stop() // and the broker too, for a while
	}
	resp, body := e.do("POST", "/crm/api/v1/orders/order-001/confirm", identity.RoleManager, nil, map[string]string{"If-Match": fmt.Sprint(c.Order.Version)})
	if resp.StatusCode != 200 {
		t.Fatalf("confirm with the shop down: %d %s", resp.StatusCode, body)
	}
	if resp, _ := e.do("GET", "/crm/api/v1/orders?status=confirmed", identity.RoleManager, nil, nil); resp.StatusCode != 200 {
		t.Fatalf("list with the broker down: %d", resp.StatusCode)
	}
	if !testenv.ExternalNATS() {
		b.Restart(t)
	}

	// The shop comes back: the CRM catches up with every event.
	startProducer(t, b, pcfg)
	testenv.EventuallyTrue(t, brokerWait, "catch up", func() bool { return e.orderCount() == 41 })
	var pg listPage
	testenv.EventuallyTrue(t, brokerWait, "all priced", func() bool {
		e.getJSON("/crm/api/v1/orders?status=priced&limit=200", &pg)
		return len(pg.Orders) == 39
	})
	e.getJSON("/crm/api/v1/orders/order-041", &c)
	if c.Order.Status != "priced" || len(c.Timeline) != 2 {
		t.Fatalf("order 41 (priced before placed): %+v", c)
	}
	e.getJSON("/crm/api/v1/orders/order-001", &c)
	if c.Order.Status != "confirmed" {
		t.Fatalf("order 1: %+v", c.Order)
	}
	// The CRM's own confirmation left its outbox once the broker was back.
	testenv.EventuallyTrue(t, brokerWait, "crm outbox drained", func() bool {
		var n int
		_ = e.crm.Host().DB.QueryRow(`SELECT COUNT(*) FROM outbox`).Scan(&n)
		return n == 0
	})
}
