package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/fabrika/fabrika/cmd/internal/loadgen"
	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/testenv"
	"github.com/fabrika/fabrika/services/gateway"
	mesapi "github.com/fabrika/fabrika/services/mes-api"
)

// The end-to-end tests drive the platform the way its users do: over HTTP,
// through the gateway's public port, with real databases and a real broker.

// platformServices are the six services of `fabrika dev`, in start order.
var platformServices = [...]string{"shop", "crm", "mes-calc", "mes-operator", "mes-api", "gateway"}

// freeBasePort finds n consecutive ports on 127.0.0.1 that can be bound
// now, and releases them for the platform to take.
func freeBasePort(t testing.TB, n int) int {
	t.Helper()
	for range 200 {
		// Below Linux's ephemeral range (32768-60999), so that no outgoing
		// connection of a parallel test takes a port between this probe and
		// the platform's bind.
		base := 10000 + rand.IntN(22000-n)
		var held []net.Listener
		ok := true
		for i := range n {
			ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(base+i)))
			if err != nil {
				ok = false
				break
			}
			held = append(held, ln)
		}
		for _, ln := range held {
			_ = ln.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatalf("no %d consecutive free ports found", n)
	return 0
}

// serviceDSNs gives every service a fresh PostgreSQL database when the tests
// run on PostgreSQL; nil on SQLite (the platform then uses its data dir).
func serviceDSNs(t testing.TB) map[string]string {
	t.Helper()
	dsns := map[string]string{}
	if !testenv.Postgres() {
		return dsns
	}
	for _, s := range platformServices {
		dsns[s] = testenv.DSN(t)
	}
	return dsns
}

// externalNATS resets the external server's stream (and holds it for this
// test) and returns its URL; "" means the embedded broker.
func externalNATS(t testing.TB) string {
	t.Helper()
	if !testenv.ExternalNATS() {
		return ""
	}
	return testenv.NewBroker(t).URL
}

// demoStations are the workstation codes of the demo price list mes-calc
// starts with, for an operator bound to all of them.
func demoStations() []string {
	var codes []string
	for _, ws := range contracts.DemoPriceList(time.Now()).Workstations {
		codes = append(codes, ws.Code)
	}
	return codes
}

// staffAccount is a staff member the tests sign in as (staffPassword).
type staffAccount struct {
	login, role  string
	workstations []string
}

// seedStaff creates staff accounts in the gateway's database before the
// platform starts (in startMain's setup), as `fabrika admin create` does.
func seedStaff(ctx context.Context, t testing.TB, m *Main, accounts ...staffAccount) {
	t.Helper()
	gw, err := openMigrated(ctx, "gateway", dsnOf(m, "gateway"), m.Config.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	// Operators are bound to workstations of the MES's price list, which
	// the gateway learns once the platform runs; here, before it does, from
	// the list mes-calc will publish.
	if slices.ContainsFunc(accounts, func(a staffAccount) bool { return len(a.workstations) > 0 }) {
		if err := gateway.LearnWorkstations(ctx, gw, contracts.DemoPriceList(time.Now())); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range accounts {
		if err := gateway.CreateStaff(ctx, gw, a.login, staffPassword, a.role, a.workstations); err != nil {
			t.Fatal(err)
		}
	}
}

// seedAPIClient creates a B2B API client in mes-api's database before the
// platform starts, as `fabrika apiclient create` does.
func seedAPIClient(ctx context.Context, t testing.TB, m *Main, name, email string) mesapi.Credentials {
	t.Helper()
	api, err := openMigrated(ctx, "mes-api", dsnOf(m, "mes-api"), m.Config.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	defer api.Close()
	creds, err := mesapi.CreateClient(ctx, api, name, email, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	return creds
}

// eventually polls ok until it holds or the time is up; ok returns what it
// saw, for the failure message.
func eventually(t testing.TB, d time.Duration, what string, ok func() (bool, string)) {
	t.Helper()
	testenv.Eventually(t, d, func() error {
		if done, seen := ok(); !done {
			return fmt.Errorf("waiting for %s; last seen: %s", what, seen)
		}
		return nil
	})
}

// client is an HTTP client of the public port: a cookie jar for staff
// sessions and the shop, no redirects followed.
type client struct {
	t      testing.TB
	base   string
	http   *http.Client
	header http.Header
}

func newClient(t testing.TB, base string) *client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &client{t: t, base: base, header: http.Header{}, http: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type response struct {
	code   int
	header http.Header
	body   []byte
}

func (r response) String() string {
	b := r.body
	if len(b) > 600 {
		b = append(b[:600:600], "..."...)
	}
	return fmt.Sprintf("%d %s", r.code, bytes.TrimSpace(b))
}

func (r response) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r, err)
	}
}

// try sends a request (loadgen.NewRequest: JSON, or a form for
// url.Values) with the client's headers and hdr. A transport error is
// returned, not fatal.
func (c *client) try(method, path string, body any, hdr map[string]string) (response, error) {
	req, err := loadgen.NewRequest(context.Background(), c.base, loadgen.Request{Method: method, Path: path, Body: body})
	if err != nil {
		return response{}, err
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return response{}, err
	}
	return response{code: res.StatusCode, header: res.Header, body: b}, nil
}

func (c *client) do(method, path string, body any, hdr map[string]string) response {
	c.t.Helper()
	res, err := c.try(method, path, body, hdr)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	return res
}

// get answers a GET, or a zero response (code 0) on a transport error, for
// polling.
func (c *client) get(path string) response {
	res, err := c.try("GET", path, nil, nil)
	if err != nil {
		return response{body: []byte(err.Error())}
	}
	return res
}

// staffSignIn signs a staff member in at the gateway's /staff/login form
// (with its login CSRF cookie) and returns the session's CSRF token.
func (c *client) staffSignIn(login, password string) string {
	c.t.Helper()
	if res := c.do("GET", "/staff/login", nil, map[string]string{"Accept": "text/html"}); res.code != 200 {
		c.t.Fatalf("GET /staff/login: %s", res)
	}
	u, _ := url.Parse(c.base)
	var loginCSRF string
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == "fabrika_login" {
			loginCSRF = ck.Value
		}
	}
	if loginCSRF == "" {
		c.t.Fatal("the sign-in form set no fabrika_login cookie")
	}
	res := c.do("POST", "/staff/login", url.Values{"login": {login}, "password": {password}, "csrf_token": {loginCSRF}}, map[string]string{"Accept": "text/html"})
	if res.code != http.StatusSeeOther {
		c.t.Fatalf("staff sign-in of %s: %s", login, res)
	}
	res = c.do("GET", "/staff/", nil, nil)
	var me struct {
		Role string `json:"role"`
		CSRF string `json:"csrf_token"`
	}
	if res.code != 200 {
		c.t.Fatalf("GET /staff/ as %s: %s", login, res)
	}
	res.decode(c.t, &me)
	if me.CSRF == "" {
		c.t.Fatalf("GET /staff/ as %s shows no csrf_token: %s", login, res)
	}
	c.header.Set("X-Csrf-Token", me.CSRF)
	return me.CSRF
}

// shopSignUp creates a shop customer through the shop's API and makes the
// client send its token.
func (c *client) shopSignUp(name string) {
	c.t.Helper()
	res := c.do("POST", "/shop/api/v1/accounts", map[string]string{
		"email": fmt.Sprintf("%s-%s@example.com", strings.ToLower(name), uuid.NewString()[:8]), "name": name, "password": "correct horse battery staple"}, nil)
	if res.code != http.StatusCreated {
		c.t.Fatalf("shop sign-up: %s", res)
	}
	var s struct {
		Token string `json:"token"`
	}
	res.decode(c.t, &s)
	if s.Token == "" {
		c.t.Fatalf("shop sign-up gave no token: %s", res)
	}
	c.header.Set("Authorization", "Bearer "+s.Token)
}

// shopOrder is a shop order of 10 laser-cut, powder-coated brackets.
func shopOrder() map[string]any {
	return map[string]any{
		"lines": []map[string]any{{"product": "laser_cut_sheet", "quantity": 10, "lead": "standard",
			"options": map[string]string{"material": "steel_s235", "width_mm": "200", "height_mm": "100", "thickness_mm": "2", "finish": "powder_coat"}}},
		"delivery": map[string]string{"line1": "Hauptstrasse 1", "city": "Berlin", "postal_code": "10115", "country": "DE"},
		"contact":  map[string]string{"name": "Ada Buyer", "email": "ada@example.com", "phone": "+49 30 123456"},
	}
}

// apiOrder is a B2B order of 20 laser-cut brackets.
func apiOrder() map[string]any {
	return map[string]any{
		"reference": "PO-4711",
		"lines": []map[string]any{{"product": "laser_cut_sheet", "quantity": 20,
			"options": map[string]any{"material": "steel_s235", "width_mm": 200, "height_mm": 100, "thickness_mm": 2}}},
		"delivery": map[string]string{"line1": "Industriestr. 5", "city": "Hamburg", "postal_code": "20095", "country": "DE"},
	}
}

// crmOrder is what the CRM's JSON API shows of an order.
type crmOrder struct {
	Order struct {
		ID             string `json:"id"`
		Channel        string `json:"channel"`
		Status         string `json:"status"`
		Version        int64  `json:"version"`
		Priced         bool   `json:"priced"`
		Total          int64  `json:"total"`
		Carrier        string `json:"carrier"`
		TrackingNumber string `json:"tracking_number"`
	} `json:"order"`
	Timeline []struct {
		MessageID string `json:"message_id"`
		Type      string `json:"type"`
	} `json:"timeline"`
}

// shopPlaced is the shop's answer to a new order.
type shopPlaced struct {
	ID     string `json:"id"`
	Number string `json:"number"`
	Status string `json:"status"`
}

// placeShopOrder signs a new customer up at the shop, once its catalogue
// is there, and places shopOrder; it returns the customer's client and the
// order, placed (with an id and a number).
func placeShopOrder(t testing.TB, public, name string) (*client, shopPlaced) {
	t.Helper()
	shopper := newClient(t, public)
	eventually(t, 90*time.Second, "the shop's catalogue (the price list from mes-calc)", func() (bool, string) {
		res := shopper.get("/shop/api/v1/catalog")
		return res.code == 200, res.String()
	})
	shopper.shopSignUp(name)
	res := shopper.do("POST", "/shop/api/v1/orders", shopOrder(), map[string]string{"Idempotency-Key": uuid.NewString()})
	if res.code != http.StatusCreated {
		t.Fatalf("shop order: %s", res)
	}
	var placed shopPlaced
	res.decode(t, &placed)
	if placed.ID == "" || placed.Number == "" || placed.Status != contracts.StatusPlaced {
		t.Fatalf("shop order without id or number, or not placed: %s", res)
	}
	return shopper, placed
}

// pricedInCRM waits until manager sees order id priced in the CRM (a
// total from mes-calc), and returns the CRM's order.
func pricedInCRM(t testing.TB, manager *client, id string, within time.Duration) crmOrder {
	t.Helper()
	var o crmOrder
	eventually(t, within, "order "+id+" priced in the CRM", func() (bool, string) {
		res := manager.get("/crm/api/v1/orders/" + id)
		if res.code != 200 {
			return false, res.String()
		}
		o = crmOrder{}
		res.decode(t, &o)
		return o.Order.Status == contracts.StatusPriced && o.Order.Priced && o.Order.Total > 0, res.String()
	})
	return o
}
