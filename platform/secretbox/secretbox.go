// Package secretbox encrypts small secrets at rest (webhook signing secrets,
// TOTP seeds) with a key from configuration (FABRIKA_SECRET_KEY: base64 of 32
// random bytes): AES-256-GCM with a random nonce, the ciphertext bound to
// what it belongs to (associated data such as the row's id, so a sealed
// value copied to another row does not open). A sealed value is text:
// "sealed:v1:<key id>:<base64 nonce|ciphertext>", the key id being the first
// 4 bytes of the key's SHA-256, so a value sealed under another key is told
// apart from a damaged one.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the size of a key in bytes.
const KeySize = 32

const prefix = "sealed:v1:"

// Errors of Open.
var (
	ErrOtherKey = errors.New("secretbox: sealed with another key")
	ErrDamaged  = errors.New("secretbox: sealed value is damaged or belongs elsewhere")
)

// Box seals and opens values under one key.
type Box struct {
	aead cipher.AEAD
	kid  string
}

// New returns a Box for a 32-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secretbox: the key must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	sum := sha256.Sum256(key)
	return &Box{aead: aead, kid: hex.EncodeToString(sum[:4])}, nil
}

// ParseKey decodes a key as FABRIKA_SECRET_KEY holds it (standard base64).
func ParseKey(s string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(k) != KeySize {
		return nil, fmt.Errorf("secretbox: the key must be the standard base64 of %d bytes (e.g. openssl rand -base64 32)", KeySize)
	}
	return k, nil
}

// GenerateKey returns a new random key.
func GenerateKey() ([]byte, error) {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	return k, nil
}

// LoadOrCreateKeyFile reads a base64 key from path, or writes a new one there
// (mode 0600) when the file does not exist: for development, where nobody
// configures a key. Production sets FABRIKA_SECRET_KEY.
func LoadOrCreateKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return ParseKey(string(b))
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("secretbox: read key: %w", err)
	}
	k, err := GenerateKey()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) { // another process made it first
			return LoadOrCreateKeyFile(path)
		}
		return nil, fmt.Errorf("secretbox: write key: %w", err)
	}
	_, werr := f.WriteString(base64.StdEncoding.EncodeToString(k) + "\n")
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return nil, fmt.Errorf("secretbox: write key: %w", werr)
	}
	return k, nil
}

// Seal encrypts plaintext bound to ad (e.g. the id of the row that holds it).
func (b *Box) Seal(plaintext, ad []byte) (string, error) {
	nonce := make([]byte, b.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("secretbox: %w", err)
	}
	out := b.aead.Seal(nonce, nonce, plaintext, ad)
	return prefix + b.kid + ":" + base64.RawStdEncoding.EncodeToString(out), nil
}

// Open decrypts a value made by Seal with the same ad.
func (b *Box) Open(sealed string, ad []byte) ([]byte, error) {
	rest, ok := strings.CutPrefix(sealed, prefix)
	if !ok {
		return nil, ErrDamaged
	}
	kid, data, ok := strings.Cut(rest, ":")
	if !ok {
		return nil, ErrDamaged
	}
	if kid != b.kid {
		return nil, fmt.Errorf("%w (key id %s, this key is %s)", ErrOtherKey, kid, b.kid)
	}
	raw, err := base64.RawStdEncoding.DecodeString(data)
	if err != nil || len(raw) < b.aead.NonceSize()+b.aead.Overhead() {
		return nil, ErrDamaged
	}
	n := b.aead.NonceSize()
	pt, err := b.aead.Open(nil, raw[:n], raw[n:], ad)
	if err != nil {
		return nil, ErrDamaged
	}
	return pt, nil
}

// IsSealed tells whether a stored value is sealed (rather than a plain value
// from before encryption at rest).
func IsSealed(s string) bool { return strings.HasPrefix(s, prefix) }
