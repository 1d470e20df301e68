// Package password is the one place Fabrika hashes and checks passwords
// (the shop's customers and the gateway's staff): argon2id with a per-user
// salt in the PHC string format, so that the cost can be raised later
// without invalidating stored hashes, cost parameters bounded both ways,
// and the policy a new password must meet (see Check).
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id's cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8  // lanes
}

// Default follows OWASP's recommendation for argon2id (19 MiB, 2 passes,
// 1 lane): about 30 ms on a small VM.
var Default = Params{Memory: 19 * 1024, Time: 2, Threads: 1}

// Bounds on the parameters, for hashes made and hashes read alike: a stored
// hash that asks for gigabytes of memory or thousands of passes would make
// each sign-in with it a denial of service, so it is refused as malformed.
const (
	MinMemory  = 8         // KiB, argon2's own floor for one lane
	MaxMemory  = 256 << 10 // KiB: 256 MiB
	MaxTime    = 10
	MaxThreads = 16
)

const (
	saltLen = 16
	keyLen  = 32
)

// ErrMalformed is a stored hash that cannot be read or whose parameters are
// out of bounds.
var ErrMalformed = errors.New("malformed password hash")

// Validate tells whether p is within the bounds.
func (p Params) Validate() error {
	switch {
	case p.Memory < MinMemory*uint32(max(p.Threads, 1)) || p.Memory > MaxMemory:
		return fmt.Errorf("argon2id memory %d KiB: must be %d to %d KiB (and 8 KiB per thread)", p.Memory, MinMemory, MaxMemory)
	case p.Time < 1 || p.Time > MaxTime:
		return fmt.Errorf("argon2id time %d: must be 1 to %d", p.Time, MaxTime)
	case p.Threads < 1 || p.Threads > MaxThreads:
		return fmt.Errorf("argon2id threads %d: must be 1 to %d", p.Threads, MaxThreads)
	}
	return nil
}

// Hash returns the PHC string of pw with a fresh random salt.
func Hash(pw string, p Params) (string, error) {
	if err := p.Validate(); err != nil {
		return "", err
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, keyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// Verify tells whether pw matches the stored hash, in constant time. A hash
// that cannot be read, or asks for parameters out of bounds, is
// ErrMalformed and no work is done.
func Verify(pw, encoded string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return false, ErrMalformed
	}
	if parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return false, ErrMalformed
	}
	var p Params
	var rest string
	if n, _ := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d%s", &p.Memory, &p.Time, &p.Threads, &rest); n != 3 {
		return false, ErrMalformed
	}
	if err := p.Validate(); err != nil {
		return false, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	enc := base64.RawStdEncoding
	salt, err := enc.DecodeString(parts[4])
	if err != nil || len(salt) < 8 || len(salt) > 64 {
		return false, ErrMalformed
	}
	want, err := enc.DecodeString(parts[5])
	if err != nil || len(want) < 16 || len(want) > 64 {
		return false, ErrMalformed
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
