// Command gateway runs Fabrika's public entry on its own: its database (staff
// accounts, sessions, audit log), the broker connection the host needs, the
// internal operations listener and the public listener.
//
//	gateway                     serve
//	gateway admin create -login L -role admin [-workstations A,B]
//	                            create a staff account; the password is read
//	                            from FABRIKA_ADMIN_PASSWORD or standard input
//
// Configuration (flags override the environment):
//
//	FABRIKA_DSN                    database (default sqlite data/gateway.db)
//	FABRIKA_HTTP_ADDR              internal operations listener: /metrics,
//	                               /healthz, /readyz, /admin (default 127.0.0.1:9080)
//	FABRIKA_PUBLIC_ADDR            public listener (default :8080)
//	FABRIKA_NATS_URL               JetStream server (default nats://127.0.0.1:4222)
//	FABRIKA_OTLP_ENDPOINT          OTLP/HTTP traces endpoint (optional)
//	FABRIKA_IDENTITY_PRIVATE_KEY   base64 (std) Ed25519 seed (32 bytes) or private key (64 bytes);
//	                               or FABRIKA_IDENTITY_PRIVATE_KEY_FILE, a file holding it (no flag: ps shows flags)
//	FABRIKA_SHOP_URL               default http://127.0.0.1:8081
//	FABRIKA_CRM_URL                default http://127.0.0.1:8082
//	FABRIKA_MES_OPERATOR_URL       default http://127.0.0.1:8084
//	FABRIKA_MES_API_URL            default http://127.0.0.1:8085
//	FABRIKA_TLS_CERT, FABRIKA_TLS_KEY  terminate TLS on the public listener (optional)
//	FABRIKA_COOKIE_SECURE          "true" marks the session cookie Secure (implied by TLS)
//	FABRIKA_PRODUCTION             "true" refuses unsafe settings
//	FABRIKA_MAX_BODY_BYTES         request body limit (default 10485760)
//	GOGC                           Go's garbage collector target (default here
//	                               gateway.GCPercent, 200, rather than Go's 100)
package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"

	"github.com/fabrika/fabrika/platform/broker"
	"github.com/fabrika/fabrika/platform/host"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/telemetry"
	"github.com/fabrika/fabrika/services/gateway"
	"github.com/fabrika/fabrika/services/gateway/migrations"
)

type config struct {
	dsn, addr, publicAddr, natsURL, otlp string
	shop, crm, mesOperator, mesAPI       string
	tlsCert, tlsKey                      string
	cookieSecure, production             bool
	maxBody                              int64
}

func env(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func envBool(k string) bool { b, _ := strconv.ParseBool(os.Getenv(k)); return b }

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.StringVar(&c.dsn, "dsn", env("FABRIKA_DSN", "data/gateway.db"), "database DSN (postgres://... or a SQLite path)")
	fs.StringVar(&c.addr, "http-addr", env("FABRIKA_HTTP_ADDR", "127.0.0.1:9080"), "internal operations listen address")
	fs.StringVar(&c.publicAddr, "public-addr", env("FABRIKA_PUBLIC_ADDR", ":8080"), "public listen address")
	fs.StringVar(&c.natsURL, "nats-url", env("FABRIKA_NATS_URL", "nats://127.0.0.1:4222"), "NATS JetStream URL")
	fs.StringVar(&c.otlp, "otlp-endpoint", env("FABRIKA_OTLP_ENDPOINT", ""), "OTLP/HTTP endpoint for traces (empty: none)")
	fs.StringVar(&c.shop, "shop-url", env("FABRIKA_SHOP_URL", "http://127.0.0.1:8081"), "shop base URL")
	fs.StringVar(&c.crm, "crm-url", env("FABRIKA_CRM_URL", "http://127.0.0.1:8082"), "CRM base URL")
	fs.StringVar(&c.mesOperator, "mes-operator-url", env("FABRIKA_MES_OPERATOR_URL", "http://127.0.0.1:8084"), "mes-operator base URL")
	fs.StringVar(&c.mesAPI, "mes-api-url", env("FABRIKA_MES_API_URL", "http://127.0.0.1:8085"), "mes-api base URL")
	fs.StringVar(&c.tlsCert, "tls-cert", env("FABRIKA_TLS_CERT", ""), "TLS certificate file (optional)")
	fs.StringVar(&c.tlsKey, "tls-key", env("FABRIKA_TLS_KEY", ""), "TLS key file (optional)")
	fs.BoolVar(&c.cookieSecure, "cookie-secure", envBool("FABRIKA_COOKIE_SECURE"), "mark the session cookie Secure")
	fs.BoolVar(&c.production, "production", envBool("FABRIKA_PRODUCTION"), "refuse unsafe settings")
	maxBody, _ := strconv.ParseInt(env("FABRIKA_MAX_BODY_BYTES", "0"), 10, 64)
	fs.Int64Var(&c.maxBody, "max-body-bytes", maxBody, "request body limit (0: default 10 MiB)")
	return c, fs.Parse(args)
}

func run(ctx context.Context, c config) error {
	log := telemetry.NewLogger(os.Stderr, "gateway", slog.LevelInfo)
	// From the environment or a file only: a flag would show it in ps.
	key, err := identity.PrivateKeyFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	if key == nil {
		return errors.New("FABRIKA_IDENTITY_PRIVATE_KEY or FABRIKA_IDENTITY_PRIVATE_KEY_FILE (the gateway's Ed25519 key) is required")
	}
	tp, err := telemetry.NewTracerProvider(ctx, "gateway", c.otlp)
	if err != nil {
		return err
	}
	defer func() { _ = tp.Shutdown(context.WithoutCancel(ctx)) }()
	nc, err := broker.Connect(c.natsURL, nil, "gateway", log)
	if err != nil {
		return err
	}
	defer nc.Close()
	h, err := host.Open(ctx, host.Config{Service: "gateway", DSN: c.dsn, HTTPAddr: c.addr, Migrations: migrations.FS},
		host.Deps{Logger: log, NATS: nc, TracerProvider: tp})
	if err != nil {
		return err
	}
	svc, err := gateway.New(ctx, h, gateway.Config{
		Shop: c.shop, CRM: c.crm, MESOperator: c.mesOperator, MESAPI: c.mesAPI,
		Signer:     identity.NewSigner(key),
		PublicAddr: c.publicAddr, TLSCertFile: c.tlsCert, TLSKeyFile: c.tlsKey,
		CookieSecure: c.cookieSecure, ProductionMode: c.production, MaxBodyBytes: c.maxBody,
	})
	if err != nil {
		return err
	}
	log.InfoContext(ctx, "gateway identity public key (FABRIKA_IDENTITY_PUBLIC_KEY of the services)",
		"public_key", base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey)), "kid", identity.KeyID(key.Public().(ed25519.PublicKey)))
	return h.Run(ctx, svc.Handler(), svc.Background()...)
}

// adminCreate creates a staff account: `gateway admin create -login ...`.
func adminCreate(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("gateway admin create", flag.ContinueOnError)
	dsn := fs.String("dsn", env("FABRIKA_DSN", "data/gateway.db"), "the gateway's database DSN")
	login := fs.String("login", "", "login (required)")
	role := fs.String("role", "admin", "admin, manager or operator")
	ws := fs.String("workstations", "", "an operator's workstations, comma separated")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *login == "" {
		return errors.New("-login is required")
	}
	pw := os.Getenv("FABRIKA_ADMIN_PASSWORD")
	if pw == "" {
		fmt.Fprint(stdout, "password (at least 12 characters): ")
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && line == "" {
			return errors.New("no password given (FABRIKA_ADMIN_PASSWORD or standard input)")
		}
		pw = strings.TrimRight(line, "\r\n")
	}
	db, err := sqldb.Open(ctx, *dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Migrate(ctx, migrations.FS); err != nil {
		return err
	}
	var list []string
	if *ws != "" {
		list = strings.Split(*ws, ",")
	}
	if err := gateway.CreateStaff(ctx, db, *login, pw, *role, list); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created %s (%s)\n", *login, *role)
	return nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	args := os.Args[1:]
	if len(args) >= 2 && args[0] == "admin" && args[1] == "create" {
		if err := adminCreate(ctx, args[2:], os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "gateway admin create:", err)
			os.Exit(1)
		}
		return
	}
	c, err := parseFlags(args)
	if err != nil {
		os.Exit(2)
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gateway.GCPercent)
	}
	if err := run(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}
