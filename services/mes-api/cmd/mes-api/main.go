// Command mes-api runs the B2B API on its own: its database (clients, keys,
// their orders, webhook endpoints and deliveries), the broker connection,
// and the listener with /v1/... (for the gateway's /api/ prefix) and the
// internal admin routes /clients... beside /metrics, /healthz, /readyz and
// /admin. Keep /clients, /metrics and /admin on the internal network.
//
// Configuration (flags override the environment):
//
//	FABRIKA_DSN                  database (default sqlite data/mes-api.db)
//	FABRIKA_HTTP_ADDR            listener (default 127.0.0.1:8085)
//	FABRIKA_NATS_URL             JetStream server (default nats://127.0.0.1:4222)
//	FABRIKA_OTLP_ENDPOINT        OTLP/HTTP traces endpoint (optional)
//	FABRIKA_IDENTITY_PUBLIC_KEY  base64 (std) Ed25519 public key of the gateway (required)
//	FABRIKA_PRODUCTION           "true": webhooks may only reach public addresses
//	FABRIKA_API_DEFAULT_RATE     a new key's requests per minute (default 600)
package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/fabrika/fabrika/platform/broker"
	"github.com/fabrika/fabrika/platform/host"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/platform/telemetry"
	mesapi "github.com/fabrika/fabrika/services/mes-api"
	"github.com/fabrika/fabrika/services/mes-api/migrations"
)

type config struct {
	dsn, addr, natsURL, otlp, publicKey string
	production                          bool
	defaultRate                         int
}

func env(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("mes-api", flag.ContinueOnError)
	fs.StringVar(&c.dsn, "dsn", env("FABRIKA_DSN", "data/mes-api.db"), "database DSN (postgres://... or a SQLite path)")
	fs.StringVar(&c.addr, "http-addr", env("FABRIKA_HTTP_ADDR", "127.0.0.1:8085"), "listen address (behind the gateway)")
	fs.StringVar(&c.natsURL, "nats-url", env("FABRIKA_NATS_URL", "nats://127.0.0.1:4222"), "NATS JetStream URL")
	fs.StringVar(&c.otlp, "otlp-endpoint", env("FABRIKA_OTLP_ENDPOINT", ""), "OTLP/HTTP endpoint for traces (empty: none)")
	fs.StringVar(&c.publicKey, "identity-public-key", env("FABRIKA_IDENTITY_PUBLIC_KEY", ""), "the gateway's Ed25519 public key, base64")
	prod, err := strconv.ParseBool(env("FABRIKA_PRODUCTION", "false"))
	if err != nil {
		return c, fmt.Errorf("FABRIKA_PRODUCTION: %w", err)
	}
	fs.BoolVar(&c.production, "production", prod, "refuse webhook URLs that are not public addresses")
	rate, err := strconv.Atoi(env("FABRIKA_API_DEFAULT_RATE", "600"))
	if err != nil {
		return c, fmt.Errorf("FABRIKA_API_DEFAULT_RATE: %w", err)
	}
	fs.IntVar(&c.defaultRate, "default-rate", rate, "a new API key's requests per minute")
	return c, fs.Parse(args)
}

func publicKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, errors.New("FABRIKA_IDENTITY_PUBLIC_KEY must be the gateway's Ed25519 public key (32 bytes) in base64")
	}
	return ed25519.PublicKey(b), nil
}

func run(ctx context.Context, c config) error {
	log := telemetry.NewLogger(os.Stderr, "mes-api", slog.LevelInfo)
	key, err := publicKey(c.publicKey)
	if err != nil {
		return err
	}
	tp, err := telemetry.NewTracerProvider(ctx, "mes-api", c.otlp)
	if err != nil {
		return err
	}
	defer func() { _ = tp.Shutdown(context.WithoutCancel(ctx)) }()
	nc, err := broker.Connect(c.natsURL, nil, "mes-api", log)
	if err != nil {
		return err
	}
	defer nc.Close()
	h, err := host.Open(ctx, host.Config{Service: "mes-api", DSN: c.dsn, HTTPAddr: c.addr, Migrations: migrations.FS},
		host.Deps{Logger: log, NATS: nc, TracerProvider: tp})
	if err != nil {
		return err
	}
	svc, err := mesapi.New(ctx, h, mesapi.Config{Identity: identity.NewVerifier(key), ProductionMode: c.production,
		DefaultRatePerMinute: c.defaultRate})
	if err != nil {
		return err
	}
	return h.Run(ctx, svc.Handler(), svc.Background()...)
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "mes-api:", err)
		os.Exit(2)
	}
	if err := run(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "mes-api:", err)
		os.Exit(1)
	}
}
