package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/fabrika/fabrika/cmd/internal/logtail"
	"github.com/fabrika/fabrika/cmd/internal/proc"
)

// The local trace viewer of `fabrika dev --traces`: Jaeger's all-in-one
// v1.75.0, in memory, built by the go command from the tools/jaeger module
// (so that its many dependencies stay out of Fabrika's go.mod, and no Docker
// is needed) and run with tools/jaeger/config.yaml: OTLP/HTTP on
// 127.0.0.1:4318, the UI on 127.0.0.1:16686, nothing else.
const (
	traceViewerOTLP = "127.0.0.1:4318"
	traceViewerUI   = "http://127.0.0.1:16686"
	jaegerModule    = "tools/jaeger"
	// traceViewerWait is how long a started viewer has to listen (after
	// Jaeger's build, which has no limit but Ctrl-C).
	traceViewerWait = 2 * time.Minute
	// traceViewerStop is how long a viewer has after SIGTERM before SIGKILL.
	traceViewerStop = 10 * time.Second
)

// wireTraces points the services' OTLP exporter at the viewer when --traces
// asks for one; an endpoint of one's own and the viewer are refused
// together. An empty viewer command means Jaeger from tools/jaeger.
func (c *Config) wireTraces(viewer string) error {
	if !c.Traces {
		return nil
	}
	if c.OTLPEndpoint != "" {
		return errors.New("--traces starts a trace viewer and sends the traces to it: not with --otlp-endpoint")
	}
	if viewer != "" {
		if c.TraceViewer = strings.Fields(viewer); len(c.TraceViewer) == 0 {
			return errors.New("--traces-cmd is blank")
		}
	}
	c.OTLPEndpoint = traceViewerOTLP
	return nil
}

// traceViewer is the viewer's process.
type traceViewer struct {
	proc *proc.Proc
	log  string
}

// startTraceViewer builds Jaeger unless --traces-cmd names another viewer,
// starts the viewer, its output in <data dir>/trace-viewer.log, and returns
// once it listens on c.OTLPEndpoint, so that no service's first spans are
// lost. It fails, stopping what it started, when the address is taken, the
// build or the viewer fails, or the viewer does not listen within
// c.TraceViewerWait; a nil viewer and nil error mean ctx ended first.
func startTraceViewer(ctx context.Context, c Config, log *slog.Logger) (*traceViewer, error) {
	addr := c.OTLPEndpoint
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("trace viewer: its OTLP address %s is taken (a viewer left running? send the traces to it with --otlp-endpoint %s instead of --traces): %w", addr, addr, err)
	}
	ln.Close()
	path := filepath.Join(c.DataDir, "trace-viewer.log")
	out, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("trace viewer log: %w", err)
	}
	defer out.Close() // the processes hold their own descriptors
	viewer := c.TraceViewer
	if len(viewer) == 0 {
		if viewer, err = buildJaeger(ctx, out, path, log); err != nil || viewer == nil {
			return nil, err
		}
	}
	p, err := startGroup(viewer, out, out)
	if err != nil {
		return nil, fmt.Errorf("trace viewer %q: %w", strings.Join(viewer, " "), err)
	}
	log.Info("trace viewer starting", "cmd", strings.Join(viewer, " "), "otlp", addr, "log", path)
	wait := c.TraceViewerWait
	if wait <= 0 {
		wait = traceViewerWait
	}
	limit := time.NewTimer(wait)
	defer limit.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			conn.Close()
			v := &traceViewer{proc: p, log: path}
			log.Info("trace viewer listening", "otlp", addr, "pid", p.Pid())
			return v, nil
		}
		select {
		case <-ctx.Done():
			p.Stop(traceViewerStop)
			log.Info("stopped before the trace viewer listened")
			return nil, nil
		case <-p.Done():
			return nil, fmt.Errorf("trace viewer %q exited before it listened on %s: %v; the end of %s:\n%s",
				strings.Join(viewer, " "), addr, p.Err(), path, logtail.Tail(path, 2000))
		case <-limit.C:
			p.Stop(traceViewerStop)
			return nil, fmt.Errorf("trace viewer %q did not listen on %s within %s (is it an OTLP/HTTP receiver on that address?); the end of %s:\n%s",
				strings.Join(viewer, " "), addr, wait, path, logtail.Tail(path, 2000))
		case <-tick.C:
		}
	}
}

// exited is closed when the viewer's process ends.
func (v *traceViewer) exited() <-chan struct{} { return v.proc.Done() }

// exitErr says how the viewer ended, once exited is closed.
func (v *traceViewer) exitErr() error {
	return fmt.Errorf("trace viewer exited: %v; the end of %s:\n%s", v.proc.Err(), v.log, logtail.Tail(v.log, 2000))
}

// stop ends the viewer and whatever it started.
func (v *traceViewer) stop() { v.proc.Stop(traceViewerStop) }

// buildJaeger builds Jaeger from tools/jaeger with `go tool -n`, which
// builds the module's tool into the go command's cache the first time
// (minutes), checks it later (seconds), and prints where the binary is;
// the binary then runs without the go command in between, so that it is
// the viewer's process that gets the signals. It returns nil, nil when ctx
// ends first.
func buildJaeger(ctx context.Context, out io.Writer, logPath string, log *slog.Logger) ([]string, error) {
	config, err := filepath.Abs(filepath.Join(jaegerModule, "config.yaml"))
	if err == nil {
		_, err = os.Stat(config)
	}
	if err != nil {
		return nil, fmt.Errorf("--traces builds Jaeger from %s: run fabrika from the repository's root, or name a viewer with --traces-cmd (%w)", jaegerModule, err)
	}
	var where bytes.Buffer
	p, err := startGroup([]string{"go", "-C", jaegerModule, "tool", "-n", "jaeger"}, &where, out)
	if err != nil {
		return nil, fmt.Errorf("build the trace viewer: %w", err)
	}
	log.Info("building the trace viewer: Jaeger from "+jaegerModule+" (go tool; the first build takes minutes, later ones seconds)", "log", logPath)
	began := time.Now()
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			p.Stop(traceViewerStop)
			log.Info("stopped while the trace viewer was building")
			return nil, nil
		case <-tick.C:
			log.Info("still building the trace viewer", "elapsed", time.Since(began).Round(time.Second).String())
			continue
		case <-p.Done():
		}
		break
	}
	bin := strings.TrimSpace(where.String())
	if p.Err() != nil {
		return nil, fmt.Errorf("build the trace viewer (go -C %s tool -n jaeger): %v; the end of %s:\n%s", jaegerModule, p.Err(), logPath, logtail.Tail(logPath, 2000))
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("build the trace viewer: go tool -n printed %q: %w", bin, err)
	}
	log.Info("trace viewer built", "took", time.Since(began).Round(time.Second).String(), "binary", bin)
	return []string{bin, "--config", config}, nil
}

// startGroup starts args in a process group of its own (cmd/internal/proc):
// stopping it stops whatever it started too (the go command's compilers, a
// wrapper's child), Ctrl-C in a terminal reaches only fabrika, which stops
// it in its turn, and the kernel kills it if fabrika dies.
func startGroup(args []string, stdout, stderr io.Writer) (*proc.Proc, error) {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	return proc.Start(args[0], cmd, "")
}
