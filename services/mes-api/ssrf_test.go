package mesapi_test

import (
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/netguard"
)

// TestWebhooksCannotReachTheInternalNetwork reproduces issue 15's SSRF: a
// B2B client registers the service's own admin route as its webhook.
// Registration refuses it in every spelling; an endpoint whose name later
// resolves to loopback (DNS rebinding, simulated by rewriting the stored URL)
// is refused when the delivery dials, the internal listener is never
// reached, and the client's delivery log says "refused", not what the
// network answered.
func TestWebhooksCannotReachTheInternalNetwork(t *testing.T) {
	t.Parallel()
	cfg := fastWebhooks()
	cfg.Webhooks = netguard.Guard{} // the default
	e := start(t, cfg, true)
	key := e.newKey("orders:write", "webhooks:manage")

	_, port, _ := net.SplitHostPort(strings.TrimPrefix(e.base, "http://"))
	for _, host := range []string{"127.0.0.1", "localhost", "[::1]", "2130706433", "0x7f.1", "0177.0.0.1", "127.1",
		"[::ffff:127.0.0.1]", "169.254.169.254", "metadata.google.internal", "10.0.0.1"} {
		u := "http://" + host + ":" + port + "/admin/outbox/all/retry"
		r := e.do("POST", "/v1/webhooks", key, nil, map[string]any{"url": u})
		if r.status != http.StatusUnprocessableEntity || !strings.HasPrefix(r.problemFields(t)["url"], "refused") {
			t.Errorf("register %s: %d %s", u, r.status, r.body)
		}
	}
	if n := e.count("webhook_endpoint"); n != 0 {
		t.Fatalf("%d refused endpoints stored", n)
	}

	// The dial-time control: a public endpoint whose name now points at the
	// internal listener.
	internal := newReceiver(t, 0)
	r := e.do("POST", "/v1/webhooks", key, nil, map[string]any{"url": "https://93.184.216.34/hook", "events": []string{contracts.OrderPriced}})
	if r.status != http.StatusCreated {
		t.Fatalf("register a public endpoint: %d %s", r.status, r.body)
	}
	var ep struct{ ID string }
	r.json(t, &ep)
	if _, err := e.h.DB.ExecContext(e.ctx, `UPDATE webhook_endpoint SET url = $1 WHERE id = $2`, internal.srv.URL+"/admin/outbox/all/retry", ep.ID); err != nil {
		t.Fatal(err)
	}
	e.placeAndPrice(key)
	e.eventually("a refused attempt", func() bool {
		ds := e.deliveries(key, ep.ID)
		return len(ds) == 1 && ds[0].Attempts >= 1
	})
	if n := len(internal.received()); n != 0 {
		t.Fatalf("the internal listener was reached %d times", n)
	}
	res := e.do("GET", "/v1/webhooks/"+ep.ID+"/deliveries", key, nil, nil)
	body := string(res.body)
	if !strings.Contains(body, `"refused: `) {
		t.Fatalf("delivery log does not say refused: %s", body)
	}
	for _, leak := range []string{"127.0.0.1", "connection", "dial", "netguard", internal.srv.Listener.Addr().String()} {
		if strings.Contains(body, leak) {
			t.Fatalf("delivery log shows network detail %q: %s", leak, body)
		}
	}
}

// TestDeliveryLogIsNoPortScanner: with private targets allowed (dev), an
// endpoint on a closed port and one that answers 404 read differently only
// by the status code the endpoint sent, never by the network's error.
func TestDeliveryLogIsNoPortScanner(t *testing.T) {
	t.Parallel()
	e := start(t, fastWebhooks(), true)
	key := e.newKey("orders:write", "webhooks:manage")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/hook"
	ln.Close()
	r := e.do("POST", "/v1/webhooks", key, nil, map[string]any{"url": closed, "events": []string{contracts.OrderPriced}})
	if r.status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	var ep struct{ ID string }
	r.json(t, &ep)
	e.placeAndPrice(key)
	e.eventually("a failed attempt", func() bool {
		ds := e.deliveries(key, ep.ID)
		return len(ds) == 1 && ds[0].Attempts >= 1
	})
	body := string(e.do("GET", "/v1/webhooks/"+ep.ID+"/deliveries", key, nil, nil).body)
	if !strings.Contains(body, `"failed: no answer from the endpoint"`) || strings.Contains(body, "connection refused") || strings.Contains(body, "dial") {
		t.Fatalf("delivery log: %s", body)
	}
}
