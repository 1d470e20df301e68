// Command gatewaybench measures what the gateway adds to a request
// (docs/BENCHMARKS.md, section "gateway"): concurrent clients send GETs
// straight to a stand-in upstream, then through the gateway to the same
// upstream, anonymously to the shop route and as a signed-in manager to the
// CRM route (session lookup, identity token, CSRF token header). It reports
// p50/p99 latency and requests per second of each, and the differences.
//
// Everything runs in this process: the upstream, the gateway (host with its
// database and an embedded NATS, the public handler as served in
// production: request observation, access log, tracing) and the clients.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fabrika/fabrika/platform/broker"
	"github.com/fabrika/fabrika/platform/host"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/platform/telemetry"
	"github.com/fabrika/fabrika/services/gateway"
	"github.com/fabrika/fabrika/services/gateway/migrations"
)

func main() {
	clients := flag.String("clients", "64", "concurrent clients, comma separated for several runs (e.g. 1,64)")
	duration := flag.Duration("duration", 5*time.Second, "measured time of each phase")
	warmup := flag.Duration("warmup", time.Second, "unmeasured time before each phase")
	rounds := flag.Int("rounds", 3, "rounds of (direct, shop, crm); medians are reported")
	dsn := flag.String("dsn", "", "the gateway's database (default: SQLite in a temporary directory)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "gatewaybench:", err)
			os.Exit(1)
		}
		_ = pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if err := run(*clients, *duration, *warmup, *rounds, *dsn); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "gatewaybench:", err)
		os.Exit(1)
	}
}

func run(clientList string, duration, warmup time.Duration, rounds int, dsn string) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir, err := os.MkdirTemp("", "gatewaybench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if dsn == "" {
		dsn = filepath.Join(dir, "gateway.db")
	}

	// The upstream: a small JSON answer, as a service's page or API would
	// give, without work of its own.
	body := []byte(`{"id":"01JABCDEF","status":"placed","total":{"amount":12345,"currency":"EUR"},"lines":3}` + "\n")
	upLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	var upConns atomic.Int64
	defer func() { fmt.Printf("\nupstream connections opened: %d\n", upConns.Load()) }()
	up := &http.Server{ConnState: func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			upConns.Add(1)
		}
	}, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})}
	go func() { _ = up.Serve(upLn) }()
	defer up.Close()
	upURL := "http://" + upLn.Addr().String()

	// The gateway.
	log := telemetry.NewLogger(io.Discard, "gateway", slog.LevelInfo)
	tp, err := telemetry.NewTracerProvider(ctx, "gateway", "")
	if err != nil {
		return err
	}
	ns, err := broker.StartEmbedded(broker.EmbeddedConfig{StoreDir: filepath.Join(dir, "nats")})
	if err != nil {
		return err
	}
	defer ns.Shutdown()
	nc, err := broker.Connect(ns.ClientURL(), ns, "gatewaybench", log)
	if err != nil {
		return err
	}
	defer nc.Close()
	h, err := host.Open(ctx, host.Config{Service: "gateway", DSN: dsn, Migrations: migrations.FS},
		host.Deps{Logger: log, NATS: nc, TracerProvider: tp})
	if err != nil {
		return err
	}
	defer h.DB.Close()
	_, priv, err := identity.GenerateKey()
	if err != nil {
		return err
	}
	gw, err := gateway.New(ctx, h, gateway.Config{Shop: upURL, CRM: upURL, MESOperator: upURL, MESAPI: upURL, Signer: identity.NewSigner(priv)})
	if err != nil {
		return err
	}
	gwLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() { _ = gw.ServePublic(ctx, gwLn) }()
	gwURL := "http://" + gwLn.Addr().String()
	if err := gateway.CreateStaff(ctx, h.DB, "bench", "benchmark password", identity.RoleManager, nil); err != nil {
		return err
	}
	cookie, err := signIn(gwURL, "bench", "benchmark password")
	if err != nil {
		return err
	}

	fmt.Printf("gatewaybench: GOMAXPROCS=%s, %s per phase, %d rounds, database %s\n", os.Getenv("GOMAXPROCS"), duration, rounds, engine(dsn))
	for _, cs := range strings.Split(clientList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(cs))
		if err != nil || n < 1 {
			return fmt.Errorf("bad -clients %q", cs)
		}
		phases := []phase{
			{name: "direct", url: upURL + "/crm/orders/01JABCDEF"},
			{name: "gateway /   (shop, anonymous)", url: gwURL + "/products/01JABCDEF"},
			{name: "gateway /crm/ (staff session)", url: gwURL + "/crm/orders/01JABCDEF", cookie: cookie},
		}
		results := make([][]result, len(phases))
		for range rounds {
			for i, p := range phases {
				r, err := p.run(n, warmup, duration)
				if err != nil {
					return err
				}
				results[i] = append(results[i], r)
			}
		}
		fmt.Printf("\n%d concurrent clients (median of %d rounds)\n", n, rounds)
		fmt.Printf("%-32s %10s %10s %10s %12s %12s %12s %14s\n", "", "p50", "p99", "req/s", "added p50", "added p99", "CPU/req", "added CPU/req")
		base := median(results[0])
		for i, p := range phases {
			m := median(results[i])
			added := func(a, b time.Duration) string {
				if i == 0 {
					return "-"
				}
				return fmtDur(a - b)
			}
			fmt.Printf("%-32s %10s %10s %10.0f %12s %12s %10.0fµs %14s\n", p.name, fmtDur(m.p50), fmtDur(m.p99), m.rps,
				added(m.p50, base.p50), added(m.p99, base.p99), float64(m.cpu.Microseconds()), added(m.cpu, base.cpu))
		}
	}
	return nil
}

func engine(dsn string) string {
	if strings.HasPrefix(dsn, "postgres") {
		return "PostgreSQL"
	}
	return "SQLite"
}

func fmtDur(d time.Duration) string {
	return fmt.Sprintf("%.3fms", float64(d.Microseconds())/1000)
}

// signIn signs in through the gateway's form and returns the session cookie.
func signIn(base, login, pw string) (*http.Cookie, error) {
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Get(base + "/staff/login")
	if err != nil {
		return nil, err
	}
	res.Body.Close()
	var formCookie *http.Cookie
	for _, ck := range res.Cookies() {
		if ck.Name == gateway.LoginCookie {
			formCookie = ck
		}
	}
	if formCookie == nil {
		return nil, fmt.Errorf("no sign-in form cookie")
	}
	req, _ := http.NewRequest("POST", base+"/staff/login", strings.NewReader(url.Values{"login": {login}, "password": {pw}, "csrf_token": {formCookie.Value}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(formCookie)
	res, err = c.Do(req)
	if err != nil {
		return nil, err
	}
	res.Body.Close()
	for _, ck := range res.Cookies() {
		if ck.Name == gateway.SessionCookie && ck.Value != "" {
			return ck, nil
		}
	}
	return nil, fmt.Errorf("sign-in failed: %d", res.StatusCode)
}

type phase struct {
	name   string
	url    string
	cookie *http.Cookie
}

type result struct {
	p50, p99 time.Duration
	rps      float64
	cpu      time.Duration // process CPU time per request (client, gateway and upstream together)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (p phase) run(clients int, warmup, duration time.Duration) (result, error) {
	tr := &http.Transport{MaxIdleConns: clients * 2, MaxIdleConnsPerHost: clients * 2, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	start := time.Now()
	measureFrom, stop := start.Add(warmup), start.Add(warmup+duration)
	lat := make([][]time.Duration, clients)
	errs := make(chan error, clients)
	var count atomic.Int64
	var cpuStart, cpuEnd time.Duration
	go func() {
		time.Sleep(time.Until(measureFrom))
		cpuStart = cpuTime()
		time.Sleep(time.Until(stop))
		cpuEnd = cpuTime()
	}()
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", p.url, nil)
			req.Header.Set("Accept", "application/json")
			if p.cookie != nil {
				req.AddCookie(p.cookie)
			}
			for {
				t0 := time.Now()
				if t0.After(stop) {
					return
				}
				res, err := client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					errs <- fmt.Errorf("%s: status %d", p.name, res.StatusCode)
					return
				}
				if t0.After(measureFrom) {
					lat[i] = append(lat[i], time.Since(t0))
					count.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	time.Sleep(10 * time.Millisecond) // let the CPU sampler finish
	close(errs)
	if err := <-errs; err != nil {
		return result{}, err
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) == 0 {
		return result{}, fmt.Errorf("%s: no requests measured", p.name)
	}
	q := func(f float64) time.Duration { return all[min(len(all)-1, int(f*float64(len(all))))] }
	return result{p50: q(0.50), p99: q(0.99), rps: float64(len(all)) / duration.Seconds(),
		cpu: (cpuEnd - cpuStart) / time.Duration(max(1, count.Load()))}, nil
}

func median(rs []result) result {
	pick := func(f func(result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	return result{
		p50: time.Duration(pick(func(r result) float64 { return float64(r.p50) })),
		p99: time.Duration(pick(func(r result) float64 { return float64(r.p99) })),
		rps: pick(func(r result) float64 { return r.rps }),
		cpu: time.Duration(pick(func(r result) float64 { return float64(r.cpu) })),
	}
}
