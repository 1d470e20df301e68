package main

import (
	"bytes"
	"context"
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

// TestNoPrivateKeyFlag (issue 15.13): the identity private key is not a
// flag, where ps would show it to every user of the machine.
func TestNoPrivateKeyFlag(t *testing.T) {
	if _, err := parseFlags([]string{"-identity-private-key", "c2VjcmV0"}); err == nil {
		t.Fatal("the private key was accepted as a flag")
	}
}
