package mesapi_test

import (
	"net/http"
	"testing"

	mesapi "github.com/fabrika/fabrika/services/mes-api"
)

// TestAPIClientListRevokeRoll is what `fabrika apiclient list|revoke|roll`
// does: clients with their keys' scopes and last use; a rolled key stops
// working and its successor works with the same scopes; a revoked key stops.
func TestAPIClientListRevokeRoll(t *testing.T) {
	t.Parallel()
	e := start(t, fastWebhooks(), false)
	cr, err := mesapi.CreateClient(e.ctx, e.h.DB, "Roll AG", "it@roll.example", []string{"orders:read"}, 100)
	if err != nil {
		t.Fatal(err)
	}
	find := func() mesapi.KeyInfo {
		cs, err := mesapi.ListClients(e.ctx, e.h.DB)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			for _, k := range c.Keys {
				if k.ID == cr.KeyID {
					return k
				}
			}
		}
		t.Fatalf("key %s not listed: %+v", cr.KeyID, cs)
		return mesapi.KeyInfo{}
	}
	if k := find(); !k.LastUsedAt.IsZero() || len(k.Scopes) != 1 || k.Scopes[0] != "orders:read" || k.Rate != 100 {
		t.Fatalf("new key %+v", k)
	}
	if r := e.do("GET", "/v1/orders", cr.Key, nil, nil); r.status != http.StatusOK {
		t.Fatalf("use: %d", r.status)
	}
	if k := find(); k.LastUsedAt.IsZero() {
		t.Fatalf("last use not recorded: %+v", k)
	}

	rolled, err := mesapi.RollKey(e.ctx, e.h.DB, cr.KeyID)
	if err != nil {
		t.Fatal(err)
	}
	if rolled.Key == "" || rolled.Key == cr.Key || rolled.KeyID == cr.KeyID || rolled.Rate != 100 || len(rolled.Scopes) != 1 || rolled.ClientID != cr.ClientID {
		t.Fatalf("rolled %+v", rolled)
	}
	if r := e.do("GET", "/v1/orders", cr.Key, nil, nil); r.status != http.StatusUnauthorized {
		t.Fatalf("old key after roll: %d", r.status)
	}
	if r := e.do("GET", "/v1/orders", rolled.Key, nil, nil); r.status != http.StatusOK {
		t.Fatalf("new key: %d", r.status)
	}
	if _, err := mesapi.RollKey(e.ctx, e.h.DB, cr.KeyID); err == nil {
		t.Fatal("rolled a revoked key")
	}
	if err := mesapi.RevokeKey(e.ctx, e.h.DB, rolled.KeyID); err != nil {
		t.Fatal(err)
	}
	if r := e.do("GET", "/v1/orders", rolled.Key, nil, nil); r.status != http.StatusUnauthorized {
		t.Fatalf("revoked key: %d", r.status)
	}
	if err := mesapi.RevokeKey(e.ctx, e.h.DB, "no-such-key"); err == nil {
		t.Fatal("revoked an unknown key")
	}
}
