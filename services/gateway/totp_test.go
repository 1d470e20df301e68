package gateway_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/platform/secretbox"
	"github.com/fabrika/fabrika/services/gateway"
)

// TestAdminTOTP (issue 15.12): an admin without a second factor is sent to
// enrol before anything else; enrolment shows the key once and takes a
// code from it; the seed is stored sealed; from then on sign-in needs the
// current code. Before, staff signed in with a password alone.
func TestAdminTOTP(t *testing.T) {
	t.Parallel()
	key, _ := secretbox.GenerateKey()
	box, _ := secretbox.New(key)
	e := newEnv(t, func(c *gateway.Config) { c.Secrets, c.AllowAdminWithoutTOTP = box, false })
	const pw = "a long enough password"
	if err := gateway.CreateStaff(context.Background(), e.db, "ada", pw, identity.RoleAdmin, nil); err != nil {
		t.Fatal(err)
	}
	c := e.client()
	if res := c.signIn("ada", pw, ""); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in: %d", res.StatusCode)
	}
	for _, path := range []string{"/staff/", "/staff/admin/staff", "/crm/orders"} {
		res := c.do("GET", path, nil, http.Header{"Accept": {"text/html"}})
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/staff/totp" {
			t.Errorf("%s before enrolment: %d %q, want a redirect to /staff/totp", path, res.StatusCode, res.Header.Get("Location"))
		}
	}
	if res := c.do("GET", "/crm/orders", nil, http.Header{"Accept": {"application/json"}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("API call before enrolment: %d, want 403", res.StatusCode)
	}
	page := c.do("GET", "/staff/totp", nil, nil)
	secret := regexp.MustCompile(`<code>([A-Z2-7]{16,})</code>`).FindStringSubmatch(string(page.body))
	csrf := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(string(page.body))
	if page.StatusCode != http.StatusOK || secret == nil || csrf == nil {
		t.Fatalf("enrolment page: %d %s", page.StatusCode, page.body)
	}
	if res := c.form("/staff/totp", url.Values{"csrf_token": {csrf[1]}, "secret": {secret[1]}, "code": {"000000"}}); res.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("a wrong code enrolled: %d", res.StatusCode)
	}
	code, _ := totp.GenerateCode(secret[1], e.clock.Now())
	if res := c.form("/staff/totp", url.Values{"csrf_token": {csrf[1]}, "secret": {secret[1]}, "code": {code}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("enrol: %d %s", res.StatusCode, res.body)
	}
	if res := c.do("GET", "/crm/orders", nil, http.Header{"Accept": {"application/json"}}); res.StatusCode != http.StatusOK {
		t.Errorf("after enrolment: %d", res.StatusCode)
	}
	var stored string
	if err := e.db.QueryRowContext(context.Background(), `SELECT totp_secret FROM staff_accounts WHERE login = 'ada'`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if !secretbox.IsSealed(stored) || strings.Contains(stored, secret[1]) {
		t.Errorf("the seed is stored as %q", stored)
	}
	signIn := func(code string) int {
		n := e.client()
		n.do("GET", "/staff/login", nil, nil)
		return n.form("/staff/login", url.Values{"login": {"ada"}, "password": {pw}, "code": {code},
			"csrf_token": {n.cookies[gateway.LoginCookie]}}).StatusCode
	}
	if s := signIn(""); s != http.StatusUnauthorized {
		t.Errorf("sign-in without the code: %d, want 401", s)
	}
	if s := signIn("000000"); s != http.StatusUnauthorized {
		t.Errorf("sign-in with a wrong code: %d, want 401", s)
	}
	code, _ = totp.GenerateCode(secret[1], e.clock.Now())
	if s := signIn(code); s != http.StatusSeeOther {
		t.Errorf("sign-in with the code: %d, want 303", s)
	}
	// A code is good once: replayed within its window it opens nothing, and
	// neither does the previous window's (accepted for a skewed clock).
	if s := signIn(code); s != http.StatusUnauthorized {
		t.Errorf("the same code again: %d, want 401", s)
	}
	earlier, _ := totp.GenerateCode(secret[1], e.clock.Now().Add(-30*time.Second))
	if s := signIn(earlier); s != http.StatusUnauthorized {
		t.Errorf("the previous window's code after a newer one: %d, want 401", s)
	}
	e.clock.Advance(30 * time.Second)
	next, _ := totp.GenerateCode(secret[1], e.clock.Now())
	if s := signIn(next); s != http.StatusSeeOther {
		t.Errorf("the next window's code: %d, want 303", s)
	}
}
