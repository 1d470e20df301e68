package gateway_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"github.com/fabrika/fabrika/platform/secretbox"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fabrika/fabrika/services/gateway"
)

func writeCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestTLSTermination(t *testing.T) {
	t.Parallel()
	cert, key := writeCert(t)
	e := newEnv(t, func(c *gateway.Config) { c.TLSCertFile, c.TLSKeyFile = cert, key })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.gw.ServePublic(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	base := "https://" + ln.Addr().String()
	res, err := c.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var ec echo
	if err := json.NewDecoder(res.Body).Decode(&ec); err != nil {
		t.Fatal(err)
	}
	if res.Header.Get("Strict-Transport-Security") == "" {
		t.Error("no HSTS over TLS")
	}
	if ec.XFProto != "https" {
		t.Errorf("X-Forwarded-Proto %q over TLS", ec.XFProto)
	}
	res, err = c.Get(base + "/staff/login")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	for _, ck := range res.Cookies() {
		if !ck.Secure {
			t.Errorf("cookie %s without Secure over TLS", ck.Name)
		}
	}
	if len(res.Cookies()) == 0 {
		t.Error("no sign-in form cookie")
	}
}

func TestConfigRefusesUnsafeProduction(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for name, mod := range map[string]func(*gateway.Config){
		"no public listener": func(c *gateway.Config) { c.PublicAddr = ""; c.CookieSecure = true },
		"insecure cookie":    func(c *gateway.Config) { c.PublicAddr = ":0"; c.CookieSecure = false },
		"missing upstream":   func(c *gateway.Config) { c.PublicAddr = ":0"; c.CookieSecure = true; c.CRM = "" },
		"bad upstream URL":   func(c *gateway.Config) { c.PublicAddr = ":0"; c.CookieSecure = true; c.Shop = "ftp://x" },
		"no secret key":      func(c *gateway.Config) { c.PublicAddr = ":0"; c.CookieSecure = true; c.Secrets = nil },
		"admins without TOTP": func(c *gateway.Config) {
			c.PublicAddr = ":0"
			c.CookieSecure = true
			c.AllowAdminWithoutTOTP = true
		},
	} {
		key, _ := secretbox.GenerateKey()
		box, _ := secretbox.New(key)
		cfg := gateway.Config{Shop: "http://a", CRM: "http://b", MESOperator: "http://c", MESAPI: "http://d", Signer: e.signer, ProductionMode: true, Secrets: box}
		mod(&cfg)
		if _, err := gateway.New(context.Background(), e.h, cfg); err == nil {
			t.Errorf("%s: accepted in production mode", name)
		}
	}
}

func TestPublicListener(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *gateway.Config) { c.PublicAddr = "127.0.0.1:0" })
	addr := e.gw.PublicAddr()
	if addr == "" || addr == "127.0.0.1:0" {
		t.Fatalf("public address %q", addr)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, len(e.gw.Background()))
	for _, bg := range e.gw.Background() {
		go func() { done <- bg(ctx) }()
	}
	res, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound || res.Header.Get("X-Request-Id") == "" {
		t.Errorf("public /metrics: %d", res.StatusCode)
	}
	cancel()
	for range e.gw.Background() {
		if err := <-done; err != nil {
			t.Errorf("background: %v", err)
		}
	}
}
