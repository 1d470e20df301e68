// Command gatewaybench measures what the gateway adds to a request
// (docs/BENCHMARKS.md, section "gateway"): clients send GETs straight to a
// stand-in upstream, then through the gateway to the same upstream,
// anonymously to the shop route and as a signed-in manager to the CRM route
// (session lookup, identity token, CSRF token header). Two ways:
//
//   - closed loop (-clients): N clients back to back; their requests a
//     second are the capacity, their latency is mostly queueing;
//   - fixed rate (-rate): N clients (-rate-clients) share a schedule of R
//     requests a second, each request's latency counted from its due time
//     and, apart, from the moment it went out (without the load
//     generator's own lateness, reported as "lag").
//
// Each reports p50/p99 latency, what the gateway adds to them, and each
// process's CPU time per request (and the gateway's allocations).
// -caddy and -nginx measure those proxies in front of the same upstream in
// the same run; with -caddy, each table ends with the bar: the
// gateway's CPU per request against Caddy's, and its added p99.
//
// By default (-procs split) three processes share the machine: this one
// (the clients), a gateway process and an upstream process, both this
// program re-executed with -role; so the gateway's garbage collector and
// scheduler serve only the gateway, and its CPU is measured on its own.
// -procs one runs everything in this process, as earlier versions did.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fabrika/fabrika/platform/benchflag"
	"github.com/fabrika/fabrika/services/gateway"
)

type config struct {
	clients     []int
	rates       []benchflag.Rate // "2000" or "50%" (of the lowest closed-loop capacity through the gateway)
	rateClients int
	duration    time.Duration
	warmup      time.Duration
	rounds      int
	procs       string
	dsn         string
	logTo       string
	cpuprofile  string
	memprofile  string
	gatewayEnv  []string
	nginx       string // nginx binary for a reference proxy; "" for none
	caddy       string // Caddy binary for a reference proxy; "" for none
	upDelay     time.Duration
	otlp        bool   // the gateway exports its spans to otlpSink
	gogc        int    // this process's GOGC (clients; the upstream with -procs gateway)
	client      string // "raw" or "net/http": how the clients send
}

func main() {
	var c config
	clients := flag.String("clients", "1,64", "closed loop: concurrent clients, comma separated for several runs; empty for none")
	rates := flag.String("rate", "", "fixed rates in requests/s, comma separated (e.g. 1000,2000,4000), or percentages of the lowest closed-loop capacity through the gateway at the last -clients (e.g. 25%,50%,75%)")
	flag.IntVar(&c.rateClients, "rate-clients", 64, "clients sharing each fixed-rate schedule")
	flag.DurationVar(&c.duration, "duration", 5*time.Second, "measured time of each phase")
	flag.DurationVar(&c.warmup, "warmup", time.Second, "unmeasured time before each phase")
	flag.IntVar(&c.rounds, "rounds", 3, "rounds of (direct, shop, crm); medians are reported")
	flag.StringVar(&c.procs, "procs", "split", "split: gateway and upstream each in a process of their own; gateway: the gateway in a process of its own, the upstream in this one; one: everything in this process")
	flag.StringVar(&c.dsn, "dsn", "", "the gateway's database (default: SQLite in a temporary directory)")
	flag.StringVar(&c.logTo, "log-to", "", "append the gateway's access log to this file (default: discarded)")
	flag.StringVar(&c.cpuprofile, "cpuprofile", "", "write a CPU profile to this file: of the gateway process (-procs split) or of the whole run (-procs one)")
	flag.StringVar(&c.memprofile, "memprofile", "", "write an allocations profile to this file at the end: of the gateway process (-procs split) or of the whole run (-procs one)")
	gatewayEnv := flag.String("gateway-env", "", "-procs split: environment of the gateway process only, e.g. GOMAXPROCS=1,GOGC=200")
	flag.IntVar(&c.gogc, "gogc", 400, "GOGC of this process (the clients, and the upstream with -procs gateway; not the gateway's): the load generator's collections are noise in every phase's tail")
	flag.StringVar(&c.nginx, "nginx", "", "also measure nginx (this binary, e.g. /usr/sbin/nginx) as a reference proxy in front of the same upstream")
	flag.StringVar(&c.caddy, "caddy", "", "also measure Caddy's reverse_proxy (this binary, e.g. /usr/bin/caddy) in front of the same upstream: the peer the gateway's CPU per request is judged against")
	flag.DurationVar(&c.upDelay, "upstream-delay", 0, "the stand-in upstream waits this long before each answer, as a service does its own work (a database query); 0: it answers at once, which leaves the proxy's CPU the only work on the path")
	flag.BoolVar(&c.otlp, "otlp", false, "the gateway records its spans and exports them over OTLP/HTTP, to a sink in this process that discards them, as to a collector (default: no exporter, so spans get ids but are not recorded)")
	otlpAddr := flag.String("otlp-endpoint", "", "internal: the OTLP/HTTP endpoint of a -role gateway process")
	flag.StringVar(&c.client, "client", "raw", "raw: each client writes its request and reads the answer on its own keep-alive connection, on its own goroutine; net/http: net/http's client (a read and a write goroutine per connection), as before this flag")
	role := flag.String("role", "", "internal: serve as the upstream or gateway process of a split run")
	upstream := flag.String("upstream", "", "internal: the upstream URL of a -role gateway process")
	flag.Parse()
	if *role != "" {
		o := gatewayOptions{upstream: *upstream, dsn: c.dsn, logTo: c.logTo, upstreamDelay: c.upDelay, otlp: *otlpAddr}
		if err := runChild(*role, o, c.cpuprofile, c.memprofile); err != nil {
			fmt.Fprintf(os.Stderr, "gatewaybench %s: %v\n", *role, err)
			os.Exit(1)
		}
		return
	}
	err := c.parse(*clients, *rates, *gatewayEnv)
	if err == nil {
		err = run(c)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gatewaybench:", err)
		os.Exit(1)
	}
}

func (c *config) parse(clients, rates, gatewayEnv string) error {
	for cs := range strings.SplitSeq(clients, ",") {
		if cs = strings.TrimSpace(cs); cs == "" {
			continue
		}
		n, err := strconv.Atoi(cs)
		if err != nil || n < 1 {
			return fmt.Errorf("bad -clients %q", cs)
		}
		c.clients = append(c.clients, n)
	}
	rs, err := benchflag.ParseRates(rates)
	if err != nil {
		return fmt.Errorf("-rate: %w", err)
	}
	for _, r := range rs {
		if r.Relative() && len(c.clients) == 0 {
			return fmt.Errorf("-rate %s needs a closed-loop run (-clients) to take the percentage of", r)
		}
	}
	c.rates = rs
	for kv := range strings.SplitSeq(gatewayEnv, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return fmt.Errorf("bad -gateway-env %q: KEY=VALUE", kv)
		}
		c.gatewayEnv = append(c.gatewayEnv, kv)
	}
	if c.client != "raw" && c.client != "net/http" {
		return fmt.Errorf("bad -client %q: raw or net/http", c.client)
	}
	if c.procs != "split" && c.procs != "gateway" && c.procs != "one" {
		return fmt.Errorf("bad -procs %q: split, gateway or one", c.procs)
	}
	if len(c.gatewayEnv) > 0 && c.procs == "one" {
		return fmt.Errorf("-gateway-env needs the gateway in a process of its own (-procs split or gateway)")
	}
	if c.upDelay < 0 {
		return fmt.Errorf("-upstream-delay must not be negative")
	}
	if c.rounds < 1 || c.rateClients < 1 {
		return fmt.Errorf("-rounds and -rate-clients must be at least 1")
	}
	return nil
}

func run(c config) error {
	ctx := context.Background()
	if c.procs != "one" {
		debug.SetGCPercent(c.gogc)
	}
	var up, gw *server
	var procs []proc
	var otlp string
	var batches atomic.Int64
	if c.otlp {
		addr, stop, err := startOTLPSink(&batches)
		if err != nil {
			return err
		}
		defer stop()
		otlp = addr
	}
	if c.procs == "one" {
		endProfiles, err := startProfiles(c.cpuprofile, c.memprofile)
		if err != nil {
			return err
		}
		defer endProfiles()
		dir, err := os.MkdirTemp("", "gatewaybench")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		u, conns, stopUp, err := startUpstream(c.upDelay)
		if err != nil {
			return err
		}
		defer stopUp()
		g, stopGw, err := startGateway(ctx, gatewayOptions{upstream: u, dsn: c.dsn, dir: dir, logTo: c.logTo, otlp: otlp})
		if err != nil {
			return err
		}
		defer stopGw()
		up, gw = &server{url: u}, &server{url: g}
		procs = []proc{{name: "all", usage: func() (usage, error) {
			us := selfUsage()
			us.conns = conns.Load()
			return us, nil
		}}}
	} else {
		var err error
		if c.procs == "gateway" { // the upstream serves from this process
			u, conns, stopUp, err := startUpstream(c.upDelay)
			if err != nil {
				return err
			}
			defer stopUp()
			up = &server{url: u, usage: func() (usage, error) {
				us := selfUsage()
				us.conns = conns.Load()
				return us, nil
			}}
		} else {
			if up, err = startChild("upstream", nil, "-upstream-delay", c.upDelay.String()); err != nil {
				return err
			}
			defer up.stop()
		}
		args := []string{"-upstream", up.url, "-dsn", c.dsn, "-log-to", c.logTo, "-cpuprofile", c.cpuprofile, "-memprofile", c.memprofile, "-otlp-endpoint", otlp}
		if gw, err = startChild("gateway", c.gatewayEnv, args...); err != nil {
			return err
		}
		defer func() {
			if err := gw.stop(); err != nil {
				fmt.Fprintln(os.Stderr, "gatewaybench: gateway process:", err)
			}
		}()
		procs = []proc{
			{name: "clients", usage: func() (usage, error) { return selfUsage(), nil }},
			{name: "gateway", usage: gw.usage},
			{name: "upstream", usage: up.usage},
		}
		if c.procs == "gateway" {
			procs = []proc{{name: "clients+up", usage: up.usage}, {name: "gateway", usage: gw.usage}}
		}
	}
	cookie, err := signIn(gw.url, benchLogin, benchPassword)
	if err != nil {
		return err
	}
	phases := []phase{
		{name: "direct", url: up.url + "/crm/orders/01JABCDEF"},
		{name: "gateway / (shop, anonymous)", url: gw.url + "/products/01JABCDEF"},
		{name: "gateway /crm/ (manager)", url: gw.url + "/crm/orders/01JABCDEF", cookie: cookie},
	}
	if c.nginx != "" {
		ng, err := startNginx(c.nginx, up.url)
		if err != nil {
			return err
		}
		defer ng.stop()
		phases = append(phases, phase{name: "nginx (reference proxy)", url: ng.url + "/products/01JABCDEF"})
		procs = append(procs, proc{name: "nginx", usage: ng.usage})
	}
	if c.caddy != "" {
		cd, err := startCaddy(c.caddy, up.url)
		if err != nil {
			return err
		}
		defer cd.stop()
		phases = append(phases, phase{name: "caddy reverse_proxy", url: cd.url + "/products/01JABCDEF"})
		procs = append(procs, proc{name: "caddy", usage: cd.usage})
	}
	gogc := "100 (Go's default: one process)"
	if c.procs != "one" {
		gogc = strconv.Itoa(gateway.GCPercent) + " (gateway.GCPercent)"
	}
	for _, kv := range append(os.Environ(), c.gatewayEnv...) { // -gateway-env last: it wins
		if v, ok := strings.CutPrefix(kv, "GOGC="); ok {
			gogc = v
		}
	}
	clientsGOGC := 100 // -procs one: Go's default, as before this flag
	if c.procs != "one" {
		clientsGOGC = c.gogc
	}
	fmt.Printf("gatewaybench: GOMAXPROCS %d, NumCPU %d, processes %s, %s per phase after %s warm-up, %d rounds, database %s, gateway environment %q, gateway GOGC %s, clients' GOGC %d, client %s, upstream delay %s, spans exported %v\n",
		runtime.GOMAXPROCS(0), runtime.NumCPU(), c.procs, c.duration, c.warmup, c.rounds, engine(c.dsn), c.gatewayEnv, gogc, clientsGOGC, c.client, c.upDelay, c.otlp)

	var capacity float64 // lowest closed-loop req/s through the gateway, last -clients
	for _, n := range c.clients {
		ms, err := measure(phases, load{clients: n, warmup: c.warmup, duration: c.duration, client: c.client}, procs, c.rounds)
		if err != nil {
			return err
		}
		fmt.Printf("\nclosed loop, %d clients back to back (median of %d rounds)\n", n, c.rounds)
		report(phases, ms, procs, 0)
		capacity = min(ms[1].rps, ms[2].rps)
	}
	for _, rs := range c.rates {
		rate := rs.Of(capacity)
		ms, err := measure(phases, load{clients: c.rateClients, rate: rate, warmup: c.warmup, duration: c.duration, client: c.client}, procs, c.rounds)
		if err != nil {
			return err
		}
		fmt.Printf("\nfixed rate %.0f req/s (%s), %d clients sharing the schedule; latency from the due time (median of %d rounds)\n",
			rate, rs, c.rateClients, c.rounds)
		report(phases, ms, procs, rate)
	}
	if c.otlp {
		fmt.Printf("\nspan batches exported by the gateway so far: %d\n", batches.Load())
	}
	if up.usage != nil {
		if u, err := up.usage(); err == nil {
			fmt.Printf("\nupstream connections opened: %d\n", u.conns)
		}
	}
	return nil
}

// measure runs every phase once a round and returns each phase's medians.
func measure(phases []phase, l load, procs []proc, rounds int) ([]result, error) {
	results := make([][]result, len(phases))
	for range rounds {
		for i, p := range phases {
			r, err := p.run(l, procs)
			if err != nil {
				return nil, err
			}
			results[i] = append(results[i], r)
		}
	}
	ms := make([]result, len(phases))
	for i := range results {
		ms[i] = median(results[i])
	}
	return ms, nil
}

// report prints a table; rate is the fixed rate, 0 for a closed loop.
func report(phases []phase, ms []result, procs []proc, rate float64) {
	fixed := rate > 0
	fmt.Printf("%-28s %9s %9s %9s %10s %10s", "", "req/s", "p50", "p99", "added p50", "added p99")
	if fixed {
		fmt.Printf(" %9s %6s | sent: %7s %9s %10s %10s |", "lag p99", "missed", "p50", "p99", "added p50", "added p99")
	}
	for _, pr := range procs {
		fmt.Printf(" %12s", "CPU "+pr.name)
	}
	// Allocations and collections: of the gateway's process, or of the
	// only Go process.
	ai := 0
	for i, pr := range procs {
		if pr.name == "gateway" {
			ai = i
		}
	}
	fmt.Printf(" %14s %6s\n", "allocs "+procs[ai].name, "GC/s")
	base := ms[0]
	for i, p := range phases {
		m := ms[i]
		added := func(a, b time.Duration) string {
			if i == 0 {
				return "-"
			}
			return fmtDur(a - b)
		}
		fmt.Printf("%-28s %9.0f %9s %9s %10s %10s", p.name, m.rps, fmtDur(m.p50), fmtDur(m.p99), added(m.p50, base.p50), added(m.p99, base.p99))
		if fixed {
			fmt.Printf(" %9s %6d |       %7s %9s %10s %10s |", fmtDur(m.lagP99), m.missed,
				fmtDur(m.sp50), fmtDur(m.sp99), added(m.sp50, base.sp50), added(m.sp99, base.sp99))
		}
		for _, u := range m.use {
			fmt.Printf(" %10.1fµs", float64(u.cpu.Nanoseconds())/1000)
		}
		a := m.use[ai]
		fmt.Printf(" %5d, %5.1fKB %6.1f", a.mallocs, float64(a.bytes)/1024, a.gcs)
		if fixed && (m.rps < 0.97*rate || m.missed > 0) {
			fmt.Print("  BEHIND SCHEDULE: the machine did not keep up")
		}
		fmt.Println()
	}
	verdict(phases, ms, procs, fixed)
}

// verdict compares each gateway phase with Caddy's: the gateway's CPU per
// request against Caddy's (the bar: at most 1.5 times), and at a fixed
// rate the gateway's added p99 (the bar: below 1 ms).
func verdict(phases []phase, ms []result, procs []proc, fixed bool) {
	gi, ci, cp := -1, -1, -1
	for i, pr := range procs {
		switch pr.name {
		case "gateway":
			gi = i
		case "caddy":
			ci = i
		}
	}
	for i, p := range phases {
		if strings.HasPrefix(p.name, "caddy") {
			cp = i
		}
	}
	if gi < 0 || ci < 0 || cp < 0 {
		return
	}
	caddyCPU := ms[cp].use[ci].cpu
	for i, p := range phases {
		if !strings.HasPrefix(p.name, "gateway") {
			continue
		}
		ratio := float64(ms[i].use[gi].cpu) / float64(caddyCPU)
		fmt.Printf("%-28s CPU %.1fµs = %.2fx Caddy's %.1fµs (bar 1.5x: %s)", p.name,
			float64(ms[i].use[gi].cpu.Nanoseconds())/1000, ratio, float64(caddyCPU.Nanoseconds())/1000, pass(ratio <= 1.5))
		if fixed {
			added := ms[i].p99 - ms[0].p99
			fmt.Printf("; added p99 %s (bar < 1ms: %s; Caddy's %s)", fmtDur(added), pass(added < time.Millisecond), fmtDur(ms[cp].p99-ms[0].p99))
		}
		fmt.Println()
	}
}

func pass(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT MET"
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
