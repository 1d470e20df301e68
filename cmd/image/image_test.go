package main

import (
	"archive/tar"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestBuildReproducible: the same inputs give the same digest; the image
// runs the service as a non-root user, carries its version and commit, the
// CA bundle and the binary.
func TestBuildReproducible(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin, certs := filepath.Join(dir, "shop"), filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(bin, []byte("\x7fELF not really"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certs, []byte("-----BEGIN CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := build("shop", bin, certs, "1.4.0", "abc123")
	if err != nil {
		t.Fatal(err)
	}
	b, err := build("shop", bin, certs, "1.4.0", "abc123")
	if err != nil {
		t.Fatal(err)
	}
	da, _ := a.Digest()
	db, _ := b.Digest()
	if da != db {
		t.Errorf("two builds of the same inputs: %s and %s", da, db)
	}
	c, err := build("shop", bin, certs, "1.4.1", "def456")
	if err != nil {
		t.Fatal(err)
	}
	if dc, _ := c.Digest(); dc == da {
		t.Error("another version has the same digest")
	}
	cf, err := a.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Config.User != "65532:65532" || len(cf.Config.Entrypoint) != 1 || cf.Config.Entrypoint[0] != "/shop" {
		t.Errorf("user %q entrypoint %v", cf.Config.User, cf.Config.Entrypoint)
	}
	if l := cf.Config.Labels; l["org.opencontainers.image.version"] != "1.4.0" || l["org.opencontainers.image.revision"] != "abc123" {
		t.Errorf("labels %v", l)
	}
	seen := map[string]int64{}
	layers, err := a.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			seen[h.Name] = h.Mode
		}
		rc.Close()
	}
	for _, want := range []string{"shop", "etc/ssl/certs/ca-certificates.crt", "etc/passwd", "tmp/"} {
		if _, ok := seen[want]; !ok {
			t.Errorf("the image has no %s (has %v)", want, seen)
		}
	}
	if seen["shop"] != 0o755 {
		t.Errorf("binary mode %o", seen["shop"])
	}
}
