package identity_test

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/fabrika/fabrika/platform/identity"
)

func TestVerify(t *testing.T) {
	t.Parallel()
	pub, priv, _ := identity.GenerateKey()
	_, otherPriv, _ := identity.GenerateKey()
	s, v := identity.NewSigner(priv), identity.NewVerifier(pub)
	now := time.Now()
	good, _ := s.Sign(identity.Identity{Subject: "u1", Name: "ann", Role: identity.RoleManager}, now)
	expired, _ := s.Sign(identity.Identity{Subject: "u1", Name: "ann", Role: identity.RoleManager}, now.Add(-2*identity.TTL))
	forged, _ := identity.NewSigner(otherPriv).Sign(identity.Identity{Subject: "u1", Role: identity.RoleAdmin}, now)
	badRole, _ := s.Sign(identity.Identity{Subject: "u1", Role: "root"}, now)
	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{"valid", good, true},
		{"expired", expired, false},
		{"forged", forged, false},
		{"unknown role", badRole, false},
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
			if tt.ok && (id.Subject != "u1" || id.Role != identity.RoleManager) {
				t.Fatalf("identity %+v", id)
			}
		})
	}
}

func TestRequire(t *testing.T) {
	t.Parallel()
	pub, priv, _ := ed25519.GenerateKey(nil)
	s, v := identity.NewSigner(priv), identity.NewVerifier(pub)
	h := v.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := identity.FromContext(r.Context())
		w.Write([]byte(id.Name))
	}), identity.RoleManager, identity.RoleAdmin)
	tok := func(role string) string {
		t, _ := s.Sign(identity.Identity{Subject: "x", Name: "n", Role: role}, time.Now())
		return t
	}
	for _, tt := range []struct {
		token string
		want  int
	}{{"", 401}, {"nonsense", 401}, {tok(identity.RoleOperator), 403}, {tok(identity.RoleManager), 200}, {tok(identity.RoleAdmin), 200}} {
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

// TestVerifyRemembers: a verified token is answered from memory until it
// expires, never past its expiry, and a token that differs in one byte is
// checked in full.
func TestVerifyRemembers(t *testing.T) {
	t.Parallel()
	pub, priv, _ := identity.GenerateKey()
	s, v := identity.NewSigner(priv), identity.NewVerifier(pub)
	now := time.Now()
	v.SetClock(func() time.Time { return now })
	ann := identity.Identity{Subject: "u1", Name: "ann", Role: identity.RoleManager}
	tok, _ := s.Sign(ann, now)
	for range 3 {
		id, err := v.Verify(tok)
		if err != nil || id.Subject != ann.Subject || id.Role != ann.Role || id.Name != ann.Name {
			t.Fatalf("Verify = %+v, %v; want %+v", id, err, ann)
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
	s, v := identity.NewSigner(priv), identity.NewVerifier(pub)
	now := time.Now()
	for i := range identity.VerifiedMax + 10 {
		tok, _ := s.Sign(identity.Identity{Subject: fmt.Sprint("u", i), Role: identity.RoleOperator}, now)
		if _, err := v.Verify(tok); err != nil {
			t.Fatal(err)
		}
		if n := v.Remembered(); n > identity.VerifiedMax {
			t.Fatalf("remembers %d tokens, more than %d", n, identity.VerifiedMax)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	pub, priv, _ := identity.GenerateKey()
	s := identity.NewSigner(priv)
	tok, _ := s.Sign(identity.Identity{Subject: "u1", Name: "ann", Role: identity.RoleManager}, time.Now())
	b.Run("remembered", func(b *testing.B) {
		v := identity.NewVerifier(pub)
		for b.Loop() {
			if _, err := v.Verify(tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("first", func(b *testing.B) {
		for b.Loop() {
			if _, err := identity.NewVerifier(pub).Verify(tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}
