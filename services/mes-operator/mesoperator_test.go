package mesoperator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/broker"
	"github.com/fabrika/fabrika/platform/host"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/platform/outbox"
	"github.com/fabrika/fabrika/platform/testenv"
	mesoperator "github.com/fabrika/fabrika/services/mes-operator"
	"github.com/fabrika/fabrika/services/mes-operator/migrations"
)

// world is mes-operator running on a real broker beside a test producer
// that stands in for the CRM.
type world struct {
	t      *testing.T
	ctx    context.Context
	base   string
	prod   *host.Host
	mes    *host.Host
	js     jetstream.JetStream
	signer *identity.Signer
	http   *http.Client
}

var (
	ana     = identity.Identity{Subject: "u-ana", Name: "ana", Role: identity.RoleOperator, Workstations: []string{"laser1", "bend1"}}
	boris   = identity.Identity{Subject: "u-boris", Name: "boris", Role: identity.RoleOperator, Workstations: []string{"paint1"}}
	mgr     = identity.Identity{Subject: "u-mgr", Name: "mia", Role: identity.RoleManager}
	admin   = identity.Identity{Subject: "u-adm", Name: "root", Role: identity.RoleAdmin}
	emitted = []string{contracts.OrderInProduction, contracts.OperationStarted, contracts.OperationFinished, contracts.OrderProduced, contracts.OrderShipped}
)

func start(t *testing.T) *world {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	b := testenv.NewBroker(t)
	prod, err := host.Open(ctx, testenv.HostConfig(t, "test-crm", nil), b.Deps(t, "test-crm"))
	if err != nil {
		t.Fatal(err)
	}
	mes, err := host.Open(ctx, testenv.HostConfig(t, mesoperator.Name, migrations.FS), b.Deps(t, mesoperator.Name))
	if err != nil {
		t.Fatal(err)
	}
	pub, priv, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	svc, err := mesoperator.New(ctx, mes, mesoperator.Config{Identity: identity.NewVerifier("mes-operator", pub)})
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(b.Connect(t, "test-observer"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := broker.EnsureStream(ctx, js, 1); err != nil {
		t.Fatal(err)
	}
	testenv.Run(t, prod, nil)
	testenv.Run(t, mes, svc.Handler(), svc.Background()...)
	w := &world{t: t, ctx: ctx, base: "http://" + mes.Addr(), prod: prod, mes: mes, js: js, signer: identity.NewSigner(priv),
		http: &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	testenv.Ready(t, mes)
	return w
}

// eventually polls cond until it holds; it fails the test after 15s.
func (w *world) eventually(what string, cond func() bool) {
	w.t.Helper()
	testenv.EventuallyTrue(w.t, 15*time.Second, what, cond)
}

// publish sends an event through the test producer's outbox, as the CRM does.
func (w *world) publish(eventType, key string, payload any) {
	w.t.Helper()
	testenv.Publish(w.ctx, w.t, w.prod, contracts.Subject(eventType), key, payload)
}

func confirmedOrder(id string) contracts.OrderConfirmedV1 {
	return contracts.OrderConfirmedV1{OrderID: id, Number: "F-" + id[:8], Channel: contracts.ChannelShop, ShipDate: "2026-12-01",
		Routing: []contracts.RoutingStep{
			{LineNo: 1, Seq: 1, Operation: "laser_cut", Workstation: "laser1", PlannedMinutes: 12},
			{LineNo: 1, Seq: 2, Operation: "bend", Workstation: "bend1", PlannedMinutes: 6},
		}, By: "mia", At: time.Now().UTC()}
}

// confirm publishes an order and waits until it is in mes-operator's queue.
func (w *world) confirm(id string) (cut, bend string) {
	w.t.Helper()
	w.publish(contracts.OrderConfirmed, id, confirmedOrder(id))
	var order struct {
		Operations []struct {
			ID  string `json:"id"`
			Seq int    `json:"seq"`
		} `json:"operations"`
	}
	w.eventually("order "+id+" planned", func() bool {
		res, body := w.do(http.MethodGet, "/mes/api/v1/orders/"+id, &admin, nil)
		if res.StatusCode != http.StatusOK {
			return false
		}
		return json.Unmarshal(body, &order) == nil && len(order.Operations) == 2
	})
	return order.Operations[0].ID, order.Operations[1].ID
}

// do sends a request as who (nil: no identity) with a JSON body.
func (w *world) do(method, path string, who *identity.Identity, body any) (*http.Response, []byte) {
	w.t.Helper()
	req := testenv.Request(w.ctx, w.t, method, w.base+path, body)
	return w.send(req, who)
}

func (w *world) send(req *http.Request, who *identity.Identity) (*http.Response, []byte) {
	w.t.Helper()
	if who != nil {
		tok, err := w.signer.Sign("mes-operator", *who, time.Now())
		if err != nil {
			w.t.Fatal(err)
		}
		req.Header.Set(identity.Header, tok)
	}
	return testenv.Send(w.t, w.http, req)
}

// act posts an action and checks the status.
func (w *world) act(who *identity.Identity, opID, action string, body map[string]any, want int) []byte {
	w.t.Helper()
	if body == nil {
		body = map[string]any{}
	}
	if _, ok := body["event_id"]; !ok {
		body["event_id"] = uuid.NewString()
	}
	res, b := w.do(http.MethodPost, "/mes/api/v1/operations/"+opID+"/"+action, who, body)
	if res.StatusCode != want {
		w.t.Fatalf("%s %s: status %d, want %d: %s", action, opID, res.StatusCode, want, b)
	}
	if want >= 400 && res.Header.Get("Content-Type") != "application/problem+json" {
		w.t.Fatalf("%s %s: error answered as %s", action, opID, res.Header.Get("Content-Type"))
	}
	return b
}

// events reads the events mes-operator emitted about an order, in stream
// order, until n have arrived.
func (w *world) events(orderID string, n int) []jetstream.Msg {
	w.t.Helper()
	subjects := make([]string, len(emitted))
	for i, e := range emitted {
		subjects[i] = contracts.Subject(e)
	}
	c, err := w.js.OrderedConsumer(w.ctx, broker.StreamName, jetstream.OrderedConsumerConfig{FilterSubjects: subjects})
	if err != nil {
		w.t.Fatal(err)
	}
	var out []jetstream.Msg
	deadline := time.Now().Add(15 * time.Second)
	for len(out) < n && time.Now().Before(deadline) {
		batch, err := c.Fetch(n, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			w.t.Fatal(err)
		}
		for m := range batch.Messages() {
			if m.Headers().Get(outbox.HeaderKey) == orderID {
				out = append(out, m)
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			w.t.Fatal(err)
		}
	}
	return out
}

func TestOrderFlowThroughBroker(t *testing.T) {
	t.Parallel()
	w := start(t)
	id := uuid.NewString()
	cut, bend := w.confirm(id)

	// Out of sequence: bending cannot start before the cut is finished.
	w.act(&ana, bend, "start", nil, http.StatusConflict)
	w.act(&ana, cut, "start", nil, http.StatusOK)
	w.act(&ana, cut, "pause", map[string]any{"reason": "tool change"}, http.StatusOK)
	w.act(&ana, cut, "resume", nil, http.StatusOK)
	w.act(&ana, cut, "finish", map[string]any{"good_qty": 9, "scrap_qty": 1, "scrap_reason": "burr"}, http.StatusOK)
	w.act(&ana, cut, "finish", nil, http.StatusConflict) // finishing twice
	res, _ := w.do(http.MethodPost, "/mes/api/v1/orders/"+id+"/ship", &ana, map[string]any{"event_id": uuid.NewString(), "carrier": "DHL", "tracking_number": "JD1"})
	if res.StatusCode != http.StatusConflict {
		t.Fatalf("ship before produced: %d", res.StatusCode)
	}
	w.act(&ana, bend, "start", nil, http.StatusOK)
	b := w.act(&ana, bend, "finish", map[string]any{"good_qty": 9}, http.StatusOK)
	var fin struct {
		Order struct{ Status string } `json:"order"`
	}
	if err := json.Unmarshal(b, &fin); err != nil || fin.Order.Status != "produced" {
		t.Fatalf("after the last finish: %s", b)
	}
	res, b = w.do(http.MethodPost, "/mes/api/v1/orders/"+id+"/ship", &ana, map[string]any{"event_id": uuid.NewString(), "carrier": "DHL", "tracking_number": "JD1"})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("ship: %d %s", res.StatusCode, b)
	}

	msgs := w.events(id, 7)
	want := []string{contracts.OrderInProduction, contracts.OperationStarted, contracts.OperationFinished, contracts.OperationStarted,
		contracts.OperationFinished, contracts.OrderProduced, contracts.OrderShipped}
	if len(msgs) != len(want) {
		t.Fatalf("got %d events, want %d", len(msgs), len(want))
	}
	for i, m := range msgs {
		if m.Subject() != contracts.Subject(want[i]) {
			t.Errorf("event %d is %s, want %s", i, m.Subject(), want[i])
		}
	}
	var st contracts.OperationStartedV1
	if err := json.Unmarshal(msgs[1].Data(), &st); err != nil || st.Validate() != nil || st.Seq != 1 || st.Workstation != "laser1" || st.Operator != "ana" {
		t.Errorf("operation.started = %+v, %v", st, err)
	}
	var f contracts.OperationFinishedV1
	if err := json.Unmarshal(msgs[2].Data(), &f); err != nil || f.Validate() != nil || f.Seq != 1 || f.GoodQty != 9 || f.ScrapQty != 1 || f.Operator != "ana" {
		t.Errorf("operation.finished = %+v, %v", f, err)
	}
	var s contracts.OrderShippedV1
	if err := json.Unmarshal(msgs[6].Data(), &s); err != nil || s.Validate() != nil || s.Carrier != "DHL" || s.TrackingNumber != "JD1" || s.By != "ana" {
		t.Errorf("order.shipped = %+v, %v", s, err)
	}
}

func TestPermissions(t *testing.T) {
	t.Parallel()
	w := start(t)
	cut, _ := w.confirm(uuid.NewString())
	tests := []struct {
		name   string
		who    *identity.Identity
		method string
		path   string
		want   int
	}{
		{"no token: queue", nil, http.MethodGet, "/mes/api/v1/workstations/laser1/queue", http.StatusUnauthorized},
		{"no token: action", nil, http.MethodPost, "/mes/api/v1/operations/" + cut + "/start", http.StatusUnauthorized},
		{"manager: queue", &mgr, http.MethodGet, "/mes/api/v1/workstations/laser1/queue", http.StatusForbidden},
		{"manager: action", &mgr, http.MethodPost, "/mes/api/v1/operations/" + cut + "/start", http.StatusForbidden},
		{"manager: page", &mgr, http.MethodGet, "/mes/workstations/laser1", http.StatusForbidden},
		{"wrong workstation: queue", &boris, http.MethodGet, "/mes/api/v1/workstations/laser1/queue", http.StatusForbidden},
		{"wrong workstation: action", &boris, http.MethodPost, "/mes/api/v1/operations/" + cut + "/start", http.StatusForbidden},
		{"unknown workstation", &ana, http.MethodGet, "/mes/api/v1/workstations/moon/queue", http.StatusNotFound},
		{"operator: queue", &ana, http.MethodGet, "/mes/api/v1/workstations/laser1/queue", http.StatusOK},
		{"admin: any workstation", &admin, http.MethodGet, "/mes/api/v1/workstations/bend1/queue", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body any
			if tt.method == http.MethodPost {
				body = map[string]any{"event_id": uuid.NewString()}
			}
			res, b := w.do(tt.method, tt.path, tt.who, body)
			if res.StatusCode != tt.want {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, tt.want, b)
			}
		})
	}
	// A forged token is refused.
	req, _ := http.NewRequestWithContext(w.ctx, http.MethodGet, w.base+"/mes/api/v1/workstations", nil)
	req.Header.Set(identity.Header, "eyJhbGciOiJub25lIn0.e30.")
	if res, _ := w.send(req, nil); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("forged token: %d", res.StatusCode)
	}
	// A browser without identity is sent to the gateway's sign-in.
	res, _ := w.do(http.MethodGet, "/mes/workstations/laser1", nil, nil)
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/staff/login?next=") {
		t.Fatalf("page without identity: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	// Nothing of the refused actions happened.
	res, b := w.do(http.MethodGet, "/mes/api/v1/operations/"+cut, &ana, nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(string(b), `"state":"ready"`) {
		t.Fatalf("operation after refused actions: %s", b)
	}
}

func TestRetryAndBadInput(t *testing.T) {
	t.Parallel()
	w := start(t)
	cut, _ := w.confirm(uuid.NewString())
	w.act(&ana, cut, "start", nil, http.StatusOK)

	// A retry after a lost connection: same event id, same answer, applied once.
	ev := uuid.NewString()
	first := w.act(&ana, cut, "record", map[string]any{"event_id": ev, "good_qty": 5}, http.StatusOK)
	res, again := w.do(http.MethodPost, "/mes/api/v1/operations/"+cut+"/record", &ana, map[string]any{"event_id": ev, "good_qty": 5})
	if res.StatusCode != http.StatusOK || res.Header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(bytes.TrimSpace(first), bytes.TrimSpace(again)) {
		t.Fatalf("retry: %d %q\nfirst %s\nagain %s", res.StatusCode, res.Header.Get("Idempotent-Replayed"), first, again)
	}
	// The same id with another action.
	w.act(&ana, cut, "record", map[string]any{"event_id": ev, "good_qty": 6}, http.StatusUnprocessableEntity)
	mres, err := w.http.Get("http://" + w.mes.AdminAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(mres.Body)
	mres.Body.Close()
	if !strings.Contains(string(metrics), `fabrika_mes_operator_actions_total{action="record",outcome="replayed",service="mes-operator"} 1`) {
		t.Errorf("the replay is not counted in /metrics")
	}

	bad := []struct {
		name   string
		action string
		body   string
		ctype  string
		want   int
	}{
		{"negative good", "record", `{"event_id":"%s","good_qty":-1}`, "application/json", 422},
		{"scrap without reason", "finish", `{"event_id":"%s","scrap_qty":2}`, "application/json", 422},
		{"no event id", "pause", `{"reason":"x"}`, "application/json", 422},
		{"malformed", "finish", `{"event_id":`, "application/json", 400},
		{"unknown field", "finish", `{"event_id":"%s","force":true}`, "application/json", 400},
		{"not json", "finish", `event_id=%s`, "application/x-www-form-urlencoded", 415},
		{"unknown action", "explode", `{"event_id":"%s"}`, "application/json", 404},
	}
	for _, tt := range bad {
		body := strings.Replace(tt.body, "%s", uuid.NewString(), 1)
		req, _ := http.NewRequestWithContext(w.ctx, http.MethodPost, w.base+"/mes/api/v1/operations/"+cut+"/"+tt.action, strings.NewReader(body))
		req.Header.Set("Content-Type", tt.ctype)
		res, b := w.send(req, &ana)
		if res.StatusCode != tt.want || res.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %s, want %d problem: %s", tt.name, res.StatusCode, res.Header.Get("Content-Type"), tt.want, b)
		}
	}
	res, b := w.do(http.MethodGet, "/mes/api/v1/operations/"+cut, &ana, nil)
	var op struct {
		GoodQty  int    `json:"good_qty"`
		ScrapQty int    `json:"scrap_qty"`
		State    string `json:"state"`
	}
	if err := json.Unmarshal(b, &op); err != nil || res.StatusCode != 200 || op.GoodQty != 5 || op.ScrapQty != 0 || op.State != "running" {
		t.Fatalf("operation after retries and bad input: %s", b)
	}
}

func TestPages(t *testing.T) {
	t.Parallel()
	w := start(t)
	id := uuid.NewString()
	cut, _ := w.confirm(id)

	res, b := w.do(http.MethodGet, "/mes/", &ana, nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(string(b), "/mes/workstations/laser1") {
		t.Fatalf("index: %d %s", res.StatusCode, b)
	}
	res, b = w.do(http.MethodGet, "/mes/workstations/laser1", &ana, nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(string(b), "/mes/operations/"+cut+"/start") || !strings.Contains(string(b), `name="event_id"`) {
		t.Fatalf("queue page: %d %s", res.StatusCode, b)
	}
	post := func(path string, form url.Values, hdr map[string]string) (*http.Response, []byte) {
		req, _ := http.NewRequestWithContext(w.ctx, http.MethodPost, w.base+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		return w.send(req, &ana)
	}
	startForm := url.Values{"event_id": {uuid.NewString()}}
	// Every POST form carries the session's CSRF token the gateway sent.
	req, _ := http.NewRequestWithContext(w.ctx, http.MethodGet, w.base+"/mes/workstations/laser1", nil)
	req.Header.Set(identity.HeaderCSRF, `t"<k`)
	res, b = w.send(req, &ana)
	forms, fields := strings.Count(string(b), `method="post"`), strings.Count(string(b), `<input type="hidden" name="csrf_token" value="t&#34;&lt;k">`)
	if res.StatusCode != http.StatusOK || forms < 2 || fields != forms {
		t.Fatalf("queue page with a token: %d, %d POST forms, %d token fields", res.StatusCode, forms, fields)
	}
	// A form posted from another site is refused.
	for _, h := range []map[string]string{{"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}} {
		if res, _ := post("/mes/operations/"+cut+"/start", startForm, h); res.StatusCode != http.StatusForbidden {
			t.Fatalf("cross-origin form %v: %d", h, res.StatusCode)
		}
	}
	for range 2 { // the second post is a retry of the same form
		res, b = post("/mes/operations/"+cut+"/start", startForm, map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": w.base})
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/mes/workstations/laser1#op-"+cut {
			t.Fatalf("start form: %d %s %s", res.StatusCode, res.Header.Get("Location"), b)
		}
	}
	// A wrong quantity re-renders the page with the message by the field.
	res, b = post("/mes/operations/"+cut+"/finish", url.Values{"event_id": {uuid.NewString()}, "good_qty": {"3"}, "scrap_qty": {"2"}}, nil)
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(b), `class="field-error">say why the parts were scrapped`) ||
		!strings.Contains(string(b), `value="3"`) {
		t.Fatalf("bad finish form: %d %s", res.StatusCode, b)
	}
	res, b = post("/mes/operations/"+cut+"/finish", url.Values{"event_id": {uuid.NewString()}, "good_qty": {"3"}}, nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("finish form: %d %s", res.StatusCode, b)
	}
	// Finishing twice: the page explains why.
	res, b = post("/mes/operations/"+cut+"/finish", url.Values{"event_id": {uuid.NewString()}}, nil)
	if res.StatusCode != http.StatusConflict || !strings.Contains(string(b), "already finished") {
		t.Fatalf("finish twice: %d %s", res.StatusCode, b)
	}
	// Shipping before produced from the order page.
	res, b = post("/mes/orders/"+id+"/ship", url.Values{"event_id": {uuid.NewString()}, "carrier": {"DHL"}, "tracking_number": {"1"}}, nil)
	if res.StatusCode != http.StatusConflict || !strings.Contains(string(b), "cannot ship before") {
		t.Fatalf("ship form: %d %s", res.StatusCode, b)
	}
	res, b = w.do(http.MethodGet, "/mes/orders/"+id, &ana, nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(string(b), "laser_cut") || !strings.Contains(string(b), "in_production") {
		t.Fatalf("order page: %d %s", res.StatusCode, b)
	}
}
