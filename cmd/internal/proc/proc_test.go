package proc

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fabrika/fabrika/platform/testenv"
)

func start(t *testing.T, script string) *Proc {
	t.Helper()
	p, err := Start("sh", exec.Command("sh", "-c", script), filepath.Join(t.TempDir(), "sh.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !p.Exited() {
			p.Kill()
		}
	})
	// Wait until the script runs (its traps set), as a command waits for
	// its child's readiness.
	testenv.EventuallyTrue(t, 10*time.Second, "the script's first line", func() bool { return strings.Contains(p.Tail(100), "ready") })
	return p
}

func TestStop(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, script string
		graceful     bool
	}{
		{"ends on SIGTERM", "echo ready; exec sleep 60", true},
		{"ignores SIGTERM", `trap "" TERM; echo ready; while :; do sleep 0.05; done`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := start(t, tc.script)
			if got := p.Stop(300 * time.Millisecond); got != tc.graceful {
				t.Errorf("Stop = %v, want %v (log: %s)", got, tc.graceful, p.Tail(500))
			}
			if !p.Exited() || !p.Stopped() {
				t.Errorf("after Stop: exited %v, stopped %v", p.Exited(), p.Stopped())
			}
		})
	}
}

func TestExitOnItsOwn(t *testing.T) {
	t.Parallel()
	p := start(t, "echo ready; exit 3")
	<-p.Done()
	if p.Stopped() {
		t.Error("a process that ended on its own counts as stopped")
	}
	if !strings.HasPrefix(p.Tail(1000), "--- sh started at ") {
		t.Errorf("log does not start with the start line: %q", p.Tail(1000))
	}
}

func TestKillAll(t *testing.T) {
	t.Parallel()
	ps := []*Proc{start(t, `trap "" TERM; echo ready; exec sleep 60`), start(t, "echo ready; exec sleep 60")}
	KillAll(ps...)
	for i, p := range ps {
		if !p.Exited() || !p.Stopped() {
			t.Errorf("process %d: exited %v, stopped %v", i, p.Exited(), p.Stopped())
		}
	}
}

// Stop ends what the process started too (its process group), as `go run`
// or a wrapper script starts the real program.
func TestStopEndsTheGroup(t *testing.T) {
	t.Parallel()
	p := start(t, `sleep 60 & echo "ready $!"; wait`)
	var child int
	if _, err := fmt.Sscanf(p.Tail(100)[strings.Index(p.Tail(100), "ready "):], "ready %d", &child); err != nil {
		t.Fatalf("child pid: %v in %q", err, p.Tail(100))
	}
	if !p.Stop(5 * time.Second) {
		t.Errorf("Stop = false, want the script to end on SIGTERM")
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		if err := syscall.Kill(child, 0); !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("the script's child %d is still there (%v)", child, err)
		}
		return nil
	})
}
