package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/term"

	"github.com/fabrika/fabrika/platform/host"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/platform/netguard"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/crm"
	crmmigrations "github.com/fabrika/fabrika/services/crm/migrations"
	"github.com/fabrika/fabrika/services/gateway"
	gatewaymigrations "github.com/fabrika/fabrika/services/gateway/migrations"
	mesapi "github.com/fabrika/fabrika/services/mes-api"
	mesapimigrations "github.com/fabrika/fabrika/services/mes-api/migrations"
	mescalc "github.com/fabrika/fabrika/services/mes-calc"
	mescalcmigrations "github.com/fabrika/fabrika/services/mes-calc/migrations"
	mesoperator "github.com/fabrika/fabrika/services/mes-operator"
	mesoperatormigrations "github.com/fabrika/fabrika/services/mes-operator/migrations"
	"github.com/fabrika/fabrika/services/shop"
	shopmigrations "github.com/fabrika/fabrika/services/shop/migrations"
)

// wiring is how one service is built on its host: its migrations, its
// database options and a
// constructor. Each service is wired explicitly here, with its own Config.
type wiring struct {
	migrations fs.FS
	dbOptions  []sqldb.Option
	build      func(ctx context.Context, h *host.Host) (http.Handler, []func(context.Context) error, error)
}

// service is what every service package's New returns.
type service interface {
	Handler() http.Handler
	Background() []func(context.Context) error
}

func built[S service](s S, err error) (http.Handler, []func(context.Context) error, error) {
	if err != nil {
		return nil, nil, err
	}
	return s.Handler(), s.Background(), nil
}

func migrationsOf(name string) fs.FS {
	switch name {
	case "shop":
		return shopmigrations.FS
	case "crm":
		return crmmigrations.FS
	case "mes-calc":
		return mescalcmigrations.FS
	case "mes-operator":
		return mesoperatormigrations.FS
	case "mes-api":
		return mesapimigrations.FS
	default:
		return gatewaymigrations.FS
	}
}

func (m *Main) wire(name string, verifier *identity.Verifier, key ed25519.PrivateKey) wiring {
	c := m.Config
	w := wiring{migrations: migrationsOf(name)}
	switch name {
	case "shop":
		w.build = func(ctx context.Context, h *host.Host) (http.Handler, []func(context.Context) error, error) {
			return built(shop.New(ctx, h, shop.Config{CookieSecure: c.CookieSecure, Identity: verifier,
				SMTPURL: c.SMTPURL, MailDir: filepath.Join(c.DataDir, "mail"), SignUpSignsIn: !c.ConfirmSignUps,
				PublicURL: "http://" + net.JoinHostPort(c.Host, strconv.Itoa(c.BasePort))}))
		}
	case "crm":
		w.dbOptions = crm.DBOptions()
		w.build = func(ctx context.Context, h *host.Host) (http.Handler, []func(context.Context) error, error) {
			return built(crm.New(ctx, h, crm.Config{Identity: verifier}))
		}
	case "mes-calc":
		w.build = func(ctx context.Context, h *host.Host) (http.Handler, []func(context.Context) error, error) {
			return built(mescalc.New(ctx, h, mescalc.Config{}))
		}
	case "mes-operator":
		w.build = func(ctx context.Context, h *host.Host) (http.Handler, []func(context.Context) error, error) {
			return built(mesoperator.New(ctx, h, mesoperator.Config{Identity: verifier}))
		}
	case "mes-api":
		w.build = func(ctx context.Context, h *host.Host) (http.Handler, []func(context.Context) error, error) {
			return built(mesapi.New(ctx, h, mesapi.Config{Identity: verifier, Secrets: m.box,
				Webhooks: netguard.Guard{AllowPrivate: c.AllowPrivateWebhooks}}))
		}
	case "gateway":
		w.build = func(ctx context.Context, h *host.Host) (http.Handler, []func(context.Context) error, error) {
			up := func(s string) string {
				if a := m.Addr(s); a != "" {
					return "http://" + a
				}
				return ""
			}
			return built(gateway.New(ctx, h, gateway.Config{
				Shop: up("shop"), CRM: up("crm"), MESOperator: up("mes-operator"), MESAPI: up("mes-api"),
				Signer:       identity.NewSigner(key),
				PublicAddr:   net.JoinHostPort(c.Host, strconv.Itoa(c.BasePort)),
				CookieSecure: c.CookieSecure || c.TLSCert != "",
				TLSCertFile:  c.TLSCert, TLSKeyFile: c.TLSKey,
				ProductionMode: c.Production,
				Secrets:        m.box,
				TrustedProxies: c.TrustedProxies,
				// A development convenience: admins may work without TOTP
				// here unless --production (a standalone gateway requires it).
				AllowAdminWithoutTOTP: !c.Production,
			}))
		}
	}
	return w
}

// openMigrated opens a service's database and applies its migrations, so
// that a command works before the service's first start.
func openMigrated(ctx context.Context, service, dsn, dataDir string) (*sqldb.DB, error) {
	if dsn == "" {
		dsn = os.Getenv(dsnEnv(service))
	}
	if dsn == "" {
		dsn = dataDir + "/" + service + ".db"
	}
	db, err := sqldb.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx, migrationsOf(service)); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// adminCommand creates staff accounts in the gateway's database.
func adminCommand(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "create" {
		return errors.New("usage: fabrika admin create --login NAME --role admin|manager|operator [--workstations a,b] [--password-stdin]")
	}
	fs := flag.NewFlagSet("fabrika admin create", flag.ContinueOnError)
	login := fs.String("login", "", "login name")
	role := fs.String("role", identity.RoleAdmin, "admin, manager or operator")
	ws := fs.String("workstations", "", "an operator's workstations, comma-separated")
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	dsn := fs.String("dsn", "", "the gateway's database (default FABRIKA_GATEWAY_DSN or <data-dir>/gateway.db)")
	dataDir := fs.String("data-dir", env("FABRIKA_DATA_DIR", "data"), "data directory of `fabrika dev`")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *login == "" {
		return errors.New("--login is required")
	}
	// Everything that can be checked is checked before the password is
	// asked for.
	switch *role {
	case identity.RoleAdmin, identity.RoleManager, identity.RoleOperator:
	default:
		return fmt.Errorf("unknown role %q: admin, manager or operator", *role)
	}
	var stations []string
	for _, s := range strings.Split(*ws, ",") {
		if s = strings.TrimSpace(s); s != "" {
			stations = append(stations, s)
		}
	}
	if *dsn == "" && os.Getenv(dsnEnv("gateway")) == "" {
		warnNoPlatform(os.Stderr, *dataDir)
	}
	db, err := openMigrated(ctx, "gateway", *dsn, *dataDir)
	if err != nil {
		return err
	}
	defer db.Close()
	// Workstations are those the gateway learnt from the MES's price list.
	if err := gateway.CheckStaffRole(ctx, db, *role, stations); err != nil {
		return err
	}
	password, err := readPassword(*fromStdin)
	if err != nil {
		return err
	}
	if err := gateway.CreateStaff(ctx, db, *login, password, *role, stations); err != nil {
		return err
	}
	fmt.Printf("staff account %q (%s) created; sign in at /staff/login\n", *login, *role)
	return nil
}

// warnNoPlatform warns when dataDir holds none of a platform's files: the
// account would go into a new database that no running platform reads.
func warnNoPlatform(w io.Writer, dataDir string) {
	if _, err := os.Stat(filepath.Join(dataDir, "gateway.db")); err != nil {
		fmt.Fprintf(w, "warning: %s holds no platform's files (no gateway.db); the account goes into a new database there. "+
			"Is --data-dir (or FABRIKA_DATA_DIR, or FABRIKA_GATEWAY_DSN) the running platform's?\n", dataDir)
	}
}

// readPassword reads the password: from FABRIKA_ADMIN_PASSWORD, from a
// terminal without echo, or from the first line of standard input.
func readPassword(fromStdin bool) (string, error) {
	if !fromStdin {
		if p := os.Getenv("FABRIKA_ADMIN_PASSWORD"); p != "" {
			return p, nil
		}
		if fd := int(os.Stdin.Fd()); term.IsTerminal(fd) {
			fmt.Fprint(os.Stderr, "password (at least 12 characters): ")
			b, err := term.ReadPassword(fd)
			fmt.Fprintln(os.Stderr)
			if err != nil {
				return "", fmt.Errorf("read password: %w", err)
			}
			return string(b), nil
		}
	}
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", fmt.Errorf("read password: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// apiClientCommand manages B2B clients and their API keys in mes-api's
// database: create, list, revoke --key ID, roll --key ID.
func apiClientCommand(ctx context.Context, args []string) error {
	if len(args) > 0 && (args[0] == "list" || args[0] == "revoke" || args[0] == "roll") {
		return apiKeyCommand(ctx, args[0], args[1:])
	}
	if len(args) == 0 || args[0] != "create" {
		return errors.New("usage: fabrika apiclient create --name COMPANY [--email E] [--scopes orders:read,orders:write,webhooks:manage] [--rate 600] | list | revoke --key ID | roll --key ID")
	}
	fs := flag.NewFlagSet("fabrika apiclient create", flag.ContinueOnError)
	name := fs.String("name", "", "the client company's name")
	email := fs.String("email", "", "the client's contact e-mail")
	scopes := fs.String("scopes", "orders:read,orders:write,webhooks:manage", "comma-separated scopes")
	rate := fs.Int("rate", 600, "requests per minute allowed to the key")
	dsn := fs.String("dsn", "", "mes-api's database (default FABRIKA_MES_API_DSN or <data-dir>/mes-api.db)")
	dataDir := fs.String("data-dir", env("FABRIKA_DATA_DIR", "data"), "data directory of `fabrika dev`")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *name == "" {
		return errors.New("--name is required")
	}
	db, err := openMigrated(ctx, "mes-api", *dsn, *dataDir)
	if err != nil {
		return err
	}
	defer db.Close()
	cr, err := mesapi.CreateClient(ctx, db, *name, *email, strings.Split(*scopes, ","), *rate)
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "API key created; it is shown once, keep it now:")
	return printJSON(os.Stdout, cr)
}

// apiKeyCommand lists clients with their keys' scopes and last use, or
// revokes or rolls a key (the new key is shown once).
func apiKeyCommand(ctx context.Context, verb string, args []string) error {
	fs := flag.NewFlagSet("fabrika apiclient "+verb, flag.ContinueOnError)
	key := fs.String("key", "", "the key's id (from apiclient list)")
	dsn := fs.String("dsn", "", "mes-api's database (default FABRIKA_MES_API_DSN or <data-dir>/mes-api.db)")
	dataDir := fs.String("data-dir", env("FABRIKA_DATA_DIR", "data"), "data directory of `fabrika dev`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if verb != "list" && *key == "" {
		return fmt.Errorf("usage: fabrika apiclient %s --key ID", verb)
	}
	db, err := openMigrated(ctx, "mes-api", *dsn, *dataDir)
	if err != nil {
		return err
	}
	defer db.Close()
	switch verb {
	case "list":
		cs, err := mesapi.ListClients(ctx, db)
		if err != nil {
			return err
		}
		return printJSON(os.Stdout, cs)
	case "revoke":
		if err := mesapi.RevokeKey(ctx, db, *key); err != nil {
			return err
		}
		fmt.Fprintln(os.Stderr, "key revoked")
		return nil
	default:
		cr, err := mesapi.RollKey(ctx, db, *key)
		if err != nil {
			return err
		}
		fmt.Fprintln(os.Stderr, "new API key made and the old one revoked; the new key is shown once, keep it now:")
		return printJSON(os.Stdout, cr)
	}
}
