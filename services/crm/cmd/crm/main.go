// Command crm runs the CRM on its own: its database, the broker connection,
// the host (outbox relay, inbox, HTTP) and the CRM's routes.
//
// Configuration (flags override the environment):
//
//	FABRIKA_DSN                  database (default sqlite data/crm.db)
//	FABRIKA_HTTP_ADDR            listen address (default 127.0.0.1:8082)
//	FABRIKA_NATS_URL             JetStream server (default nats://127.0.0.1:4222)
//	FABRIKA_OTLP_ENDPOINT        OTLP/HTTP traces endpoint (optional)
//	FABRIKA_IDENTITY_PUBLIC_KEY  base64 (std) Ed25519 public key of the gateway
//	FABRIKA_CRM_STUCK            stuck thresholds, e.g. "placed=15m,priced=24h"
//	FABRIKA_CRM_CACHE_SIZE       cached list pages (default 2000; -1 disables)
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
	"time"

	"github.com/fabrika/fabrika/platform/broker"
	"github.com/fabrika/fabrika/platform/host"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/platform/telemetry"
	"github.com/fabrika/fabrika/services/crm"
)

type config struct {
	dsn, addr, natsURL, otlp, publicKey, stuck string
	cacheSize                                  int
}

func env(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("crm", flag.ContinueOnError)
	fs.StringVar(&c.dsn, "dsn", env("FABRIKA_DSN", "data/crm.db"), "database DSN (postgres://... or a SQLite path)")
	fs.StringVar(&c.addr, "http-addr", env("FABRIKA_HTTP_ADDR", "127.0.0.1:8082"), "HTTP listen address")
	fs.StringVar(&c.natsURL, "nats-url", env("FABRIKA_NATS_URL", "nats://127.0.0.1:4222"), "NATS JetStream URL")
	fs.StringVar(&c.otlp, "otlp-endpoint", env("FABRIKA_OTLP_ENDPOINT", ""), "OTLP/HTTP endpoint for traces (empty: none)")
	fs.StringVar(&c.publicKey, "identity-public-key", env("FABRIKA_IDENTITY_PUBLIC_KEY", ""), "gateway's Ed25519 public key, base64")
	fs.StringVar(&c.stuck, "stuck", env("FABRIKA_CRM_STUCK", ""), "stuck thresholds status=duration,... (default built in)")
	size, _ := strconv.Atoi(env("FABRIKA_CRM_CACHE_SIZE", "0"))
	fs.IntVar(&c.cacheSize, "cache-size", size, "cached orders list pages (0: default, -1: off)")
	return c, fs.Parse(args)
}

func parseStuck(s string) (map[string]time.Duration, error) {
	if s == "" {
		return nil, nil
	}
	out := map[string]time.Duration{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		d, err := time.ParseDuration(v)
		if !ok || err != nil {
			return nil, fmt.Errorf("stuck threshold %q: want status=duration", kv)
		}
		out[k] = d
	}
	return out, nil
}

func run(ctx context.Context, c config) error {
	log := telemetry.NewLogger(os.Stderr, "crm", slog.LevelInfo)
	keyBytes, err := base64.StdEncoding.DecodeString(c.publicKey)
	if err != nil || len(keyBytes) != ed25519.PublicKeySize {
		return errors.New("FABRIKA_IDENTITY_PUBLIC_KEY must be the gateway's Ed25519 public key in base64")
	}
	stuck, err := parseStuck(c.stuck)
	if err != nil {
		return err
	}
	tp, err := telemetry.NewTracerProvider(ctx, "crm", c.otlp)
	if err != nil {
		return err
	}
	defer func() { _ = tp.Shutdown(context.WithoutCancel(ctx)) }()
	nc, err := broker.Connect(c.natsURL, nil, "crm", log)
	if err != nil {
		return err
	}
	defer nc.Close()
	h, err := host.Open(ctx, host.Config{Service: "crm", DSN: c.dsn, HTTPAddr: c.addr, Migrations: crm.Migrations},
		host.Deps{Logger: log, NATS: nc, TracerProvider: tp})
	if err != nil {
		return err
	}
	svc, err := crm.New(ctx, h, crm.Config{Identity: identity.NewVerifier(ed25519.PublicKey(keyBytes)), StuckAfter: stuck, CacheSize: c.cacheSize})
	if err != nil {
		return err
	}
	return h.Run(ctx, svc.Handler(), svc.Background()...)
}

func main() {
	c, err := parseFlags(os.Args[1:])
	if err != nil {
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "crm:", err)
		os.Exit(1)
	}
}
