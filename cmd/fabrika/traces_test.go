package main

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// TestTracesFlag: `fabrika dev --traces` points every service's OTLP
// exporter at the trace viewer it starts, refuses an endpoint of one's own
// beside it, and by default starts Jaeger from the tools/jaeger module,
// which pins Jaeger v1.75.0.
func TestTracesFlag(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		err      string
		endpoint string
		viewer   []string
	}{
		{args: nil},
		{args: []string{"--otlp-endpoint", "collector:4318"}, endpoint: "collector:4318"},
		{args: []string{"--traces"}, endpoint: traceViewerOTLP, viewer: []string{"go", "-C", "tools/jaeger", "tool", "jaeger"}},
		{args: []string{"--traces", "--traces-cmd", "/opt/jaeger/jaeger --config all-in-one.yaml"}, endpoint: traceViewerOTLP,
			viewer: []string{"/opt/jaeger/jaeger", "--config", "all-in-one.yaml"}},
		{args: []string{"--traces", "--otlp-endpoint", "collector:4318"}, err: "not with --otlp-endpoint"},
		{args: []string{"--traces", "--traces-cmd", " "}, err: "empty"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			m := NewMain()
			err := m.ParseFlags(tc.args)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("err %v, want one saying %q", err, tc.err)
			case err == nil && (m.Config.OTLPEndpoint != tc.endpoint || !slices.Equal(m.Config.TraceViewer, tc.viewer)):
				t.Fatalf("endpoint %q viewer %q, want %q %q", m.Config.OTLPEndpoint, m.Config.TraceViewer, tc.endpoint, tc.viewer)
			}
		})
	}
	mod, err := os.ReadFile("../../tools/jaeger/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\ntool github.com/jaegertracing/jaeger/cmd/jaeger\n", "\tgithub.com/jaegertracing/jaeger v1.75.0 "} {
		if !strings.Contains(string(mod), want) {
			t.Errorf("tools/jaeger/go.mod lacks %q", want)
		}
	}
}
