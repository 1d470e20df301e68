package crm_test

import (
	"context"
	"testing"

	"github.com/fabrika/fabrika/platform/host"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/platform/testenv"
	"github.com/fabrika/fabrika/services/crm"
)

// TestPostgresSettings: on PostgreSQL the CRM sets its database's settings
// at start, and every connection of its pool carries them, also the ones
// opened before (for the migrations).
func TestPostgresSettings(t *testing.T) {
	t.Parallel()
	if !testenv.Postgres() {
		t.Skip("PostgreSQL settings")
	}
	ctx := context.Background()
	b := testenv.NewBroker(t)
	h, err := host.Open(ctx, testenv.HostConfig(t, "crm", crm.Migrations), b.Deps(t, "crm"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.DB.Close() })
	pub, _, _ := identity.GenerateKey()
	if _, err := crm.New(ctx, h, crm.Config{Identity: identity.NewVerifier("crm", pub)}); err != nil {
		t.Fatal(err)
	}
	// Hold as many connections as the pool has: each must carry them.
	n := h.DB.Stats().MaxOpenConnections
	conns := make([]interface{ Close() error }, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range n {
		c, err := h.DB.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		for _, kv := range crm.PostgresSettings {
			var got string
			if err := c.QueryRowContext(ctx, "SHOW "+kv[0]).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != kv[1] {
				t.Errorf("connection %d: %s = %s, want %s", i, kv[0], got, kv[1])
			}
		}
	}
}
