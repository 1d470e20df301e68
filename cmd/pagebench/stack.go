package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fabrika/fabrika/cmd/internal/loadgen"
	"github.com/fabrika/fabrika/platform/broker"
	"github.com/fabrika/fabrika/platform/broker/embedded"
	"github.com/fabrika/fabrika/platform/host"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/platform/outbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/gateway"
	gwmigrations "github.com/fabrika/fabrika/services/gateway/migrations"
	"go.opentelemetry.io/otel/trace/noop"
)

// serverTimes records the time the service spent on each request (its
// handler, inside the host's middleware), by scenario: the bench names the
// scenario in a query parameter the services ignore.
type serverTimes struct {
	mu sync.Mutex
	by map[string][]served
}

// served is one request the service answered: its query and its time.
type served struct {
	query string
	d     time.Duration
}

func (s *serverTimes) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		next.ServeHTTP(w, r)
		d := time.Since(start)
		if sc := r.URL.Query().Get("bench"); sc != "" {
			s.mu.Lock()
			s.by[sc] = append(s.by[sc], served{r.URL.RawQuery, d})
			s.mu.Unlock()
		}
	})
}

// take returns a scenario's server times and forgets them, with the
// queries of its slowest requests (slowest first, distinct, at most 3).
func (s *serverTimes) take(sc string) (loadgen.Latencies, []string) {
	if s == nil {
		return loadgen.Latencies{}, nil // an external gateway: the services' times are not seen here
	}
	s.mu.Lock()
	all := s.by[sc]
	delete(s.by, sc)
	s.mu.Unlock()
	d := make([]time.Duration, len(all))
	for i, x := range all {
		d[i] = x.d
	}
	slices.SortFunc(all, func(a, b served) int { return cmp.Compare(b.d, a.d) })
	var slowest []string
	for _, x := range all {
		if len(slowest) == 3 {
			break
		}
		if !slices.Contains(slowest, x.query) {
			slowest = append(slowest, x.query)
		}
	}
	return loadgen.Latencies{D: d}, slowest
}

// service is the measured service: its name, database and how it is built
// on its host, given the gateway's identity verifier and a scratch folder.
type service struct {
	name       string
	dsn        string
	migrations fs.FS
	// dbOptions: the pool's options, as the service's main passes them
	// (the CRM's PostgreSQL settings).
	dbOptions []sqldb.Option
	build     func(ctx context.Context, h *host.Host, v *identity.Verifier, dir string) (measured, error)
}

// measured is the measured service as its main runs it: its handler and
// its background work (the CRM folds its counters' changes every second:
// without the fold the bench's events pile up changes that every uncached
// page then sums).
type measured interface {
	Handler() http.Handler
	Background() []func(context.Context) error
}

// stack is the measured service and the gateway serving on loopback
// sockets in this process, each on its host with the host's middleware,
// and a producer (standing in for the services that emit order events)
// whose outbox sends events to the service's inbox through the embedded
// broker. The gateway trusts X-Forwarded-For from loopback, as it trusts
// the ingress in front of it (FABRIKA_TRUSTED_PROXIES): each bench session
// comes from its own client address.
type stack struct {
	gateway  string
	gwDB     *sqldb.DB
	producer *host.Host
	times    *serverTimes
	stop     func()
}

func startStack(ctx context.Context, hc httpConfig, svc service) (*stack, error) {
	if hc.gateway != "" {
		return external(ctx, hc)
	}
	st := &stack{times: &serverTimes{by: map[string][]served{}}}
	var closers cleanup
	st.stop = closers.run
	fail := func(err error) (*stack, error) { st.stop(); return nil, err }
	dir, err := os.MkdirTemp("", "pagebench")
	if err != nil {
		return nil, err
	}
	closers.add(func() { _ = os.RemoveAll(dir) })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ns, err := embedded.Start(embedded.Config{StoreDir: filepath.Join(dir, "nats")})
	if err != nil {
		return fail(err)
	}
	closers.add(ns.Shutdown)
	pub, priv, err := identity.GenerateKey()
	if err != nil {
		return fail(err)
	}
	open := func(name string, cfg host.Config) (*host.Host, error) {
		nc, err := broker.Connect(ns.ClientURL(), ns, "pagebench-"+name, log)
		if err != nil {
			return nil, err
		}
		closers.add(nc.Close)
		cfg.Service = name
		return host.Open(ctx, cfg, host.Deps{Logger: log, NATS: nc, TracerProvider: noop.NewTracerProvider()})
	}
	run := func(h *host.Host, handler http.Handler, background ...func(context.Context) error) {
		closers.start(ctx, func(ctx context.Context) { _ = h.Run(ctx, handler, background...) })
	}
	svcHost, err := open(svc.name, host.Config{DSN: svc.dsn, HTTPAddr: "127.0.0.1:0", Migrations: svc.migrations, DBOptions: svc.dbOptions})
	if err != nil {
		return fail(err)
	}
	built, err := svc.build(ctx, svcHost, identity.NewVerifier(svc.name, pub), dir)
	if err != nil {
		_ = svcHost.DB.Close()
		return fail(err)
	}
	run(svcHost, st.times.wrap(built.Handler()), built.Background()...)
	if svcHost.Addr() == "" {
		return fail(fmt.Errorf("the %s's host does not listen", svc.name))
	}
	// The producer: a host with the gateway's tables (any would do) whose
	// outbox relays the events.
	if st.producer, err = open("producer", host.Config{DSN: filepath.Join(dir, "producer.db"), Migrations: gwmigrations.FS}); err != nil {
		return fail(err)
	}
	run(st.producer, nil)
	gwHost, err := open("gateway", host.Config{DSN: filepath.Join(dir, "gateway.db"), Migrations: gwmigrations.FS})
	if err != nil {
		return fail(err)
	}
	closers.add(func() { _ = gwHost.DB.Close() })
	up := "http://" + svcHost.Addr()
	gw, err := gateway.New(ctx, gwHost, gateway.Config{Shop: up, CRM: up, MESOperator: up, MESAPI: up, Signer: identity.NewSigner(priv),
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	if err != nil {
		return fail(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	closers.start(ctx, func(ctx context.Context) { _ = gw.ServePublic(ctx, ln) })
	st.gateway, st.gwDB = "http://"+ln.Addr().String(), gwHost.DB
	return st, nil
}

// external is a stack whose service and gateway run elsewhere (the local
// cluster: `go run ./cmd/cluster up -replicas 2 -db-prefix pages`): the
// bench signs in at hc.gateway, creates its staff accounts in the gateway's
// database (hc.gatewayDSN) and, with hc.nats, sends the order events
// through a producer's outbox to that broker's stream (the cluster's
// services all see them, as they would a real order's). The services' own
// times are not seen from here (no server columns).
func external(ctx context.Context, hc httpConfig) (*stack, error) {
	st := &stack{gateway: strings.TrimSuffix(hc.gateway, "/")}
	var closers cleanup
	st.stop = closers.run
	fail := func(err error) (*stack, error) { st.stop(); return nil, err }
	if hc.gatewayDSN == "" {
		return nil, fmt.Errorf("-gateway needs -gateway-dsn (the gateway's database, for the bench's staff accounts)")
	}
	var err error
	if st.gwDB, err = sqldb.Open(ctx, hc.gatewayDSN); err != nil {
		return nil, err
	}
	closers.add(func() { _ = st.gwDB.Close() })
	if hc.nats == "" {
		return st, nil
	}
	dir, err := os.MkdirTemp("", "pagebench")
	if err != nil {
		return fail(err)
	}
	closers.add(func() { _ = os.RemoveAll(dir) })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	nc, err := broker.Connect(hc.nats, nil, "pagebench-producer", log)
	if err != nil {
		return fail(err)
	}
	closers.add(nc.Close)
	p, err := host.Open(ctx, host.Config{Service: "producer", DSN: filepath.Join(dir, "producer.db"), Migrations: gwmigrations.FS},
		host.Deps{Logger: log, NATS: nc, TracerProvider: noop.NewTracerProvider()})
	if err != nil {
		return fail(err)
	}
	closers.start(ctx, func(ctx context.Context) { _ = p.Run(ctx, nil) })
	st.producer = p
	return st, nil
}

// cleanup is what stops a stack: its functions, last added first.
type cleanup []func()

func (c *cleanup) add(f func()) { *c = append(*c, f) }

// start runs f in a goroutine until the stack stops: then its context
// ends and the stop waits for it to return.
func (c *cleanup) start(ctx context.Context, f func(context.Context)) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { f(ctx); close(done) }()
	c.add(func() { cancel(); <-done })
}

func (c *cleanup) run() {
	for i := len(*c) - 1; i >= 0; i-- {
		(*c)[i]()
	}
}

// client is session i's user agent, from its own client address.
func (st *stack) client(i int) *loadgen.Client {
	c := loadgen.New(st.gateway)
	c.ForwardedFor(fmt.Sprintf("10.%d.%d.%d", 20+i>>16&0xff, i>>8&0xff, i&0xff))
	return c
}

// events sends the messages that next makes through the producer's outbox
// at rate per second until the returned stop is called. It returns how
// many it sent.
func events(ctx context.Context, p *host.Host, rate float64, next func(i int, now time.Time) (outbox.Message, error)) (*atomic.Int64, func()) {
	sent := &atomic.Int64{}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if rate <= 0 || p == nil {
			return
		}
		sched := loadgen.NewSchedule(rate)
		for i := 0; ; i++ {
			if _, ok := sched.Wait(ctx, i); !ok {
				return
			}
			m, err := next(i, time.Now().UTC())
			if err == nil {
				err = p.DB.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error { return p.Outbox.Enqueue(ctx, tx, m) })
			}
			if err == nil {
				sent.Add(1)
			}
		}
	}()
	return sent, func() { cancel(); <-done }
}

// scenario is a measured page: each session's requests (the first pages
// of several values and the next pages of each, reached by their cursors;
// the same for every session when there is one list).
type scenario struct {
	name  string
	paths [][]string // by session, or one list for all
}

func (s scenario) pages() int {
	n := 0
	for _, p := range s.paths {
		n += len(p)
	}
	return n
}

// figures are one scenario's measurements.
type figures struct {
	name         string
	open, server loadgen.Latencies
	slowest      []string // the queries the service took longest on
	closed       loadgen.Latencies
	pages        int
}

// measure runs each scenario as an open loop at hc.rate (a random session,
// a random one of its pages), then as a closed loop over the sessions.
func measure(ctx context.Context, hc httpConfig, st *stack, sessions []session, sets []scenario) []figures {
	var figs []figures
	n := max(100, int(hc.rate*hc.seconds))
	for _, sc := range sets {
		get := func(ctx context.Context, s int) error {
			paths := sc.paths[s%len(sc.paths)]
			r, err := sessions[s].Do(ctx, loadgen.Request{Method: http.MethodGet, Path: paths[rand.IntN(len(paths))], Bearer: sessions[s].bearer})
			return loadgen.Check(r, err)
		}
		open := loadgen.FixedRate(ctx, hc.rate, n, func(ctx context.Context, i int) error { return get(ctx, rand.IntN(len(sessions))) })
		if open.FirstEr != nil {
			fmt.Fprintf(os.Stderr, "%s: %d errors, first: %v\n", sc.name, open.Errors, open.FirstEr)
		}
		server, slowest := st.times.take(sc.name)
		var closed loadgen.Latencies
		if hc.closedN > 0 {
			closed = loadgen.ClosedLoop(ctx, len(sessions), hc.closedN, func(ctx context.Context, w, i int) error { return get(ctx, w) })
			st.times.take(sc.name)
			if closed.FirstEr != nil {
				fmt.Fprintf(os.Stderr, "%s, closed loop: %d errors, first: %v\n", sc.name, closed.Errors, closed.FirstEr)
			}
		}
		figs = append(figs, figures{name: sc.name, open: open, server: server, slowest: slowest, closed: closed, pages: sc.pages()})
	}
	return figs
}

// session is a signed-in user agent: a staff member's cookies, or a shop
// customer's bearer token.
type session struct {
	*loadgen.Client
	bearer string
}

// follow returns the paths of the first n pages of a list for session s:
// prefix and query, then each next page by the cursor the previous one gave
// (fewer when the list ends). The scenario's name goes in the bench
// parameter.
func follow(ctx context.Context, s session, prefix, query, name string, n int) ([]string, error) {
	var paths []string
	cursor := ""
	for range n {
		v, _ := url.ParseQuery(query)
		if cursor != "" {
			v.Set("cursor", cursor)
		}
		v.Set("bench", name)
		path := prefix + v.Encode()
		paths = append(paths, path)
		r, err := s.Do(ctx, loadgen.Request{Method: http.MethodGet, Path: path, Bearer: s.bearer})
		if err := loadgen.Check(r, err); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		var page struct {
			Next string `json:"next_cursor"`
		}
		if err := json.Unmarshal(r.Body, &page); err != nil || page.Next == "" {
			break
		}
		cursor = page.Next
	}
	return paths, nil
}

// column returns the first column of a query's rows.
func column(ctx context.Context, db *sqldb.DB, query string, args ...any) ([]string, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// printTable prints the figures as a Markdown table against target.
func printTable(figs []figures, target time.Duration) {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d.Microseconds())/1000) }
	fmt.Printf("| scenario | pages | client p50 ms | **client p99 ms** | client max ms | server p50 / p99 ms | errors | target < %s | closed loop req/s (p99 ms) |\n", target)
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---|---:|")
	for _, f := range figs {
		met := "met"
		if f.open.Quantile(0.99) >= target || f.open.Errors > 0 {
			met = "**not met**"
		}
		cl := "-"
		if len(f.closed.D) > 0 {
			cl = fmt.Sprintf("%.0f (%s)", f.closed.PerSecond(), ms(f.closed.Quantile(0.99)))
		}
		server := "-"
		if len(f.server.D) > 0 {
			server = ms(f.server.Quantile(0.5)) + " / " + ms(f.server.Quantile(0.99))
		}
		fmt.Printf("| %s | %d | %s | %s | %s | %s | %d | %s | %s |\n", f.name, f.pages, ms(f.open.Quantile(0.5)), ms(f.open.Quantile(0.99)), ms(f.open.Quantile(1)),
			server, f.open.Errors, met, cl)
	}
	for _, f := range figs {
		if f.open.Quantile(0.99) >= target && len(f.slowest) > 0 {
			fmt.Printf("\n%s: the service's slowest requests were ?%s\n", f.name, strings.Join(f.slowest, ", ?"))
		}
	}
}
