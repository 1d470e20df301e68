// Command floorbench measures the floor under the CPU an order costs in
// Fabrika's architecture: an order's requests and messages with nothing
// else to do. Every request goes through a reverse proxy to a handler that
// runs one transaction of one write, some of which also enqueue a message
// in the outbox (platform/outbox, its relay publishing to an embedded
// JetStream); every message is taken by each of several consumers
// (platform/inbox), whose handler runs one more write in the inbox's
// transaction. With the counts of `fabrika load`'s orders (-requests,
// -produced, -consumers), the CPU it reports per order is what the
// plumbing alone costs, against `fabrika dev`'s figure for the real order
// (docs/BENCHMARKS.md, section "Platform capacity").
//
//	psql -h 127.0.0.1 -U postgres -c 'CREATE DATABASE floorbench'
//	floorbench -dsn postgres://postgres@127.0.0.1:5432/floorbench?sslmode=disable -rate 40 -seconds 30
//
// The requests come from a child
// process (this binary with -drive), paced as an open loop; the CPU figures
// are this process's (proxy, handlers, relay, inbox, broker: what `fabrika
// dev`'s figure counts), the driver's and the whole machine's (/proc/stat,
// PostgreSQL included).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fabrika/fabrika/cmd/internal/loadgen"
	"github.com/fabrika/fabrika/platform/broker"
	"github.com/fabrika/fabrika/platform/broker/embedded"
	"github.com/fabrika/fabrika/platform/cputime"
	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/outbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/telemetry"
)

type config struct {
	dsn       string
	rate      float64
	seconds   int
	requests  int // an order's requests through the proxy
	produced  int // of which enqueue a message
	consumers int // each message is taken by this many consumers
	drain     time.Duration
	drive     string // internal: run as the driver against this URL
}

func main() {
	var c config
	flag.StringVar(&c.dsn, "dsn", "postgres://postgres@127.0.0.1:5432/floorbench?sslmode=disable", "PostgreSQL database (its tables are emptied)")
	flag.Float64Var(&c.rate, "rate", 40, "orders a second")
	flag.IntVar(&c.seconds, "seconds", 30, "how long orders are sent")
	flag.IntVar(&c.requests, "requests", 13, "requests an order makes through the proxy")
	flag.IntVar(&c.produced, "produced", 12, "messages an order's requests produce (at most -requests)")
	flag.IntVar(&c.consumers, "consumers", 2, "consumers taking every message")
	flag.DurationVar(&c.drain, "drain", 30*time.Second, "how long to wait for the last messages after the driver is done")
	flag.StringVar(&c.drive, "drive", "", "internal: send the orders' requests to this URL")
	flag.Parse()
	if c.rate <= 0 || c.seconds < 1 || c.requests < 1 || c.produced < 0 || c.produced > c.requests || c.consumers < 1 {
		fmt.Fprintln(os.Stderr, "floorbench: -rate > 0, -seconds >= 1, -requests >= 1, 0 <= -produced <= -requests, -consumers >= 1")
		os.Exit(2)
	}
	var err error
	if c.drive != "" {
		err = drive(context.Background(), c, os.Stdout)
	} else {
		err = run(context.Background(), c, os.Stdout, subprocess)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "floorbench:", err)
		os.Exit(1)
	}
}

// drive sends rate orders a second for the configured seconds, each its
// requests one after the other, and prints the requests' p50 and p99.
func drive(ctx context.Context, c config, w io.Writer) error {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: 30 * time.Second}
	orders := int(c.rate * float64(c.seconds))
	sched := loadgen.NewSchedule(c.rate)
	var mu sync.Mutex
	var lat []time.Duration
	var failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for i := range orders {
		if _, ok := sched.Wait(ctx, i); !ok {
			return ctx.Err()
		}
		wg.Go(func() {
			for k := range c.requests {
				started := time.Now()
				resp, err := client.Post(fmt.Sprintf("%s/orders/%d/steps/%d", c.drive, i, k), "application/json", strings.NewReader(`{}`))
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					return
				}
				mu.Lock()
				lat = append(lat, time.Since(started))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	l := loadgen.Latencies{D: lat}
	fmt.Fprintf(w, "%d %d %d %v\n", len(lat), l.Quantile(0.5).Microseconds(), l.Quantile(0.99).Microseconds(), firstErr.Load())
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("%d orders failed, the first: %v", n, firstErr.Load())
	}
	return nil
}

const subject = "fabrika.floor.step"

type step struct {
	Order int `json:"order"`
	Step  int `json:"step"`
}

func (s step) Validate() error {
	if s.Order < 0 || s.Step < 0 {
		return errors.New("negative order or step")
	}
	return nil
}

// driver sends the orders' requests to url (drive) and returns drive's
// report and the CPU it used.
type driver func(ctx context.Context, c config, url string) (report []byte, cpu time.Duration, err error)

// subprocess runs drive in a child process, this binary with -drive, so
// that its CPU is not this process's.
func subprocess(ctx context.Context, c config, url string) ([]byte, time.Duration, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, 0, err
	}
	cmd := exec.CommandContext(ctx, exe, "-drive", url, "-rate", fmt.Sprint(c.rate), "-seconds", fmt.Sprint(c.seconds), "-requests", fmt.Sprint(c.requests))
	cmd.Stderr = os.Stderr
	report, err := cmd.Output()
	if err != nil {
		return nil, 0, fmt.Errorf("driver: %w", err)
	}
	return report, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), nil
}

func run(ctx context.Context, c config, w io.Writer, drv driver) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	db, err := openDB(ctx, c.dsn)
	if err != nil {
		return err
	}
	defer db.Close()

	srv, stopNATS, err := embedded.StartTemp()
	if err != nil {
		return err
	}
	defer stopNATS()
	nc, err := broker.Connect("", srv, "floorbench", log)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	if _, err := broker.EnsureStream(ctx, js, 1); err != nil {
		return err
	}
	tp, err := telemetry.NewTracerProvider(ctx, "floorbench", "")
	if err != nil {
		return err
	}
	defer tp.Shutdown(context.WithoutCancel(ctx))

	out, err := outbox.New(db, js, outbox.Config{}, log, nil)
	if err != nil {
		return err
	}
	orders := int(c.rate * float64(c.seconds))
	want := int64(orders * c.produced * c.consumers)
	var consumed atomic.Int64
	all := make(chan struct{})
	// Each consumer is a service of its own: its inbox, its pool (closed
	// after the inboxes stopped: deferred before them).
	var inboxes []*inbox.Inbox
	for n := range c.consumers {
		cdb, err := sqldb.Open(ctx, c.dsn)
		if err != nil {
			return err
		}
		defer cdb.Close()
		in, err := inbox.New(cdb, js, inbox.Config{Service: fmt.Sprint("floor", n)}, log, nil, tp)
		if err != nil {
			return err
		}
		writer := fmt.Sprint("consumer ", n)
		in.Subscribe("steps", map[string]inbox.Handler{
			subject: inbox.JSON(func(ctx context.Context, tx *sqldb.Tx, m inbox.Message, s step) error {
				if _, err := tx.ExecContext(ctx, `INSERT INTO floor_orders (writer, id, writes) VALUES ($1, $2, 1)
					ON CONFLICT (writer, id) DO UPDATE SET writes = floor_orders.writes + 1`, writer, s.Order); err != nil {
					return err
				}
				tx.AfterCommit(func() {
					if consumed.Add(1) == want {
						close(all)
					}
				})
				return nil
			}),
		})
		inboxes = append(inboxes, in)
	}
	var bg sync.WaitGroup
	defer bg.Wait()
	defer cancel()
	bg.Go(func() { _ = out.Run(ctx) })
	for _, in := range inboxes {
		bg.Go(func() { _ = in.Run(ctx) })
	}

	// The handler: one transaction, one write, and a message for the first
	// -produced steps of an order.
	backend := http.NewServeMux()
	backend.HandleFunc("POST /orders/{order}/steps/{step}", func(rw http.ResponseWriter, r *http.Request) {
		order, err1 := strconv.Atoi(r.PathValue("order"))
		k, err2 := strconv.Atoi(r.PathValue("step"))
		if err1 != nil || err2 != nil || order < 0 || k < 0 {
			http.Error(rw, "bad order or step", http.StatusBadRequest)
			return
		}
		err := db.InTx(r.Context(), func(ctx context.Context, tx *sqldb.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO floor_orders (writer, id, writes) VALUES ('requests', $1, 1)
				ON CONFLICT (writer, id) DO UPDATE SET writes = floor_orders.writes + 1`, order); err != nil {
				return err
			}
			if k >= c.produced {
				return nil
			}
			m, err := outbox.NewMessage(subject, strconv.Itoa(order), step{Order: order, Step: k})
			if err != nil {
				return err
			}
			return out.Enqueue(ctx, tx, m)
		})
		if err != nil {
			http.Error(rw, err.Error(), http.StatusServiceUnavailable)
			return
		}
		rw.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(rw, `{"ok":true}`)
	})
	backendURL, stopBackend, err := serve(backend)
	if err != nil {
		return err
	}
	defer stopBackend()
	target, _ := url.Parse(backendURL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = &http.Transport{MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second} // as the gateway keeps its upstreams' connections
	proxyURL, stopProxy, err := serve(proxy)
	if err != nil {
		return err
	}
	defer stopProxy()

	fmt.Fprintf(w, "floorbench: %d orders at %g/s, each %d requests through the proxy (%d of them enqueue a message), every message taken by %d consumers\n",
		orders, c.rate, c.requests, c.produced, c.consumers)
	before := cputime.Process()
	machineBefore, err := cputime.Machine()
	if err != nil {
		return err
	}
	report, driverCPU, err := drv(ctx, c, proxyURL)
	if err != nil {
		return err
	}
	if want > 0 {
		select {
		case <-all:
		case <-time.After(c.drain):
			return fmt.Errorf("%d of %d messages consumed %v after the last request", consumed.Load(), want, c.drain)
		}
	}
	machineAfter, err := cputime.Machine()
	if err != nil {
		return err
	}
	self, machine := cputime.Process()-before, machineAfter-machineBefore
	var done int
	var p50, p99 int64
	if _, err := fmt.Sscan(string(report), &done, &p50, &p99); err != nil {
		return fmt.Errorf("driver's report %q: %w", report, err)
	}
	per := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) / float64(orders) }
	fmt.Fprintf(w, "requests %d, p50 %.2f ms, p99 %.2f ms; messages consumed %d\n", done, float64(p50)/1000, float64(p99)/1000, consumed.Load())
	fmt.Fprintf(w, "CPU-ms per order: this process (proxy, handlers, relay, inbox, broker) %.2f; the driver %.2f; the machine %.2f (PostgreSQL and the rest)\n",
		per(self), per(driverCPU), per(machine))
	fmt.Fprintf(w, "ceiling on 2 cores at these per-order costs: %.0f orders/s (this process alone), %.0f orders/s (the machine)\n",
		2000/per(self), 2000/per(machine))
	return nil
}

// openDB opens the database with the platform's tables and a table of the
// orders' writes, all emptied.
func openDB(ctx context.Context, dsn string) (*sqldb.DB, error) {
	db, err := sqldb.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	if db.Engine() != sqldb.Postgres {
		db.Close()
		return nil, errors.New("-dsn must be a PostgreSQL database")
	}
	if err := db.Migrate(ctx, nil); err != nil {
		db.Close()
		return nil, err
	}
	for _, stmt := range []string{
		// An order's row for each writer, as each service has its own copy
		// of the order: the writers do not wait for each other's locks.
		`DROP TABLE IF EXISTS floor_orders`,
		`CREATE TABLE floor_orders (writer TEXT, id BIGINT, writes INTEGER NOT NULL, PRIMARY KEY (writer, id))`,
		`TRUNCATE outbox, inbox, dead_letter`,
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			db.Close()
			return nil, fmt.Errorf("%s: %w", stmt, err)
		}
	}
	return db, nil
}

// serve runs h on a loopback port and returns its URL.
func serve(h http.Handler) (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	s := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.Serve(l) }()
	return "http://" + l.Addr().String(), func() { _ = s.Close() }, nil
}
