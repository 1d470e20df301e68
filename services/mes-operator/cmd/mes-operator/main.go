// Command mes-operator runs the shop-floor service on its own: the
// operators' tablet pages and JSON API under /mes/, fed by confirmed orders
// from the broker. Configuration comes from flags and FABRIKA_* environment
// variables (flags win).
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
	"syscall"
	"time"

	"github.com/fabrika/fabrika/platform/broker"
	"github.com/fabrika/fabrika/platform/host"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/platform/telemetry"
	mesoperator "github.com/fabrika/fabrika/services/mes-operator"
	"github.com/fabrika/fabrika/services/mes-operator/migrations"
)

// Config is everything the command reads.
type Config struct {
	DSN                 string
	HTTPAddr            string
	NATSURL             string
	OTLPEndpoint        string
	IdentityPublicKey   string // base64 (standard) Ed25519 public key of the gateway
	ShippingWorkstation string
	LoginURL            string
	EventRetention      time.Duration
	LogLevel            string
}

// ParseFlags reads the environment, then the flags.
func ParseFlags(args []string, getenv func(string) string) (Config, error) {
	env := func(k, def string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return def
	}
	var c Config
	fs := flag.NewFlagSet("mes-operator", flag.ContinueOnError)
	fs.StringVar(&c.DSN, "dsn", env("FABRIKA_DSN", "data/mes-operator.db"), "database: a SQLite path or a postgres:// URL (FABRIKA_DSN)")
	fs.StringVar(&c.HTTPAddr, "http-addr", env("FABRIKA_HTTP_ADDR", "127.0.0.1:8084"), "HTTP listen address (FABRIKA_HTTP_ADDR)")
	fs.StringVar(&c.NATSURL, "nats-url", env("FABRIKA_NATS_URL", "nats://127.0.0.1:4222"), "NATS JetStream URL (FABRIKA_NATS_URL)")
	fs.StringVar(&c.OTLPEndpoint, "otlp-endpoint", env("FABRIKA_OTLP_ENDPOINT", ""), "OTLP/HTTP trace endpoint, e.g. localhost:4318 (FABRIKA_OTLP_ENDPOINT)")
	fs.StringVar(&c.IdentityPublicKey, "identity-public-key", env("FABRIKA_IDENTITY_PUBLIC_KEY", ""), "base64 Ed25519 public key of the gateway (FABRIKA_IDENTITY_PUBLIC_KEY)")
	fs.StringVar(&c.ShippingWorkstation, "shipping-workstation", env("FABRIKA_MES_OPERATOR_SHIPPING_WORKSTATION", "shipping"), "workstation whose operators may ship any order (FABRIKA_MES_OPERATOR_SHIPPING_WORKSTATION)")
	fs.StringVar(&c.LoginURL, "login-url", env("FABRIKA_MES_OPERATOR_LOGIN_URL", "/staff/login"), "where browsers without a staff identity are sent; - for 401 (FABRIKA_MES_OPERATOR_LOGIN_URL)")
	retention := env("FABRIKA_MES_OPERATOR_EVENT_RETENTION", "720h")
	fs.StringVar(&retention, "event-retention", retention, "how long operator event ids are kept to recognise retries (FABRIKA_MES_OPERATOR_EVENT_RETENTION)")
	fs.StringVar(&c.LogLevel, "log-level", env("FABRIKA_LOG_LEVEL", "info"), "debug, info, warn or error (FABRIKA_LOG_LEVEL)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	d, err := time.ParseDuration(retention)
	if err != nil {
		return c, fmt.Errorf("event retention: %w", err)
	}
	c.EventRetention = d
	if c.IdentityPublicKey == "" {
		return c, errors.New("the gateway's identity public key is required (FABRIKA_IDENTITY_PUBLIC_KEY)")
	}
	return c, nil
}

func (c Config) verifier() (*identity.Verifier, error) {
	raw, err := base64.StdEncoding.DecodeString(c.IdentityPublicKey)
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, errors.New("the identity public key must be a base64 Ed25519 public key (32 bytes)")
	}
	return identity.NewVerifier(ed25519.PublicKey(raw)), nil
}

// Run builds the service and serves until ctx is cancelled.
func Run(ctx context.Context, c Config) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return fmt.Errorf("log level: %w", err)
	}
	log := telemetry.NewLogger(os.Stderr, mesoperator.Name, level)
	verifier, err := c.verifier()
	if err != nil {
		return err
	}
	tp, err := telemetry.NewTracerProvider(ctx, mesoperator.Name, c.OTLPEndpoint)
	if err != nil {
		return err
	}
	defer func() { _ = tp.Shutdown(context.WithoutCancel(ctx)) }()
	nc, err := broker.Connect(c.NATSURL, nil, mesoperator.Name, log)
	if err != nil {
		return err
	}
	defer nc.Close()
	h, err := host.Open(ctx, host.Config{Service: mesoperator.Name, DSN: c.DSN, HTTPAddr: c.HTTPAddr, Migrations: migrations.FS},
		host.Deps{Logger: log, NATS: nc, TracerProvider: tp})
	if err != nil {
		return err
	}
	svc, err := mesoperator.New(ctx, h, mesoperator.Config{Identity: verifier, ShippingWorkstation: c.ShippingWorkstation,
		LoginURL: c.LoginURL, EventRetention: c.EventRetention})
	if err != nil {
		h.DB.Close()
		return err
	}
	return h.Run(ctx, svc.Handler(), svc.Background()...)
}

func main() {
	c, err := ParseFlags(os.Args[1:], os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mes-operator:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := Run(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "mes-operator:", err)
		os.Exit(1)
	}
}
