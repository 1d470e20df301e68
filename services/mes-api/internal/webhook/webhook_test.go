package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/fabrika/fabrika/platform/netguard"
)

func TestSignMatchesStandardWebhooks(t *testing.T) {
	t.Parallel()
	// The example of the Standard Webhooks specification.
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	body := []byte(`{"test": 2432232314}`)
	ts := time.Unix(1614265330, 0)
	got, err := Sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", ts, body)
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("got %s want %s", got, want)
	}
	if err := Verify(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", "v1,bogus "+got, body, ts.Add(time.Minute), 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct{ id, ts, sig string }{
		"other body id": {"msg_other", "1614265330", got},
		"old":           {"msg_p5jXN8AQM9LWM0D4loKWxJek", "1614260000", got},
		"other version": {"msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", "v2" + strings.TrimPrefix(got, "v1")},
		"not a number":  {"msg_p5jXN8AQM9LWM0D4loKWxJek", "x", got},
	} {
		if err := Verify(secret, tc.id, tc.ts, tc.sig, body, ts, 5*time.Minute); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestNewSecret(t *testing.T) {
	t.Parallel()
	s, err := NewSecret()
	if err != nil || !strings.HasPrefix(s, "whsec_") {
		t.Fatal(s, err)
	}
	k, err := secretKey(s)
	if err != nil || len(k) != 32 {
		t.Fatal(len(k), err)
	}
	sig, _ := Sign(s, "id", time.Unix(5, 0), []byte("b"))
	m := hmac.New(sha256.New, k)
	m.Write([]byte("id.5.b"))
	if sig != "v1,"+base64.StdEncoding.EncodeToString(m.Sum(nil)) {
		t.Fatal("signature is not HMAC-SHA256 of id.timestamp.body")
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		n    int
		want time.Duration
	}{{0, time.Second}, {1, time.Second}, {2, 2 * time.Second}, {5, 16 * time.Second}, {20, time.Minute}, {5000, time.Minute}} {
		if got := Backoff(tc.n, time.Second, time.Minute, 0); got != tc.want {
			t.Errorf("n=%d: %v want %v", tc.n, got, tc.want)
		}
	}
	if got := Backoff(1, time.Second, time.Minute, 0.99); got <= time.Second || got > 1100*time.Millisecond {
		t.Errorf("jitter: %v", got)
	}
}

func TestValidateURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url      string
		dev, prd bool // accepted in dev mode, in production
	}{
		{"https://hooks.example.com/fabrika", true, true},
		{"http://hooks.example.com:8443/x?y=1", true, true},
		{"https://93.184.216.34/hook", true, true},
		{"https://[2606:2800:220:1:248:1893:25c8:1946]/hook", true, true},
		{"http://localhost:9000/hook", true, false},
		{"http://127.0.0.1:9000/hook", true, false},
		{"http://[::1]/hook", true, false},
		{"http://10.1.2.3/hook", true, false},
		{"http://172.16.0.1/hook", true, false},
		{"http://192.168.1.1/hook", true, false},
		{"http://169.254.169.254/latest/meta-data", true, false},
		{"http://[fe80::1]/hook", true, false},
		{"http://[::ffff:127.0.0.1]/hook", true, false},
		{"http://0.0.0.0/hook", true, false},
		{"http://100.64.0.1/hook", true, false},
		{"http://metadata.google.internal/", true, false},
		{"http://2130706433/", true, false},
		{"http://0x7f.1/", true, false},
		{"http://printer.local/", true, false},
		{"http://intranet/", true, false},
		{"ftp://example.com/x", false, false},
		{"javascript:alert(1)", false, false},
		{"file:///etc/passwd", false, false},
		{"//example.com/x", false, false},
		{"https://user:pw@example.com/", false, false},
		{"https://example.com/#frag", false, false},
		{"https://exa mple.com/", false, false},
		{"https://example.com:99999/", false, false},
		{"https://example.com:0/", false, false},
		{"https:///path", false, false},
		{"https://-bad-.com/", false, false},
		{"", false, false},
		{"https://example.com/" + strings.Repeat("a", MaxURLLength), false, false},
	} {
		u, err := ValidateURL(tc.url)
		if (err == nil) != tc.dev {
			t.Errorf("dev %q: %v", tc.url, err)
		}
		prd := err == nil && netguard.Guard{}.CheckHost(context.Background(), nil, u.Hostname()) == nil
		if prd != tc.prd {
			t.Errorf("production %q: accepted %v", tc.url, prd)
		}
	}
}

func FuzzValidateURL(f *testing.F) {
	for _, s := range []string{"https://hooks.example.com/x", "http://127.0.0.1:80/", "http://[::ffff:10.0.0.1]/",
		"http://0x7f.1/", "http://2130706433/", "https://[fe80::1%25eth0]/", "http://exa%00mple.com/", "http://a..b/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := ValidateURL(raw)
		if err != nil || (netguard.Guard{}).CheckHost(context.Background(), nil, u.Hostname()) != nil {
			return
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			t.Fatalf("accepted scheme %q", u.Scheme)
		}
		if u.User != nil {
			t.Fatal("accepted credentials")
		}
		if a, err := netip.ParseAddr(u.Hostname()); err == nil && !netguard.Public(a) {
			t.Fatalf("accepted non-public %s", a)
		}
		if h := u.Hostname(); h == "localhost" || !strings.Contains(h, ".") && !strings.Contains(h, ":") {
			t.Fatalf("accepted local name %q", h)
		}
		if _, err := netip.ParseAddr(u.Hostname()); err != nil {
			if a, ok := netguard.LegacyIPv4(u.Hostname()); ok {
				t.Fatalf("accepted the legacy IPv4 form of %s", a)
			}
		}
	})
}
