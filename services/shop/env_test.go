package shop_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/broker"
	"github.com/fabrika/fabrika/platform/host"
	"github.com/fabrika/fabrika/platform/outbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
	"github.com/fabrika/fabrika/services/shop"
	"github.com/fabrika/fabrika/services/shop/migrations"
)

// env is a running shop with a producer standing in for the rest of the
// platform (mes-calc, CRM, MES): it publishes through its own outbox.
type env struct {
	t        *testing.T
	ctx      context.Context
	broker   *testenv.Broker
	shop     *host.Host
	producer *host.Host
	base     string
	client   *http.Client
	mailDir  string // where the shop writes its e-mails
}

func start(t *testing.T, cfg shop.Config) *env {
	t.Helper()
	return startOn(t, cfg, testenv.NewBroker(t))
}

// startOn is start on a given broker (an embedded one for outage tests).
func startOn(t *testing.T, cfg shop.Config, b *testenv.Broker) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	hs, err := host.Open(ctx, testenv.HostConfig(t, "shop", migrations.FS), b.Deps(t, "shop"))
	if err != nil {
		t.Fatal(err)
	}
	prod, err := host.Open(ctx, testenv.HostConfig(t, "producer", nil), b.Deps(t, "producer"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.CookieSecure = false // the tests speak plain http
	if cfg.MailDir == "" && cfg.SMTPURL == "" {
		cfg.MailDir = t.TempDir()
	}
	if cfg.PasswordMemoryKiB == 0 {
		cfg.PasswordMemoryKiB, cfg.PasswordTime = 1024, 1 // fast hashes for tests
	}
	svc, err := shop.New(ctx, hs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cancel)
	testenv.Run(t, prod, nil)
	testenv.Run(t, hs, svc.Handler(), svc.Background()...)
	e := &env{t: t, ctx: ctx, broker: b, shop: hs, producer: prod, base: "http://" + hs.Addr(), mailDir: cfg.MailDir,
		client: &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	testenv.Ready(t, hs)
	return e
}

func (e *env) eventually(what string, ok func() bool) {
	e.t.Helper()
	testenv.EventuallyTrue(e.t, 20*time.Second, what, ok)
}

// publish sends an event the way another service would: through an outbox.
func (e *env) publish(eventType, key string, payload any) string {
	e.t.Helper()
	msg, err := outbox.NewMessage(contracts.Subject(eventType), key, payload)
	if err != nil {
		e.t.Fatal(err)
	}
	err = e.producer.DB.InTx(e.ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		return e.producer.Outbox.Enqueue(ctx, tx, msg)
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return msg.ID
}

// withPriceList publishes the demo price list and waits until the shop
// quotes with it.
func (e *env) withPriceList() *env {
	e.t.Helper()
	e.publish(contracts.PriceListPublished, "pricelist", contracts.DemoPriceList(time.Now()))
	e.eventually("price list", func() bool {
		res := e.do("GET", "/shop/api/v1/catalog", "", nil, nil)
		return res.code == 200
	})
	return e
}

type response struct {
	code   int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// do sends a request; body is JSON (testenv.Request).
func (e *env) do(method, path, token string, body any, hdr map[string]string) response {
	e.t.Helper()
	req := testenv.Request(e.ctx, e.t, method, e.base+path, body)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	res, b := testenv.Send(e.t, e.client, req)
	return response{code: res.StatusCode, header: res.Header, body: b}
}

var seq atomic.Int64

// signUp creates an account through the API, confirms it from its e-mail
// and returns its token.
func (e *env) signUp() string {
	e.t.Helper()
	n := seq.Add(1)
	return e.account(fmt.Sprintf("buyer%d-%d@example.com", n, time.Now().UnixNano()), "Ada Buyer", "correct horse battery", nil)
}

// account signs up through the API with hdr, opens the confirmation link
// of the e-mail and returns the session token.
func (e *env) account(email, name, password string, hdr map[string]string) string {
	e.t.Helper()
	res := e.do("POST", "/shop/api/v1/accounts", "", map[string]string{"email": email, "name": name, "password": password}, hdr)
	if res.code != 202 {
		e.t.Fatalf("sign up: %d %s", res.code, res.body)
	}
	res = e.do("POST", "/shop/api/v1/accounts/confirm", "", map[string]string{"token": e.mailToken(email, "/account/confirm")}, hdr)
	if res.code != 201 {
		e.t.Fatalf("confirm: %d %s", res.code, res.body)
	}
	var s struct{ Token string }
	res.json(e.t, &s)
	return s.Token
}

var mailLink = regexp.MustCompile(`(/account/[a-z]+)\?token=([A-Za-z0-9_-]+)`)

// mailToken is the token of the newest e-mail to addr linking to path.
func (e *env) mailToken(addr, path string) string {
	e.t.Helper()
	files, _ := filepath.Glob(filepath.Join(e.mailDir, "*.eml"))
	slices.Sort(files)
	for i := len(files) - 1; i >= 0; i-- {
		b, err := os.ReadFile(files[i])
		if err != nil {
			e.t.Fatal(err)
		}
		if !strings.Contains(string(b), "To: "+addr+"\r\n") {
			continue
		}
		if m := mailLink.FindStringSubmatch(string(b)); m != nil && m[1] == path {
			return m[2]
		}
	}
	e.t.Fatalf("no e-mail to %s with a link to %s", addr, path)
	return ""
}

// mails counts the e-mails sent to addr.
func (e *env) mails(addr string) int {
	files, _ := filepath.Glob(filepath.Join(e.mailDir, "*.eml"))
	n := 0
	for _, f := range files {
		if b, _ := os.ReadFile(f); strings.Contains(string(b), "To: "+addr+"\r\n") {
			n++
		}
	}
	return n
}

func orderBody(lines int) map[string]any {
	ls := make([]map[string]any, lines)
	for i := range ls {
		ls[i] = map[string]any{"product": "laser_cut_sheet", "quantity": 10 + i, "lead": "standard",
			"options": map[string]string{"material": "steel_s235", "width_mm": "200", "height_mm": "100", "thickness_mm": "2", "finish": "powder_coat"}}
	}
	return map[string]any{
		"lines":    ls,
		"delivery": map[string]string{"line1": "Hauptstrasse 1", "city": "Berlin", "postal_code": "10115", "country": "DE"},
		"contact":  map[string]string{"name": "Ada Buyer", "email": "ada@example.com", "phone": "+49 30 123456"},
	}
}

type orderOut struct {
	ID               string `json:"id"`
	Number           string `json:"number"`
	Status           string `json:"status"`
	QuotedTotal      int64  `json:"quoted_total"`
	PricedTotal      int64  `json:"priced_total"`
	PriceListVersion int64  `json:"price_list_version"`
	CancelRequested  bool   `json:"cancel_requested"`
	Cancellable      bool   `json:"cancellable"`
	Lines            []struct {
		LineNo    int   `json:"line_no"`
		UnitPrice int64 `json:"unit_price"`
		Total     int64 `json:"total"`
	} `json:"lines"`
	Timeline []struct {
		Kind   string `json:"kind"`
		Label  string `json:"label"`
		Amount int64  `json:"amount"`
	} `json:"timeline"`
}

func (e *env) place(token, key string, body any) (response, orderOut) {
	e.t.Helper()
	res := e.do("POST", "/shop/api/v1/orders", token, body, map[string]string{"Idempotency-Key": key})
	var o orderOut
	if res.code == 200 || res.code == 201 {
		res.json(e.t, &o)
	}
	return res, o
}

func (e *env) count(query string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.shop.DB.QueryRowContext(e.ctx, query, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// streamMessages returns the payloads of every message on a subject in the
// platform's stream.
func (e *env) streamMessages(subject string) [][]byte {
	e.t.Helper()
	js, err := jetstream.New(e.broker.Connect(e.t, "reader"))
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	c, err := js.OrderedConsumer(ctx, broker.StreamName, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		e.t.Fatal(err)
	}
	var out [][]byte
	for {
		batch, err := c.FetchNoWait(500)
		if err != nil {
			e.t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			out = append(out, m.Data())
			n++
		}
		if n == 0 {
			return out
		}
	}
}

// form is a browser: a cookie jar, no redirects followed.
type browser struct {
	e      *env
	client *http.Client
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, client: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) csrf() string {
	u, _ := url.Parse(b.e.base)
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == "shop_csrf" {
			return c.Value
		}
	}
	return ""
}

func (b *browser) get(path string) response {
	b.e.t.Helper()
	res, err := b.client.Get(b.e.base + path)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return response{code: res.StatusCode, header: res.Header, body: body}
}

func (b *browser) post(path string, f url.Values) response {
	b.e.t.Helper()
	return b.postWith(path, f, nil)
}

// postWith posts a form with the browser's CSRF token and extra headers
// (Sec-Fetch-Site, Origin).
func (b *browser) postWith(path string, f url.Values, hdr map[string]string) response {
	b.e.t.Helper()
	if f.Get("csrf") == "" {
		f.Set("csrf", b.csrf())
	}
	req, err := http.NewRequest("POST", b.e.base+path, strings.NewReader(f.Encode()))
	if err != nil {
		b.e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := b.client.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return response{code: res.StatusCode, header: res.Header, body: body}
}

// signUp creates an account through the pages: the form, then the link of
// the e-mail, which signs the browser in (the confirmation's response).
func (b *browser) signUp(email, name, password string) response {
	b.e.t.Helper()
	res := b.post("/account/signup", url.Values{"email": {email}, "name": {name}, "password": {password}})
	if res.code != 200 || !strings.Contains(string(res.body), "Check your e-mail") {
		b.e.t.Fatalf("signup: %d %s", res.code, res.body)
	}
	token := b.e.mailToken(email, "/account/confirm")
	if res := b.get("/account/confirm?token=" + token); res.code != 200 || !strings.Contains(string(res.body), `name="token" value="`+token+`"`) {
		b.e.t.Fatalf("confirmation page: %d", res.code)
	}
	res = b.post("/account/confirm", url.Values{"token": {token}})
	if res.code != 303 {
		b.e.t.Fatalf("confirm: %d %s", res.code, res.body)
	}
	return res
}
