package standalone_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fabrika/fabrika/platform/host"
	"github.com/fabrika/fabrika/platform/standalone"
	"github.com/fabrika/fabrika/platform/testenv"
)

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestRunServesAndStops(t *testing.T) {
	b := testenv.NewBroker(t)
	pub, _, _ := ed25519.GenerateKey(nil)
	addr, adminAddr := freeAddr(t), freeAddr(t)
	vars := map[string]string{
		"FABRIKA_DSN": testenv.DSN(t), "FABRIKA_HTTP_ADDR": addr, "FABRIKA_ADMIN_ADDR": adminAddr, "FABRIKA_NATS_URL": b.URL,
		"FABRIKA_IDENTITY_PUBLIC_KEY": base64.StdEncoding.EncodeToString(pub), "FABRIKA_LOG_LEVEL": "warn",
	}
	var gotVerifier bool
	build := func(ctx context.Context, h *host.Host, env standalone.Env) (http.Handler, []func(context.Context) error, error) {
		gotVerifier = env.Verifier != nil && env.Signer == nil && env.Verifier.Audience() == "svc"
		mux := http.NewServeMux()
		mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(env.Getenv("FABRIKA_LOG_LEVEL"))) })
		return mux, nil, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- standalone.Run(ctx, "svc", nil, "", func(k string) string { return vars[k] }, build) }()
	testenv.Eventually(t, 20*time.Second, func() error {
		resp, err := http.Get("http://" + addr + "/hello")
		if err != nil {
			return fmt.Errorf("never served: %w", err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		return nil
	})
	if !gotVerifier {
		t.Fatal("verifier not built from FABRIKA_IDENTITY_PUBLIC_KEY")
	}
	// The admin listener: health open; no FABRIKA_ADMIN_TOKEN, so a bearer
	// token is refused (default deny), whatever it is.
	for path, want := range map[string]int{"/readyz": 200, "/metrics": 200, "/hello": 404} {
		resp, err := http.Get("http://" + adminAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("admin listener %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	req, _ := http.NewRequest("POST", "http://"+adminAddr+"/admin/outbox/all/retry", nil)
	req.Header.Set("Authorization", "Bearer ")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("admin action without a configured token: %v %v", resp, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}

func TestRunRefusesBadConfig(t *testing.T) {
	t.Parallel()
	tests := map[string]map[string]string{
		"bad public key":  {"FABRIKA_IDENTITY_PUBLIC_KEY": "not-base64!"},
		"short key":       {"FABRIKA_IDENTITY_PUBLIC_KEY": base64.StdEncoding.EncodeToString([]byte("short"))},
		"bad private key": {"FABRIKA_IDENTITY_PRIVATE_KEY": "AAAA"},
		"bad key list":    {"FABRIKA_IDENTITY_PUBLIC_KEYS": "2026a="},
		"bad log level":   {"FABRIKA_LOG_LEVEL": "loud"},
		"bad replicas":    {"FABRIKA_STREAM_REPLICAS": "three"},
		"zero replicas":   {"FABRIKA_STREAM_REPLICAS": "0"},
	}
	for name, vars := range tests {
		t.Run(name, func(t *testing.T) {
			err := standalone.Run(context.Background(), "svc", nil, "127.0.0.1:0", func(k string) string { return vars[k] },
				func(context.Context, *host.Host, standalone.Env) (http.Handler, []func(context.Context) error, error) {
					t.Fatal("build must not run")
					return nil, nil, nil
				})
			if err == nil || !strings.Contains(err.Error(), "FABRIKA_") {
				t.Fatalf("err = %v, want one naming the variable", err)
			}
		})
	}
}
