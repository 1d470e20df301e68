// Package identity carries who sent a request, and from where, from the
// gateway to the services. For every request it forwards, the gateway signs
// a token (JWT, EdDSA/Ed25519) for the one service it goes to and sends it
// in the Fabrika-Identity header: a staff member's token names them and
// their role; every token carries the client's address as the gateway saw
// it. A service verifies the token with the gateway's public key, never
// trusting a plain header a client could set, and checks the role for every
// action.
//
// A token is good only at the service it was made for (its audience), for
// TTL, and a staff member's token only once at a service (its id, jti, is
// remembered until it expires): a token read off the internal network is
// worth little. The header names the signing key (kid), so that a verifier
// can hold two keys while the gateway's key is rotated (docs/security.md).
package identity

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	lru "github.com/hashicorp/golang-lru/v2"

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

// Identity is who sent a request: a signed-in staff member, or (Subject
// empty) a client who is not staff, known only by address.
type Identity struct {
	Subject      string   // staff account id; empty for a client who is not staff
	Name         string   // login name, shown in timelines and audit
	Role         string   // a staff role
	Workstations []string // an operator's workstations
	// ClientAddr is the client's IP address as the gateway determined it
	// (behind trusted proxies, the address they forwarded): what per-address
	// limits and audit use, never a header the client could set.
	ClientAddr string
	// TokenID is the token's id (jti), for logs and audit.
	TokenID string
}

// Staff tells whether the identity is a signed-in staff member.
func (id Identity) Staff() bool { return id.Subject != "" }

// CanUseWorkstation tells whether an operator is bound to the workstation;
// admins may use any.
func (id Identity) CanUseWorkstation(code string) bool {
	return id.Role == RoleAdmin || slices.Contains(id.Workstations, code)
}

type claims struct {
	Name         string   `json:"name,omitempty"`
	Role         string   `json:"role,omitempty"`
	Workstations []string `json:"ws,omitempty"`
	ClientAddr   string   `json:"cip,omitempty"`
	jwt.RegisteredClaims
}

const issuer = "fabrika-gateway"

// TTL is how long a token is valid: it is made for one request, and the
// margin covers the request's way to the service and clocks that differ
// by a few seconds.
const TTL = 30 * time.Second

// KeyID is the id of a public key as tokens name it (kid): 16 characters of
// its SHA-256, so that the gateway and the services agree on it without
// configuring it.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return base64.RawURLEncoding.EncodeToString(sum[:12])
}

// Signer makes tokens; only the gateway has one.
type Signer struct {
	key ed25519.PrivateKey
	kid string
}

// NewSigner returns a signer with the gateway's private key.
func NewSigner(key ed25519.PrivateKey) *Signer {
	return &Signer{key: key, kid: KeyID(key.Public().(ed25519.PublicKey))}
}

// KeyID is the id of the signer's key.
func (s *Signer) KeyID() string { return s.kid }

// Sign returns a token for id valid at the service audience for TTL from
// now, with a fresh random id.
func (s *Signer) Sign(audience string, id Identity, now time.Time) (string, error) {
	if audience == "" {
		return "", errors.New("sign identity: no audience")
	}
	c := claims{Name: id.Name, Role: id.Role, Workstations: id.Workstations, ClientAddr: id.ClientAddr, RegisteredClaims: jwt.RegisteredClaims{
		ID: rand.Text(), Subject: id.Subject, Audience: jwt.ClaimStrings{audience}, Issuer: issuer,
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now.Add(-5 * time.Second)), ExpiresAt: jwt.NewNumericDate(now.Add(TTL)),
	}}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	t.Header["kid"] = s.kid
	tok, err := t.SignedString(s.key)
	if err != nil {
		return "", fmt.Errorf("sign identity: %w", err)
	}
	return tok, nil
}

// Keyring holds the public keys a verifier accepts, by key id: each key
// under its KeyID, and also under the name an operator gave it.
type Keyring map[string]ed25519.PublicKey

// NewKeyring returns a keyring of the keys under their KeyID.
func NewKeyring(keys ...ed25519.PublicKey) Keyring {
	k := Keyring{}
	for _, pub := range keys {
		k.Add("", pub)
	}
	return k
}

// Add puts pub in the keyring under its KeyID and under name, if any.
func (k Keyring) Add(name string, pub ed25519.PublicKey) {
	k[KeyID(pub)] = pub
	if name != "" {
		k[name] = pub
	}
}

// ParseKeyring reads a comma-separated list of base64 (standard) Ed25519
// public keys, each optionally named: "2026a=BASE64,2026b=BASE64"
// (FABRIKA_IDENTITY_PUBLIC_KEYS).
func ParseKeyring(list string) (Keyring, error) {
	k := Keyring{}
	for entry := range strings.SplitSeq(list, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		name, b64 := "", entry
		if _, err := decodeKey(entry); err != nil { // not a bare key (whose padding is an "=" too)
			var ok bool
			if name, b64, ok = strings.Cut(entry, "="); !ok || name == "" {
				return nil, fmt.Errorf("identity key %q: want kid=BASE64 or BASE64", entry)
			}
		}
		pub, err := decodeKey(b64)
		if err != nil {
			return nil, fmt.Errorf("identity key %q: %w", name, err)
		}
		k.Add(name, pub)
	}
	if len(k) == 0 {
		return nil, errors.New("identity keys: none given")
	}
	return k, nil
}

func decodeKey(b64 string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, errors.New("must be a base64 Ed25519 public key (32 bytes)")
	}
	return ed25519.PublicKey(b), nil
}

// Verifier checks the tokens made for one service (its audience) with the
// gateway's public keys. It remembers, until they expire, the ids of the
// staff tokens it accepted (a second use is refused) and the tokens of
// clients who are not staff (which the gateway reuses for a client's
// requests, and which grant nothing: they are answered from memory rather
// than checked again). The memory is a bounded LRU.
type Verifier struct {
	audience string
	keys     Keyring
	now      func() time.Time
	seen     *lru.Cache[string, verified]
}

type verified struct {
	id  Identity
	exp time.Time
}

// verifiedMax bounds what a Verifier remembers (a few hundred bytes an
// entry): at 100 staff requests a second, five TTLs.
const verifiedMax = 16384

// NewVerifier returns the verifier of the service audience (its name: shop,
// crm, mes-operator, mes-api, mes-calc) with the gateway's public keys.
func NewVerifier(audience string, keys ...ed25519.PublicKey) *Verifier {
	return NewKeyringVerifier(audience, NewKeyring(keys...))
}

// NewKeyringVerifier is NewVerifier with a keyring (during a rotation, the
// old key and the new).
func NewKeyringVerifier(audience string, keys Keyring) *Verifier {
	return newVerifier(audience, keys, verifiedMax)
}

func newVerifier(audience string, keys Keyring, memory int) *Verifier {
	seen, err := lru.New[string, verified](memory)
	if err != nil {
		panic(err) // only for a size <= 0
	}
	return &Verifier{audience: audience, keys: keys, now: time.Now, seen: seen}
}

// Audience is the service the verifier accepts tokens for.
func (v *Verifier) Audience() string { return v.audience }

// Errors of Verify, both ErrInvalidToken.
var (
	// ErrInvalidToken is a missing, forged, expired or malformed token, or
	// one made for another service.
	ErrInvalidToken = errors.New("invalid identity token")
	// ErrReplayed is a staff token used a second time.
	ErrReplayed = fmt.Errorf("%w: already used", ErrInvalidToken)
)

// Verify checks a token and returns the identity in it.
func (v *Verifier) Verify(token string) (Identity, error) {
	now := v.now()
	if got, ok := v.seen.Get("t:" + token); ok {
		if now.Before(got.exp) {
			return got.id, nil
		}
		v.seen.Remove("t:" + token)
	}
	id, exp, err := v.verify(token, now)
	if err != nil {
		return Identity{}, err
	}
	if !id.Staff() {
		v.seen.Add("t:"+token, verified{id: id, exp: exp})
		return id, nil
	}
	// A staff token is good once. Keyed by its id, not its bytes: base64's
	// spare bits let a copy differ in bytes and still verify.
	if _, found, _ := v.seen.PeekOrAdd("j:"+id.TokenID, verified{exp: exp}); found {
		return Identity{}, ErrReplayed
	}
	return id, nil
}

func (v *Verifier) verify(token string, now time.Time) (Identity, time.Time, error) {
	if v.audience == "" {
		return Identity{}, time.Time{}, fmt.Errorf("%w: the verifier has no audience", ErrInvalidToken)
	}
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if key, ok := v.keys[kid]; ok && kid != "" {
			return key, nil
		}
		return nil, fmt.Errorf("unknown key id %q", kid)
	}, jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}), jwt.WithAudience(v.audience), jwt.WithExpirationRequired(),
		jwt.WithIssuer(issuer), jwt.WithTimeFunc(func() time.Time { return now }))
	if err != nil {
		return Identity{}, time.Time{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	switch {
	case len(c.Audience) != 1:
		return Identity{}, time.Time{}, fmt.Errorf("%w: %d audiences", ErrInvalidToken, len(c.Audience))
	case c.ID == "":
		return Identity{}, time.Time{}, fmt.Errorf("%w: no token id", ErrInvalidToken)
	case c.ExpiresAt.Sub(now) > TTL+time.Minute:
		return Identity{}, time.Time{}, fmt.Errorf("%w: valid for longer than tokens are made", ErrInvalidToken)
	case c.Subject == "" && (c.Role != "" || c.Name != "" || len(c.Workstations) > 0):
		return Identity{}, time.Time{}, fmt.Errorf("%w: a role without a subject", ErrInvalidToken)
	case c.Subject != "" && c.Role != RoleAdmin && c.Role != RoleManager && c.Role != RoleOperator:
		return Identity{}, time.Time{}, fmt.Errorf("%w: unknown role %q", ErrInvalidToken, c.Role)
	}
	return Identity{Subject: c.Subject, Name: c.Name, Role: c.Role, Workstations: c.Workstations,
		ClientAddr: c.ClientAddr, TokenID: c.ID}, c.ExpiresAt.Time, nil
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

// Identify returns the identity of a request: the one Require verified, or
// else the request's token verified now. Per-address limits take the
// client's address from it (Identity.ClientAddr).
func (v *Verifier) Identify(r *http.Request) (Identity, error) {
	if id, ok := FromContext(r.Context()); ok {
		return id, nil
	}
	return v.Verify(r.Header.Get(Header))
}

// ClientAddr is the client's address for per-address limits: the one the
// gateway signed into the request's identity token, else (a service reached
// directly, as in its own tests, or v nil) the socket peer. Never a header
// the client could set.
func (v *Verifier) ClientAddr(r *http.Request) string {
	if v != nil {
		if id, err := v.Identify(r); err == nil && id.ClientAddr != "" {
			return id.ClientAddr
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Require verifies the request's token and lets it through only for staff
// with one of the given roles: 401 without a valid staff token, 403 with
// another role.
func (v *Verifier) Require(next http.Handler, roles ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := r.Header.Get(Header)
		if tok == "" {
			httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusUnauthorized, "sign in as staff through the gateway"))
			return
		}
		id, err := v.Verify(tok)
		if err != nil || !id.Staff() {
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
// keys).
func GenerateKey() (ed25519.PublicKey, ed25519.PrivateKey, error) {
	return ed25519.GenerateKey(nil)
}
