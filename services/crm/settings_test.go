package crm_test

import (
	"context"
	"testing"

	"github.com/fabrika/fabrika/platform/host"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
	"github.com/fabrika/fabrika/services/crm"
)

// TestPostgresSettings: on PostgreSQL every connection of the CRM's pool
// carries crm.PostgresSettings, also the ones opened before the CRM was
// built (for the migrations), while the database's own defaults stay
// untouched (another client of the same database sees PostgreSQL's
// defaults). SQLite ignores the settings.
func TestPostgresSettings(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := testenv.NewBroker(t)
		cfg := testenv.HostConfig(t, "crm", crm.Migrations)
		cfg.DSN, cfg.DBOptions = testenv.DSNOn(t, engine), crm.DBOptions()
		h, err := host.Open(ctx, cfg, b.Deps(t, "crm"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.DB.Close() })
		pub, _, _ := identity.GenerateKey()
		if _, err := crm.New(ctx, h, crm.Config{Identity: identity.NewVerifier("crm", pub)}); err != nil {
			t.Fatal(err)
		}
		if engine != sqldb.Postgres {
			return
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
			for k, want := range crm.PostgresSettings() {
				var got string
				if err := c.QueryRowContext(ctx, "SHOW "+k).Scan(&got); err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Errorf("connection %d: %s = %s, want %s", i, k, got, want)
				}
			}
		}
		other, err := sqldb.Open(ctx, cfg.DSN)
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		var mode string
		if err := other.QueryRowContext(ctx, "SHOW plan_cache_mode").Scan(&mode); err != nil {
			t.Fatal(err)
		}
		var altered int
		if err := other.QueryRowContext(ctx, `SELECT count(*) FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
			WHERE d.datname = current_database()`).Scan(&altered); err != nil {
			t.Fatal(err)
		}
		if mode != "auto" || altered != 0 {
			t.Errorf("the database's defaults changed: plan_cache_mode %s for another client, %d database settings", mode, altered)
		}
	})
}
