package mesapi_test

import (
	"bytes"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/platform/netguard"
	mesapi "github.com/fabrika/fabrika/services/mes-api"
	"github.com/fabrika/fabrika/services/mes-api/internal/app"
	"github.com/fabrika/fabrika/services/mes-api/internal/store"
)

func TestIdempotency(t *testing.T) {
	t.Parallel()
	e := start(t, fastWebhooks(), true)
	cr, err := mesapi.CreateClient(e.ctx, e.h.DB, "Idem Ltd", "", nil, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	key := cr.Key
	idem := func(k string) map[string]string { return map[string]string{"Idempotency-Key": k} }

	first := e.do("POST", "/v1/orders", key, idem("same"), orderBody(3))
	if first.status != http.StatusCreated {
		t.Fatalf("first: %d %s", first.status, first.body)
	}
	// Same key, same body (even reformatted): the first answer again.
	again := e.do("POST", "/v1/orders", key, idem("same"), "  "+orderBody(3)+"\n")
	if again.status != first.status || !bytes.Equal(again.body, first.body) || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %s", again.status, again.body)
	}
	// Same key, another body: 422.
	if r := e.do("POST", "/v1/orders", key, idem("same"), orderBody(4)); r.status != http.StatusUnprocessableEntity || r.problemFields(t)["Idempotency-Key"] == "" {
		t.Fatalf("other body: %d %s", r.status, r.body)
	}
	// Another client may use the same key.
	if r := e.do("POST", "/v1/orders", e.newKey("orders:write"), idem("same"), orderBody(3)); r.status != http.StatusCreated || bytes.Equal(r.body, first.body) {
		t.Fatalf("other client, same key: %d %s", r.status, r.body)
	}
	// A request with the key still in flight: 409.
	now := time.Now()
	claimed, err := store.New(e.h.DB).ClaimIdempotency(e.ctx, e.h.DB, store.Idempotency{ClientID: cr.ClientID, Key: "busy",
		RequestHash: "whatever", LockedUntil: now.Add(time.Hour), CreatedAt: now, Token: "dead-request"})
	if err != nil || !claimed {
		t.Fatal(claimed, err)
	}
	if r := e.do("POST", "/v1/orders", key, idem("busy"), orderBody(3)); r.status != http.StatusUnprocessableEntity {
		t.Fatalf("busy key, other body: %d %s", r.status, r.body)
	}
	body := orderBody(7)
	if _, err := e.h.DB.ExecContext(e.ctx, `UPDATE idempotency_key SET request_hash = $1 WHERE idem_key = 'busy'`, sha(body)); err != nil {
		t.Fatal(err)
	}
	if r := e.do("POST", "/v1/orders", key, idem("busy"), body); r.status != http.StatusConflict || r.header.Get("Retry-After") == "" {
		t.Fatalf("in flight: %d %s", r.status, r.body)
	}
	// A claim whose request died is taken over once its lease expires.
	if _, err := e.h.DB.ExecContext(e.ctx, `UPDATE idempotency_key SET locked_until = 1 WHERE idem_key = 'busy'`); err != nil {
		t.Fatal(err)
	}
	if r := e.do("POST", "/v1/orders", key, idem("busy"), body); r.status != http.StatusCreated {
		t.Fatalf("take over: %d %s", r.status, r.body)
	}

	// Concurrent requests with one key: one order, the others replay it or
	// are told it is in flight.
	before := e.count("api_order")
	const n = 12
	var wg sync.WaitGroup
	results := make([]response, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = e.do("POST", "/v1/orders", key, idem("race"), orderBody(9))
		}()
	}
	wg.Wait()
	var created []byte
	for i, r := range results {
		switch r.status {
		case http.StatusCreated:
			if created != nil && !bytes.Equal(created, r.body) {
				t.Fatalf("request %d created another order: %s", i, r.body)
			}
			created = r.body
		case http.StatusConflict:
		default:
			t.Fatalf("request %d: %d %s", i, r.status, r.body)
		}
	}
	if created == nil {
		t.Fatal("no request created the order")
	}
	if got := e.count("api_order") - before; got != 1 {
		t.Fatalf("%d orders from one key", got)
	}
	if r := e.do("POST", "/v1/orders", key, idem("race"), orderBody(9)); !bytes.Equal(r.body, created) {
		t.Fatal("replay after the race differs")
	}
}

func sha(body string) string {
	return app.RequestHash([]byte(body))
}

func TestBadInputWritesNothing(t *testing.T) {
	t.Parallel()
	e := start(t, fastWebhooks(), true)
	cr, err := mesapi.CreateClient(e.ctx, e.h.DB, "Careful GmbH", "", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	key := cr.Key
	readOnly := e.newKey("orders:read")
	revoked, err := mesapi.CreateClient(e.ctx, e.h.DB, "Gone GmbH", "", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if r := e.admin("POST", "/clients/"+revoked.ClientID+"/keys/"+revoked.KeyID+"/revoke", identity.RoleAdmin, nil); r.status != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	line := func(opts string, qty string) string {
		return `{"lines":[{"product":"laser_cut_sheet","options":{` + opts + `},"quantity":` + qty + `}],
			"delivery":{"line1":"a","city":"b","postal_code":"1","country":"DE"}}`
	}
	const okOpts = `"material":"steel_s235","width_mm":200,"height_mm":100,"thickness_mm":2`
	idem := map[string]string{"Idempotency-Key": "bad"}
	for _, tc := range []struct {
		name, method, path, key string
		hdr                     map[string]string
		body                    any
		status                  int
		field                   string
	}{
		{"unknown material", "POST", "/v1/orders", key, idem, line(`"material":"unobtainium","width_mm":200,"height_mm":100,"thickness_mm":2`, "1"), 422, "lines[0].material"},
		{"too wide", "POST", "/v1/orders", key, idem, line(`"material":"steel_s235","width_mm":99999,"height_mm":100,"thickness_mm":2`, "1"), 422, "lines[0].width_mm"},
		{"too thick", "POST", "/v1/orders", key, idem, line(`"material":"steel_s235","width_mm":200,"height_mm":100,"thickness_mm":-2`, "1"), 422, "lines[0].thickness_mm"},
		{"negative quantity", "POST", "/v1/orders", key, idem, line(okOpts, "-5"), 422, "lines[0].quantity"},
		{"zero quantity", "POST", "/v1/orders", key, idem, line(okOpts, "0"), 422, "lines[0].quantity"},
		{"absurd quantity", "POST", "/v1/orders", key, idem, line(okOpts, "100000000000"), 422, "lines[0].quantity"},
		{"above max quantity", "POST", "/v1/orders", key, idem, line(okOpts, "10001"), 422, "lines[0].quantity"},
		{"no delivery", "POST", "/v1/orders", key, idem, `{"lines":[{"product":"laser_cut_sheet","options":{` + okOpts + `},"quantity":1}]}`, 422, "delivery"},
		{"malformed JSON", "POST", "/v1/orders", key, idem, `{"lines":[`, 400, ""},
		{"unknown field", "POST", "/v1/orders", key, idem, `{"colour":"red"}`, 400, ""},
		{"missing Idempotency-Key", "POST", "/v1/orders", key, nil, line(okOpts, "1"), 400, ""},
		{"no key", "POST", "/v1/orders", "", idem, line(okOpts, "1"), 401, ""},
		{"garbage key", "POST", "/v1/orders", "fk_live_00000000_nope", idem, line(okOpts, "1"), 401, ""},
		{"revoked key", "POST", "/v1/orders", revoked.Key, idem, line(okOpts, "1"), 401, ""},
		{"read-only key orders", "POST", "/v1/orders", readOnly, idem, line(okOpts, "1"), 403, ""},
		{"read-only key webhooks", "POST", "/v1/webhooks", readOnly, nil, `{"url":"https://hooks.example.com/x"}`, 403, ""},
		{"webhook not http", "POST", "/v1/webhooks", key, nil, `{"url":"ftp://hooks.example.com/x"}`, 422, "url"},
		{"webhook credentials", "POST", "/v1/webhooks", key, nil, `{"url":"https://u:p@hooks.example.com/x"}`, 422, "url"},
		{"webhook unknown event", "POST", "/v1/webhooks", key, nil, `{"url":"https://hooks.example.com/x","events":["order.exploded"]}`, 422, "events"},
		{"webhook malformed", "POST", "/v1/webhooks", key, nil, `{"url":`, 400, ""},
		{"quote unknown product", "POST", "/v1/quotes", key, nil, `{"lines":[{"product":"rocket","options":{},"quantity":1}]}`, 422, "lines[0].product"},
		{"list bad status", "GET", "/v1/orders?status=lost", key, nil, nil, 422, "status"},
		{"list bad limit", "GET", "/v1/orders?limit=1000", key, nil, nil, 422, "limit"},
		{"list bad cursor", "GET", "/v1/orders?cursor=!!", key, nil, nil, 422, "cursor"},
		{"unknown order", "GET", "/v1/orders/nope", key, nil, nil, 404, ""},
	} {
		r := e.do(tc.method, tc.path, tc.key, tc.hdr, tc.body)
		if r.status != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, r.status, r.body, tc.status)
			continue
		}
		if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("%s: content type %q", tc.name, ct)
		}
		if tc.field != "" && r.problemFields(t)[tc.field] == "" {
			t.Errorf("%s: no error on %s in %s", tc.name, tc.field, r.body)
		}
	}
	r := e.do("POST", "/v1/orders", key, idem, line(okOpts, "1"))
	if r.status != http.StatusCreated {
		t.Fatalf("after the errors the key is usable: %d %s", r.status, r.body)
	}
	if e.count("api_order") != 1 || e.count("idempotency_key") != 1 || e.count("webhook_endpoint") != 0 {
		t.Fatal("bad input left rows behind")
	}
}

func TestDefaultRefusesPrivateWebhooks(t *testing.T) {
	t.Parallel()
	cfg := fastWebhooks()
	cfg.Webhooks = netguard.Guard{} // the default of every service
	e := start(t, cfg, false)
	key := e.newKey("webhooks:manage")
	for _, u := range []string{"http://127.0.0.1:8080/hook", "http://localhost/hook", "http://10.0.0.7/hook", "http://192.168.1.1/hook",
		"http://169.254.169.254/latest", "http://[::1]/hook", "http://[::ffff:127.0.0.1]/hook", "http://metadata.internal/x",
		"http://metadata.google.internal/computeMetadata/v1/", "http://2130706433/hook", "http://0x7f.1/hook", "http://100.64.0.1/hook",
		"https://name-that-does-not-resolve.invalid/hook"} {
		r := e.do("POST", "/v1/webhooks", key, nil, map[string]string{"url": u})
		if r.status != http.StatusUnprocessableEntity || r.problemFields(t)["url"] == "" {
			t.Errorf("%s: %d %s", u, r.status, r.body)
		}
	}
	if e.count("webhook_endpoint") != 0 {
		t.Fatal("a refused endpoint was stored")
	}
	if r := e.do("POST", "/v1/webhooks", key, nil, map[string]string{"url": "https://93.184.216.34/hook"}); r.status != http.StatusCreated {
		t.Fatalf("public address refused: %d %s", r.status, r.body)
	}
	// Without a price list, quotes and orders wait: 503, nothing written.
	k := e.newKey("orders:write")
	if r := e.do("POST", "/v1/orders", k, map[string]string{"Idempotency-Key": "x"}, orderBody(1)); r.status != http.StatusServiceUnavailable {
		t.Fatalf("order without price list: %d %s", r.status, r.body)
	}
	if e.count("api_order") != 0 || e.count("idempotency_key") != 0 {
		t.Fatal("an order was written without a price list")
	}
	e.noneOnStream(contracts.OrderPlaced)
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	e := start(t, fastWebhooks(), false)
	cr, err := mesapi.CreateClient(e.ctx, e.h.DB, "Busy AG", "", []string{"orders:read"}, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		r := e.do("GET", "/v1/orders", cr.Key, nil, nil)
		if r.status != http.StatusOK || r.header.Get("RateLimit-Limit") != "3" || r.header.Get("RateLimit-Remaining") != strconv.Itoa(2-i) {
			t.Fatalf("request %d: %d %v", i, r.status, r.header)
		}
	}
	r := e.do("GET", "/v1/orders", cr.Key, nil, nil)
	// 3 per minute: a token comes back every 20 s, the bucket is full in 60 s
	// (less whatever time the requests took).
	retry, _ := strconv.Atoi(r.header.Get("Retry-After"))
	reset, _ := strconv.Atoi(r.header.Get("RateLimit-Reset"))
	if r.status != http.StatusTooManyRequests || retry < 1 || retry > 20 || reset < 40 || reset > 60 || r.header.Get("RateLimit-Remaining") != "0" {
		t.Fatalf("4th request: %d %v", r.status, r.header)
	}
	// Another key of the same rate is not affected.
	if r := e.do("GET", "/v1/orders", e.newKey("orders:read"), nil, nil); r.status != http.StatusOK {
		t.Fatalf("other key: %d", r.status)
	}
}
