// Command mes-calc runs the MES calculation service on its own: its database
// (price list, calculations, workstation load), the broker connection, and
// the internal listener with the admin API under /pricing/ beside /metrics,
// /healthz, /readyz and /admin. It has no public route: keep its address on
// the internal network.
//
// Configuration (flags override the environment):
//
//	FABRIKA_DSN                  database (default sqlite data/mes-calc.db)
//	FABRIKA_HTTP_ADDR            listener (default 127.0.0.1:8083)
//	FABRIKA_NATS_URL             JetStream server (default nats://127.0.0.1:4222)
//	FABRIKA_OTLP_ENDPOINT        OTLP/HTTP traces endpoint (optional)
//	FABRIKA_IDENTITY_PUBLIC_KEY  base64 (std) Ed25519 public key of the gateway (required)
//	FABRIKA_HORIZON_DAYS         working days ahead a step may be planned before
//	                             the order goes to review (default 780)
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
	mescalc "github.com/fabrika/fabrika/services/mes-calc"
	"github.com/fabrika/fabrika/services/mes-calc/migrations"
)

type config struct {
	dsn, addr, natsURL, otlp, publicKey string
	horizonDays                         int
}

func env(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("mes-calc", flag.ContinueOnError)
	fs.StringVar(&c.dsn, "dsn", env("FABRIKA_DSN", "data/mes-calc.db"), "database DSN (postgres://... or a SQLite path)")
	fs.StringVar(&c.addr, "http-addr", env("FABRIKA_HTTP_ADDR", "127.0.0.1:8083"), "listen address (internal network only)")
	fs.StringVar(&c.natsURL, "nats-url", env("FABRIKA_NATS_URL", "nats://127.0.0.1:4222"), "NATS JetStream URL")
	fs.StringVar(&c.otlp, "otlp-endpoint", env("FABRIKA_OTLP_ENDPOINT", ""), "OTLP/HTTP endpoint for traces (empty: none)")
	fs.StringVar(&c.publicKey, "identity-public-key", env("FABRIKA_IDENTITY_PUBLIC_KEY", ""), "the gateway's Ed25519 public key, base64")
	horizon, err := strconv.Atoi(env("FABRIKA_HORIZON_DAYS", "0"))
	if err != nil {
		return c, fmt.Errorf("FABRIKA_HORIZON_DAYS: %w", err)
	}
	fs.IntVar(&c.horizonDays, "horizon-days", horizon, "scheduling horizon in working days (0: default 780)")
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
	log := telemetry.NewLogger(os.Stderr, "mes-calc", slog.LevelInfo)
	key, err := publicKey(c.publicKey)
	if err != nil {
		return err
	}
	tp, err := telemetry.NewTracerProvider(ctx, "mes-calc", c.otlp)
	if err != nil {
		return err
	}
	defer func() { _ = tp.Shutdown(context.WithoutCancel(ctx)) }()
	nc, err := broker.Connect(c.natsURL, nil, "mes-calc", log)
	if err != nil {
		return err
	}
	defer nc.Close()
	h, err := host.Open(ctx, host.Config{Service: "mes-calc", DSN: c.dsn, HTTPAddr: c.addr, Migrations: migrations.FS},
		host.Deps{Logger: log, NATS: nc, TracerProvider: tp})
	if err != nil {
		return err
	}
	svc, err := mescalc.New(ctx, h, mescalc.Config{Identity: identity.NewVerifier(key), HorizonDays: c.horizonDays})
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
		fmt.Fprintln(os.Stderr, "mes-calc:", err)
		os.Exit(2)
	}
	if err := run(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "mes-calc:", err)
		os.Exit(1)
	}
}
