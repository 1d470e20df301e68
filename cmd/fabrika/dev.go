package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/fabrika/fabrika/platform/broker"
	"github.com/fabrika/fabrika/platform/broker/embedded"
	"github.com/fabrika/fabrika/platform/host"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/platform/secretbox"
	"github.com/fabrika/fabrika/platform/telemetry"
	"github.com/fabrika/fabrika/services/gateway"
)

// Config is the whole platform's configuration for `fabrika dev`.
type Config struct {
	DataDir    string // one SQLite file per service and the embedded NATS store
	NATSURL    string // external NATS; empty runs the embedded one
	NATSListen string // host:port where the embedded NATS also listens; empty = in-process only
	// StreamReplicas of the FABRIKA stream on an external cluster (default 1).
	StreamReplicas int
	Host           string // interface the services listen on
	BasePort       int    // gateway's port; services take the next ones
	// AdminBasePort is the gateway's admin listener (/metrics, /healthz,
	// /readyz, /admin); the services' admin listeners take the next ones, in
	// the order of their application ports. 0 means BasePort+100.
	AdminBasePort int
	// AdminToken authorises admin actions (FABRIKA_ADMIN_TOKEN); empty means
	// Run generates one into <DataDir>/admin-token.
	AdminToken   string
	OTLPEndpoint string
	// Traces starts a local trace viewer and sends the traces to it, at
	// OTLPEndpoint: the command TraceViewer, or when that is empty Jaeger
	// built from tools/jaeger. The viewer has TraceViewerWait (0: two
	// minutes) to listen once started.
	Traces          bool
	TraceViewer     []string
	TraceViewerWait time.Duration
	LogLevel        slog.Level
	LogOutput       io.Writer
	CookieSecure    bool
	// AllowPrivateWebhooks lets mes-api's webhooks reach loopback and
	// private addresses (a receiver on this machine); off by default, as in
	// every standalone service.
	AllowPrivateWebhooks bool
	// SMTPURL sends the shop's e-mails (FABRIKA_SMTP_URL); empty, they are
	// written to <data dir>/mail, one file each.
	SMTPURL string
	// ConfirmSignUps makes the shop's sign-up answer alike for new and
	// taken addresses, the customer confirming from the e-mail, as the
	// standalone shop always does; off, a sign-up signs in at once
	// (development convenience).
	ConfirmSignUps bool
	// Production runs every service as its standalone entry point does by
	// default: the gateway in production mode (Secure cookies or TLS
	// required, admins need TOTP), shop sign-ups confirmed by e-mail, no
	// private webhook targets.
	Production bool
	// TLSCert and TLSKey, both set, make the gateway terminate TLS on the
	// public port.
	TLSCert, TLSKey string
	// SecretKey seals secrets at rest (FABRIKA_SECRET_KEY); empty, a key is
	// generated into <data dir>/secret-key (0600) on the first start.
	SecretKey []byte
	// DSNs overrides a service's database (e.g. PostgreSQL); the key is the
	// service name.
	DSNs map[string]string
	// Only, when set, starts just these services.
	Only []string
	// TrustedProxies are the proxies whose X-Forwarded-For the gateway
	// believes (FABRIKA_TRUSTED_PROXIES), e.g. an ingress, or `fabrika
	// load` standing for customers at many addresses.
	TrustedProxies []netip.Prefix
}

// Main is the running platform; tests build one with NewMain and Run it.
type Main struct {
	Config Config

	mu         sync.Mutex
	addrs      map[string]string
	adminAddrs map[string]string
	tokenFile  string // where Run wrote the admin token it generated
	ready      chan struct{}
	signer     *identity.Signer
	box        *secretbox.Box
}

// NewMain returns a Main with the defaults.
func NewMain() *Main {
	return &Main{
		Config:     Config{DataDir: "data", Host: "127.0.0.1", BasePort: 8080, LogLevel: slog.LevelInfo, LogOutput: os.Stderr, DSNs: map[string]string{}},
		addrs:      map[string]string{},
		adminAddrs: map[string]string{},
		ready:      make(chan struct{}),
	}
}

// ParseFlags reads flags, with FABRIKA_* environment variables as defaults.
func (m *Main) ParseFlags(args []string) error {
	fs := flag.NewFlagSet("fabrika dev", flag.ContinueOnError)
	c := &m.Config
	fs.StringVar(&c.DataDir, "data-dir", env("FABRIKA_DATA_DIR", c.DataDir), "directory for the SQLite files and the embedded NATS store")
	fs.StringVar(&c.NATSURL, "nats-url", env("FABRIKA_NATS_URL", ""), "external NATS server or cluster URL; empty runs NATS embedded")
	fs.StringVar(&c.NATSListen, "nats-listen", env("FABRIKA_NATS_LISTEN", ""), "host:port on which the embedded NATS also accepts outside clients")
	replicas, err := strconv.Atoi(env("FABRIKA_STREAM_REPLICAS", "1"))
	if err != nil {
		return fmt.Errorf("FABRIKA_STREAM_REPLICAS: %w", err)
	}
	fs.IntVar(&c.StreamReplicas, "stream-replicas", replicas, "replicas of the FABRIKA stream on an external cluster (1-5); an existing stream's are never lowered")
	fs.StringVar(&c.Host, "host", env("FABRIKA_HOST", c.Host), "interface every service listens on")
	port, err := strconv.Atoi(env("FABRIKA_BASE_PORT", strconv.Itoa(c.BasePort)))
	if err != nil {
		return fmt.Errorf("FABRIKA_BASE_PORT: %w", err)
	}
	fs.IntVar(&c.BasePort, "base-port", port, "the gateway's public port; shop, crm, mes-calc, mes-operator and mes-api take the next five")
	adminPort, err := strconv.Atoi(env("FABRIKA_ADMIN_BASE_PORT", "0"))
	if err != nil {
		return fmt.Errorf("FABRIKA_ADMIN_BASE_PORT: %w", err)
	}
	fs.IntVar(&c.AdminBasePort, "admin-base-port", adminPort, "the gateway's admin port (metrics, health, admin actions); the services' admin ports are the next five (default: base port + 100)")
	c.AdminToken = os.Getenv("FABRIKA_ADMIN_TOKEN")
	fs.StringVar(&c.OTLPEndpoint, "otlp-endpoint", env("FABRIKA_OTLP_ENDPOINT", ""), "OTLP/HTTP endpoint for traces (host:port); empty exports none")
	fs.BoolVar(&c.Traces, "traces", env("FABRIKA_TRACES", "false") == "true",
		"start a local trace viewer (Jaeger, UI on "+traceViewerUI+") and send every service's traces to it")
	viewer := fs.String("traces-cmd", env("FABRIKA_TRACES_CMD", ""), "the trace viewer --traces starts instead of Jaeger, an OTLP/HTTP receiver on "+traceViewerOTLP)
	level := fs.String("log-level", env("FABRIKA_LOG_LEVEL", "info"), "debug, info, warn or error")
	secure := fs.Bool("cookie-secure", env("FABRIKA_COOKIE_SECURE", "false") == "true", "mark cookies Secure (behind TLS)")
	fs.BoolVar(&c.AllowPrivateWebhooks, "allow-private-webhooks", env("FABRIKA_ALLOW_PRIVATE_WEBHOOKS", "false") == "true",
		"let webhooks reach loopback and private addresses (development only; default: public addresses only)")
	fs.StringVar(&c.SMTPURL, "smtp-url", env("FABRIKA_SMTP_URL", ""), "SMTP server for the shop's e-mails (smtp://user:password@host:587?from=shop@example.com); empty: files in <data-dir>/mail")
	fs.BoolVar(&c.ConfirmSignUps, "confirm-signups", env("FABRIKA_SHOP_CONFIRM_SIGNUPS", "false") == "true",
		"shop sign-ups confirmed by e-mail, telling no one which addresses have accounts (production behaviour; default in dev: sign in at once)")
	fs.BoolVar(&c.Production, "production", env("FABRIKA_PRODUCTION", "false") == "true",
		"run as the standalone services do by default: gateway production mode (Secure cookies or TLS, TOTP for admins), sign-ups confirmed by e-mail, no private webhooks")
	fs.StringVar(&c.TLSCert, "tls-cert", env("FABRIKA_TLS_CERT", ""), "PEM certificate file: the gateway terminates TLS on the public port (with --tls-key)")
	fs.StringVar(&c.TLSKey, "tls-key", env("FABRIKA_TLS_KEY", ""), "PEM private key file of --tls-cert")
	only := fs.String("only", env("FABRIKA_ONLY", ""), "comma-separated services to start (default: all)")
	trusted := fs.String("trusted-proxies", env("FABRIKA_TRUSTED_PROXIES", ""), "comma-separated CIDRs of proxies whose X-Forwarded-For the gateway believes (an ingress; 127.0.0.1 for `fabrika load`)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if err := c.LogLevel.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("log level: %w", err)
	}
	if c.BasePort < 1 || c.BasePort+5 > 65535 {
		return fmt.Errorf("base port %d out of range", c.BasePort)
	}
	if c.StreamReplicas < 1 || c.StreamReplicas > 5 {
		return fmt.Errorf("stream replicas %d: must be 1 to 5", c.StreamReplicas)
	}
	if c.AdminBasePort < 0 || c.adminBase()+5 > 65535 {
		return fmt.Errorf("admin base port %d out of range", c.adminBase())
	}
	c.CookieSecure = *secure
	if c.TrustedProxies, err = gateway.ParseTrustedProxies(*trusted); err != nil {
		return fmt.Errorf("trusted proxies: %w", err)
	}
	if err := c.wireTraces(*viewer); err != nil {
		return err
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if c.Production {
		if c.AllowPrivateWebhooks {
			return errors.New("--allow-private-webhooks is for development only, not with --production")
		}
		if !c.CookieSecure && c.TLSCert == "" {
			return errors.New("--production needs --tls-cert/--tls-key or --cookie-secure (TLS in front)")
		}
		c.ConfirmSignUps = true
	}
	if v := os.Getenv("FABRIKA_SECRET_KEY"); v != "" {
		k, err := secretbox.ParseKey(v)
		if err != nil {
			return fmt.Errorf("FABRIKA_SECRET_KEY: %w", err)
		}
		c.SecretKey = k
	}
	if *only != "" {
		for _, s := range strings.Split(*only, ",") {
			s = strings.TrimSpace(s)
			if !isService(s) {
				return fmt.Errorf("unknown service %q (known: %s)", s, strings.Join(serviceNames(), ", "))
			}
			c.Only = append(c.Only, s)
		}
	}
	for _, s := range serviceNames() {
		if dsn := os.Getenv(dsnEnv(s)); dsn != "" {
			c.DSNs[s] = dsn
		}
	}
	return nil
}

func env(key, def string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return def
}

// dsnEnv is the variable that sets a service's DSN: FABRIKA_MES_CALC_DSN.
func dsnEnv(service string) string {
	return "FABRIKA_" + strings.ToUpper(strings.ReplaceAll(service, "-", "_")) + "_DSN"
}

// serviceNames lists the services in start order: the gateway comes last,
// once its upstreams listen.
func serviceNames() []string {
	return []string{"shop", "crm", "mes-calc", "mes-operator", "mes-api", "gateway"}
}

func isService(s string) bool { return slices.Contains(serviceNames(), s) }

// offset is a service's port relative to BasePort (its application port)
// and AdminBasePort (its admin port); the gateway's is 0.
func offset(service string) int {
	switch service {
	case "gateway":
		return 0
	case "shop":
		return 1
	case "crm":
		return 2
	case "mes-calc":
		return 3
	case "mes-operator":
		return 4
	default: // mes-api
		return 5
	}
}

func (c Config) adminBase() int {
	if c.AdminBasePort == 0 {
		return c.BasePort + 100
	}
	return c.AdminBasePort
}

// port is a service's application port (the gateway's public one).
func (m *Main) port(service string) int { return m.Config.BasePort + offset(service) }

// adminPort is a service's admin listener.
func (m *Main) adminPort(service string) int { return m.Config.adminBase() + offset(service) }

func (m *Main) enabled(service string) bool {
	return len(m.Config.Only) == 0 || slices.Contains(m.Config.Only, service)
}

// serviceLabel is ctx with the profiler label service=name.
func serviceLabel(ctx context.Context, name string) context.Context {
	return pprof.WithLabels(ctx, pprof.Labels("service", name))
}

// Addr returns where a started service serves its own routes ("" before
// Ready; the gateway's is its public address).
func (m *Main) Addr(service string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.addrs[service]
}

// AdminAddr returns where a started service's admin listener is ("" before
// Ready).
func (m *Main) AdminAddr(service string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.adminAddrs[service]
}

// AdminToken is the admin actions' bearer token (set by Run).
func (m *Main) AdminToken() string { return m.Config.AdminToken }

// Ready is closed once every service listens.
func (m *Main) Ready() <-chan struct{} { return m.ready }

// Signer signs staff identity tokens the services accept (for tests).
func (m *Main) Signer() *identity.Signer { return m.signer }

// Run starts the platform and blocks until ctx is cancelled, then stops
// every service gracefully: HTTP first, then consumers, then the relays,
// then the broker.
func (m *Main) Run(ctx context.Context) error {
	c := m.Config
	log := telemetry.NewLogger(c.LogOutput, "fabrika", c.LogLevel)
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if err := os.Chmod(c.DataDir, 0o700); err != nil { // created earlier with wider rights
		return fmt.Errorf("data dir: %w", err)
	}
	if c.AdminToken == "" {
		tok, err := writeAdminToken(c.DataDir)
		if err != nil {
			return err
		}
		c.AdminToken, m.Config.AdminToken, m.tokenFile = tok, tok, adminTokenFile(c.DataDir)
	}

	// The viewer listens before any service starts (none of their spans
	// is lost) and stops after every one has flushed its spans to it.
	var viewer *traceViewer
	if c.Traces {
		v, err := startTraceViewer(ctx, c, log)
		if err != nil || v == nil {
			return err
		}
		defer v.stop()
		viewer = v
	}

	// inProcess stays a nil interface with an external NATS (a nil
	// *server.Server in it would be taken for a server).
	var inProcess nats.InProcessConnProvider
	natsURL := c.NATSURL
	if natsURL == "" {
		ecfg := embedded.Config{StoreDir: filepath.Join(c.DataDir, "nats")}
		if c.NATSListen != "" {
			h, p, err := net.SplitHostPort(c.NATSListen)
			if err != nil {
				return fmt.Errorf("nats listen: %w", err)
			}
			if ecfg.Port, err = strconv.Atoi(p); err != nil {
				return fmt.Errorf("nats listen port: %w", err)
			}
			ecfg.Host = h
		}
		ns, err := embedded.Start(ecfg)
		if err != nil {
			return err
		}
		defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
		natsURL, inProcess = ns.ClientURL(), ns
		log.Info("embedded NATS JetStream started", "store", ecfg.StoreDir, "listen", c.NATSListen)
	}

	key := c.SecretKey
	if key == nil {
		k, err := secretbox.LoadOrCreateKeyFile(filepath.Join(c.DataDir, "secret-key"))
		if err != nil {
			return err
		}
		key = k
	}
	box, err := secretbox.New(key)
	if err != nil {
		return err
	}
	m.box = box

	pub, priv, err := identity.GenerateKey()
	if err != nil {
		return err
	}
	m.signer = identity.NewSigner(priv)

	type running struct {
		name string
		h    *host.Host
		app  http.Handler
		bg   []func(context.Context) error
		tp   telemetry.TracerProvider
		nc   *nats.Conn
	}
	var started []running
	defer func() {
		for _, r := range started {
			r.nc.Close()
			_ = r.tp.Shutdown(context.Background())
		}
	}()
	// Every goroutine of a service carries its name as a profiler label
	// (goroutines inherit their creator's labels), so that a CPU profile of
	// this one process splits by service: `go tool pprof -tags`.
	defer pprof.SetGoroutineLabels(ctx)
	for _, name := range serviceNames() {
		if !m.enabled(name) {
			continue
		}
		pprof.SetGoroutineLabels(serviceLabel(ctx, name))
		slog := telemetry.NewLogger(c.LogOutput, name, c.LogLevel)
		tp, err := telemetry.NewTracerProvider(ctx, name, c.OTLPEndpoint)
		if err != nil {
			return err
		}
		nc, err := broker.Connect(natsURL, inProcess, "fabrika-"+name, slog)
		if err != nil {
			return err
		}
		dsn := c.DSNs[name]
		if dsn == "" {
			dsn = filepath.Join(c.DataDir, name+".db")
		}
		hcfg := host.Config{Service: name, DSN: dsn, HTTPAddr: net.JoinHostPort(c.Host, strconv.Itoa(m.port(name))),
			AdminAddr: net.JoinHostPort(c.Host, strconv.Itoa(m.adminPort(name))), AdminToken: c.AdminToken,
			StreamReplicas: c.StreamReplicas}
		if name == "gateway" { // its public listener is its own (gateway.Config.PublicAddr)
			hcfg.HTTPAddr = ""
		}
		verifier := identity.NewVerifier(name, pub)
		wiring := m.wire(name, verifier, priv)
		hcfg.Migrations, hcfg.DBOptions = wiring.migrations, wiring.dbOptions
		h, err := host.Open(ctx, hcfg, host.Deps{Logger: telemetry.NewLogger(c.LogOutput, "", c.LogLevel), NATS: nc, TracerProvider: tp, Identity: verifier})
		if err != nil {
			nc.Close()
			return err
		}
		app, bg, err := wiring.build(ctx, h)
		if err != nil {
			h.DB.Close()
			nc.Close()
			return fmt.Errorf("%s: %w", name, err)
		}
		started = append(started, running{name: name, h: h, app: app, bg: bg, tp: tp, nc: nc})
		m.mu.Lock()
		m.addrs[name] = h.Addr()
		if name == "gateway" {
			m.addrs[name] = net.JoinHostPort(c.Host, strconv.Itoa(c.BasePort))
		}
		m.adminAddrs[name] = h.AdminAddr()
		m.mu.Unlock()
	}
	pprof.SetGoroutineLabels(ctx)

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(started)+1)
	if viewer != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-viewer.exited():
				if runCtx.Err() == nil {
					errs <- viewer.exitErr()
					cancel()
				}
			case <-runCtx.Done():
			}
		}()
	}
	for _, r := range started {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pprof.SetGoroutineLabels(serviceLabel(runCtx, r.name))
			if err := r.h.Run(runCtx, r.app, r.bg...); err != nil {
				errs <- fmt.Errorf("%s: %w", r.name, err)
				cancel()
			}
		}()
	}
	close(m.ready)
	m.printWelcome(c.LogOutput)
	log.Info("fabrika is running; Ctrl-C stops it gracefully")
	<-runCtx.Done()
	log.Info("stopping")
	wg.Wait()
	close(errs)
	var all []error
	for e := range errs {
		all = append(all, e)
	}
	return errors.Join(all...)
}

func (m *Main) printWelcome(w io.Writer) {
	var b strings.Builder
	b.WriteString("\nFabrika is running. Open:\n")
	if m.Addr("gateway") != "" {
		a := net.JoinHostPort(m.Config.Host, strconv.Itoa(m.Config.BasePort))
		fmt.Fprintf(&b, "  shop (customers)           http://%s/\n", a)
		fmt.Fprintf(&b, "  staff sign-in              http://%s/staff/login   (create the first admin: fabrika admin create)\n", a)
		fmt.Fprintf(&b, "  CRM (managers)             http://%s/crm/orders\n", a)
		fmt.Fprintf(&b, "  shop floor (operators)     http://%s/mes/\n", a)
		fmt.Fprintf(&b, "  B2B API                    http://%s/api/v1/openapi.json\n", a)
		fmt.Fprintf(&b, "  B2B API keys (admins)      http://%s/b2b/clients\n", a)
	}
	b.WriteString("Admin listeners (/metrics, /healthz, /readyz open; /admin/* needs the admin token):\n")
	for _, n := range serviceNames() {
		if a := m.AdminAddr(n); a != "" {
			fmt.Fprintf(&b, "  %-13s http://%s/metrics  /readyz  /admin/outbox  /admin/dead-letters\n", n, a)
		}
	}
	switch {
	case m.Config.Traces && len(m.Config.TraceViewer) == 0:
		fmt.Fprintf(&b, "Traces: %s (Jaeger); an order's trace: %s/trace/<trace id>, the id and link printed by `fabrika order trace <order>`\n",
			traceViewerUI, traceViewerUI)
	case m.Config.Traces:
		fmt.Fprintf(&b, "Traces: sent to the viewer %q on %s\n", strings.Join(m.Config.TraceViewer, " "), m.Config.OTLPEndpoint)
	}
	if m.tokenFile != "" {
		fmt.Fprintf(&b, "Admin token: in %s (send it as \"Authorization: Bearer <token>\")\n", m.tokenFile)
	} else {
		b.WriteString("Admin token: FABRIKA_ADMIN_TOKEN (send it as \"Authorization: Bearer <token>\")\n")
	}
	fmt.Fprintln(w, b.String())
}

// adminTokenFile is where `fabrika dev` writes the admin token it generates.
func adminTokenFile(dataDir string) string { return filepath.Join(dataDir, "admin-token") }

// writeAdminToken generates a random admin token for this run into the data
// directory, readable by its owner only.
func writeAdminToken(dataDir string) (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	path := adminTokenFile(dataDir)
	_ = os.Remove(path) // a new file gets the mode below whatever the old one had
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	return tok, nil
}

// readAdminToken returns FABRIKA_ADMIN_TOKEN, else the token the running
// `fabrika dev` wrote into dataDir.
func readAdminToken(dataDir string) (string, error) {
	if t := os.Getenv("FABRIKA_ADMIN_TOKEN"); t != "" {
		return t, nil
	}
	b, err := os.ReadFile(adminTokenFile(dataDir))
	if err != nil {
		return "", fmt.Errorf("admin token: set FABRIKA_ADMIN_TOKEN or run the platform (it writes %s): %w", adminTokenFile(dataDir), err)
	}
	return strings.TrimSpace(string(b)), nil
}
