package identity_test

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"

	"github.com/fabrika/fabrika/platform/identity"
)

func TestPrivateKeyFromEnv(t *testing.T) {
	t.Parallel()
	_, priv, _ := identity.GenerateKey()
	seed := base64.StdEncoding.EncodeToString(priv.Seed())
	file := filepath.Join(t.TempDir(), "identity.key")
	if err := os.WriteFile(file, []byte(seed+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		ok   bool
		none bool
	}{
		{"seed", map[string]string{"FABRIKA_IDENTITY_PRIVATE_KEY": seed}, true, false},
		{"private key", map[string]string{"FABRIKA_IDENTITY_PRIVATE_KEY": base64.StdEncoding.EncodeToString(priv)}, true, false},
		{"file", map[string]string{"FABRIKA_IDENTITY_PRIVATE_KEY_FILE": file}, true, false},
		{"none", nil, true, true},
		{"both", map[string]string{"FABRIKA_IDENTITY_PRIVATE_KEY": seed, "FABRIKA_IDENTITY_PRIVATE_KEY_FILE": file}, false, false},
		{"missing file", map[string]string{"FABRIKA_IDENTITY_PRIVATE_KEY_FILE": file + ".gone"}, false, false},
		{"short", map[string]string{"FABRIKA_IDENTITY_PRIVATE_KEY": "AAAA"}, false, false},
		{"not base64", map[string]string{"FABRIKA_IDENTITY_PRIVATE_KEY": "!!"}, false, false},
	} {
		k, err := identity.PrivateKeyFromEnv(func(s string) string { return tc.env[s] })
		switch {
		case tc.ok != (err == nil):
			t.Errorf("%s: %v, want ok=%v", tc.name, err, tc.ok)
		case tc.ok && tc.none && k != nil:
			t.Errorf("%s: a key from nothing", tc.name)
		case tc.ok && !tc.none && !k.Equal(priv):
			t.Errorf("%s: another key", tc.name)
		}
	}
}
