package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fabrika/fabrika/cmd/internal/loadgen"
	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/broker"
	"github.com/fabrika/fabrika/platform/broker/embedded"
	"github.com/fabrika/fabrika/platform/host"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/platform/outbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/crm"
	"github.com/fabrika/fabrika/services/gateway"
	gwmigrations "github.com/fabrika/fabrika/services/gateway/migrations"
	"go.opentelemetry.io/otel/trace/noop"
)

// httpConfig is the bench's configuration.
type httpConfig struct {
	sessions    int
	rate        float64
	seconds     float64
	eventRate   float64
	pages       int
	samples     int
	closedN     int
	cacheSize   int
	concurrency int
	only        *regexp.Regexp
}

// serverTimes records the time the CRM spent on each request (its
// admission line, handler and JSON, inside the host's middleware), by
// scenario: the bench names the scenario in a query parameter the CRM
// ignores.
type serverTimes struct {
	mu sync.Mutex
	by map[string][]time.Duration
}

func (s *serverTimes) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		next.ServeHTTP(w, r)
		d := time.Since(start)
		if sc := r.URL.Query().Get("bench"); sc != "" {
			s.mu.Lock()
			s.by[sc] = append(s.by[sc], d)
			s.mu.Unlock()
		}
	})
}

func (s *serverTimes) take(sc string) loadgen.Latencies {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.by[sc]
	delete(s.by, sc)
	return loadgen.Latencies{D: d}
}

// stack is the CRM and the gateway serving on loopback sockets in this
// process, each on its host with the host's middleware, and a producer
// (standing in for the shop and the MES) whose outbox sends order events
// to the CRM's inbox through the embedded broker.
type stack struct {
	gateway  string
	producer *host.Host
	times    *serverTimes
	stop     func()
}

func startStack(ctx context.Context, dsn string, hc httpConfig) (*stack, error) {
	var closers []func()
	st := &stack{times: &serverTimes{by: map[string][]time.Duration{}}}
	st.stop = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	fail := func(err error) (*stack, error) { st.stop(); return nil, err }
	dir, err := os.MkdirTemp("", "crm-bench")
	if err != nil {
		return nil, err
	}
	closers = append(closers, func() { _ = os.RemoveAll(dir) })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ns, err := embedded.Start(embedded.Config{StoreDir: filepath.Join(dir, "nats")})
	if err != nil {
		return fail(err)
	}
	closers = append(closers, ns.Shutdown)
	pub, priv, err := identity.GenerateKey()
	if err != nil {
		return fail(err)
	}
	runHost := func(name string, cfg host.Config, app func(h *host.Host) (http.Handler, error)) (*host.Host, error) {
		nc, err := broker.Connect(ns.ClientURL(), ns, "crm-bench-"+name, log)
		if err != nil {
			return nil, err
		}
		closers = append(closers, nc.Close)
		cfg.Service = name
		h, err := host.Open(ctx, cfg, host.Deps{Logger: log, NATS: nc, TracerProvider: noop.NewTracerProvider()})
		if err != nil {
			return nil, err
		}
		handler, err := app(h)
		if err != nil {
			_ = h.DB.Close()
			return nil, err
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { _ = h.Run(rctx, handler); close(done) }()
		closers = append(closers, func() { cancel(); <-done })
		return h, nil
	}
	crmHost, err := runHost("crm", host.Config{DSN: dsn, HTTPAddr: "127.0.0.1:0", Migrations: crm.Migrations}, func(h *host.Host) (http.Handler, error) {
		svc, err := crm.New(ctx, h, crm.Config{Identity: identity.NewVerifier("crm", pub), CacheSize: hc.cacheSize, Concurrency: hc.concurrency})
		if err != nil {
			return nil, err
		}
		return st.times.wrap(svc.Handler()), nil
	})
	if err != nil {
		return fail(err)
	}
	// The producer: a host with the gateway's tables (any would do) whose
	// outbox relays the events.
	if st.producer, err = runHost("producer", host.Config{DSN: filepath.Join(dir, "producer.db"), Migrations: gwmigrations.FS},
		func(*host.Host) (http.Handler, error) { return nil, nil }); err != nil {
		return fail(err)
	}
	if crmHost.Addr() == "" {
		return fail(fmt.Errorf("the CRM's host does not listen"))
	}
	crmURL := "http://" + crmHost.Addr()
	gwHost, err := func() (*host.Host, error) {
		nc, err := broker.Connect(ns.ClientURL(), ns, "crm-bench-gateway", log)
		if err != nil {
			return nil, err
		}
		closers = append(closers, nc.Close)
		return host.Open(ctx, host.Config{Service: "gateway", DSN: filepath.Join(dir, "gateway.db"), Migrations: gwmigrations.FS}, host.Deps{Logger: log, NATS: nc, TracerProvider: noop.NewTracerProvider()})
	}()
	if err != nil {
		return fail(err)
	}
	closers = append(closers, func() { _ = gwHost.DB.Close() })
	gw, err := gateway.New(ctx, gwHost, gateway.Config{Shop: crmURL, CRM: crmURL, MESOperator: crmURL, MESAPI: crmURL, Signer: identity.NewSigner(priv)})
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
	closers = append(closers, func() { cancel(); <-done })
	for i := range hc.sessions {
		if err := gateway.CreateStaff(ctx, gwHost.DB, staffLogin(i), benchPassword, identity.RoleManager, nil); err != nil {
			return fail(err)
		}
	}
	st.gateway = "http://" + ln.Addr().String()
	return st, nil
}

const benchPassword = "quiet lantern 7 harbour"

func staffLogin(i int) string { return fmt.Sprintf("bench%03d", i) }

// events sends order events through the producer's outbox at rate per
// second until ctx ends: in turn a new order placed by an existing
// customer and an existing order going into production. It returns how
// many it sent.
func events(ctx context.Context, p *host.Host, rate float64, customers, orders []string) (*atomic.Int64, func()) {
	sent := &atomic.Int64{}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if rate <= 0 {
			return
		}
		tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
		defer tick.Stop()
		run := time.Now().UnixNano()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			now := time.Now().UTC()
			var m outbox.Message
			var err error
			if i%2 == 0 {
				id := fmt.Sprintf("bench-%d-%d", run, i)
				cust := customers[rand.IntN(len(customers))]
				m, err = outbox.NewMessage(contracts.Subject(contracts.OrderPlaced), id, contracts.OrderPlacedV1{OrderID: id, Number: fmt.Sprintf("B-%d-%d", run%100000, i),
					Channel: contracts.ChannelShop, Customer: contracts.Customer{ID: cust, Name: "Bench Customer", Email: "bench@example.com"},
					Currency: "EUR", QuotedTotal: 1000, PlacedAt: now,
					Lines: []contracts.LineItem{{LineNo: 1, Product: "plate", Quantity: 2, Lead: "standard", UnitPrice: 500, Total: 1000}}})
			} else {
				id := orders[rand.IntN(len(orders))]
				m, err = outbox.NewMessage(contracts.Subject(contracts.OrderInProduction), id, contracts.OrderStatusChangedV1{OrderID: id, At: now})
			}
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

// pageSet is a scenario's requests: the first pages of several values
// (searches) and the next pages of each, reached by their cursors.
type pageSet struct {
	name  string
	paths []string
}

func runCRM(ctx context.Context, hc httpConfig, db *sqldb.DB, dsn string) error {
	loadStart := loadavg()
	var orders int64
	if err := db.QueryRowContext(ctx, `SELECT n FROM crm_counters WHERE name = 'all'`).Scan(&orders); err != nil {
		return fmt.Errorf("no CRM data (run crm-datagen): %w", err)
	}
	// Sample values that exist in the data, spread over it.
	type sample struct{ email, name, number, company, customer, order, manager string }
	var samples []sample
	rows, err := db.QueryContext(ctx, `SELECT customer_email, customer_name, number, customer_company, customer_id, order_id, manager FROM crm_order_list
		WHERE status IN ('confirmed', 'priced') ORDER BY order_id DESC LIMIT $1`, hc.samples*20)
	if err != nil {
		return err
	}
	for rows.Next() {
		var s sample
		if err := rows.Scan(&s.email, &s.name, &s.number, &s.company, &s.customer, &s.order, &s.manager); err != nil {
			rows.Close()
			return err
		}
		samples = append(samples, s)
	}
	rows.Close()
	if len(samples) < hc.samples {
		return fmt.Errorf("only %d confirmed or priced orders to sample", len(samples))
	}
	rand.Shuffle(len(samples), func(i, j int) { samples[i], samples[j] = samples[j], samples[i] })
	var customers, orderIDs []string
	values := map[string][]string{}
	for _, s := range samples[:hc.samples] {
		customers = append(customers, s.customer)
		orderIDs = append(orderIDs, s.order)
		values["search order number"] = append(values["search order number"], s.number)
		values["search e-mail"] = append(values["search e-mail"], s.email[:strings.IndexByte(s.email, '@')])
		values["search last name"] = append(values["search last name"], s.name[strings.LastIndex(s.name, " ")+1:])
		if f := strings.Fields(s.company); len(f) > 2 {
			values["search company"] = append(values["search company"], f[0]+" "+f[1]+" "+f[2])
		}
		if s.manager != "" {
			values["manager"] = append(values["manager"], "manager="+url.QueryEscape(s.manager))
		}
		values["customer"] = append(values["customer"], "customer="+url.QueryEscape(s.customer))
	}
	for _, k := range []string{"search order number", "search e-mail", "search last name", "search company"} {
		for i, v := range values[k] {
			values[k][i] = "q=" + url.QueryEscape(v)
		}
	}
	to := time.Now().UTC()
	from := to.AddDate(0, 0, -30)
	single := func(q ...string) []string { return q }
	all := []struct {
		name    string
		queries []string
	}{
		{"no filter", single("")},
		{"status=placed", single("status=placed")},
		{"status=in_production", single("status=in_production")},
		{"status=shipped", single("status=shipped")},
		{"channel=shop", single("channel=shop")},
		{"channel=api", single("channel=api")},
		{"manager", values["manager"]},
		{"customer", values["customer"]},
		{"date range (30 days)", single("from=" + from.Format(time.DateOnly) + "&to=" + to.Format(time.DateOnly))},
		{"sort=total", single("sort=total")},
		{"search order number", values["search order number"]},
		{"search e-mail", values["search e-mail"]},
		{"search last name", values["search last name"]},
		{"search company", values["search company"]},
	}

	st, err := startStack(ctx, dsn, hc)
	if err != nil {
		return err
	}
	defer st.stop()
	clients := make([]*loadgen.Client, hc.sessions)
	for i := range clients {
		clients[i] = loadgen.New(st.gateway)
		if err := clients[i].SignInStaff(ctx, staffLogin(i), benchPassword); err != nil {
			return err
		}
	}
	// Each scenario's pages: every value's first page and its next pages.
	var sets []pageSet
	for _, s := range all {
		if hc.only != nil && !hc.only.MatchString(s.name) {
			continue
		}
		if len(s.queries) == 0 {
			continue
		}
		ps := pageSet{name: s.name}
		for _, q := range s.queries {
			cursor := ""
			for p := 0; p < hc.pages; p++ {
				v, _ := url.ParseQuery(q)
				if cursor != "" {
					v.Set("cursor", cursor)
				}
				v.Set("bench", s.name)
				path := "/crm/api/v1/orders?" + v.Encode()
				ps.paths = append(ps.paths, path)
				r, err := clients[0].Get(ctx, path)
				if err := loadgen.Check(r, err); err != nil {
					return fmt.Errorf("%s: %w", s.name, err)
				}
				var page struct {
					Next string `json:"next_cursor"`
				}
				if err := json.Unmarshal(r.Body, &page); err != nil || page.Next == "" {
					break
				}
				cursor = page.Next
			}
		}
		st.times.take(s.name)
		sets = append(sets, ps)
	}

	sent, stopEvents := events(ctx, st.producer, hc.eventRate, customers, orderIDs)
	evStart := time.Now()
	type fig struct {
		name         string
		open, server loadgen.Latencies
		closed       loadgen.Latencies
		pages        int
	}
	var figs []fig
	n := max(100, int(hc.rate*hc.seconds))
	for _, ps := range sets {
		get := func(ctx context.Context, session, i int) error {
			r, err := clients[session%len(clients)].Get(ctx, ps.paths[i%len(ps.paths)])
			return loadgen.Check(r, err)
		}
		open := loadgen.FixedRate(ctx, hc.rate, n, func(ctx context.Context, i int) error {
			return get(ctx, rand.IntN(len(clients)), rand.IntN(len(ps.paths)))
		})
		if open.FirstEr != nil {
			fmt.Fprintf(os.Stderr, "%s: %d errors, first: %v\n", ps.name, open.Errors, open.FirstEr)
		}
		server := st.times.take(ps.name)
		var closed loadgen.Latencies
		if hc.closedN > 0 {
			closed = loadgen.ClosedLoop(ctx, len(clients), hc.closedN, func(ctx context.Context, w, i int) error { return get(ctx, w, rand.IntN(len(ps.paths))) })
			st.times.take(ps.name)
		}
		figs = append(figs, fig{name: ps.name, open: open, server: server, closed: closed, pages: len(ps.paths)})
	}
	stopEvents()
	evRate := float64(sent.Load()) / time.Since(evStart).Seconds()

	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d.Microseconds())/1000) }
	fmt.Printf("CRM orders list over HTTP through the gateway: %d orders, %d staff sessions signed in at the gateway, %.0f requests/s per scenario for %d requests (open loop, ticker), order events at %.1f/s through the CRM's inbox during the reads\n",
		orders, hc.sessions, hc.rate, n, evRate)
	fmt.Printf("load average (1 min) at start %s, at end %s; page cache size %d (default 0 = the service's)\n\n", loadStart, loadavg(), hc.cacheSize)
	fmt.Println("| scenario | pages | client p50 ms | **client p99 ms** | client max ms | server p50 / p99 ms | errors | target < 20 ms | closed loop req/s (p99 ms) |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---|---:|")
	for _, f := range figs {
		met := "met"
		if f.open.Quantile(0.99) >= 20*time.Millisecond || f.open.Errors > 0 {
			met = "**not met**"
		}
		cl := "-"
		if len(f.closed.D) > 0 {
			cl = fmt.Sprintf("%.0f (%s)", f.closed.PerSecond(), ms(f.closed.Quantile(0.99)))
		}
		fmt.Printf("| %s | %d | %s | %s | %s | %s / %s | %d | %s | %s |\n", f.name, f.pages, ms(f.open.Quantile(0.5)), ms(f.open.Quantile(0.99)), ms(f.open.Quantile(1)),
			ms(f.server.Quantile(0.5)), ms(f.server.Quantile(0.99)), f.open.Errors, met, cl)
	}
	return nil
}
