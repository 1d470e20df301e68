// Package host runs what every Fabrika service is made of: its database with
// migrations, the outbox relay, the inbox consumers, telemetry and an HTTP
// server with the service's routes beside /metrics, /healthz, /readyz and
// the internal /admin routes (outbox and dead letters). A service's main
// opens a Host, registers its routes and subscriptions, and calls Run.
package host

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/fabrika/fabrika/platform/broker"
	"github.com/fabrika/fabrika/platform/httpx"
	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/outbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/telemetry"
)

// Config is what a service's host needs from configuration.
type Config struct {
	Service  string // e.g. "shop"
	DSN      string // sqldb.Open DSN
	HTTPAddr string // e.g. "127.0.0.1:8081"; port 0 picks one
	// Migrations are the service's own, applied after the platform's.
	Migrations fs.FS
	Outbox     outbox.Config
	Inbox      inbox.Config
	// StreamReplicas for the FABRIKA stream on a cluster (default 1).
	StreamReplicas int
	// ShutdownTimeout bounds the graceful stop (default 15s).
	ShutdownTimeout time.Duration
}

// Deps are built once in main and shared by the services of a process.
type Deps struct {
	Logger         *slog.Logger
	NATS           *nats.Conn
	TracerProvider trace.TracerProvider
}

// Host is a running service's plumbing.
type Host struct {
	cfg     Config
	DB      *sqldb.DB
	JS      jetstream.JetStream
	NATS    *nats.Conn
	Outbox  *outbox.Outbox
	Inbox   *inbox.Inbox
	Log     *slog.Logger
	Tracer  trace.Tracer
	TP      trace.TracerProvider
	Prop    propagation.TextMapPropagator
	Metrics prometheus.Registerer // every metric registered here carries service=<name>
	reg     *prometheus.Registry
	ln      net.Listener
	ready   atomic.Bool
	checks  []func(context.Context) error

	httpMetrics *httpx.Metrics
}

// Open opens the database, applies the migrations, builds the outbox and the
// inbox and binds the HTTP address. Nothing runs until Run.
func Open(ctx context.Context, cfg Config, deps Deps) (*Host, error) {
	if cfg.Service == "" || cfg.DSN == "" || deps.NATS == nil || deps.Logger == nil || deps.TracerProvider == nil {
		return nil, errors.New("host: service, DSN, NATS connection, logger and tracer provider are required")
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 15 * time.Second
	}
	log := deps.Logger.With("service", cfg.Service)
	h := &Host{cfg: cfg, NATS: deps.NATS, Log: log, TP: deps.TracerProvider, Prop: telemetry.Propagator()}
	h.Tracer = deps.TracerProvider.Tracer("github.com/fabrika/fabrika/services/" + cfg.Service)
	h.reg, h.Metrics = telemetry.NewRegistry(cfg.Service)
	hm, err := httpx.NewMetrics(h.Metrics)
	if err != nil {
		return nil, err
	}
	h.httpMetrics = hm

	db, err := sqldb.Open(ctx, cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Service, err)
	}
	h.DB = db
	if err := db.Migrate(ctx, cfg.Migrations); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: migrate: %w", cfg.Service, err)
	}
	if h.JS, err = jetstream.New(deps.NATS); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: jetstream: %w", cfg.Service, err)
	}
	ocfg := cfg.Outbox
	if ocfg.Connected == nil {
		ocfg.Connected = deps.NATS.IsConnected
	}
	if h.Outbox, err = outbox.New(db, h.JS, ocfg, log, h.Metrics); err != nil {
		db.Close()
		return nil, err
	}
	icfg := cfg.Inbox
	icfg.Service = cfg.Service
	if h.Inbox, err = inbox.New(db, h.JS, icfg, log, h.Metrics, deps.TracerProvider); err != nil {
		db.Close()
		return nil, err
	}
	if cfg.HTTPAddr != "" {
		if h.ln, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
			db.Close()
			return nil, fmt.Errorf("%s: listen: %w", cfg.Service, err)
		}
	}
	h.AddReadyCheck(func(ctx context.Context) error { return db.PingContext(ctx) })
	h.AddReadyCheck(func(context.Context) error {
		if !deps.NATS.IsConnected() {
			return errors.New("broker not connected")
		}
		return nil
	})
	return h, nil
}

// Name is the service's name.
func (h *Host) Name() string { return h.cfg.Service }

// Addr is the bound HTTP address ("" when none).
func (h *Host) Addr() string {
	if h.ln == nil {
		return ""
	}
	return h.ln.Addr().String()
}

// Registry is the Prometheus registry served on /metrics.
func (h *Host) Registry() *prometheus.Registry { return h.reg }

// AddReadyCheck adds a check to /readyz. Call before Run.
func (h *Host) AddReadyCheck(fn func(context.Context) error) { h.checks = append(h.checks, fn) }

// Handler returns the service's routes wrapped with the platform's: the
// operational routes and the observing middleware.
func (h *Host) Handler(app http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(h.reg, promhttp.HandlerOpts{Registry: h.reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok", "service": h.cfg.Service})
	})
	mux.HandleFunc("GET /readyz", h.readyz)
	h.adminRoutes(mux)
	if app != nil {
		mux.Handle("/", app)
	}
	var next http.Handler = mux
	if h.httpMetrics != nil {
		next = h.httpMetrics.Instrument(mux)
	}
	return httpx.Observe(h.cfg.Service, h.Log, h.TP, h.Prop, next)
}

func (h *Host) readyz(w http.ResponseWriter, r *http.Request) {
	if !h.ready.Load() {
		httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusServiceUnavailable, "starting or stopping"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	for _, c := range h.checks {
		if err := c(ctx); err != nil {
			httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusServiceUnavailable, err.Error()))
			return
		}
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ready", "service": h.cfg.Service})
}

// Run serves app and runs the relay, the inbox and any background work until
// ctx is cancelled, then stops in order: HTTP first (no new work), then the
// inbox (messages in hand finish and are acked), then the relay (its last
// cycle publishes what the last requests enqueued), then the database.
func (h *Host) Run(ctx context.Context, app http.Handler, background ...func(context.Context) error) error {
	defer h.DB.Close()
	if _, err := broker.EnsureStream(ctx, h.JS, h.cfg.StreamReplicas); err != nil {
		return fmt.Errorf("%s: %w", h.cfg.Service, err)
	}
	relayCtx, stopRelay := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRelay()
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()

	var relayWG, workWG sync.WaitGroup
	errs := make(chan error, 3+len(background))
	relayWG.Add(1)
	go func() { defer relayWG.Done(); errs <- h.Outbox.Run(relayCtx) }()
	workWG.Add(1)
	go func() { defer workWG.Done(); errs <- h.Inbox.Run(workCtx) }()
	for _, bg := range background {
		workWG.Add(1)
		go func() { defer workWG.Done(); errs <- bg(workCtx) }()
	}
	var srv *http.Server
	if h.ln != nil {
		srv = &http.Server{
			Handler:           h.Handler(app),
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      60 * time.Second,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    64 << 10,
		}
		go func() {
			if err := srv.Serve(h.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errs <- fmt.Errorf("%s: http: %w", h.cfg.Service, err)
			}
		}()
	}
	h.ready.Store(true)
	h.Log.InfoContext(ctx, "service started", "addr", h.Addr())

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errs:
		if runErr != nil {
			h.Log.ErrorContext(ctx, "service component failed; stopping", "error", runErr)
		}
	}
	h.ready.Store(false)
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.cfg.ShutdownTimeout)
	defer cancel()
	if srv != nil {
		_ = srv.Shutdown(shutdownCtx)
	}
	stopWork()
	workWG.Wait()
	stopRelay()
	relayWG.Wait()
	h.Log.InfoContext(shutdownCtx, "service stopped")
	return runErr
}
