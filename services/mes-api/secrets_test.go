package mesapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/platform/secretbox"
	mesapi "github.com/fabrika/fabrika/services/mes-api"
	"github.com/fabrika/fabrika/services/mes-api/internal/app"
)

func storedSecret(e *env, id string) string {
	e.t.Helper()
	var s string
	if err := e.h.DB.QueryRowContext(e.ctx, `SELECT secret FROM webhook_endpoint WHERE id = $1`, id).Scan(&s); err != nil {
		e.t.Fatal(err)
	}
	return s
}

// TestWebhookSecretsSealedAtRest: the signing secret is shown once and
// stored sealed under FABRIKA_SECRET_KEY; deliveries are still signed with
// it; a plain secret from before is sealed when the service starts; without
// a key no endpoint can be made and a database that holds some is refused.
func TestWebhookSecretsSealedAtRest(t *testing.T) {
	t.Parallel()
	cfg := fastWebhooks()
	e := start(t, cfg, true)
	key := e.newKey("orders:write", "webhooks:manage")
	rcv := newReceiver(t, 0)
	id := e.register(key, rcv, contracts.OrderPriced)
	stored := storedSecret(e, id)
	if !secretbox.IsSealed(stored) || strings.Contains(stored, "whsec_") || strings.Contains(stored, strings.TrimPrefix(rcv.secret, "whsec_")) {
		t.Fatalf("secret stored as %q", stored)
	}
	e.placeAndPrice(key)
	e.eventually("a signed delivery", func() bool { return len(rcv.received()) == 1 })
	if !rcv.received()[0].verified {
		t.Fatal("the delivery's signature does not verify with the secret shown at registration")
	}

	// A row from before encryption at rest: sealed at start, same secret.
	if _, err := e.h.DB.ExecContext(e.ctx, `UPDATE webhook_endpoint SET secret = $1 WHERE id = $2`, rcv.secret, id); err != nil {
		t.Fatal(err)
	}
	a, err := app.New(e.ctx, e.h.DB, e.h.Outbox, app.Config{Secrets: cfg.Secrets})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := a.SealSecrets(e.ctx); err != nil || n != 1 {
		t.Fatalf("sealed %d: %v", n, err)
	}
	if n, err := a.SealSecrets(e.ctx); err != nil || n != 0 {
		t.Fatalf("sealed again %d: %v", n, err)
	}
	plain, err := cfg.Secrets.Open(storedSecret(e, id), []byte(id))
	if err != nil || string(plain) != rcv.secret {
		t.Fatalf("migrated secret opens to %q: %v", plain, err)
	}

	// Without the key (or with another) the service refuses this database.
	pub, _, _ := identity.GenerateKey()
	if _, err := mesapi.New(e.ctx, e.h, mesapi.Config{Identity: identity.NewVerifier("mes-api", pub)}); err == nil || !strings.Contains(err.Error(), "FABRIKA_SECRET_KEY") {
		t.Fatalf("started without a key on a database with webhook secrets: %v", err)
	}
	if _, err := mesapi.New(e.ctx, e.h, mesapi.Config{Identity: identity.NewVerifier("mes-api", pub), Secrets: newBox()}); err == nil {
		t.Fatal("started with another key")
	}
}

func TestNoSecretKeyNoWebhooks(t *testing.T) {
	t.Parallel()
	cfg := fastWebhooks()
	cfg.Secrets = nil
	e := start(t, cfg, false)
	key := e.newKey("webhooks:manage")
	r := e.do("POST", "/v1/webhooks", key, nil, map[string]any{"url": "https://93.184.216.34/hook"})
	if r.status != http.StatusServiceUnavailable || !strings.Contains(string(r.body), "FABRIKA_SECRET_KEY") {
		t.Fatalf("create without a key: %d %s", r.status, r.body)
	}
	if n := e.count("webhook_endpoint"); n != 0 {
		t.Fatalf("%d endpoints stored", n)
	}
}
