package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/platform/standalone"
	"github.com/fabrika/fabrika/platform/testenv"
	"github.com/fabrika/fabrika/services/mes-operator/migrations"
)

func TestConfig(t *testing.T) {
	t.Parallel()
	pub, _, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	verifier := identity.NewVerifier("mes-operator", pub)
	tests := []struct {
		name     string
		env      map[string]string
		verifier *identity.Verifier
		ok       bool
		station  string
		login    string
		keep     time.Duration
	}{
		{"defaults", nil, verifier, true, "shipping", "/staff/login", 720 * time.Hour},
		{"set", map[string]string{"FABRIKA_MES_OPERATOR_EVENT_RETENTION": "48h", "FABRIKA_MES_OPERATOR_SHIPPING_WORKSTATION": "dispatch",
			"FABRIKA_MES_OPERATOR_LOGIN_URL": "-"}, verifier, true, "dispatch", "-", 48 * time.Hour},
		{"no identity key", nil, nil, false, "", "", 0},
		{"bad retention", map[string]string{"FABRIKA_MES_OPERATOR_EVENT_RETENTION": "soon"}, verifier, false, "", "", 0},
		{"negative retention", map[string]string{"FABRIKA_MES_OPERATOR_EVENT_RETENTION": "-1h"}, verifier, false, "", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config(standalone.Env{Getenv: func(k string) string { return tt.env[k] }, Verifier: tt.verifier})
			if tt.ok != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && (cfg.ShippingWorkstation != tt.station || cfg.LoginURL != tt.login || cfg.EventRetention != tt.keep || cfg.Identity != tt.verifier) {
				t.Fatalf("config %+v", cfg)
			}
		})
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
	aln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	adminAddr := aln.Addr().String()
	aln.Close()
	vars := map[string]string{
		"FABRIKA_DSN": filepath.Join(t.TempDir(), "mes.db"), "FABRIKA_HTTP_ADDR": addr, "FABRIKA_ADMIN_ADDR": adminAddr, "FABRIKA_NATS_URL": b.URL,
		"FABRIKA_IDENTITY_PUBLIC_KEY": base64.StdEncoding.EncodeToString(pub), "FABRIKA_LOG_LEVEL": "error",
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- standalone.Run(ctx, "mes-operator", migrations.FS, "127.0.0.1:8084", func(k string) string { return vars[k] }, build)
	}()
	testenv.Eventually(t, 20*time.Second, func() error {
		res, err := http.Get("http://" + adminAddr + "/readyz")
		if err != nil {
			return fmt.Errorf("not ready: %w", err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("not ready: %s", res.Status)
		}
		return nil
	})
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
