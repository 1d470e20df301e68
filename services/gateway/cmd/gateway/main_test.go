package main

import (
	"bytes"
	"context"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/gateway/migrations"
)

func TestAdminCreate(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "gw.db")
	none := func(string) string { return "" }
	var out bytes.Buffer
	err := adminCreate(context.Background(), []string{"-dsn", dsn, "-login", "Root"}, none, strings.NewReader("a long enough password\n"), &out)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqldb.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(context.Background(), migrations.FS); err != nil {
		t.Fatal(err)
	}
	var role, hash string
	if err := db.QueryRow(`SELECT role, password_hash FROM staff_accounts WHERE login = 'root'`).Scan(&role, &hash); err != nil {
		t.Fatal(err)
	}
	if role != "admin" || !strings.HasPrefix(hash, "$argon2id$") {
		t.Fatalf("role %q hash %q", role, hash)
	}
	// No password, no account.
	if err := adminCreate(context.Background(), []string{"-dsn", dsn, "-login", "other"}, none, strings.NewReader(""), &out); err == nil {
		t.Fatal("created an account without a password")
	}
	if err := adminCreate(context.Background(), []string{"-dsn", dsn, "-login", "short"}, none, strings.NewReader("short\n"), &out); err == nil {
		t.Fatal("created an account with a short password")
	}
}

func TestConfig(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	cfg, err := config(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.ProductionMode || !cfg.CookieSecure || cfg.PublicAddr != ":8080" || cfg.Shop != "http://127.0.0.1:8081" || cfg.TrustedProxies != nil {
		t.Errorf("defaults: %+v", cfg)
	}
	cfg, err = config(env(map[string]string{"FABRIKA_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.7,2001:db8::/32", "FABRIKA_PRODUCTION": "false", "FABRIKA_MAX_BODY_BYTES": "1024"}))
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"), netip.MustParsePrefix("2001:db8::/32")}
	if !slices.Equal(cfg.TrustedProxies, want) || cfg.ProductionMode || cfg.MaxBodyBytes != 1024 {
		t.Errorf("set: %+v", cfg)
	}
	for name, kv := range map[string]map[string]string{
		"bad CIDR":     {"FABRIKA_TRUSTED_PROXIES": "10.0.0.0/33"},
		"not an addr":  {"FABRIKA_TRUSTED_PROXIES": "proxy.internal"},
		"bad bool":     {"FABRIKA_COOKIE_SECURE": "yes please"},
		"bad body cap": {"FABRIKA_MAX_BODY_BYTES": "-1"},
	} {
		if _, err := config(env(kv)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
