package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// postgres is the PostgreSQL server the services' databases live on.
type postgres interface {
	// databases creates a role and a database per service (dropped first
	// when fresh) and returns each service's DSN.
	databases(ctx context.Context, prefix string, passwords map[string]string, fresh bool) (map[string]string, error)
	// stop and start the server (the fault suite's PostgreSQL round).
	stop(ctx context.Context) error
	start(ctx context.Context) error
	close() error
}

func newPostgres(ctx context.Context, cfg Config, p ports) (postgres, error) {
	switch cfg.Postgres {
	case "system":
		s := &systemPG{admin: cfg.PGAdmin, root: cfg.Root}
		if err := s.ensure(ctx); err != nil {
			return nil, err
		}
		return s, nil
	case "private":
		s := &privatePG{dir: filepath.Join(cfg.StateDir, "postgres"), port: p.postgres(), root: cfg.Root, fresh: cfg.Fresh}
		if err := s.init(ctx); err != nil {
			return nil, err
		}
		return s, nil
	}
	return nil, fmt.Errorf("postgres %q: want system or private", cfg.Postgres)
}

// systemPG is the machine's server (127.0.0.1:5432 by default), started and
// if need be installed by .ci/postgres.sh.
type systemPG struct {
	admin string
	root  string
}

func (s *systemPG) ensure(ctx context.Context) error {
	if pingPG(ctx, s.admin) == nil {
		return nil
	}
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(s.root, ".ci", "postgres.sh"))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("PostgreSQL at %s does not answer and .ci/postgres.sh could not start one (it installs from Debian as root): %w\n%s", redact(s.admin), err, out)
	}
	return pingPG(ctx, s.admin)
}

func (s *systemPG) databases(ctx context.Context, prefix string, pw map[string]string, fresh bool) (map[string]string, error) {
	return createDatabases(ctx, s.admin, prefix, pw, fresh)
}

// stop and start use pg_ctlcluster on the newest installed cluster.
func (s *systemPG) stop(ctx context.Context) error  { return s.ctl(ctx, "stop") }
func (s *systemPG) start(ctx context.Context) error { return s.ctl(ctx, "start") }
func (s *systemPG) close() error                    { return nil }

func (s *systemPG) ctl(ctx context.Context, verb string) error {
	versions, _ := os.ReadDir("/etc/postgresql")
	if len(versions) == 0 {
		return errors.New("no PostgreSQL cluster under /etc/postgresql")
	}
	ver := versions[len(versions)-1].Name()
	args := []string{"--skip-systemctl-redirect", ver, "main", verb}
	if verb == "stop" {
		args = append(args, "-m", "fast")
	}
	out, err := exec.CommandContext(ctx, "pg_ctlcluster", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctlcluster %s: %w: %s", verb, err, out)
	}
	return nil
}

// privatePG is a server of its own in the state directory, on its own port:
// the fault suite stops and starts it without touching anyone else's
// databases on this machine.
type privatePG struct {
	dir, root string
	port      int
	fresh     bool
	bin       string
	owner     *user.User // the server runs as "postgres" when we are root
}

func (s *privatePG) adminDSN() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
}

func (s *privatePG) init(ctx context.Context) error {
	if s.bin = pgBinDir(); s.bin == "" {
		// .ci/postgres.sh installs the server from Debian (as root).
		if out, err := exec.CommandContext(ctx, "bash", filepath.Join(s.root, ".ci", "postgres.sh")).CombinedOutput(); err != nil {
			return fmt.Errorf("no PostgreSQL server binaries and .ci/postgres.sh failed: %w\n%s", err, out)
		}
		if s.bin = pgBinDir(); s.bin == "" {
			return errors.New("no PostgreSQL server binaries under /usr/lib/postgresql")
		}
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fmt.Errorf("PostgreSQL refuses to run as root and there is no user postgres: %w", err)
		}
		s.owner = u
	}
	if s.fresh {
		_ = s.stop(ctx) // a server left running by a killed run
		if err := os.RemoveAll(s.dir); err != nil {
			return err
		}
	}
	if _, err := os.Stat(filepath.Join(s.dir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(s.dir, 0o700); err != nil {
			return err
		}
		if err := s.chown(); err != nil {
			return err
		}
		if out, err := s.cmd(ctx, "initdb", "-D", s.dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync").CombinedOutput(); err != nil {
			return fmt.Errorf("initdb: %w\n%s", err, out)
		}
	}
	return s.start(ctx)
}

func (s *privatePG) chown() error {
	if s.owner == nil {
		return nil
	}
	uid, _ := strconv.Atoi(s.owner.Uid)
	gid, _ := strconv.Atoi(s.owner.Gid)
	return os.Chown(s.dir, uid, gid)
}

// cmd runs a PostgreSQL program, as user postgres when we are root.
func (s *privatePG) cmd(ctx context.Context, prog string, args ...string) *exec.Cmd {
	path := filepath.Join(s.bin, prog)
	if s.owner != nil {
		return exec.CommandContext(ctx, "runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	}
	return exec.CommandContext(ctx, path, args...)
}

func (s *privatePG) start(ctx context.Context) error {
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -k %s -c max_connections=400 -c fsync=on", s.port, s.dir)
	out, err := s.cmd(ctx, "pg_ctl", "-D", s.dir, "-l", filepath.Join(s.dir, "server.log"), "-o", opts, "-w", "-t", "60", "start").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl start: %w\n%s", err, out)
	}
	return pingPG(ctx, s.adminDSN())
}

// stop is a fast shutdown: sessions are cut, as when a database host goes
// down for maintenance.
func (s *privatePG) stop(ctx context.Context) error {
	out, err := s.cmd(ctx, "pg_ctl", "-D", s.dir, "-m", "fast", "-w", "-t", "60", "stop").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %w\n%s", err, out)
	}
	return nil
}

func (s *privatePG) close() error { return s.stop(context.Background()) }

func (s *privatePG) databases(ctx context.Context, prefix string, pw map[string]string, fresh bool) (map[string]string, error) {
	dsns, err := createDatabases(ctx, s.adminDSN(), prefix, pw, fresh)
	if err != nil {
		return nil, err
	}
	return dsns, nil
}

func pgBinDir() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(a))))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(b))))
		return va - vb
	})
	if len(dirs) == 0 {
		return ""
	}
	return filepath.Dir(dirs[len(dirs)-1])
}

func pingPG(ctx context.Context, dsn string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("PostgreSQL %s: %w", redact(dsn), err)
	}
	return conn.Close(ctx)
}

// createDatabases makes role and database <prefix>_<service> (owner: the
// role) for every service, as a managed PostgreSQL or CloudNativePG would.
func createDatabases(ctx context.Context, admin, prefix string, pw map[string]string, fresh bool) (map[string]string, error) {
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL %s: %w", redact(admin), err)
	}
	defer conn.Close(ctx)
	u, err := url.Parse(admin)
	if err != nil {
		return nil, err
	}
	dsns := map[string]string{}
	for _, svc := range services {
		name := prefix + "_" + strings.ReplaceAll(svc, "-", "_")
		ident := pgx.Identifier{name}.Sanitize()
		if fresh {
			if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
				return nil, fmt.Errorf("drop database %s: %w", name, err)
			}
		}
		var exists bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", name).Scan(&exists); err != nil {
			return nil, err
		}
		verb := "CREATE"
		if exists {
			verb = "ALTER"
		}
		// The password is ours (hex), so it can be a literal; DDL takes no parameters.
		if _, err := conn.Exec(ctx, verb+" ROLE "+ident+" LOGIN PASSWORD '"+pw[svc]+"'"); err != nil {
			return nil, fmt.Errorf("role %s: %w", name, err)
		}
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
			return nil, err
		}
		if !exists {
			if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident+" OWNER "+ident); err != nil {
				return nil, fmt.Errorf("create database %s: %w", name, err)
			}
		}
		d := *u
		d.User = url.UserPassword(name, pw[svc])
		d.Path = "/" + name
		dsns[svc] = d.String()
	}
	return dsns, nil
}

// redact drops a DSN's password for messages.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable DSN)"
	}
	return u.Redacted()
}
