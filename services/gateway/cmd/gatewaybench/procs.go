package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fabrika/fabrika/platform/broker"
	"github.com/fabrika/fabrika/platform/broker/embedded"
	"github.com/fabrika/fabrika/platform/cputime"
	"github.com/fabrika/fabrika/platform/host"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/platform/telemetry"
	"github.com/fabrika/fabrika/services/gateway"
	"github.com/fabrika/fabrika/services/gateway/migrations"
)

// The staff account the bench signs in with.
const (
	benchLogin    = "bench"
	benchPassword = "quiet lantern 7 harbour"
)

// usage is what a process has spent so far.
type usage struct {
	cpu     time.Duration // user + system CPU time
	mallocs uint64        // heap objects allocated
	bytes   uint64        // heap bytes allocated
	conns   int64         // connections accepted (the upstream only)
	gcs     float64       // garbage collections (per second, once divided by the window)
}

func (u usage) sub(v usage) usage {
	return usage{cpu: u.cpu - v.cpu, mallocs: u.mallocs - v.mallocs, bytes: u.bytes - v.bytes, conns: u.conns - v.conns, gcs: u.gcs - v.gcs}
}

// selfUsage reads this process's usage; conns is added by the caller.
func selfUsage() usage {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return usage{cpu: cputime.Process(), mallocs: ms.Mallocs, bytes: ms.TotalAlloc, gcs: float64(ms.NumGC)}
}

// server is the upstream or the gateway, in this process or in a child.
type server struct {
	url   string
	usage func() (usage, error) // nil: in this process, counted with the clients
	stop  func() error
}

// startUpstream serves the stand-in upstream on a loopback port: a small
// JSON answer, as a service's page or API would give, after waiting delay
// (a service's own work, a database query, say, which takes time but not
// this machine's CPU; 0: none).
func startUpstream(delay time.Duration) (string, *atomic.Int64, func() error, error) {
	body := []byte(`{"id":"01JABCDEF","status":"placed","total":{"amount":12345,"currency":"EUR"},"lines":3}` + "\n")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, nil, err
	}
	conns := &atomic.Int64{}
	srv := &http.Server{ConnState: func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if delay > 0 {
			time.Sleep(delay)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), conns, srv.Close, nil
}

// gatewayOptions is how the gateway under test is built.
type gatewayOptions struct {
	upstream string
	dsn      string // "" for SQLite in dir
	dir      string
	logTo    string // access log file; "" discards it

	upstreamDelay time.Duration // the upstream role's wait before each answer
	otlp          string        // OTLP/HTTP endpoint of the gateway's spans; "": no exporter
}

// startGateway builds the gateway as production serves it (host with its
// database and an embedded NATS, the edge: request observation with a JSON
// access log and the service's tracer, spans with ids only or, with
// o.otlp, recorded and exported) in front of one upstream for every route,
// and creates the bench's staff account.
func startGateway(ctx context.Context, o gatewayOptions) (string, func() error, error) {
	var closers []func() error
	stop := func() error {
		for i := len(closers) - 1; i >= 0; i-- {
			_ = closers[i]()
		}
		return nil
	}
	fail := func(err error) (string, func() error, error) {
		_ = stop()
		return "", nil, err
	}
	dsn := o.dsn
	if dsn == "" {
		dsn = filepath.Join(o.dir, "gateway.db")
	}
	var logW io.Writer = io.Discard
	if o.logTo != "" {
		f, err := os.OpenFile(o.logTo, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fail(err)
		}
		closers = append(closers, f.Close)
		logW = f
	}
	log := telemetry.NewLogger(logW, "gateway", slog.LevelInfo)
	tp, err := telemetry.NewTracerProvider(ctx, "gateway", o.otlp)
	if err != nil {
		return fail(err)
	}
	ns, err := embedded.Start(embedded.Config{StoreDir: filepath.Join(o.dir, "nats")})
	if err != nil {
		return fail(err)
	}
	closers = append(closers, func() error { ns.Shutdown(); return nil })
	nc, err := broker.Connect(ns.ClientURL(), ns, "gatewaybench", log)
	if err != nil {
		return fail(err)
	}
	closers = append(closers, func() error { nc.Close(); return nil })
	h, err := host.Open(ctx, host.Config{Service: "gateway", DSN: dsn, Migrations: migrations.FS},
		host.Deps{Logger: log, NATS: nc, TracerProvider: tp})
	if err != nil {
		return fail(err)
	}
	closers = append(closers, h.DB.Close, func() error { return tp.Shutdown(context.Background()) })
	_, priv, err := identity.GenerateKey()
	if err != nil {
		return fail(err)
	}
	u := o.upstream
	gw, err := gateway.New(ctx, h, gateway.Config{Shop: u, CRM: u, MESOperator: u, MESAPI: u, Signer: identity.NewSigner(priv)})
	if err != nil {
		return fail(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = gw.ServePublic(sctx, ln); close(done) }()
	closers = append(closers, func() error { cancel(); <-done; return nil })
	if err := gateway.CreateStaff(ctx, h.DB, benchLogin, benchPassword, identity.RoleManager, nil); err != nil {
		return fail(err)
	}
	return "http://" + ln.Addr().String(), stop, nil
}

// The child protocol: a child prints "ready URL" once serving, then answers
// each "usage" line on its standard input with "usage CPU_NS MALLOCS BYTES
// CONNS GCS", and stops when its standard input closes.

// runChild is the body of `gatewaybench -role upstream|gateway`.
func runChild(role string, o gatewayOptions, cpuprofile, memprofile string) error {
	ctx := context.Background()
	var (
		u     string
		stop  func() error
		conns *atomic.Int64
		err   error
	)
	switch role {
	case "upstream":
		u, conns, stop, err = startUpstream(o.upstreamDelay)
	case "gateway":
		if os.Getenv("GOGC") == "" { // as the gateway's command does
			debug.SetGCPercent(gateway.GCPercent)
		}
		dir, derr := os.MkdirTemp("", "gatewaybench")
		if derr != nil {
			return derr
		}
		defer os.RemoveAll(dir)
		o.dir = dir
		u, stop, err = startGateway(ctx, o)
	default:
		return fmt.Errorf("unknown -role %q", role)
	}
	if err != nil {
		return err
	}
	defer stop()
	endProfiles, err := startProfiles(cpuprofile, memprofile)
	if err != nil {
		return err
	}
	defer endProfiles()
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintf(out, "ready %s\n", u)
	if err := out.Flush(); err != nil {
		return err
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if in.Text() != "usage" {
			return fmt.Errorf("unknown command %q", in.Text())
		}
		us := selfUsage()
		if conns != nil {
			us.conns = conns.Load()
		}
		fmt.Fprintf(out, "usage %d %d %d %d %.0f\n", us.cpu, us.mallocs, us.bytes, us.conns, us.gcs)
		if err := out.Flush(); err != nil {
			return err
		}
	}
	return in.Err()
}

// startChild re-executes this program in a role, with env added to this
// process's environment, and waits until it serves.
func startChild(role string, env []string, args ...string) (*server, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, append([]string{"-role", role}, args...)...)
	cmd.Stderr = os.Stderr
	cmd.Env = append(os.Environ(), env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", role, err)
	}
	lines := bufio.NewScanner(stdout)
	next := func() ([]string, error) {
		if !lines.Scan() {
			if err := lines.Err(); err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("%s process ended", role)
		}
		return strings.Fields(lines.Text()), nil
	}
	f, err := next()
	if err != nil || len(f) != 2 || f[0] != "ready" {
		_ = stdin.Close()
		_ = cmd.Wait()
		return nil, fmt.Errorf("%s process did not start: %v %v", role, f, err)
	}
	s := &server{url: f[1]}
	s.usage = func() (usage, error) {
		if _, err := io.WriteString(stdin, "usage\n"); err != nil {
			return usage{}, err
		}
		f, err := next()
		if err != nil {
			return usage{}, err
		}
		if len(f) != 6 || f[0] != "usage" {
			return usage{}, fmt.Errorf("%s: unexpected answer %v", role, f)
		}
		var n [5]int64
		for i := range n {
			if n[i], err = strconv.ParseInt(f[i+1], 10, 64); err != nil {
				return usage{}, fmt.Errorf("%s: %w", role, err)
			}
		}
		return usage{cpu: time.Duration(n[0]), mallocs: uint64(n[1]), bytes: uint64(n[2]), conns: n[3], gcs: float64(n[4])}, nil
	}
	s.stop = func() error {
		_ = stdin.Close()
		errc := make(chan error, 1)
		go func() { errc <- cmd.Wait() }()
		select {
		case err := <-errc:
			return err
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			return errors.Join(fmt.Errorf("%s process did not stop; killed", role), <-errc)
		}
	}
	return s, nil
}

// startProfiles starts the CPU profile (when cpu is set) and returns what
// ends it and writes the allocations profile (when mem is set): every
// allocation since the start, sampled.
func startProfiles(cpu, mem string) (func(), error) {
	var f *os.File
	if cpu != "" {
		var err error
		if f, err = os.Create(cpu); err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			_ = f.Close()
			return nil, err
		}
	}
	return func() {
		if f != nil {
			pprof.StopCPUProfile()
			_ = f.Close()
		}
		if mem == "" {
			return
		}
		m, err := os.Create(mem)
		if err == nil {
			err = pprof.Lookup("allocs").WriteTo(m, 0)
			err = errors.Join(err, m.Close())
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "gatewaybench: allocations profile:", err)
		}
	}, nil
}
