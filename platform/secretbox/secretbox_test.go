package secretbox_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fabrika/fabrika/platform/secretbox"
)

func box(t *testing.T) *secretbox.Box {
	t.Helper()
	k, err := secretbox.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	b, err := secretbox.New(k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSealOpen(t *testing.T) {
	t.Parallel()
	b := box(t)
	secret := []byte("whsec_c2VjcmV0")
	s1, err := b.Seal(secret, []byte("endpoint-1"))
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := b.Seal(secret, []byte("endpoint-1"))
	if s1 == s2 || strings.Contains(s1, "c2VjcmV0") || !secretbox.IsSealed(s1) || secretbox.IsSealed(string(secret)) {
		t.Fatalf("sealed %q %q", s1, s2)
	}
	got, err := b.Open(s1, []byte("endpoint-1"))
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("open: %q %v", got, err)
	}
	if _, err := b.Open(s1, []byte("endpoint-2")); !errors.Is(err, secretbox.ErrDamaged) {
		t.Fatalf("opened under another row's id: %v", err)
	}
	if _, err := box(t).Open(s1, []byte("endpoint-1")); !errors.Is(err, secretbox.ErrOtherKey) {
		t.Fatalf("opened with another key: %v", err)
	}
	for _, bad := range []string{"", "whsec_x", s1[:len(s1)-2], s1 + "AA", strings.Replace(s1, "sealed:v1:", "sealed:v2:", 1)} {
		if _, err := b.Open(bad, []byte("endpoint-1")); err == nil {
			t.Errorf("opened %q", bad)
		}
	}
}

func TestKeys(t *testing.T) {
	t.Parallel()
	if _, err := secretbox.ParseKey("c2hvcnQ="); err == nil {
		t.Error("short key accepted")
	}
	if _, err := secretbox.New(make([]byte, 16)); err == nil {
		t.Error("16-byte key accepted")
	}
	k, _ := secretbox.GenerateKey()
	if got, err := secretbox.ParseKey(base64.StdEncoding.EncodeToString(k) + "\n"); err != nil || !bytes.Equal(got, k) {
		t.Errorf("ParseKey: %v", err)
	}
	path := filepath.Join(t.TempDir(), "data", "secret-key")
	k1, err := secretbox.LoadOrCreateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v %v", fi.Mode(), err)
	}
	k2, err := secretbox.LoadOrCreateKeyFile(path)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("the key changed on the second start: %v", err)
	}
}
