package main

import (
	"context"
	"encoding/base64"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/platform/testenv"
)

func TestParseFlags(t *testing.T) {
	t.Parallel()
	pub, _, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	key := base64.StdEncoding.EncodeToString(pub)
	env := map[string]string{
		"FABRIKA_DSN": "postgres://db/mes", "FABRIKA_IDENTITY_PUBLIC_KEY": key,
		"FABRIKA_MES_OPERATOR_EVENT_RETENTION": "48h", "FABRIKA_MES_OPERATOR_SHIPPING_WORKSTATION": "dispatch",
	}
	c, err := ParseFlags([]string{"-http-addr", "0.0.0.0:9000"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.DSN != "postgres://db/mes" || c.HTTPAddr != "0.0.0.0:9000" || c.EventRetention != 48*time.Hour || c.ShippingWorkstation != "dispatch" {
		t.Fatalf("config %+v", c)
	}
	if _, err := c.verifier(); err != nil {
		t.Fatal(err)
	}

	bad := []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"no key", map[string]string{}, nil},
		{"bad retention", map[string]string{"FABRIKA_IDENTITY_PUBLIC_KEY": key}, []string{"-event-retention", "soon"}},
		{"unknown flag", map[string]string{"FABRIKA_IDENTITY_PUBLIC_KEY": key}, []string{"-fast"}},
	}
	for _, b := range bad {
		if _, err := ParseFlags(b.args, func(k string) string { return b.env[k] }); err == nil {
			t.Errorf("%s: no error", b.name)
		}
	}
	c.IdentityPublicKey = "c2hvcnQ="
	if _, err := c.verifier(); err == nil {
		t.Error("a short key was accepted")
	}
}

// TestRunServes starts the command as main does, on a SQLite file and a
// real broker, checks that it serves and stops cleanly on cancel.
func TestRunServes(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	pub, _, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c, err := ParseFlags([]string{"-dsn", filepath.Join(t.TempDir(), "mes.db"), "-http-addr", addr, "-nats-url", b.URL,
		"-identity-public-key", base64.StdEncoding.EncodeToString(pub), "-log-level", "error"}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, c) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	res, err := http.Get("http://" + addr + "/mes/api/v1/workstations")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("API without identity: %d", res.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}
