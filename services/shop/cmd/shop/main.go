// Command shop runs the shop service on its own: flags and FABRIKA_* variables
// make one configuration; the database, the broker and telemetry are opened
// here and handed to the service.
package main

import (
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/fabrika/fabrika/platform/broker"
	"github.com/fabrika/fabrika/platform/host"
	"github.com/fabrika/fabrika/platform/telemetry"
	"github.com/fabrika/fabrika/services/shop"
	"github.com/fabrika/fabrika/services/shop/migrations"
)

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func envBool(name string, def bool) bool {
	if v, err := strconv.ParseBool(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if v, err := time.ParseDuration(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

type config struct {
	DSN, HTTPAddr, NATSURL, OTLP, IdentityKey string
	LogLevel                                  string
	Shop                                      shop.Config
}

func parse(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("shop", flag.ContinueOnError)
	fs.StringVar(&c.DSN, "dsn", env("FABRIKA_DSN", "data/shop.db"), "database DSN (postgres://... or a SQLite path)")
	fs.StringVar(&c.HTTPAddr, "http", env("FABRIKA_HTTP_ADDR", "127.0.0.1:8081"), "HTTP listen address")
	fs.StringVar(&c.NATSURL, "nats", env("FABRIKA_NATS_URL", "nats://127.0.0.1:4222"), "NATS URL")
	fs.StringVar(&c.OTLP, "otlp", env("FABRIKA_OTLP_ENDPOINT", ""), "OTLP/HTTP trace endpoint (host:port), empty for none")
	fs.StringVar(&c.IdentityKey, "identity-public-key", env("FABRIKA_IDENTITY_PUBLIC_KEY", ""), "unused by the shop (no staff routes)")
	fs.StringVar(&c.LogLevel, "log-level", env("FABRIKA_LOG_LEVEL", "info"), "debug, info, warn or error")
	fs.BoolVar(&c.Shop.CookieSecure, "cookie-secure", envBool("FABRIKA_SHOP_COOKIE_SECURE", true), "mark cookies Secure (turn off only for local plain http)")
	fs.BoolVar(&c.Shop.TrustForwardedFor, "trust-forwarded-for", envBool("FABRIKA_SHOP_TRUST_FORWARDED_FOR", false), "rate-limit sign-ins by the last X-Forwarded-For hop")
	fs.DurationVar(&c.Shop.SessionTTL, "session-ttl", envDuration("FABRIKA_SHOP_SESSION_TTL", 14*24*time.Hour), "session lifetime")
	fs.IntVar(&c.Shop.LoginPerAccount, "login-per-account", envInt("FABRIKA_SHOP_LOGIN_PER_ACCOUNT", 5), "failed sign-ins per account per window")
	fs.IntVar(&c.Shop.LoginPerIP, "login-per-ip", envInt("FABRIKA_SHOP_LOGIN_PER_IP", 30), "sign-in attempts per client address per window")
	fs.DurationVar(&c.Shop.LoginWindow, "login-window", envDuration("FABRIKA_SHOP_LOGIN_WINDOW", 15*time.Minute), "sign-in rate limit window")
	fs.DurationVar(&c.Shop.CacheTTL, "cache-ttl", envDuration("FABRIKA_SHOP_CACHE_TTL", time.Minute), "catalogue cache lifetime")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if c.IdentityKey != "" {
		if _, err := base64.StdEncoding.DecodeString(c.IdentityKey); err != nil {
			return config{}, fmt.Errorf("identity public key: %w", err)
		}
	}
	return c, nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "shop:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := parse(os.Args[1:])
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return fmt.Errorf("log level: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log := telemetry.NewLogger(os.Stderr, "shop", level)
	tp, err := telemetry.NewTracerProvider(ctx, "shop", cfg.OTLP)
	if err != nil {
		return err
	}
	defer tp.Shutdown(context.WithoutCancel(ctx))
	nc, err := broker.Connect(cfg.NATSURL, nil, "shop", log)
	if err != nil {
		return err
	}
	defer nc.Close()
	h, err := host.Open(ctx, host.Config{Service: "shop", DSN: cfg.DSN, HTTPAddr: cfg.HTTPAddr, Migrations: migrations.FS},
		host.Deps{Logger: log, NATS: nc, TracerProvider: tp})
	if err != nil {
		return err
	}
	svc, err := shop.New(ctx, h, cfg.Shop)
	if err != nil {
		return err
	}
	return h.Run(ctx, svc.Handler(), svc.Background()...)
}
