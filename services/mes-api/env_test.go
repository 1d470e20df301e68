package mesapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/broker"
	"github.com/fabrika/fabrika/platform/host"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/platform/netguard"
	"github.com/fabrika/fabrika/platform/secretbox"
	"github.com/fabrika/fabrika/platform/testenv"
	mesapi "github.com/fabrika/fabrika/services/mes-api"
	"github.com/fabrika/fabrika/services/mes-api/internal/delivery"
	"github.com/fabrika/fabrika/services/mes-api/migrations"
)

// env is a running mes-api on a real database and broker, with a producer
// service that publishes the events other services would.
type env struct {
	t        testing.TB
	ctx      context.Context
	h        *host.Host
	producer *host.Host
	js       jetstream.JetStream
	base     string
	signer   *identity.Signer
	contract *contract
}

// fastWebhooks is a configuration for tests whose receivers listen on
// loopback: the guard is off, as FABRIKA_ALLOW_PRIVATE_WEBHOOKS=true does.
func fastWebhooks() mesapi.Config {
	return mesapi.Config{
		Webhooks: netguard.Guard{AllowPrivate: true},
		Secrets:  newBox(),
		Webhook:  delivery.Config{BaseBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Interval: 50 * time.Millisecond, Timeout: 5 * time.Second},
		RetryFor: 24 * time.Hour,
	}
}

// newBox is a secretbox under a fresh key, as FABRIKA_SECRET_KEY gives.
func newBox() *secretbox.Box {
	k, err := secretbox.GenerateKey()
	if err != nil {
		panic(err)
	}
	b, err := secretbox.New(k)
	if err != nil {
		panic(err)
	}
	return b
}

func start(t testing.TB, cfg mesapi.Config, withPriceList bool) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	b := testenv.NewBroker(t)
	pub, priv, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Identity = identity.NewVerifier("mes-api", pub)
	h, err := host.Open(ctx, testenv.HostConfig(t, "mes-api", migrations.FS), b.Deps(t, "mes-api"))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := mesapi.New(ctx, h, cfg)
	if err != nil {
		t.Fatal(err)
	}
	producer, err := host.Open(ctx, testenv.HostConfig(t, "producer", nil), b.Deps(t, "producer"))
	if err != nil {
		t.Fatal(err)
	}
	testenv.Run(t, producer, nil)
	testenv.Run(t, h, svc.Handler(), svc.Background()...)
	js, err := jetstream.New(b.Connect(t, "observer"))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: ctx, h: h, producer: producer, js: js, base: "http://" + h.Addr(), signer: identity.NewSigner(priv), contract: newContract(t)}
	testenv.Ready(t, h)
	if withPriceList {
		e.publish(contracts.PriceListPublished, "pricelist", contracts.DemoPriceList(time.Now()))
		e.eventually("price list received", func() bool {
			res := e.do("POST", "/v1/quotes", e.newKey("orders:read"), nil, quoteBody)
			return res.status == http.StatusOK
		})
	}
	return e
}

// publish sends an event as another service would: through its outbox.
func (e *env) publish(eventType, key string, payload any) {
	e.t.Helper()
	testenv.Publish(e.ctx, e.t, e.producer, contracts.Subject(eventType), key, payload)
}

func (e *env) eventually(what string, ok func() bool) {
	e.t.Helper()
	testenv.EventuallyTrue(e.t, 90*time.Second, what, ok)
}

// lastOnStream returns the last message of an event type on the stream.
func (e *env) lastOnStream(eventType string) (*jetstream.RawStreamMsg, error) {
	s, err := e.js.Stream(e.ctx, broker.StreamName)
	if err != nil {
		return nil, err
	}
	return s.GetLastMsgForSubject(e.ctx, contracts.Subject(eventType))
}

func (e *env) noneOnStream(eventType string) {
	e.t.Helper()
	m, err := e.lastOnStream(eventType)
	if !errors.Is(err, jetstream.ErrMsgNotFound) {
		e.t.Fatalf("%s on the stream: %v %v", eventType, m, err)
	}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (r response) problemFields(t *testing.T) map[string]string {
	t.Helper()
	var p struct {
		Errors map[string]string `json:"errors"`
	}
	r.json(t, &p)
	return p.Errors
}

// do sends a request with an API key ("" for none) and extra headers; body
// is sent as it is when it is a string, else as JSON.
func (e *env) do(method, path, key string, hdr map[string]string, body any) response {
	e.t.Helper()
	req := testenv.Request(e.ctx, e.t, method, e.base+path, body)
	var sent []byte
	if req.GetBody != nil {
		rc, _ := req.GetBody()
		sent, _ = io.ReadAll(rc)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, b := testenv.Send(e.t, nil, req)
	e.contract.check(e.t, req, sent, res, b)
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// admin sends a request to an admin route with a staff token of role.
func (e *env) admin(method, path, role string, body any) response {
	e.t.Helper()
	tok, err := e.signer.Sign("mes-api", identity.Identity{Subject: "staff-1", Name: "ada", Role: role}, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return e.do(method, path, "", map[string]string{identity.Header: tok}, body)
}

// newKey makes a client with one key of the scopes through the exported
// CreateClient and returns the key.
func (e *env) newKey(scopes ...string) string {
	e.t.Helper()
	cr, err := mesapi.CreateClient(e.ctx, e.h.DB, "Acme GmbH", "ops@acme.example", scopes, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	return cr.Key
}

func (e *env) count(table string) int {
	e.t.Helper()
	var n int
	if err := e.h.DB.QueryRowContext(e.ctx, `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

const quoteBody = `{"lines":[{"product":"laser_cut_sheet","options":{"material":"steel_s235","width_mm":200,"height_mm":100,"thickness_mm":2},"quantity":10}]}`

func orderBody(qty int) string {
	b, _ := json.Marshal(map[string]any{
		"reference": "PO-4711",
		"lines": []map[string]any{{"product": "laser_cut_sheet", "quantity": qty,
			"options": map[string]any{"material": "steel_s235", "width_mm": 200, "height_mm": 100, "thickness_mm": 2}}},
		"delivery": map[string]string{"line1": "Hauptstr. 1", "city": "Berlin", "postal_code": "10115", "country": "DE"},
	})
	return string(b)
}

func jsonInto(b []byte, v any) bool { return json.Unmarshal(b, v) == nil }

func jetstreamSubjects(filter string) jetstream.StreamInfoOpt {
	return jetstream.WithSubjectFilter(filter)
}
