package apikey

import (
	"strings"
	"testing"
)

func TestGenerate(t *testing.T) {
	t.Parallel()
	a, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Generate()
	if a.Plain == b.Plain || a.Prefix == b.Prefix {
		t.Fatal("two keys are equal")
	}
	if !strings.HasPrefix(a.Plain, a.Prefix+"_") || len(a.Prefix) != len("fk_live_ab12cd34") {
		t.Fatalf("bad shape %q / %q", a.Plain, a.Prefix)
	}
	if a.Hash != Hash(a.Plain) || strings.Contains(a.Hash, a.Plain) {
		t.Fatal("hash mismatch")
	}
	if !Plausible(a.Plain) {
		t.Fatal("a generated key is not plausible")
	}
}

func TestPlausible(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "Bearer x", "fk_live_", "sk_live_abcdefghijkl", "fk_live_ab12cd34_" + strings.Repeat("a", 200), "fk_live_ab12cd34_ä"} {
		if Plausible(s) {
			t.Errorf("%q plausible", s)
		}
	}
}

func TestNormalizeScopes(t *testing.T) {
	t.Parallel()
	got, err := NormalizeScopes([]string{"orders:write", "orders:read", "orders:write"})
	if err != nil || strings.Join(got, " ") != "orders:read orders:write" {
		t.Fatalf("got %v %v", got, err)
	}
	if _, err := NormalizeScopes(nil); err == nil {
		t.Fatal("no scopes accepted")
	}
	if _, err := NormalizeScopes([]string{"admin"}); err == nil {
		t.Fatal("unknown scope accepted")
	}
}
