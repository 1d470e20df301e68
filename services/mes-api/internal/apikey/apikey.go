// Package apikey makes and recognises the API keys of B2B clients: a key is
// shown once, only its SHA-256 is stored, and its prefix ("fk_live_ab12cd34")
// is what people see in lists and logs.
package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// Start begins every key.
const Start = "fk_live_"

// Scopes a key may hold.
const (
	ScopeOrdersRead     = "orders:read"
	ScopeOrdersWrite    = "orders:write"
	ScopeWebhooksManage = "webhooks:manage"
)

// AllScopes lists every scope.
func AllScopes() []string { return []string{ScopeOrdersRead, ScopeOrdersWrite, ScopeWebhooksManage} }

// Key is a freshly made key. Plain is shown once and never stored.
type Key struct {
	Plain  string
	Prefix string
	Hash   string
}

// Generate makes a key with 256 bits of secret.
func Generate() (Key, error) {
	var id [4]byte
	var secret [32]byte
	if _, err := rand.Read(id[:]); err != nil {
		return Key{}, fmt.Errorf("generate key: %w", err)
	}
	if _, err := rand.Read(secret[:]); err != nil {
		return Key{}, fmt.Errorf("generate key: %w", err)
	}
	prefix := Start + hex.EncodeToString(id[:])
	plain := prefix + "_" + base64.RawURLEncoding.EncodeToString(secret[:])
	return Key{Plain: plain, Prefix: prefix, Hash: Hash(plain)}, nil
}

// Hash is the stored form of a key. A plain SHA-256 is enough: the key has
// 256 bits of entropy, so no dictionary can reach it.
func Hash(plain string) string {
	s := sha256.Sum256([]byte(plain))
	return hex.EncodeToString(s[:])
}

// Plausible tells whether s has the shape of a key, to refuse junk before
// any database look-up.
func Plausible(s string) bool {
	if !strings.HasPrefix(s, Start) || len(s) < len(Start)+10 || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// NormalizeScopes checks scopes and returns them sorted without duplicates.
func NormalizeScopes(scopes []string) ([]string, error) {
	if len(scopes) == 0 {
		return nil, fmt.Errorf("at least one scope is required (%s)", strings.Join(AllScopes(), ", "))
	}
	var out []string
	for _, s := range scopes {
		if !slices.Contains(AllScopes(), s) {
			return nil, fmt.Errorf("unknown scope %q (known: %s)", s, strings.Join(AllScopes(), ", "))
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out, nil
}
