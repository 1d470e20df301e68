package identity_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/fabrika/fabrika/platform/identity"
)

const aud = "crm"

func TestVerify(t *testing.T) {
	t.Parallel()
	pub, priv, _ := identity.GenerateKey()
	_, otherPriv, _ := identity.GenerateKey()
	s, v := identity.NewSigner(priv), identity.NewVerifier(aud, pub)
	now := time.Now()
	ann := identity.Identity{Subject: "u1", Name: "ann", Role: identity.RoleManager, ClientAddr: "203.0.113.7"}
	sign := func(audience string, id identity.Identity, at time.Time) string {
		tok, err := s.Sign(audience, id, at)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	forged, _ := identity.NewSigner(otherPriv).Sign(aud, ann, now)
	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{"valid", sign(aud, ann, now), true},
		{"expired", sign(aud, ann, now.Add(-2*identity.TTL)), false},
		{"forged", forged, false},
		{"unknown role", sign(aud, identity.Identity{Subject: "u1", Role: "root"}, now), false},
		{"a role without a subject", sign(aud, identity.Identity{Role: identity.RoleAdmin}, now), false},
		// Issue 15.3: a token made for one service is refused by another.
		{"another service's token", sign("mes-api", ann, now), false},
		{"garbage", "abc.def.ghi", false},
		{"empty", "", false},
		{"alg none", "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ1MSIsInJvbGUiOiJhZG1pbiJ9.", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := v.Verify(tt.token)
			if tt.ok != (err == nil) {
				t.Fatalf("ok=%v err=%v", tt.ok, err)
			}
			if err != nil && !errors.Is(err, identity.ErrInvalidToken) {
				t.Fatalf("error %v is not ErrInvalidToken", err)
			}
			if tt.ok && (id.Subject != "u1" || id.Role != identity.RoleManager || id.ClientAddr != "203.0.113.7" || id.TokenID == "") {
				t.Fatalf("identity %+v", id)
			}
		})
	}
}

// TestTokenClaims: a token names its key (kid), its one audience, an id of
// its own and a short lifetime (issue 15.3: before, one audience for every
// service, no id, a minute).
func TestTokenClaims(t *testing.T) {
	t.Parallel()
	pub, priv, _ := identity.GenerateKey()
	s := identity.NewSigner(priv)
	now := time.Now()
	ids := map[string]bool{}
	for range 3 {
		tok, err := s.Sign(aud, identity.Identity{Subject: "u1", Role: identity.RoleAdmin}, now)
		if err != nil {
			t.Fatal(err)
		}
		var c jwt.RegisteredClaims
		parsed, _, err := jwt.NewParser().ParseUnverified(tok, &c)
		if err != nil {
			t.Fatal(err)
		}
		if kid := parsed.Header["kid"]; kid != identity.KeyID(pub) || kid != s.KeyID() {
			t.Errorf("kid %v, want %s", kid, identity.KeyID(pub))
		}
		if len(c.Audience) != 1 || c.Audience[0] != aud {
			t.Errorf("audience %v, want [%s]", c.Audience, aud)
		}
		if life := c.ExpiresAt.Sub(now); life > 30*time.Second {
			t.Errorf("lifetime %s, want at most 30s", life)
		}
		if c.ID == "" || ids[c.ID] {
			t.Errorf("token id %q empty or repeated", c.ID)
		}
		ids[c.ID] = true
	}
	if _, err := s.Sign("", identity.Identity{Subject: "u1", Role: identity.RoleAdmin}, now); err == nil {
		t.Error("a token without an audience was signed")
	}
}

// TestStaffTokenReplay: a staff token is good once at a service; a token
// of a client who is not staff (the gateway reuses it) is good until it
// expires.
func TestStaffTokenReplay(t *testing.T) {
	t.Parallel()
	pub, priv, _ := identity.GenerateKey()
	s, v := identity.NewSigner(priv), identity.NewVerifier(aud, pub)
	now := time.Now()
	staffTok, _ := s.Sign(aud, identity.Identity{Subject: "u1", Name: "ann", Role: identity.RoleAdmin}, now)
	if _, err := v.Verify(staffTok); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(staffTok); !errors.Is(err, identity.ErrReplayed) {
		t.Fatalf("staff token used twice: %v, want ErrReplayed", err)
	}
	anon, _ := s.Sign(aud, identity.Identity{ClientAddr: "198.51.100.4"}, now)
	for range 3 {
		id, err := v.Verify(anon)
		if err != nil || id.Staff() || id.ClientAddr != "198.51.100.4" {
			t.Fatalf("anonymous token: %+v, %v", id, err)
		}
	}
}

// TestKeyRotation: during a rotation a verifier holds the old key and the
// new one and accepts tokens of both; after it, only the new.
func TestKeyRotation(t *testing.T) {
	t.Parallel()
	oldPub, oldPriv, _ := identity.GenerateKey()
	newPub, newPriv, _ := identity.GenerateKey()
	b64 := base64.StdEncoding.EncodeToString
	during, err := identity.ParseKeyring("2026a=" + b64(oldPub) + ", 2026b=" + b64(newPub))
	if err != nil {
		t.Fatal(err)
	}
	after, err := identity.ParseKeyring(b64(newPub)) // a bare key, as FABRIKA_IDENTITY_PUBLIC_KEY has it
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	id := identity.Identity{ClientAddr: "192.0.2.1"}
	oldTok, _ := identity.NewSigner(oldPriv).Sign(aud, id, now)
	newTok, _ := identity.NewSigner(newPriv).Sign(aud, id, now)
	for _, tc := range []struct {
		name  string
		keys  identity.Keyring
		token string
		ok    bool
	}{
		{"old key during", during, oldTok, true},
		{"new key during", during, newTok, true},
		{"old key after", after, oldTok, false},
		{"new key after", after, newTok, true},
	} {
		_, err := identity.NewKeyringVerifier(aud, tc.keys).Verify(tc.token)
		if tc.ok != (err == nil) {
			t.Errorf("%s: %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
	for _, bad := range []string{"", "kid=", "=" + b64(newPub), "kid=bm90IGEga2V5", "not-base64!"} {
		if _, err := identity.ParseKeyring(bad); err == nil {
			t.Errorf("ParseKeyring(%q) accepted", bad)
		}
	}
}

func TestRequire(t *testing.T) {
	t.Parallel()
	pub, priv, _ := ed25519.GenerateKey(nil)
	s, v := identity.NewSigner(priv), identity.NewVerifier(aud, pub)
	h := v.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := identity.FromContext(r.Context())
		again, err := v.Identify(r) // from the context: not a replay
		if err != nil || again.TokenID != id.TokenID {
			t.Errorf("Identify inside Require: %+v, %v", again, err)
		}
		w.Write([]byte(id.Name))
	}), identity.RoleManager, identity.RoleAdmin)
	tok := func(role string) string {
		id := identity.Identity{Subject: "x", Name: "n", Role: role}
		if role == "" {
			id = identity.Identity{ClientAddr: "192.0.2.9"}
		}
		t, _ := s.Sign(aud, id, time.Now())
		return t
	}
	for _, tt := range []struct {
		token string
		want  int
	}{{"", 401}, {"nonsense", 401}, {tok(""), 401}, {tok(identity.RoleOperator), 403}, {tok(identity.RoleManager), 200}, {tok(identity.RoleAdmin), 200}} {
		r := httptest.NewRequest("GET", "/", nil)
		if tt.token != "" {
			r.Header.Set(identity.Header, tt.token)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tt.want {
			t.Errorf("token %.10q: got %d want %d", tt.token, w.Code, tt.want)
		}
	}
}

// TestVerifyRemembers: a client's token is answered from memory until it
// expires, never past its expiry, and a token that differs in one byte is
// checked in full.
func TestVerifyRemembers(t *testing.T) {
	t.Parallel()
	pub, priv, _ := identity.GenerateKey()
	s, v := identity.NewSigner(priv), identity.NewVerifier(aud, pub)
	now := time.Now()
	v.SetClock(func() time.Time { return now })
	client := identity.Identity{ClientAddr: "192.0.2.33"}
	tok, _ := s.Sign(aud, client, now)
	for range 3 {
		id, err := v.Verify(tok)
		if err != nil || id.ClientAddr != client.ClientAddr {
			t.Fatalf("Verify = %+v, %v; want %+v", id, err, client)
		}
	}
	if n := v.Remembered(); n != 1 {
		t.Fatalf("remembers %d tokens, want 1", n)
	}
	// A character inside the signature changed (not the last one, whose
	// low bits base64 ignores): a forgery, never the memory.
	i := len(tok) - 10
	other := byte('A')
	if tok[i] == 'A' {
		other = 'B'
	}
	if _, err := v.Verify(tok[:i] + string(other) + tok[i+1:]); !errors.Is(err, identity.ErrInvalidToken) {
		t.Fatalf("altered token: %v, want ErrInvalidToken", err)
	}
	now = now.Add(identity.TTL + time.Second)
	if _, err := v.Verify(tok); !errors.Is(err, identity.ErrInvalidToken) {
		t.Fatalf("remembered token past its expiry: %v, want ErrInvalidToken", err)
	}
}

func TestVerifyMemoryIsBounded(t *testing.T) {
	t.Parallel()
	pub, priv, _ := identity.GenerateKey()
	const memory = 64
	s, v := identity.NewSigner(priv), identity.NewSmallVerifier(aud, memory, pub)
	now := time.Now()
	for i := range memory + 10 {
		tok, _ := s.Sign(aud, identity.Identity{ClientAddr: fmt.Sprint("10.0.", i/256, ".", i%256)}, now)
		if _, err := v.Verify(tok); err != nil {
			t.Fatal(err)
		}
		if n := v.Remembered(); n > memory {
			t.Fatalf("remembers %d tokens, more than %d", n, memory)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	pub, priv, _ := identity.GenerateKey()
	s := identity.NewSigner(priv)
	tok, _ := s.Sign(aud, identity.Identity{ClientAddr: "192.0.2.1"}, time.Now())
	b.Run("remembered", func(b *testing.B) {
		v := identity.NewVerifier(aud, pub)
		for b.Loop() {
			if _, err := v.Verify(tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("first", func(b *testing.B) {
		for b.Loop() {
			if _, err := identity.NewVerifier(aud, pub).Verify(tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkSign(b *testing.B) {
	_, priv, _ := identity.GenerateKey()
	s := identity.NewSigner(priv)
	for b.Loop() {
		if _, err := s.Sign(aud, identity.Identity{Subject: "u1", Name: "ann", Role: identity.RoleManager}, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}
