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
	"net/http"
	"net/url"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/broker"
	"github.com/fabrika/fabrika/platform/host"
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
}

func main() {
	var c config
	flag.StringVar(&c.dsn, "dsn", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "PostgreSQL admin DSN; the benchmark database is created beside it")
	flag.StringVar(&c.dbName, "db", "fabrika_shopbench", "benchmark database (dropped and created)")
	flag.StringVar(&c.mode, "mode", "all", "place, list or all")
	flag.IntVar(&c.clients, "clients", 32, "concurrent clients / readers")
	flag.DurationVar(&c.duration, "duration", 20*time.Second, "measured time of each phase")
	flag.DurationVar(&c.warmup, "warmup", 3*time.Second, "unmeasured time before each phase")
	flag.IntVar(&c.lines, "lines", 3, "lines per placed order")
	flag.IntVar(&c.rounds, "rounds", 4, "place: alternating rounds of HTTP and raw loop, duration split among them")
	flag.IntVar(&c.totalOrders, "orders", 1_000_000, "orders in the database for the list phase")
	flag.IntVar(&c.mine, "mine", 10_000, "orders of the measured customer")
	flag.IntVar(&c.pageSize, "page", 20, "page size of my orders")
	flag.IntVar(&c.deepOffset, "deep", 9_000, "position of the deep page")
	flag.BoolVar(&c.fresh, "fresh", true, "drop and create the database; false reuses it (e.g. -mode list again on the loaded orders)")
	flag.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	if c.cpuProfile != "" {
		f, err := os.Create(c.cpuProfile)
		if err == nil {
			_ = pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
	}
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "shopbench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

// bench is the running shop.
type bench struct {
	cfg    config
	dsn    string
	h      *host.Host
	base   string
	client *http.Client
	server *recorder
}

// recorder keeps the server time of every request: from the handler's
// start to its last byte, without the client's share.
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

func run(c config) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dsn, err := database(ctx, c.dsn, c.dbName, c.fresh)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "shopbench-nats")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ns, err := broker.StartEmbedded(broker.EmbeddedConfig{StoreDir: dir})
	if err != nil {
		return err
	}
	defer ns.Shutdown()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	nc, err := broker.Connect(ns.ClientURL(), ns, "shopbench", log)
	if err != nil {
		return err
	}
	defer nc.Close()
	h, err := host.Open(ctx, host.Config{Service: "shop", DSN: dsn, HTTPAddr: "127.0.0.1:0", Migrations: migrations.FS},
		host.Deps{Logger: log, NATS: nc, TracerProvider: noop.NewTracerProvider()})
	if err != nil {
		return err
	}
	svc, err := shop.New(ctx, h, shop.Config{CookieSecure: false, LoginPerIP: 1 << 20})
	if err != nil {
		return err
	}
	b := &bench{cfg: c, dsn: dsn, h: h, base: "http://" + h.Addr(), server: &recorder{},
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2 * c.clients}}}
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx, b.server.wrap(svc.Handler()), svc.Background()...) }()
	if err := b.waitReady(); err != nil {
		return err
	}
	if err := h.DB.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		_, err := store.New(h.DB).SavePriceList(ctx, tx, contracts.DemoPriceList(time.Now()), time.Now()) // kept when it exists
		return err
	}); err != nil {
		return err
	}
	fmt.Printf("shopbench: PostgreSQL %s, %d clients, %s per phase, GOMAXPROCS=%d\n", serverVersion(ctx, h.DB), c.clients, c.duration, runtimeProcs())
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
	cancel()
	<-done
	return nil
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
		res, err := b.client.Get(b.base + "/readyz")
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
	body, _ := json.Marshal(map[string]string{"email": fmt.Sprintf("bench%d-%d@example.com", i, time.Now().UnixNano()), "name": "Bench", "password": "benchmark password"})
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
		r.Lines = append(r.Lines, order.Line{Product: "laser_cut_sheet", Quantity: 10 + i, Lead: "standard",
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

// phase runs fn in n goroutines: warm-up first, then the measured time; fn
// returns the latency of one operation.
func phase(n int, warmup, measure time.Duration, alsoOn *atomic.Bool, fn func(worker, i int) (time.Duration, error)) ([]time.Duration, time.Duration, error) {
	var measuring atomic.Bool
	stop := make(chan struct{})
	var wg sync.WaitGroup
	lats := make([][]time.Duration, n)
	errs := make(chan error, n)
	for w := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				d, err := fn(w, i)
				if err != nil {
					errs <- err
					return
				}
				if measuring.Load() {
					lats[w] = append(lats[w], d)
				}
			}
		}()
	}
	time.Sleep(warmup)
	measuring.Store(true)
	if alsoOn != nil {
		alsoOn.Store(true)
	}
	start := time.Now()
	time.Sleep(measure)
	measuring.Store(false)
	if alsoOn != nil {
		alsoOn.Store(false)
	}
	elapsed := time.Since(start)
	close(stop)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, 0, err
	}
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	return all, elapsed, nil
}
