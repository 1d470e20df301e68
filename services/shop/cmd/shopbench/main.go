// Command shopbench measures the shop on PostgreSQL (docs/BENCHMARKS.md,
// section "shop"):
//
//   - place: orders placed through the HTTP API by concurrent clients, against
//     a raw loop inserting the same rows (order, lines, outbox message) in
//     one transaction each, in the same run;
//   - list: "my orders" for a customer with 10,000 orders in a database of
//     1,000,000, first page and a deep page, under concurrent readers.
//
// It runs the real service in-process (host, outbox relay, inbox, embedded
// NATS) on a fresh database it creates from -dsn.
package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/benchflag"
	"github.com/fabrika/fabrika/platform/broker"
	"github.com/fabrika/fabrika/platform/broker/embedded"
	"github.com/fabrika/fabrika/platform/host"
	"github.com/fabrika/fabrika/platform/ratelimit"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/shop"
	"github.com/fabrika/fabrika/services/shop/internal/order"
	"github.com/fabrika/fabrika/services/shop/internal/store"
	"github.com/fabrika/fabrika/services/shop/migrations"
)

type config struct {
	dsn, dbName, mode    string
	clients              int
	duration, warmup     time.Duration
	lines                int
	totalOrders, mine    int
	pageSize, deepOffset int
	cpuProfile           string
	fresh                bool
	rounds               int
	rates                []benchflag.Rate
	pageCache            []bool
}

func main() {
	var c config
	var rates, caches string
	flag.StringVar(&c.dsn, "dsn", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "PostgreSQL admin DSN; the benchmark database is created beside it")
	flag.StringVar(&c.dbName, "db", "fabrika_shopbench", "benchmark database (dropped and created)")
	flag.StringVar(&c.mode, "mode", "all", "place, list or all")
	flag.IntVar(&c.clients, "clients", 32, "concurrent clients / readers")
	flag.DurationVar(&c.duration, "duration", 20*time.Second, "measured time of each phase (place: of all rounds together)")
	flag.DurationVar(&c.warmup, "warmup", 3*time.Second, "unmeasured time before each phase")
	flag.IntVar(&c.lines, "lines", 3, "lines per placed order")
	flag.IntVar(&c.rounds, "rounds", 4, "place: alternating rounds of HTTP and raw loop, duration split among them")
	flag.IntVar(&c.totalOrders, "orders", 1_000_000, "orders in the database for the list phase")
	flag.IntVar(&c.mine, "mine", 10_000, "orders of the measured customer")
	flag.IntVar(&c.pageSize, "page", 20, "page size of my orders")
	flag.IntVar(&c.deepOffset, "deep", 9_000, "position of the deep page")
	flag.BoolVar(&c.fresh, "fresh", true, "drop and create the database; false reuses it (e.g. -mode list again on the loaded orders)")
	flag.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the measured phases (not the set-up, sign-ups or load) to this file")
	flag.StringVar(&rates, "rate", "25%,50%,75%", "fixed-rate (open-loop) phases after each closed-loop one: requests/s shared by the clients, "+
		"or N% of the closed-loop throughput just measured; \"\" for none")
	flag.StringVar(&caches, "page-cache", "off,on", "list: run the pages with the shop's \"my orders\" page cache off, on, or both (off,on)")
	flag.Parse()
	var err error
	if c.rates, err = benchflag.ParseRates(rates); err != nil {
		fmt.Fprintln(os.Stderr, "shopbench: -rate:", err)
		os.Exit(2)
	}
	if c.pageCache, err = parseCaches(caches); err != nil {
		fmt.Fprintln(os.Stderr, "shopbench: -page-cache:", err)
		os.Exit(2)
	}
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "shopbench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func parseCaches(s string) ([]bool, error) {
	var out []bool
	for _, f := range strings.Split(s, ",") {
		switch strings.TrimSpace(f) {
		case "off":
			out = append(out, false)
		case "on":
			out = append(out, true)
		default:
			return nil, fmt.Errorf("want off, on or off,on; got %q", s)
		}
	}
	return out, nil
}

// bench is the benchmark's environment: the database, the broker, and the
// shop instance currently running.
type bench struct {
	cfg     config
	dsn     string
	nc      *nats.Conn
	log     *slog.Logger
	h       *host.Host
	base    string
	client  *http.Client
	server  *recorder
	cpu     *cpuMeter
	profile *profiler
	stop    func() error
}

// recorder keeps the server time of every request: from the start of the
// host's handler (the platform's middleware included) to its last byte,
// without the client's share.
type recorder struct {
	mu  sync.Mutex
	on  atomic.Bool
	lat []time.Duration
}

func (r *recorder) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		start := time.Now()
		next.ServeHTTP(w, req)
		if r.on.Load() {
			d := time.Since(start)
			r.mu.Lock()
			r.lat = append(r.lat, d)
			r.mu.Unlock()
		}
	})
}

func (r *recorder) take() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.lat
	r.lat = nil
	return out
}

// profiler writes one CPU profile over the measured phases.
type profiler struct {
	path    string
	started bool
}

func (p *profiler) start() {
	if p.path == "" || p.started {
		return
	}
	f, err := os.Create(p.path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "shopbench: cpuprofile:", err)
		p.path = ""
		return
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, "shopbench: cpuprofile:", err)
		p.path = ""
		return
	}
	p.started = true
}

func run(c config) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dsn, err := database(ctx, c.dsn, c.dbName, c.fresh)
	if err != nil {
		return err
	}
	ns, stopNATS, err := embedded.StartTemp()
	if err != nil {
		return err
	}
	defer stopNATS()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	nc, err := broker.Connect(ns.ClientURL(), ns, "shopbench", log)
	if err != nil {
		return err
	}
	defer nc.Close()
	b := &bench{cfg: c, dsn: dsn, nc: nc, log: log, server: &recorder{}, profile: &profiler{path: c.cpuProfile},
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2 * c.clients}}}
	defer pprof.StopCPUProfile()
	if err := b.startShop(ctx, shop.Config{}); err != nil {
		return err
	}
	defer func() { _ = b.stopShop() }()
	if err := b.h.DB.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		_, err := store.New(b.h.DB).SavePriceList(ctx, tx, contracts.DemoPriceList(time.Now()), time.Now()) // kept when it exists
		return err
	}); err != nil {
		return err
	}
	fmt.Printf("shopbench: PostgreSQL %s, %d clients, %s per phase, GOMAXPROCS=%d\n", serverVersion(ctx, b.h.DB), c.clients, c.duration, runtimeProcs())
	if c.mode == "place" || c.mode == "all" {
		if err := b.place(ctx); err != nil {
			return err
		}
	}
	if c.mode == "list" || c.mode == "all" {
		if err := b.list(ctx); err != nil {
			return err
		}
	}
	return b.stopShop()
}

// startShop runs a shop instance (host, outbox relay, inbox) on the
// benchmark's database and broker, served on a port of its own.
func (b *bench) startShop(ctx context.Context, cfg shop.Config) error {
	ctx, cancel := context.WithCancel(ctx)
	h, err := host.Open(ctx, host.Config{Service: "shop", DSN: b.dsn, Migrations: migrations.FS, AdminAddr: "127.0.0.1:0"},
		host.Deps{Logger: b.log, NATS: b.nc, TracerProvider: noop.NewTracerProvider()})
	if err != nil {
		cancel()
		return err
	}
	cfg.CookieSecure = false
	cfg.AttemptsPerIP = ratelimit.Rate{Events: 1 << 20, Per: time.Second}
	cfg.SignUpsPerIP = cfg.AttemptsPerIP
	cfg.SignUpSignsIn = true // the benchmark's customers sign up and order at once
	if cfg.MailDir, err = os.MkdirTemp("", "shopbench-mail"); err != nil {
		cancel()
		return err
	}
	svc, err := shop.New(ctx, h, cfg)
	if err != nil {
		cancel()
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		return err
	}
	srv := &http.Server{Handler: b.server.wrap(h.Handler(svc.Handler())), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx, nil, svc.Background()...) }()
	b.h, b.base = h, "http://"+ln.Addr().String()
	b.cpu = &cpuMeter{db: h.DB}
	b.stop = func() error {
		_ = srv.Shutdown(context.WithoutCancel(ctx))
		cancel()
		return <-done
	}
	return b.waitReady()
}

func (b *bench) stopShop() error {
	if b.stop == nil {
		return nil
	}
	stop := b.stop
	b.stop = nil
	b.client.CloseIdleConnections()
	return stop()
}

func database(ctx context.Context, admin, name string, fresh bool) (string, error) {
	db, err := sql.Open("pgx", admin)
	if err != nil {
		return "", err
	}
	defer db.Close()
	if fresh {
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			return "", fmt.Errorf("drop %s: %w", name, err)
		}
		if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
			return "", fmt.Errorf("create %s: %w", name, err)
		}
	}
	u, err := url.Parse(admin)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}

func serverVersion(ctx context.Context, db *sqldb.DB) string {
	var v string
	_ = db.QueryRowContext(ctx, "SHOW server_version").Scan(&v)
	return v
}

func (b *bench) waitReady() error {
	for range 200 {
		res, err := b.client.Get("http://" + b.h.AdminAddr() + "/readyz") // the admin listener's, not the public one's
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("shop not ready")
}

func (b *bench) call(method, path, token string, body []byte, hdr map[string]string) (int, []byte, error) {
	req, err := http.NewRequest(method, b.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := b.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	return res.StatusCode, out, err
}

func (b *bench) signUp(i int) (token, customerID string, err error) {
	body, _ := json.Marshal(map[string]string{"email": fmt.Sprintf("bench%d-%d@example.com", i, time.Now().UnixNano()), "name": "Bench", "password": "correct horse battery staple"})
	code, out, err := b.call("POST", "/shop/api/v1/accounts", "", body, nil)
	if err != nil || code != 201 {
		return "", "", fmt.Errorf("sign up: %d %s %v", code, out, err)
	}
	var s struct {
		Token    string
		Customer struct{ ID string }
	}
	if err := json.Unmarshal(out, &s); err != nil {
		return "", "", err
	}
	return s.Token, s.Customer.ID, nil
}

func orderJSON(lines int) []byte {
	r := order.Request{
		Delivery: contracts.Address{Line1: "Hauptstrasse 1", City: "Berlin", PostalCode: "10115", Country: "DE"},
		Contact:  order.Contact{Name: "Bench Buyer", Email: "bench@example.com", Phone: "+49 30 123456"},
	}
	for i := range lines {
		r.Lines = append(r.Lines, contracts.Config{Product: "laser_cut_sheet", Quantity: 10 + i, Lead: "standard",
			Options: map[string]string{"material": "steel_s235", "width_mm": "200", "height_mm": "100", "thickness_mm": "2", "finish": "powder_coat"}})
	}
	b, _ := json.Marshal(r)
	return b
}

// stats summarises latencies.
type stats struct {
	n             int
	perSec        float64
	p50, p99, max time.Duration
}

func summarise(lat []time.Duration, d time.Duration) stats {
	if len(lat) == 0 {
		return stats{}
	}
	slices.Sort(lat)
	q := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	return stats{n: len(lat), perSec: float64(len(lat)) / d.Seconds(), p50: q(0.50), p99: q(0.99), max: lat[len(lat)-1]}
}

func (s stats) String() string {
	return fmt.Sprintf("%8.0f/s  n=%-7d p50 %6.2f ms  p99 %6.2f ms  max %6.2f ms", s.perSec, s.n, ms(s.p50), ms(s.p99), ms(s.max))
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
