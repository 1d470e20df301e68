// Package identity carries a signed-in staff member from the gateway to the
// services. The gateway signs a short-lived token (JWT, EdDSA/Ed25519) and
// sends it in the Fabrika-Identity header; a service verifies it with the
// gateway's public key, never trusting a plain header a client could set,
// and checks the role for every action.
package identity

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/fabrika/fabrika/platform/httpx"
)

// Header carries the signed token from the gateway to a service.
const Header = "Fabrika-Identity"

// Roles of staff.
const (
	RoleAdmin    = "admin"
	RoleManager  = "manager"
	RoleOperator = "operator"
)

// Identity is a signed-in staff member.
type Identity struct {
	Subject      string   `json:"sub"`  // staff account id
	Name         string   `json:"name"` // login name, shown in timelines and audit
	Role         string   `json:"role"`
	Workstations []string `json:"ws,omitempty"` // an operator's workstations
}

// CanUseWorkstation tells whether an operator is bound to the workstation;
// admins may use any.
func (id Identity) CanUseWorkstation(code string) bool {
	return id.Role == RoleAdmin || slices.Contains(id.Workstations, code)
}

type claims struct {
	Name         string   `json:"name"`
	Role         string   `json:"role"`
	Workstations []string `json:"ws,omitempty"`
	jwt.RegisteredClaims
}

const audience = "fabrika-internal"

// TTL is how long a token is valid: one request's worth.
const TTL = time.Minute

// Signer makes tokens; only the gateway has one.
type Signer struct{ key ed25519.PrivateKey }

// NewSigner returns a signer with the gateway's private key.
func NewSigner(key ed25519.PrivateKey) *Signer { return &Signer{key: key} }

// Sign returns a token for id valid for TTL from now.
func (s *Signer) Sign(id Identity, now time.Time) (string, error) {
	c := claims{Name: id.Name, Role: id.Role, Workstations: id.Workstations, RegisteredClaims: jwt.RegisteredClaims{
		Subject: id.Subject, Audience: jwt.ClaimStrings{audience}, Issuer: "fabrika-gateway",
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now.Add(-5 * time.Second)), ExpiresAt: jwt.NewNumericDate(now.Add(TTL)),
	}}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c).SignedString(s.key)
	if err != nil {
		return "", fmt.Errorf("sign identity: %w", err)
	}
	return tok, nil
}

// Verifier checks tokens with the gateway's public key. It remembers the
// tokens it verified until they expire: the gateway reuses a session's
// token for many requests, and an Ed25519 check costs more than the rest
// of a typical read. The memory is keyed by the token's exact bytes, so a
// token that differs in any byte is checked in full.
type Verifier struct {
	key ed25519.PublicKey
	now func() time.Time

	mu   sync.RWMutex
	seen map[string]verified
}

type verified struct {
	id  Identity
	exp time.Time
}

// verifiedMax bounds the tokens a Verifier remembers (a few hundred bytes
// each): beyond it the expired ones are dropped, then all.
const verifiedMax = 4096

// NewVerifier returns a verifier with the gateway's public key.
func NewVerifier(key ed25519.PublicKey) *Verifier {
	return &Verifier{key: key, now: time.Now, seen: map[string]verified{}}
}

// ErrInvalidToken is returned for a missing, forged, expired or malformed token.
var ErrInvalidToken = errors.New("invalid identity token")

// Verify checks a token and returns the identity in it.
func (v *Verifier) Verify(token string) (Identity, error) {
	now := v.now()
	v.mu.RLock()
	got, ok := v.seen[token]
	v.mu.RUnlock()
	if ok && now.Before(got.exp) {
		return got.id, nil
	}
	id, exp, err := v.verify(token, now)
	if err != nil {
		return Identity{}, err
	}
	v.remember(token, verified{id: id, exp: exp}, now)
	return id, nil
}

func (v *Verifier) verify(token string, now time.Time) (Identity, time.Time, error) {
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) { return v.key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}), jwt.WithAudience(audience), jwt.WithExpirationRequired(),
		jwt.WithIssuer("fabrika-gateway"), jwt.WithTimeFunc(func() time.Time { return now }))
	if err != nil {
		return Identity{}, time.Time{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	switch c.Role {
	case RoleAdmin, RoleManager, RoleOperator:
	default:
		return Identity{}, time.Time{}, fmt.Errorf("%w: unknown role %q", ErrInvalidToken, c.Role)
	}
	if c.Subject == "" {
		return Identity{}, time.Time{}, fmt.Errorf("%w: no subject", ErrInvalidToken)
	}
	return Identity{Subject: c.Subject, Name: c.Name, Role: c.Role, Workstations: c.Workstations}, c.ExpiresAt.Time, nil
}

func (v *Verifier) remember(token string, entry verified, now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.seen) >= verifiedMax {
		for t, e := range v.seen {
			if !now.Before(e.exp) {
				delete(v.seen, t)
			}
		}
		if len(v.seen) >= verifiedMax {
			clear(v.seen)
		}
	}
	v.seen[token] = entry
}

type ctxKey struct{}

// WithIdentity returns ctx carrying id.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the identity a request was verified with.
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(ctxKey{}).(Identity)
	return id, ok
}

// Require verifies the request's token and lets it through only for the
// given roles: 401 without a valid token, 403 with another role.
func (v *Verifier) Require(next http.Handler, roles ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := r.Header.Get(Header)
		if tok == "" {
			httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusUnauthorized, "sign in as staff through the gateway"))
			return
		}
		id, err := v.Verify(tok)
		if err != nil {
			httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusUnauthorized, "the identity token is not valid"))
			return
		}
		if !slices.Contains(roles, id.Role) {
			httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusForbidden, fmt.Sprintf("role %s may not do this", id.Role)))
			return
		}
		next.ServeHTTP(w, r.WithContext(WithIdentity(r.Context(), id)))
	})
}

// GenerateKey returns a new Ed25519 key pair (fabrika dev makes one per run;
// production configures the gateway's private key and the services' public
// key).
func GenerateKey() (ed25519.PublicKey, ed25519.PrivateKey, error) {
	return ed25519.GenerateKey(nil)
}
