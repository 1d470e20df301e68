package logtail

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTail(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "x.log")
	if err := os.WriteFile(path, []byte("first line\nsecond line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		path string
		n    int64
		want string
	}{
		{"the end", path, 12, "second line\n"},
		{"more than the file", path, 1000, "first line\nsecond line\n"},
		{"nothing", path, 0, ""},
	}
	for _, c := range cases {
		if got := Tail(c.path, c.n); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	if got := Tail(filepath.Join(t.TempDir(), "missing.log"), 10); !strings.Contains(got, "no such file") {
		t.Errorf("missing file: %q, want the error", got)
	}
}
