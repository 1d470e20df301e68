// Package proc runs the child processes of Fabrika's commands (the local
// production topology of cmd/cluster, the NATS cluster of
// cmd/internal/natscluster): each in a process group of its own, so that
// Ctrl-C in a terminal reaches only the command, which stops its children in
// order, with the kernel killing them if the command dies; each with its
// output appended to a log file, whose end goes into an error message.
package proc

import (
	"fmt"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fabrika/fabrika/cmd/internal/logtail"
)

// Proc is a started child process.
type Proc struct {
	name    string
	cmd     *exec.Cmd
	log     string
	done    chan struct{}
	err     error
	stopped atomic.Bool // stopped or killed on purpose
}

// Start starts cmd (its Env as set, nil for this process's environment)
// with its output appended to the file at logPath, after a line that says
// when name started; with logPath "", its output goes where cmd's Stdout
// and Stderr say.
func Start(name string, cmd *exec.Cmd, logPath string) (*Proc, error) {
	var logf *os.File
	if logPath != "" {
		var err error
		if logf, err = os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600); err != nil {
			return nil, err
		}
		fmt.Fprintf(logf, "--- %s started at %s\n", name, time.Now().UTC().Format(time.RFC3339Nano))
		cmd.Stdout, cmd.Stderr = logf, logf
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		if logf != nil {
			logf.Close()
		}
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		if logf != nil {
			logf.Close()
		}
		close(p.done)
	}()
	return p, nil
}

// Pid is the process's id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// signal sends sig to the process's group: the process and whatever it
// started (the go command's compilers, a wrapper's child).
func (p *Proc) signal(sig syscall.Signal) { _ = syscall.Kill(-p.cmd.Process.Pid, sig) }

// Done is closed when the process has ended.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited tells whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err is how the process ended (cmd.Wait's error), once Done is closed.
func (p *Proc) Err() error {
	<-p.done
	return p.err
}

// Stopped tells whether Stop or Kill ended it (or are ending it), rather
// than the process itself.
func (p *Proc) Stopped() bool { return p.stopped.Load() }

// Log is the path of the process's log.
func (p *Proc) Log() string { return p.log }

// Tail is the last n bytes of the process's log, for an error message.
func (p *Proc) Tail(n int64) string { return logtail.Tail(p.log, n) }

// Kill is kill -9 of the process and its group, and waits for the process
// to be gone.
func (p *Proc) Kill() {
	p.stopped.Store(true)
	p.signal(syscall.SIGKILL)
	<-p.done
}

// Stop sends SIGTERM to the process's group and waits up to d for the
// process; false if it had to be ended. Then it sends SIGQUIT, which makes
// a Go program write every goroutine's stack to its log (what it was
// waiting for) and exit, and kills what is left 5 s later. Whatever of the
// group outlives the process is killed.
func (p *Proc) Stop(d time.Duration) bool {
	p.stopped.Store(true)
	defer p.signal(syscall.SIGKILL)
	p.signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return true
	case <-time.After(d):
	}
	p.signal(syscall.SIGQUIT)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.Kill()
	}
	return false
}

// KillAll kills every process at once (a power cut) and waits until all
// are gone.
func KillAll(ps ...*Proc) {
	each(ps, func(p *Proc) { p.Kill() })
}

// StopAll stops every process at once (Stop with d); false if any had to
// be ended.
func StopAll(d time.Duration, ps ...*Proc) bool {
	var failed atomic.Bool
	each(ps, func(p *Proc) {
		if !p.Stop(d) {
			failed.Store(true)
		}
	})
	return !failed.Load()
}

func each(ps []*Proc, f func(*Proc)) {
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Go(func() { f(p) })
	}
	wg.Wait()
}
