// Package bearer makes the random bearer tokens that stand for a session or
// an e-mailed link (the shop's customers, the gateway's staff) and the form
// they are stored in: only a token's SHA-256 is kept, so that a copy of the
// database signs no one in.
package bearer

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
)

// New returns 32 random bytes, URL-safe base64 without padding (43
// characters). crypto/rand.Read never fails (Go 1.24+): it crashes the
// program rather than return weak bytes.
func New() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Hash is how a token is stored and looked up: its SHA-256, in hex.
func Hash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
