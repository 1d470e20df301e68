package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/gateway/migrations"
)

func TestAdminCreate(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "gw.db")
	var out bytes.Buffer
	err := adminCreate(context.Background(), []string{"-dsn", dsn, "-login", "Root"}, strings.NewReader("a long enough password\n"), &out)
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
	if err := adminCreate(context.Background(), []string{"-dsn", dsn, "-login", "other"}, strings.NewReader(""), &out); err == nil {
		t.Fatal("created an account without a password")
	}
	if err := adminCreate(context.Background(), []string{"-dsn", dsn, "-login", "short"}, strings.NewReader("short\n"), &out); err == nil {
		t.Fatal("created an account with a short password")
	}
}

func TestPrivateKey(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(nil)
	for _, s := range []string{base64.StdEncoding.EncodeToString(priv.Seed()), base64.StdEncoding.EncodeToString(priv)} {
		k, err := privateKey(s)
		if err != nil || !k.Equal(priv) {
			t.Fatalf("privateKey: %v", err)
		}
	}
	for _, bad := range []string{"", "!!", base64.StdEncoding.EncodeToString([]byte("short"))} {
		if _, err := privateKey(bad); err == nil {
			t.Fatalf("accepted %q", bad)
		}
	}
}
