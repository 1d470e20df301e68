package main

import (
	"encoding/base64"
	"testing"
	"time"

	"github.com/fabrika/fabrika/platform/identity"
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
