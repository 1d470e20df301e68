package identity

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
)

// PrivateKeyFromEnv reads the gateway's private key from
// FABRIKA_IDENTITY_PRIVATE_KEY or from the file FABRIKA_IDENTITY_PRIVATE_KEY_FILE
// names (a mounted secret): base64 (standard) of an Ed25519 seed (32 bytes)
// or private key (64). Never from a flag, which any user of the machine
// sees in ps. Nil without either setting.
func PrivateKeyFromEnv(getenv func(string) string) (ed25519.PrivateKey, error) {
	s, name := getenv("FABRIKA_IDENTITY_PRIVATE_KEY"), "FABRIKA_IDENTITY_PRIVATE_KEY"
	if path := getenv("FABRIKA_IDENTITY_PRIVATE_KEY_FILE"); path != "" {
		if s != "" {
			return nil, errors.New("FABRIKA_IDENTITY_PRIVATE_KEY and FABRIKA_IDENTITY_PRIVATE_KEY_FILE are both set; keep one")
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("FABRIKA_IDENTITY_PRIVATE_KEY_FILE: %w", err)
		}
		s, name = string(b), "FABRIKA_IDENTITY_PRIVATE_KEY_FILE"
	}
	if s == "" {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	switch {
	case err == nil && len(b) == ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(b), nil
	case err == nil && len(b) == ed25519.PrivateKeySize:
		return ed25519.PrivateKey(b), nil
	}
	return nil, fmt.Errorf("%s must be a base64 Ed25519 seed (32 bytes) or private key (64 bytes)", name)
}
