package buildinfo_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fabrika/fabrika/platform/buildinfo"
)

// TestLDFlag: a binary linked with LDFlag reports that version; one linked
// without reports another (what the toolchain recorded), so a stamp that
// misses its symbol is seen.
func TestLDFlag(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	run := func(name string, args ...string) string {
		t.Helper()
		bin := filepath.Join(dir, name)
		build := exec.Command("go", append(append([]string{"build", "-o", bin}, args...), "./testdata/version")...)
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
		out, err := exec.Command(bin).Output()
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(out))
	}
	const want = "0.0.0-release-7"
	if got := run("stamped", "-ldflags", buildinfo.LDFlag(want)); got != want {
		t.Errorf("stamped binary reports %q, want %q", got, want)
	}
	if got := run("plain"); got == want || got == "" {
		t.Errorf("unstamped binary reports %q", got)
	}
}
