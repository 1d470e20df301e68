package identity_test

import (
	"crypto/ed25519"
	"errors"
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
