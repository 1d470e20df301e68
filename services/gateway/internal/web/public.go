package web

import (
	"context"
	"crypto/tls"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/fabrika/fabrika/platform/httpx"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/services/gateway/internal/route"
	"github.com/fabrika/fabrika/services/gateway/internal/staff"
	"github.com/fabrika/fabrika/services/gateway/internal/store"
)

// PublicConfig is the public handler's share of the gateway's
// configuration (gateway.Config, its defaults applied).
type PublicConfig struct {
	Upstreams      map[string]string // base URL by route.Route.Upstream; "" or absent: not configured
	Signer         *identity.Signer
	TrustedProxies []netip.Prefix
	TLSCertFile    string
	TLSKeyFile     string
	MaxBodyBytes   int64
	CookieSecure   bool

	UpstreamTimeout, DialTimeout                              time.Duration
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration

	Now func() time.Time
}

// PublicDeps are what the public handler is built on.
type PublicDeps struct {
	Staff   *staff.Service
	Store   *store.Store
	Log     *slog.Logger
	TP      trace.TracerProvider
	Prop    propagation.TextMapPropagator
	Metrics prometheus.Registerer
}

// Public is the gateway's public side: the route table, sign-in and the
// staff pages, the checks (path, session, role, CSRF) and the proxy to the
// services (request.go, proxy.go), served by net/http's server (Serve).
type Public struct {
	cfg       PublicConfig
	log       *slog.Logger
	prop      propagation.TextMapPropagator
	store     *store.Store
	staff     *staff.Service
	routes    *route.Resolver
	upstreams map[string]*url.URL
	proxy     *httputil.ReverseProxy
	pages     *Web
	csrf      *http.CrossOriginProtection
	handler   http.Handler
	observed  http.Handler // handler wrapped with httpx.Observe
	metrics   *metrics
	errorLog  *log.Logger // net/http's and ReverseProxy's own messages, into the service log

	clientTokens clientTokens

	// The security headers of every response, and of those served over TLS.
	secHeaders, secHeadersTLS http.Header
}

// NewPublic builds the public handler.
func NewPublic(cfg PublicConfig, d PublicDeps) (*Public, error) {
	var names []string
	for name, u := range cfg.Upstreams {
		if u != "" {
			names = append(names, name)
		}
	}
	m, err := newMetrics(d.Metrics, names)
	if err != nil {
		return nil, err
	}
	s := &Public{cfg: cfg, log: d.Log, prop: d.Prop, store: d.Store, staff: d.Staff,
		routes: route.NewResolver(route.Table()), upstreams: map[string]*url.URL{},
		csrf: http.NewCrossOriginProtection(), metrics: m, clientTokens: newClientTokens(),
		secHeaders: securityHeaders(cfg.TLSCertFile != ""), secHeadersTLS: securityHeaders(true),
		errorLog: slog.NewLogLogger(d.Log.Handler(), slog.LevelWarn)}
	for name, u := range cfg.Upstreams {
		if u == "" {
			continue
		}
		if s.upstreams[name], err = url.Parse(u); err != nil {
			return nil, fmt.Errorf("gateway: the %s URL: %w", name, err)
		}
	}
	s.proxy = s.newProxy()
	s.pages = New(Deps{Staff: d.Staff, Store: d.Store, Log: d.Log, Audit: s.audit, SignedIn: m.signIn,
		CookieName: SessionCookie, LoginCookie: LoginCookie, CookieSecure: cfg.CookieSecure, CheckOrigin: s.csrf.Check, Now: cfg.Now})
	s.handler = http.HandlerFunc(s.serve)
	s.observed = httpx.Observe("gateway", d.Log, d.TP, d.Prop, s.handler)
	return s, nil
}

// Handler is the public handler without the platform's request
// observation, for the host's listener, which adds its own.
func (s *Public) Handler() http.Handler { return s.handler }

// Observed is Handler wrapped with the platform's request observation
// (trace context, X-Request-Id, access log, panic recovery), as the public
// listener serves it.
func (s *Public) Observed() http.Handler { return s.observed }

// maxHeaderBytes bounds a request's headers on the public listener (431
// beyond; nginx allows 8 KiB a line).
const maxHeaderBytes = 16 << 10

// Serve serves the public handler on ln until ctx ends: net/http's
// server, over TLS when configured (HTTP/2 too); in plain HTTP, requests
// it cannot read get the gateway's problem+json answer (listener.go).
func (s *Public) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.observed,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes - 4096, // the server allows 4 KiB more than it is told
		ErrorLog:          s.errorLog,
	}
	defer ln.Close()
	serve := func() error { return srv.Serve(problemListener{Listener: ln, answer: s.unreadable}) }
	if s.cfg.TLSCertFile != "" {
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		serve = func() error { return srv.ServeTLS(ln, s.cfg.TLSCertFile, s.cfg.TLSKeyFile) }
	}
	errc := make(chan error, 1)
	go func() { errc <- serve() }()
	s.log.InfoContext(ctx, "gateway public listener started", "addr", ln.Addr().String(), "tls", s.cfg.TLSCertFile != "")
	select {
	case err := <-errc:
		return fmt.Errorf("gateway: public listener: %w", err)
	case <-ctx.Done():
	}
	// Requests in flight get 15 seconds.
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdownCtx)
	return nil
}
