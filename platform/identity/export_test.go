package identity

import (
	"crypto/ed25519"
	"time"
)

// SetClock makes v read the time from now.
func (v *Verifier) SetClock(now func() time.Time) { v.now = now }

// Remembered is how many tokens and token ids v keeps.
func (v *Verifier) Remembered() int { return v.seen.Len() }

// NewSmallVerifier is NewVerifier remembering at most memory tokens.
func NewSmallVerifier(audience string, memory int, keys ...ed25519.PublicKey) *Verifier {
	return newVerifier(audience, NewKeyring(keys...), memory)
}
