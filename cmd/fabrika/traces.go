package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// The local trace viewer of `fabrika dev --traces`: Jaeger's all-in-one
// (in memory, OTLP/HTTP on 4318, the UI on 16686), built by `go tool` from
// the tools/jaeger module so that its many dependencies stay out of
// Fabrika's own go.mod, and no Docker is needed.
const (
	traceViewerOTLP = "127.0.0.1:4318"
	traceViewerUI   = "http://127.0.0.1:16686"
	// defaultTraceViewer runs from the repository's root; the first run
	// builds Jaeger (minutes), later runs start at once.
	defaultTraceViewer = "go -C tools/jaeger tool jaeger"
)

// wireTraces points the services' OTLP exporter at the viewer when --traces
// asks for one; an endpoint of one's own and the viewer are refused
// together.
func (c *Config) wireTraces(viewer string) error {
	if !c.Traces {
		return nil
	}
	if c.OTLPEndpoint != "" {
		return errors.New("--traces starts a trace viewer and sends the traces to it: not with --otlp-endpoint")
	}
	c.TraceViewer = strings.Fields(viewer)
	if len(c.TraceViewer) == 0 {
		return errors.New("--traces-cmd is empty")
	}
	c.OTLPEndpoint = traceViewerOTLP
	return nil
}

// startTraceViewer starts the viewer, its output in <data dir>/jaeger.log;
// it stops with ctx. The services export to it as soon as it listens (the
// spans of the first seconds, while it builds or starts, are dropped).
func startTraceViewer(ctx context.Context, c Config, log *slog.Logger) (wait func(), err error) {
	path := filepath.Join(c.DataDir, "jaeger.log")
	out, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("trace viewer log: %w", err)
	}
	cmd := exec.CommandContext(ctx, c.TraceViewer[0], c.TraceViewer[1:]...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("trace viewer %q: %w", strings.Join(c.TraceViewer, " "), err)
	}
	log.Info("trace viewer starting (the first run builds Jaeger, which takes minutes)", "ui", traceViewerUI,
		"otlp", traceViewerOTLP, "log", path)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer out.Close()
		if err := cmd.Wait(); err != nil && ctx.Err() == nil {
			log.Error("trace viewer stopped", "error", err, "log", path)
		}
	}()
	return func() { <-done }, nil
}
