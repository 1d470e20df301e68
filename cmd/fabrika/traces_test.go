package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fabrika/fabrika/platform/testenv"
)

// TestTracesFlag: `fabrika dev --traces` points every service's OTLP
// exporter at the trace viewer it starts, refuses an endpoint of one's own
// beside it, and by default (no --traces-cmd) builds and starts Jaeger from
// the tools/jaeger module, which pins Jaeger v1.75.0 and holds its
// configuration.
func TestTracesFlag(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		err      string
		endpoint string
		viewer   []string
	}{
		{args: nil},
		{args: []string{"--otlp-endpoint", "collector:4318"}, endpoint: "collector:4318"},
		{args: []string{"--traces"}, endpoint: traceViewerOTLP},
		{args: []string{"--traces", "--traces-cmd", "/opt/jaeger/jaeger --config all-in-one.yaml"}, endpoint: traceViewerOTLP,
			viewer: []string{"/opt/jaeger/jaeger", "--config", "all-in-one.yaml"}},
		{args: []string{"--traces", "--otlp-endpoint", "collector:4318"}, err: "not with --otlp-endpoint"},
		{args: []string{"--traces", "--traces-cmd", " "}, err: "blank"},
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
	mod, err := os.ReadFile("../../" + jaegerModule + "/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\ntool github.com/jaegertracing/jaeger/cmd/jaeger\n", "\tgithub.com/jaegertracing/jaeger v1.75.0 "} {
		if !strings.Contains(string(mod), want) {
			t.Errorf("%s/go.mod lacks %q", jaegerModule, want)
		}
	}
	config, err := os.ReadFile("../../" + jaegerModule + "/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"endpoint: " + traceViewerOTLP + "\n", "endpoint: " + strings.TrimPrefix(traceViewerUI, "http://") + "\n"} {
		if !strings.Contains(string(config), want) {
			t.Errorf("%s/config.yaml lacks %q: the viewer would not listen where fabrika sends and says", jaegerModule, want)
		}
	}
}

// TestTraceViewer: `fabrika dev --traces` starts the viewer, starts the
// services once it listens, and their spans reach it; Ctrl-C stops the
// viewer and what it started. The viewer here is the test binary as a
// small OTLP receiver, behind a wrapper that passes no signal on (as a
// script would), so that only a stop of the viewer's whole process group
// ends the receiver.
func TestTraceViewer(t *testing.T) {
	t.Parallel()
	v := newFakeViewer(t, "wrap", "serve")
	m, logPath := v.main(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	v.held.Close()
	go func() { done <- m.Run(ctx) }()
	defer cancel()
	select {
	case <-m.Ready():
	case err := <-done:
		t.Fatalf("did not start: %v", err)
	}
	pid := v.pid(t)

	// A request: the shop's server span (whatever it answers: without
	// mes-calc it has no price list yet).
	newClient(t, "http://"+m.Addr("shop")).get("/")
	eventually(t, 30*time.Second, "the shop's spans at the viewer", func() (bool, string) {
		services, err := v.services()
		return err == nil && slices.Contains(services, "shop"), fmt.Sprintf("%v %v", services, err)
	})
	out, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"msg":"trace viewer listening"`, "Traces: sent to the viewer "} {
		if !strings.Contains(string(out), want) {
			t.Errorf("fabrika's output lacks %q:\n%s", want, out)
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("stopped with: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("did not stop within 60s of Ctrl-C")
	}
	testenv.EventuallyTrue(t, 10*time.Second, "the viewer's receiver gone", func() bool { return processGone(pid) })
	// Its last threads may still be exiting, the socket with them.
	testenv.EventuallyTrue(t, 10*time.Second, "nothing listening on the viewer's address", func() bool {
		conn, err := net.DialTimeout("tcp", v.addr, time.Second)
		if err == nil {
			conn.Close()
		}
		return err != nil
	})
}

// TestTraceViewerFails: `fabrika dev --traces` fails clearly, starting no
// service and leaving no process behind, when the viewer cannot start,
// cannot listen, or finds its address taken; it stops quietly on Ctrl-C
// while the viewer is starting; and it stops, saying why, when the viewer
// exits while the platform runs.
func TestTraceViewerFails(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		mode  []string
		setup func(t *testing.T, v *fakeViewer, m *Main)
		// act runs once the platform is ready, or the viewer started when
		// ready is false.
		ready bool
		act   func(t *testing.T, v *fakeViewer, cancel context.CancelFunc)
		taken bool     // the test keeps the viewer's address
		err   []string // what the error says; none: Run returns nil
	}{
		{name: "the viewer fails", mode: []string{"fail"},
			err: []string{"exited before it listened on", "exit status 3", "cannot build: missing go.sum entry"}},
		{name: "the viewer never listens", mode: []string{"wrap", "silent"},
			setup: func(t *testing.T, v *fakeViewer, m *Main) { m.Config.TraceViewerWait = time.Second },
			err:   []string{"did not listen on", "within 1s"}},
		{name: "the address is taken", mode: []string{"serve"}, taken: true,
			err: []string{"its OTLP address " + "127.0.0.1:", " is taken (a viewer left running?"}},
		{name: "Ctrl-C while the viewer starts", mode: []string{"wrap", "silent"},
			act: func(t *testing.T, v *fakeViewer, cancel context.CancelFunc) { cancel() }},
		{name: "the viewer exits while the platform runs", mode: []string{"serve"}, ready: true,
			act: func(t *testing.T, v *fakeViewer, cancel context.CancelFunc) {
				_, _ = http.Post("http://"+v.addr+"/exit", "text/plain", nil) // no answer: it exits
			},
			err: []string{"trace viewer exited: exit status 7", "fake viewer: exiting"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := newFakeViewer(t, tc.mode...)
			m, _ := v.main(t)
			if tc.setup != nil {
				tc.setup(t, v, m)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			if !tc.taken {
				v.held.Close()
			}
			go func() { done <- m.Run(ctx) }()
			if tc.act != nil {
				if tc.ready {
					select {
					case <-m.Ready():
					case err := <-done:
						t.Fatalf("did not start: %v", err)
					}
				} else {
					v.pid(t)
				}
				tc.act(t, v, cancel)
			}
			var err error
			select {
			case err = <-done:
			case <-time.After(60 * time.Second):
				t.Fatal("Run did not return within 60s")
			}
			switch {
			case len(tc.err) == 0 && err != nil:
				t.Fatalf("stopped with: %v", err)
			case len(tc.err) > 0 && err == nil:
				t.Fatalf("no error, want one saying %q", tc.err)
			}
			for _, want := range tc.err {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if !tc.ready && m.Addr("shop") != "" {
				t.Errorf("the shop started (at %s) without a viewer", m.Addr("shop"))
			}
			if pid, err := v.readPid(); err == nil {
				testenv.EventuallyTrue(t, 10*time.Second, "the viewer gone", func() bool { return processGone(pid) })
			}
		})
	}
}

// fakeViewerArg, as the test binary's first argument, makes it a stand-in
// trace viewer (see TestMain and fakeTraceViewer).
const fakeViewerArg = "fake-trace-viewer"

// fakeViewer is the command line of a stand-in viewer, where it listens
// and where it writes its process id. The test holds the address (held)
// until it starts the platform, so that no other test's platform takes it.
type fakeViewer struct {
	cmd                    []string
	addr, pidFile, dataDir string
	held                   net.Listener
}

func newFakeViewer(t *testing.T, mode ...string) *fakeViewer {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	v := &fakeViewer{dataDir: t.TempDir()}
	for v.held == nil {
		v.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(freeBasePort(t, 1)))
		v.held, _ = net.Listen("tcp", v.addr) // nil: taken since; another
	}
	t.Cleanup(func() { v.held.Close() })
	v.pidFile = filepath.Join(v.dataDir, "viewer.pid")
	v.cmd = append(append([]string{exe, fakeViewerArg}, mode...), v.pidFile, v.addr)
	t.Cleanup(func() { // a test that failed half-way leaves no viewer behind
		if pid, err := v.readPid(); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	return v
}

// main is the platform, the shop only, with --traces and this viewer.
func (v *fakeViewer) main(t *testing.T) (*Main, string) {
	logPath := filepath.Join(t.TempDir(), "fabrika.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	m := NewMain()
	m.Config.DataDir = v.dataDir
	m.Config.Only = []string{"shop"}
	m.Config.BasePort = freeBasePort(t, 12)
	m.Config.AdminBasePort = m.Config.BasePort + 6
	m.Config.LogOutput = logf
	m.Config.Traces, m.Config.TraceViewer, m.Config.OTLPEndpoint = true, v.cmd, v.addr
	return m, logPath
}

func (v *fakeViewer) readPid() (int, error) {
	b, err := os.ReadFile(v.pidFile)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(string(b))
}

// pid waits for the viewer to have started and returns its process id.
func (v *fakeViewer) pid(t *testing.T) int {
	var pid int
	testenv.Eventually(t, 30*time.Second, func() error {
		var err error
		pid, err = v.readPid()
		return err
	})
	return pid
}

// services are the services whose spans the viewer has had.
func (v *fakeViewer) services() ([]string, error) {
	resp, err := http.Get("http://" + v.addr + "/services")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var s []string
	return s, json.NewDecoder(resp.Body).Decode(&s)
}

// processGone: no such process, or a zombie (a child whose parent died is
// reaped by whoever adopted it, in its own time).
func processGone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if errors.Is(err, os.ErrNotExist) {
		return true
	}
	// pid (comm) state ...: the state follows the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	return err == nil && i > 0 && len(b) > i+2 && (b[i+2] == 'Z' || b[i+2] == 'X')
}

// fakeTraceViewer is the test binary run as a stand-in viewer:
//
//	fake-trace-viewer [wrap] serve|silent|fail PIDFILE ADDR
//
// serve is an OTLP/HTTP receiver on ADDR that lists the services it had
// spans from on GET /services and exits with status 7 on POST /exit; silent
// never listens; fail exits at once with status 3, as a failed build
// would. Each writes its process id to PIDFILE first. wrap runs the rest
// as a child and passes no signal on.
func fakeTraceViewer(args []string) int {
	if len(args) > 0 && args[0] == "wrap" {
		exe, err := os.Executable()
		if err != nil {
			fmt.Fprintln(os.Stderr, "fake viewer wrapper:", err)
			return 1
		}
		cmd := exec.Command(exe, append([]string{fakeViewerArg}, args[1:]...)...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "fake viewer wrapper:", err)
			return 1
		}
		return 0
	}
	if len(args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: fake-trace-viewer [wrap] serve|silent|fail PIDFILE ADDR")
		return 2
	}
	mode, pidFile, addr := args[0], args[1], args[2]
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, "fake viewer:", err)
		return 1
	}
	switch mode {
	case "fail":
		fmt.Fprintln(os.Stderr, "fake viewer: cannot build: missing go.sum entry")
		return 3
	case "silent":
		fmt.Println("fake viewer: silent")
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGTERM)
		<-stop
		return 0
	case "serve":
		r := &otlpReceiver{}
		mux := http.NewServeMux()
		mux.Handle("POST /v1/traces", r)
		mux.HandleFunc("GET /services", func(w http.ResponseWriter, _ *http.Request) {
			spans, _ := r.all()
			var names []string
			for _, s := range spans {
				if !slices.Contains(names, s.service) {
					names = append(names, s.service)
				}
			}
			_ = json.NewEncoder(w).Encode(names)
		})
		mux.HandleFunc("POST /exit", func(http.ResponseWriter, *http.Request) {
			fmt.Println("fake viewer: exiting")
			os.Exit(7)
		})
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "fake viewer:", err)
			return 1
		}
		fmt.Println("fake viewer: listening on", addr)
		fmt.Fprintln(os.Stderr, http.Serve(ln, mux))
		return 1
	}
	fmt.Fprintln(os.Stderr, "fake viewer: unknown mode", mode)
	return 2
}
