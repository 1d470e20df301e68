// Package standalone runs one service as its own process, the way it is
// deployed in production: configuration from FABRIKA_* environment
// variables, an external NATS, the service's own database, graceful stop on
// SIGINT/SIGTERM. A service's cmd/<name>/main.go is a call to Main.
package standalone

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/fabrika/fabrika/platform/broker"
	"github.com/fabrika/fabrika/platform/host"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/platform/outbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/telemetry"
)

// Env is what a service's constructor may take from the process
// environment besides its host.
type Env struct {
	// Getenv reads the service's own FABRIKA_* settings.
	Getenv func(string) string
	// Verifier checks the identity tokens made for this service
	// (FABRIKA_IDENTITY_PUBLIC_KEYS or FABRIKA_IDENTITY_PUBLIC_KEY); nil
	// when no key is configured.
	Verifier *identity.Verifier
	// Signer signs them (FABRIKA_IDENTITY_PRIVATE_KEY; the gateway only).
	Signer *identity.Signer
}

// Build constructs a service on its host: its routes and background work.
type Build func(ctx context.Context, h *host.Host, env Env) (http.Handler, []func(context.Context) error, error)

// Main runs a service until SIGINT or SIGTERM and exits the process;
// dbOpts tune its database's pool (host.Config.DBOptions).
func Main(service string, migrations fs.FS, defaultAddr string, build Build, dbOpts ...sqldb.Option) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := Run(ctx, service, migrations, defaultAddr, os.Getenv, build, dbOpts...)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", service, err)
		os.Exit(1)
	}
}

// Run is Main without the process: configuration is read with getenv.
//
//	FABRIKA_DSN                   database (default data/<service>.db)
//	FABRIKA_HTTP_ADDR             the service's own routes (default defaultAddr;
//	                              none when both are empty)
//	FABRIKA_ADMIN_ADDR            admin listener: /metrics, /healthz, /readyz,
//	                              /admin/* (default defaultAddr's port + 1000,
//	                              or DefaultAdminAddr without defaultAddr)
//	FABRIKA_ADMIN_TOKEN           bearer token of the admin actions; without it
//	                              (and without an identity key) they are refused
//	FABRIKA_STREAM_REPLICAS       replicas of the FABRIKA stream (default 1;
//	                              never lowered on an existing stream)
//	FABRIKA_NATS_URL              NATS server or cluster (default nats://127.0.0.1:4222)
//	FABRIKA_OTLP_ENDPOINT         OTLP/HTTP trace collector (default none)
//	FABRIKA_LOG_LEVEL             debug|info|warn|error (default info)
//	FABRIKA_INSTANCE              this replica's stable name (default the host name; outbox.Config.Instance)
//	FABRIKA_IDENTITY_PUBLIC_KEY   base64 Ed25519 public key of the gateway
//	FABRIKA_IDENTITY_PUBLIC_KEYS  kid=base64,kid2=base64: both keys during a rotation (docs/security.md)
//	FABRIKA_IDENTITY_PRIVATE_KEY  base64 Ed25519 private key or 32-byte seed (gateway),
//	                              or FABRIKA_IDENTITY_PRIVATE_KEY_FILE: a file holding it
func Run(ctx context.Context, service string, migrations fs.FS, defaultAddr string, getenv func(string) string, build Build, dbOpts ...sqldb.Option) error {
	get := func(k, def string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return def
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(get("FABRIKA_LOG_LEVEL", "info"))); err != nil {
		return fmt.Errorf("FABRIKA_LOG_LEVEL: %w", err)
	}
	log := telemetry.NewLogger(os.Stderr, service, level)
	env := Env{Getenv: getenv}
	if list := get("FABRIKA_IDENTITY_PUBLIC_KEYS", getenv("FABRIKA_IDENTITY_PUBLIC_KEY")); list != "" {
		keys, err := identity.ParseKeyring(list)
		if err != nil {
			return fmt.Errorf("FABRIKA_IDENTITY_PUBLIC_KEYS: %w", err)
		}
		env.Verifier = identity.NewKeyringVerifier(service, keys)
	}
	priv, err := identity.PrivateKeyFromEnv(getenv)
	if err != nil {
		return err
	}
	if priv != nil {
		env.Signer = identity.NewSigner(priv)
		if env.Verifier == nil {
			env.Verifier = identity.NewVerifier(service, priv.Public().(ed25519.PublicKey))
		}
	}
	adminAddr := getenv("FABRIKA_ADMIN_ADDR")
	if adminAddr == "" {
		var err error
		if adminAddr, err = defaultAdminAddr(defaultAddr); err != nil {
			return fmt.Errorf("FABRIKA_ADMIN_ADDR: %w", err)
		}
	}
	replicas := 1
	if v := getenv("FABRIKA_STREAM_REPLICAS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 5 {
			return fmt.Errorf("FABRIKA_STREAM_REPLICAS must be 1 to 5, not %q", v)
		}
		replicas = n
	}
	tp, err := telemetry.NewTracerProvider(ctx, service, getenv("FABRIKA_OTLP_ENDPOINT"))
	if err != nil {
		return err
	}
	defer tp.Shutdown(context.WithoutCancel(ctx))
	nc, err := broker.Connect(get("FABRIKA_NATS_URL", "nats://127.0.0.1:4222"), nil, "fabrika-"+service, log)
	if err != nil {
		return err
	}
	defer nc.Close()
	deps := host.Deps{Logger: telemetry.NewLogger(os.Stderr, "", level), NATS: nc, TracerProvider: tp}
	if env.Verifier != nil {
		deps.Identity = env.Verifier
	}
	h, err := host.Open(ctx, host.Config{
		Service: service, DSN: get("FABRIKA_DSN", "data/"+service+".db"), DBOptions: dbOpts, HTTPAddr: get("FABRIKA_HTTP_ADDR", defaultAddr),
		AdminAddr: adminAddr, AdminToken: getenv("FABRIKA_ADMIN_TOKEN"),
		StreamReplicas: replicas, Migrations: migrations,
		Outbox: outbox.Config{Instance: getenv("FABRIKA_INSTANCE")},
	}, deps)
	if err != nil {
		return err
	}
	app, bg, err := build(ctx, h, env)
	if err != nil {
		h.DB.Close()
		return fmt.Errorf("build %s: %w", service, err)
	}
	if getenv("FABRIKA_ADMIN_TOKEN") == "" && env.Verifier == nil {
		log.WarnContext(ctx, "no admin credential configured: every admin action is refused (set FABRIKA_ADMIN_TOKEN)")
	}
	return h.Run(ctx, app, bg...)
}

// DefaultAdminAddr is the admin listener of a service without an
// application listener of its host (defaultAddr "": the gateway, which
// serves its own public listener).
const DefaultAdminAddr = "127.0.0.1:9080"

// defaultAdminAddr is the admin listener beside addr: its port + 1000.
func defaultAdminAddr(addr string) (string, error) {
	if addr == "" {
		return DefaultAdminAddr, nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("default address %q: %w", addr, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p+1000 > 65535 {
		return "", fmt.Errorf("default address %q: no admin port beside it", addr)
	}
	if p == 0 { // any port: the admin listener too
		return net.JoinHostPort(host, "0"), nil
	}
	return net.JoinHostPort(host, strconv.Itoa(p+1000)), nil
}
