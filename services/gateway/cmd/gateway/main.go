// Command gateway runs Fabrika's public entry on its own, as it is
// deployed. platform/standalone reads the common settings (FABRIKA_DSN,
// FABRIKA_ADMIN_ADDR: the admin listener with /metrics, /healthz, /readyz
// and /admin, default 127.0.0.1:9080; FABRIKA_ADMIN_TOKEN; FABRIKA_HTTP_ADDR
// is unset: the gateway serves on its public listener; FABRIKA_NATS_URL, FABRIKA_OTLP_ENDPOINT,
// FABRIKA_LOG_LEVEL, and FABRIKA_IDENTITY_PRIVATE_KEY or
// FABRIKA_IDENTITY_PRIVATE_KEY_FILE: required here; no flags, so no secret
// on a command line); the gateway's own settings are:
//
//	FABRIKA_PUBLIC_ADDR            public listener (default :8080)
//	FABRIKA_SHOP_URL               default http://127.0.0.1:8081
//	FABRIKA_CRM_URL                default http://127.0.0.1:8082
//	FABRIKA_MES_OPERATOR_URL       default http://127.0.0.1:8084
//	FABRIKA_MES_API_URL            default http://127.0.0.1:8085
//	FABRIKA_TLS_CERT, FABRIKA_TLS_KEY  terminate TLS on the public listener (optional)
//	FABRIKA_COOKIE_SECURE          mark the session cookie Secure (default true; false only for local plain http)
//	FABRIKA_PRODUCTION             refuse unsafe settings (default true)
//	FABRIKA_TRUSTED_PROXIES        comma-separated CIDRs (or addresses) of the proxies in front of the
//	                               gateway whose X-Forwarded-For is believed (default none)
//	FABRIKA_MAX_BODY_BYTES         request body limit (default 10485760)
//	FABRIKA_SECRET_KEY             base64 of 32 random bytes: seals staff TOTP seeds at rest
//	                               (required in production: admins sign in with TOTP)
//	GOGC                           Go's garbage collector target (default here
//	                               gateway.GCPercent, 200, rather than Go's 100)
//
// A malformed value stops the start with an error naming the variable.
//
//	gateway admin create -login L -role admin [-workstations A,B]
//
// creates a staff account; the password is read from FABRIKA_ADMIN_PASSWORD
// or standard input.
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
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"

	"github.com/fabrika/fabrika/platform/host"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/standalone"
	"github.com/fabrika/fabrika/services/gateway"
	"github.com/fabrika/fabrika/services/gateway/migrations"
)

func main() {
	if len(os.Args) >= 3 && os.Args[1] == "admin" && os.Args[2] == "create" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := adminCreate(ctx, os.Args[3:], os.Getenv, os.Stdin, os.Stdout)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "gateway admin create:", err)
			os.Exit(1)
		}
		return
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gateway.GCPercent)
	}
	standalone.Main("gateway", migrations.FS, "", build) // no application listener of the host: the public one is the gateway's
}

func build(ctx context.Context, h *host.Host, env standalone.Env) (http.Handler, []func(context.Context) error, error) {
	cfg, err := config(env.Getenv)
	if err != nil {
		return nil, nil, err
	}
	if env.Signer == nil {
		return nil, nil, errors.New("FABRIKA_IDENTITY_PRIVATE_KEY or FABRIKA_IDENTITY_PRIVATE_KEY_FILE is required: the gateway signs the identity tokens")
	}
	cfg.Signer = env.Signer
	svc, err := gateway.New(ctx, h, cfg)
	if err != nil {
		return nil, nil, err
	}
	// What an operator sets on the services (docs/security.md, key rotation).
	if key, err := identity.PrivateKeyFromEnv(env.Getenv); err == nil {
		h.Log.InfoContext(ctx, "gateway identity public key (FABRIKA_IDENTITY_PUBLIC_KEY or one of FABRIKA_IDENTITY_PUBLIC_KEYS of the services)",
			"public_key", base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey)), "kid", env.Signer.KeyID())
	}
	return svc.Handler(), svc.Background(), nil
}

// config reads the gateway's own settings. A standalone gateway is a
// production one unless told otherwise: Secure cookies, unsafe settings
// refused.
func config(getenv func(string) string) (gateway.Config, error) {
	st := standalone.NewSettings(getenv)
	cfg := gateway.Config{
		PublicAddr:  st.String("FABRIKA_PUBLIC_ADDR", ":8080"),
		Shop:        st.String("FABRIKA_SHOP_URL", "http://127.0.0.1:8081"),
		CRM:         st.String("FABRIKA_CRM_URL", "http://127.0.0.1:8082"),
		MESOperator: st.String("FABRIKA_MES_OPERATOR_URL", "http://127.0.0.1:8084"),
		MESAPI:      st.String("FABRIKA_MES_API_URL", "http://127.0.0.1:8085"),
		TLSCertFile: getenv("FABRIKA_TLS_CERT"), TLSKeyFile: getenv("FABRIKA_TLS_KEY"),
		CookieSecure: true, ProductionMode: true,
	}
	st.Bool("FABRIKA_COOKIE_SECURE", &cfg.CookieSecure)
	st.Bool("FABRIKA_PRODUCTION", &cfg.ProductionMode)
	st.Parse("FABRIKA_MAX_BODY_BYTES", func(v string) (err error) {
		if cfg.MaxBodyBytes, err = strconv.ParseInt(v, 10, 64); err != nil || cfg.MaxBodyBytes < 1 {
			return fmt.Errorf("must be a positive number of bytes, got %q", v)
		}
		return nil
	})
	cfg.Secrets = st.Secrets("FABRIKA_SECRET_KEY")
	st.Parse("FABRIKA_TRUSTED_PROXIES", func(v string) (err error) {
		cfg.TrustedProxies, err = gateway.ParseTrustedProxies(v)
		return err
	})
	return cfg, st.Err()
}

// adminCreate creates a staff account: `gateway admin create -login ...`.
func adminCreate(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("gateway admin create", flag.ContinueOnError)
	dsn := getenv("FABRIKA_DSN")
	if dsn == "" {
		dsn = "data/gateway.db"
	}
	fs.StringVar(&dsn, "dsn", dsn, "the gateway's database DSN (default FABRIKA_DSN)")
	login := fs.String("login", "", "login (required)")
	role := fs.String("role", "admin", "admin, manager or operator")
	ws := fs.String("workstations", "", "an operator's workstations, comma separated")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *login == "" {
		return errors.New("-login is required")
	}
	db, err := sqldb.Open(ctx, dsn)
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
	if err := gateway.CheckStaffRole(ctx, db, *role, list); err != nil {
		return err
	}
	pw := getenv("FABRIKA_ADMIN_PASSWORD")
	if pw == "" {
		fmt.Fprint(stdout, "password (at least 12 characters): ")
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && line == "" {
			return errors.New("no password given (FABRIKA_ADMIN_PASSWORD or standard input)")
		}
		pw = strings.TrimRight(line, "\r\n")
	}
	if err := gateway.CreateStaff(ctx, db, *login, pw, *role, list); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created %s (%s)\n", *login, *role)
	return nil
}
