package main

import (
	"fmt"
	"os"
	"os/exec"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fabrika/fabrika/cmd/internal/logtail"
)

// proc is one process of the topology.
type proc struct {
	name   string
	cmd    *exec.Cmd
	log    string
	done   chan struct{}
	err    error
	killed atomic.Bool // stopped or killed on purpose
}

// startProc starts cmd in its own process group (Ctrl-C reaches only the
// cluster command, which stops the others in order); the kernel kills it if
// the cluster command dies.
func startProc(name string, cmd *exec.Cmd, env []string, logPath string) (*proc, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(logf, "--- %s started at %s\n", name, time.Now().UTC().Format(time.RFC3339Nano))
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill is kill -9, and waits for the process to be gone.
func (p *proc) kill() {
	p.killed.Store(true)
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop sends SIGTERM and waits up to d; false if the process had to be
// ended. Then it sends SIGQUIT, which makes a Go program write every
// goroutine's stack to its log (what it was waiting for) and exit, and
// kills what is left 5 s later.
func (p *proc) stop(d time.Duration) bool {
	p.killed.Store(true)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return true
	case <-time.After(d):
	}
	_ = p.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.kill()
	}
	return false
}

// tail is the end of the process's log, for an error message.
func (p *proc) tail(n int64) string { return logtail.Tail(p.log, n) }
