package host_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fabrika/fabrika/platform/broker"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/outbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"

	"github.com/fabrika/fabrika/platform/buildinfo"
	"github.com/fabrika/fabrika/platform/host"
)

func do(t *testing.T, method, url string, hdr map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func get(t *testing.T, url string) (int, string) { t.Helper(); return do(t, "GET", url, nil) }

var bearer = map[string]string{"Authorization": "Bearer " + testenv.AdminToken}

// run runs h until the test ends and returns the channel Run's result
// arrives on.
func run(t *testing.T, h *host.Host, app http.Handler) <-chan error {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx, app) }()
	t.Cleanup(func() {
		stop()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("the host did not stop")
		}
	})
	testenv.EventuallyTrue(t, 10*time.Second, "ready", func() bool {
		code, _ := get(t, "http://"+h.AdminAddr()+"/readyz")
		return code == 200
	})
	return done
}

func TestHostServesOperationalRoutesAndStopsGracefully(t *testing.T) {
	b := testenv.NewBroker(t)
	ctx := context.Background()
	h, err := host.Open(ctx, testenv.HostConfig(t, "svc", nil), b.Deps(t, "svc"))
	if err != nil {
		t.Fatal(err)
	}
	app := http.NewServeMux()
	app.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hi")) })
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- h.Run(runCtx, app) }()
	base, admin := "http://"+h.Addr(), "http://"+h.AdminAddr()
	testenv.EventuallyTrue(t, 10*time.Second, "ready", func() bool { code, _ := get(t, admin+"/readyz"); return code == 200 })
	if code, body := get(t, base+"/hello"); code != 200 || body != "hi" {
		t.Fatalf("app route: %d %q", code, body)
	}
	// /healthz says which build runs (here the test binary's).
	if code, body := get(t, admin+"/healthz"); code != 200 || !strings.Contains(body, `"svc"`) || !strings.Contains(body, `"broker":"connected"`) ||
		!strings.Contains(body, `"version":"`+buildinfo.Version()+`"`) {
		t.Fatalf("healthz: %d %q", code, body)
	}
	// A message in the outbox is visible in the admin route and the metrics.
	err = h.DB.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		m, _ := outbox.NewMessage("fabrika.test.x", "k", map[string]string{"a": "b"})
		return h.Outbox.Enqueue(ctx, tx, m)
	})
	if err != nil {
		t.Fatal(err)
	}
	if code, body := do(t, "GET", admin+"/admin/outbox?status=bogus", bearer); code != 422 {
		t.Fatalf("bad status filter: %d %s", code, body)
	}
	code, body := get(t, admin+"/metrics")
	for _, want := range []string{"fabrika_outbox_pending", "fabrika_outbox_published_total", `service="svc"`,
		"fabrika_http_requests_total", `fabrika_broker_connected{service="svc"} 1`} {
		if code != 200 || !strings.Contains(body, want) {
			t.Fatalf("metrics lack %s (%d)", want, code)
		}
	}
	code, body = do(t, "GET", admin+"/admin/dead-letters", bearer)
	var dl map[string]any
	if code != 200 || json.Unmarshal([]byte(body), &dl) != nil {
		t.Fatalf("dead letters: %d %s", code, body)
	}
	if !strings.Contains(body, `"dead_letters":[]`) { // an empty list, not null
		t.Fatalf("no dead letters: %s", body)
	}
	if code, body := do(t, "GET", admin+"/admin/outbox?status=error", bearer); code != 200 || !strings.Contains(body, `"messages":[]`) {
		t.Fatalf("no outbox message in error: %d %s", code, body)
	}
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("did not stop")
	}
}

// TestAdminListener: the application listener serves only the service's
// routes; on the admin listener /metrics, /healthz and /readyz are open and
// every admin action (the platform's and the service's own, HandleAdmin)
// needs the admin token or an admin's identity token.
func TestAdminListener(t *testing.T) {
	b := testenv.NewBroker(t)
	pub, priv, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	signer := identity.NewSigner(priv)
	token := func(role string) map[string]string {
		tok, err := signer.Sign("svc", identity.Identity{Subject: "u-1", Name: "ada", Role: role}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return map[string]string{identity.Header: tok}
	}
	deps := b.Deps(t, "svc")
	deps.Identity = identity.NewVerifier("svc", pub)
	h, err := host.Open(context.Background(), testenv.HostConfig(t, "svc", nil), deps)
	if err != nil {
		t.Fatal(err)
	}
	h.HandleAdmin("POST /prices/{code}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := identity.FromContext(r.Context())
		w.Write([]byte(id.Name))
	}))
	app := http.NewServeMux()
	app.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hi")) })
	run(t, h, app)
	base, admin := "http://"+h.Addr(), "http://"+h.AdminAddr()

	for _, path := range []string{"/metrics", "/healthz", "/readyz", "/admin/outbox", "/admin/dead-letters", "/prices/x", "/debug/pprof/", "/debug/pprof/heap"} {
		for _, hdr := range []map[string]string{nil, bearer} {
			if code, body := do(t, "GET", base+path, hdr); code != 404 {
				t.Errorf("application listener GET %s: %d %s, want 404", path, code, body)
			}
		}
	}
	for _, path := range []string{"/metrics", "/healthz", "/readyz"} {
		if code, body := get(t, admin+path); code != 200 {
			t.Errorf("admin listener GET %s without credential: %d %s", path, code, body)
		}
	}
	tests := []struct {
		name   string
		method string
		path   string
		hdr    map[string]string
		want   int
		body   string
	}{
		{"no credential", "GET", "/admin/outbox", nil, 401, ""},
		{"no credential, retry", "POST", "/admin/outbox/all/retry", nil, 401, ""},
		{"no credential, discard", "POST", "/admin/dead-letters/x/discard", nil, 401, ""},
		{"no credential, own route", "POST", "/prices/x", nil, 401, ""},
		{"wrong token", "GET", "/admin/outbox", map[string]string{"Authorization": "Bearer " + testenv.AdminToken + "x"}, 401, ""},
		{"token prefix", "GET", "/admin/outbox", map[string]string{"Authorization": "Bearer test"}, 401, ""},
		{"basic scheme", "GET", "/admin/outbox", map[string]string{"Authorization": "Basic " + testenv.AdminToken}, 401, ""},
		{"forged identity", "GET", "/admin/outbox", map[string]string{identity.Header: "x.y.z"}, 401, ""},
		{"manager", "POST", "/admin/outbox/all/retry", token(identity.RoleManager), 403, ""},
		{"operator", "POST", "/prices/x", token(identity.RoleOperator), 403, ""},
		{"admin token", "GET", "/admin/outbox", bearer, 200, ""},
		{"admin token, retry", "POST", "/admin/outbox/all/retry", bearer, 200, ""},
		{"admin token, own route", "POST", "/prices/x", bearer, 200, host.TokenSubject},
		{"admin identity", "GET", "/admin/dead-letters", token(identity.RoleAdmin), 200, ""},
		{"admin identity, own route", "POST", "/prices/x", token(identity.RoleAdmin), 200, "ada"},
		{"no credential, profiles", "GET", "/debug/pprof/", nil, 401, ""},
		{"no credential, CPU profile", "GET", "/debug/pprof/profile?seconds=1", nil, 401, ""},
		{"manager, heap profile", "GET", "/debug/pprof/heap", token(identity.RoleManager), 403, ""},
		{"admin token, command line", "GET", "/debug/pprof/cmdline", bearer, 200, ""},
		{"admin identity, heap profile", "GET", "/debug/pprof/heap?debug=1", token(identity.RoleAdmin), 200, ""},
		{"admin token, CPU profile", "GET", "/debug/pprof/profile?seconds=1", bearer, 200, ""},
	}
	for _, tt := range tests {
		code, body := do(t, tt.method, admin+tt.path, tt.hdr)
		if code != tt.want || (tt.body != "" && body != tt.body) {
			t.Errorf("%s: %s %s: %d %s, want %d %s", tt.name, tt.method, tt.path, code, body, tt.want, tt.body)
		}
	}
}

// TestAdminDefaultDeny: a host configured without any admin credential
// refuses every admin action, whatever is sent.
func TestAdminDefaultDeny(t *testing.T) {
	b := testenv.NewBroker(t)
	cfg := testenv.HostConfig(t, "svc", nil)
	cfg.AdminToken = ""
	h, err := host.Open(context.Background(), cfg, b.Deps(t, "svc"))
	if err != nil {
		t.Fatal(err)
	}
	run(t, h, nil)
	admin := "http://" + h.AdminAddr()
	for _, hdr := range []map[string]string{nil, bearer, {"Authorization": "Bearer "}} {
		if code, body := do(t, "POST", admin+"/admin/outbox/all/retry", hdr); code != 403 {
			t.Errorf("retry with %v: %d %s, want 403", hdr, code, body)
		}
	}
	if code, _ := get(t, admin+"/metrics"); code != 200 {
		t.Errorf("metrics: %d", code)
	}
}

// TestServesWithoutBroker: a service starts while NATS is down, is ready
// (its database is), accepts work into its outbox; when NATS comes up the
// stream is ensured, the outbox publishes and the consumers start; when
// NATS goes away again the service keeps running, and catches up when it is
// back.
func TestServesWithoutBroker(t *testing.T) {
	b := testenv.NewEmbeddedBroker(t)
	b.Stop() // the broker is down before the service starts
	ctx := context.Background()
	h, err := host.Open(ctx, testenv.HostConfig(t, "svc", nil), b.Deps(t, "svc"))
	if err != nil {
		t.Fatalf("open without the broker: %v", err)
	}
	handled := make(chan string, 10)
	h.Inbox.Subscribe("test", map[string]inbox.Handler{"fabrika.test.placed": func(ctx context.Context, tx *sqldb.Tx, m inbox.Message) error {
		handled <- m.Key
		return nil
	}})
	expectHandled := func(key, what string) {
		t.Helper()
		select {
		case got := <-handled:
			if got != key {
				t.Fatalf("%s: handled %q, want %q", what, got, key)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("not so: %s", what)
		}
	}
	done := run(t, h, nil)
	admin := "http://" + h.AdminAddr()
	if code, body := get(t, admin+"/readyz"); code != 200 || !strings.Contains(body, `"broker":"disconnected"`) {
		t.Fatalf("readyz while the broker is down: %d %s", code, body)
	}
	if _, body := get(t, admin+"/metrics"); !strings.Contains(body, `fabrika_broker_connected{service="svc"} 0`) {
		t.Fatal("fabrika_broker_connected is not 0 while the broker is down")
	}
	testenv.Publish(ctx, t, h, "fabrika.test.placed", "order-1", map[string]string{"n": "1"})

	b.Restart(t)
	js := jetstream.JetStream(nil)
	if js, err = jetstream.New(b.Connect(t, "reader")); err != nil {
		t.Fatal(err)
	}
	published := func(n uint64) func() bool {
		return func() bool {
			st, err := js.Stream(ctx, broker.StreamName)
			return err == nil && st.CachedInfo().State.Msgs >= n
		}
	}
	testenv.EventuallyTrue(t, 30*time.Second, "the order published once the broker is up", published(1))
	expectHandled("order-1", "the consumer started when the broker came up")
	if _, body := get(t, admin+"/metrics"); !strings.Contains(body, `fabrika_broker_connected{service="svc"} 1`) {
		t.Fatal("fabrika_broker_connected is not 1 once connected")
	}

	// The broker goes away under the running service, and comes back.
	b.Stop()
	testenv.EventuallyTrue(t, 10*time.Second, "the disconnection seen", func() bool {
		_, body := get(t, admin+"/healthz")
		return strings.Contains(body, `"broker":"disconnected"`)
	})
	testenv.Publish(ctx, t, h, "fabrika.test.placed", "order-2", map[string]string{"n": "2"})
	if code, _ := get(t, admin+"/readyz"); code != 200 {
		t.Fatalf("readyz while the broker is away: %d", code)
	}
	b.Restart(t)
	testenv.EventuallyTrue(t, 30*time.Second, "the second order published", published(2))
	expectHandled("order-2", "the consumer resumed after the broker came back")
	select {
	case err := <-done:
		t.Fatalf("the service stopped during the outage: %v", err)
	default:
	}
}
