// Package host runs what every Fabrika service is made of: its database with
// migrations, the outbox relay, the inbox consumers, telemetry, an HTTP
// server for the service's own routes and, apart from it, an internal admin
// listener with /metrics, /healthz, /readyz and the /admin routes (outbox,
// dead letters, the service's own: HandleAdmin) and /debug/pprof, which need
// an admin credential. A service's main opens a Host, registers its routes and
// subscriptions, and calls Run.
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
	"github.com/fabrika/fabrika/platform/buildinfo"
	"github.com/fabrika/fabrika/platform/cachebus"
	"github.com/fabrika/fabrika/platform/httpx"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/outbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/telemetry"
)

// Config is what a service's host needs from configuration.
type Config struct {
	Service  string // e.g. "shop"
	DSN      string // sqldb.Open DSN
	HTTPAddr string // the service's own routes, e.g. "127.0.0.1:8081"; port 0 picks one; "" none
	// DBOptions tune the database's pool (e.g. the CRM's per-connection
	// PostgreSQL settings, sqldb.WithSettings).
	DBOptions []sqldb.Option
	// AdminAddr is the internal listener: /metrics, /healthz, /readyz (open,
	// for Prometheus and the kubelet) and the admin actions (credential
	// required). "" serves none.
	AdminAddr string
	// AdminToken is the bearer token of the admin actions
	// (FABRIKA_ADMIN_TOKEN). Empty: only an identity token with the admin
	// role is accepted, and without a verifier (Deps.Identity) none at all.
	AdminToken string
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
	// Identity, when set, verifies the staff identity tokens that may
	// authorise an admin action (role admin); platform/identity's Verifier.
	Identity TokenVerifier
}

// TokenVerifier checks a staff identity token (the Fabrika-Identity header).
type TokenVerifier interface {
	Verify(token string) (identity.Identity, error)
}

// Host is a running service's plumbing.
type Host struct {
	cfg     Config
	DB      *sqldb.DB
	JS      jetstream.JetStream
	NATS    *nats.Conn
	Outbox  *outbox.Outbox
	Inbox   *inbox.Inbox
	Caches  *cachebus.Bus // the cache invalidations of every replica (Run receives them)
	Log     *slog.Logger
	Tracer  trace.Tracer
	TP      trace.TracerProvider
	Prop    propagation.TextMapPropagator
	Metrics prometheus.Registerer // every metric registered here carries service=<name>
	reg     *prometheus.Registry
	ln      net.Listener
	adminLn net.Listener
	admin   *http.ServeMux // the admin listener's routes
	ident   TokenVerifier
	ready   atomic.Bool
	checks  []func(context.Context) error
	version string // buildinfo.Version: which build runs (/healthz, the start line)

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
	h := &Host{cfg: cfg, NATS: deps.NATS, Log: log, TP: deps.TracerProvider, Prop: telemetry.Propagator(),
		admin: http.NewServeMux(), ident: deps.Identity, version: buildinfo.Version()}
	h.Tracer = deps.TracerProvider.Tracer("github.com/fabrika/fabrika/services/" + cfg.Service)
	h.reg, h.Metrics = telemetry.NewRegistry(cfg.Service)
	hm, err := httpx.NewMetrics(h.Metrics)
	if err != nil {
		return nil, err
	}
	h.httpMetrics = hm
	if h.Caches, err = cachebus.New(deps.NATS, cfg.Service, log, h.Metrics); err != nil {
		return nil, err
	}
	nc := deps.NATS
	if err := h.Metrics.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "fabrika_broker_connected",
		Help: "1 while the service's NATS connection is up, else 0 (the outbox holds what it cannot publish).",
	}, func() float64 {
		if nc.IsConnected() {
			return 1
		}
		return 0
	})); err != nil {
		return nil, err
	}

	db, err := sqldb.Open(ctx, cfg.DSN, cfg.DBOptions...)
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
	if ocfg.TracerProvider == nil {
		ocfg.TracerProvider = deps.TracerProvider
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
	if cfg.AdminAddr != "" {
		if h.adminLn, err = net.Listen("tcp", cfg.AdminAddr); err != nil {
			db.Close()
			if h.ln != nil {
				h.ln.Close()
			}
			return nil, fmt.Errorf("%s: admin listen: %w", cfg.Service, err)
		}
	}
	// Ready means the service can serve its requests: its database. The
	// broker is reported apart (/healthz, fabrika_broker_connected): while it
	// is away the outbox holds what the service accepts.
	h.AddReadyCheck(func(ctx context.Context) error { return db.PingContext(ctx) })
	h.operationalRoutes()
	h.adminRoutes()
	return h, nil
}

// Name is the service's name.
func (h *Host) Name() string { return h.cfg.Service }

// Addr is the bound address of the service's own routes ("" when none).
func (h *Host) Addr() string {
	if h.ln == nil {
		return ""
	}
	return h.ln.Addr().String()
}

// AdminAddr is the bound address of the admin listener ("" when none).
func (h *Host) AdminAddr() string {
	if h.adminLn == nil {
		return ""
	}
	return h.adminLn.Addr().String()
}

// Registry is the Prometheus registry served on /metrics.
func (h *Host) Registry() *prometheus.Registry { return h.reg }

// AddReadyCheck adds a check to /readyz. Call before Run.
func (h *Host) AddReadyCheck(fn func(context.Context) error) { h.checks = append(h.checks, fn) }

// Handler returns the service's own routes wrapped with the observing
// middleware, as the application listener serves them. It has no
// operational or admin route: those are on AdminHandler's listener.
func (h *Host) Handler(app http.Handler) http.Handler {
	if app == nil {
		app = http.NotFoundHandler()
	}
	return h.observe(app)
}

// AdminHandler is the admin listener's handler: /metrics, /healthz and
// /readyz open, every other route behind the admin credential.
func (h *Host) AdminHandler() http.Handler { return h.observe(h.admin) }

func (h *Host) observe(next http.Handler) http.Handler {
	if h.httpMetrics != nil {
		next = h.httpMetrics.Instrument(next)
	}
	return httpx.Observe(h.cfg.Service, h.Log, h.TP, h.Prop, next)
}

// HandleAdmin registers one of the service's own admin routes on the admin
// listener, behind the admin credential (RequireAdmin). Call before Run.
func (h *Host) HandleAdmin(pattern string, handler http.Handler) {
	h.admin.Handle(pattern, h.RequireAdmin(handler))
}

func (h *Host) operationalRoutes() {
	h.admin.Handle("GET /metrics", promhttp.HandlerFor(h.reg, promhttp.HandlerOpts{Registry: h.reg}))
	h.admin.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok", "service": h.cfg.Service, "version": h.version, "broker": h.brokerState()})
	})
	h.admin.HandleFunc("GET /readyz", h.readyz)
}

func (h *Host) brokerState() string {
	if h.NATS.IsConnected() {
		return "connected"
	}
	return "disconnected"
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
	httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ready", "service": h.cfg.Service, "broker": h.brokerState()})
}

// Run serves app and runs the relay, the inbox and any background work until
// ctx is cancelled, then stops in order: HTTP first (no new work), then the
// inbox (messages in hand finish and are acked), then the relay (its last
// cycle publishes what the last requests enqueued), then the database.
//
// The broker may be away: the service serves and its outbox holds what it
// accepts; the stream is ensured and the consumers start once the broker
// answers (retried with backoff), and they start again if they stop.
func (h *Host) Run(ctx context.Context, app http.Handler, background ...func(context.Context) error) error {
	defer h.DB.Close()
	relayCtx, stopRelay := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRelay()
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()

	var relayWG, workWG sync.WaitGroup
	errs := make(chan error, 5+len(background))
	relayWG.Add(1)
	go func() { defer relayWG.Done(); errs <- h.Outbox.Run(relayCtx) }()
	workWG.Add(1)
	go func() { defer workWG.Done(); h.consume(workCtx) }()
	workWG.Add(1)
	go func() { defer workWG.Done(); errs <- h.Caches.Run(workCtx) }()
	for _, bg := range background {
		workWG.Add(1)
		go func() { defer workWG.Done(); errs <- bg(workCtx) }()
	}
	var servers []*http.Server
	serve := func(ln net.Listener, handler http.Handler, what string) {
		if ln == nil {
			return
		}
		srv := &http.Server{
			Handler:           handler,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      60 * time.Second,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    64 << 10,
		}
		servers = append(servers, srv)
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errs <- fmt.Errorf("%s: %s: %w", h.cfg.Service, what, err)
			}
		}()
	}
	serve(h.ln, h.Handler(app), "http")
	serve(h.adminLn, h.AdminHandler(), "admin http")
	h.ready.Store(true)
	h.Log.InfoContext(ctx, "service started", "version", h.version, "addr", h.Addr(), "admin_addr", h.AdminAddr(), "broker", h.brokerState())

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
	for _, srv := range servers {
		_ = srv.Shutdown(shutdownCtx)
	}
	stopWork()
	workWG.Wait()
	stopRelay()
	relayWG.Wait()
	h.Log.InfoContext(shutdownCtx, "service stopped")
	return runErr
}

// consume ensures the stream and runs the inbox until ctx ends: while the
// broker is away (or the stream cannot be ensured yet) it retries with
// backoff, and it starts the inbox again when it stops with an error.
//
// A JetStream cluster whose nodes all start again (a whole restart) answers
// no API request until it has elected its leaders, a few seconds, and never
// answers the ones asked meanwhile: each attempt gives up after a second
// (the client's default is 5 s), and attempts come at most a second apart,
// so that the consumers run within about a second of the stream answering
// (they waited a 5 s timeout plus the backoff, up to 30 s). An attempt costs
// the broker one request, or nothing while the connection is down.
func (h *Host) consume(ctx context.Context) {
	const maxBackoff, attemptTimeout = time.Second, time.Second
	backoff := 100 * time.Millisecond
	// Asked every second, a long outage would log every second: the first
	// failure is logged, then one every logEvery with how many there were.
	const logEvery = 30 * time.Second
	var logged time.Time
	failed := 0
	wait := func(what string, err error) bool {
		if failed++; time.Since(logged) >= logEvery {
			h.Log.WarnContext(ctx, what+"; retrying", "error", err, "retry_in", backoff.String(), "broker", h.brokerState(), "failed_attempts", failed)
			logged, failed = time.Now(), 0
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
		return true
	}
	for ctx.Err() == nil {
		attempt, cancel := context.WithTimeout(ctx, attemptTimeout)
		_, err := broker.EnsureStreamLogged(attempt, h.JS, h.cfg.StreamReplicas, h.Log)
		cancel()
		if err != nil {
			if ctx.Err() != nil || !wait("the stream cannot be ensured yet", err) {
				return
			}
			continue
		}
		backoff, logged, failed = 100*time.Millisecond, time.Time{}, 0
		err = h.Inbox.Run(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("inbox stopped")
		}
		if !wait("the inbox stopped", err) {
			return
		}
	}
}
