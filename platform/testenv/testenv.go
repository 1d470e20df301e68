// Package testenv gives tests the real things they run against: a fresh
// database (SQLite in a temp dir, or a new PostgreSQL database when
// FABRIKA_TEST_ENGINE=postgres) and a JetStream server (embedded, or the
// external one at FABRIKA_TEST_NATS_URL). When an engine or server is asked
// for and cannot be reached the test fails: CI must never skip silently.
package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/fabrika/fabrika/platform/broker"
	"github.com/fabrika/fabrika/platform/broker/embedded"
	"github.com/fabrika/fabrika/platform/host"
	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/outbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/telemetry"
)

// Environment variables.
const (
	EnvEngine   = "FABRIKA_TEST_ENGINE"   // "sqlite" (default) or "postgres"
	EnvPostgres = "FABRIKA_TEST_POSTGRES" // admin DSN; default postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable
	EnvNATS     = "FABRIKA_TEST_NATS_URL" // external JetStream server; default embedded
)

// Postgres tells whether tests run on PostgreSQL.
func Postgres() bool { return os.Getenv(EnvEngine) == "postgres" }

// ExternalNATS tells whether tests run on an external NATS server.
func ExternalNATS() bool { return os.Getenv(EnvNATS) != "" }

// PostgresConfigured tells whether a PostgreSQL server is configured for
// tests: FABRIKA_TEST_ENGINE=postgres or FABRIKA_TEST_POSTGRES set.
func PostgresConfigured() bool { return Postgres() || os.Getenv(EnvPostgres) != "" }

// Engines lists the engines a storage behaviour suite runs on: SQLite
// always, PostgreSQL too when it is configured (PostgresConfigured).
func Engines() []sqldb.Engine {
	if PostgresConfigured() {
		return []sqldb.Engine{sqldb.SQLite, sqldb.Postgres}
	}
	return []sqldb.Engine{sqldb.SQLite}
}

// EachEngine runs suite as one subtest per engine of Engines, named after
// the engine, so one go test run covers both when PostgreSQL is configured.
func EachEngine(t *testing.T, suite func(t *testing.T, engine sqldb.Engine)) {
	t.Helper()
	for _, e := range Engines() {
		t.Run(string(e), func(t *testing.T) { suite(t, e) })
	}
}

// engine is the engine FABRIKA_TEST_ENGINE names.
func engine() sqldb.Engine {
	if Postgres() {
		return sqldb.Postgres
	}
	return sqldb.SQLite
}

// DSN returns the DSN of a new, empty database for the test on the engine
// FABRIKA_TEST_ENGINE names, dropped when the test ends.
func DSN(t testing.TB) string {
	t.Helper()
	return DSNOn(t, engine())
}

// DSNOn returns the DSN of a new, empty database on engine e, dropped when
// the test ends.
func DSNOn(t testing.TB, e sqldb.Engine) string {
	t.Helper()
	if e != sqldb.Postgres {
		return filepath.Join(t.TempDir(), "test.db")
	}
	admin := os.Getenv(EnvPostgres)
	if admin == "" {
		admin = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatalf("testenv: postgres: %v", err)
	}
	defer db.Close()
	name := "fabrika_test_" + randomHex(6)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("testenv: PostgreSQL is configured but not usable (%v)", err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", admin)
		if err != nil {
			return
		}
		defer db.Close()
		_, _ = db.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("testenv: %s: %v", EnvPostgres, err)
	}
	u.Path = "/" + name
	return u.String()
}

// DB opens a fresh database, on the engine FABRIKA_TEST_ENGINE names, with
// the platform's migrations and the given service migrations (nil for none).
func DB(t testing.TB, migrations fs.FS) *sqldb.DB {
	t.Helper()
	return DBOn(t, engine(), migrations)
}

// DBOn opens a fresh database on engine e with the platform's migrations
// and the given service migrations (nil for none).
func DBOn(t testing.TB, e sqldb.Engine, migrations fs.FS) *sqldb.DB {
	t.Helper()
	ctx := context.Background()
	db, err := sqldb.Open(ctx, DSNOn(t, e))
	if err != nil {
		t.Fatalf("testenv: open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx, migrations); err != nil {
		t.Fatalf("testenv: migrate: %v", err)
	}
	return db
}

// Eventually calls check until it returns nil, and fails the test with
// check's last error when that has not happened within the given time (the
// model is nats-server's checkFor). It is how a test waits for something
// another goroutine or process does: never a bare time.Sleep.
func Eventually(t testing.TB, within time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	pause := time.Millisecond
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %v", within, err)
		}
		time.Sleep(pause)
		pause = min(2*pause, 50*time.Millisecond)
	}
}

// EventuallyTrue is Eventually for a condition that only says whether it
// holds; what names it in the failure.
func EventuallyTrue(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	Eventually(t, within, func() error {
		if !cond() {
			return fmt.Errorf("still waiting for %s", what)
		}
		return nil
	})
}

// Broker is a JetStream server for a test.
type Broker struct {
	URL    string         // client URL
	Server *server.Server // nil when external
	dir    string
	port   int
}

// externalGate serialises the tests of one package on the shared external
// server: each top-level test gets the stream to itself, however many brokers
// it (or its subtests) asks for. (Packages run one at a time in the external
// suite, go test -p 1.)
var externalGate = struct {
	mu     sync.Mutex
	free   *sync.Cond
	holder string
}{}

// holdExternal waits until no other top-level test holds the external
// server; it tells whether this call took it (and must reset the stream).
func holdExternal(t testing.TB) bool {
	root, _, _ := strings.Cut(t.Name(), "/")
	g := &externalGate
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.free == nil {
		g.free = sync.NewCond(&g.mu)
	}
	if g.holder == root {
		return false
	}
	for g.holder != "" {
		g.free.Wait()
	}
	g.holder = root
	t.Cleanup(func() {
		g.mu.Lock()
		g.holder = ""
		g.free.Broadcast()
		g.mu.Unlock()
	})
	return true
}

// NewBroker returns an embedded server listening on a random local port, or
// the external server with the FABRIKA stream and its consumers deleted
// (once per top-level test: a second broker of the same test shares it).
func NewBroker(t testing.TB) *Broker {
	t.Helper()
	if url := os.Getenv(EnvNATS); url != "" {
		if !holdExternal(t) {
			return &Broker{URL: url}
		}
		nc, err := nats.Connect(url, nats.Timeout(5*time.Second))
		if err != nil {
			t.Fatalf("testenv: %s=%s but NATS is not reachable: %v", EnvNATS, url, err)
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := js.DeleteStream(ctx, broker.StreamName); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			t.Fatalf("testenv: reset stream: %v", err)
		}
		return &Broker{URL: url}
	}
	b := &Broker{dir: t.TempDir(), port: -1}
	b.start(t)
	t.Cleanup(b.Stop)
	return b
}

// NewEmbeddedBroker always returns an embedded server, also in the external
// suite: for tests that must stop and restart the broker (an outage) and so
// cannot use the shared external server.
func NewEmbeddedBroker(t testing.TB) *Broker {
	t.Helper()
	b := &Broker{dir: t.TempDir(), port: -1}
	b.start(t)
	t.Cleanup(b.Stop)
	return b
}

func (b *Broker) start(t testing.TB) {
	t.Helper()
	s, err := embedded.Start(embedded.Config{StoreDir: b.dir, Port: b.port})
	if err != nil {
		t.Fatalf("testenv: embedded nats: %v", err)
	}
	b.Server = s
	b.URL = s.ClientURL()
	b.port = s.Addr().(*net.TCPAddr).Port // keep the port across restarts
}

// Stop shuts the embedded server down (a broker outage).
func (b *Broker) Stop() {
	if b.Server != nil {
		b.Server.Shutdown()
		b.Server.WaitForShutdown()
	}
}

// Restart starts the embedded server again on the same port and store.
func (b *Broker) Restart(t testing.TB) {
	t.Helper()
	if b.dir == "" {
		t.Fatal("testenv: cannot restart an external server")
	}
	b.start(t)
}

// Connect connects to the broker; the connection reconnects for ever and is
// closed when the test ends.
func (b *Broker) Connect(t testing.TB, name string) *nats.Conn {
	t.Helper()
	nc, err := broker.Connect(b.URL, nil, name, Logger(t))
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Logger returns a logger that writes to the test log when -v, else nowhere.
func Logger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return telemetry.NewLogger(os.Stderr, "test", slog.LevelDebug)
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// AdminToken is the admin token of the hosts HostConfig configures.
const AdminToken = "test-admin-token"

// HostConfig returns a host configuration for a service on a fresh database
// and random local ports (application and admin, AdminToken), with fast
// retry timings for tests.
func HostConfig(t testing.TB, service string, migrations fs.FS) host.Config {
	return host.Config{
		Service: service, DSN: DSN(t), HTTPAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", AdminToken: AdminToken, Migrations: migrations,
		// A test waits for retries, so they come quickly; the relay still sweeps
		// on its own (Interval) and wakes at once on commit.
		Outbox: outbox.Config{Interval: 200 * time.Millisecond, BaseBackoff: 50 * time.Millisecond, MaxBackoff: time.Second,
			PublishTimeout: 2 * time.Second, Lease: 10 * time.Second},
		Inbox: inbox.Config{BaseDelay: 50 * time.Millisecond, MaxDelay: time.Second, AckWait: 5 * time.Second},
	}
}

// Deps returns host dependencies connected to b.
func (b *Broker) Deps(t testing.TB, name string) host.Deps {
	return host.Deps{Logger: Logger(t), NATS: b.Connect(t, name), TracerProvider: noop.NewTracerProvider()}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Publish commits one message through h's outbox, in a transaction of its
// own, as the service that owns the event would; h's relay publishes it.
func Publish(ctx context.Context, t testing.TB, h *host.Host, subject, key string, payload any) {
	t.Helper()
	err := h.DB.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		m, err := outbox.NewMessage(subject, key, payload)
		if err != nil {
			return err
		}
		return h.Outbox.Enqueue(ctx, tx, m)
	})
	if err != nil {
		t.Fatalf("publish %s %s: %v", subject, key, err)
	}
}

// LogBuffer collects what a logger writes, for a test to read while the
// code under test logs from many goroutines; with -v it is also printed.
type LogBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if testing.Verbose() {
		_, _ = os.Stderr.Write(p)
	}
	return l.b.Write(p)
}

// String is everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Outbox returns an outbox on db for the tests of a service's use cases:
// it has no broker and is never run, so what they enqueue stays in the
// table.
func Outbox(t testing.TB, db *sqldb.DB) *outbox.Outbox {
	t.Helper()
	out, err := outbox.New(db, nil, outbox.Config{}, Logger(t), nil)
	if err != nil {
		t.Fatalf("testenv: outbox: %v", err)
	}
	return out
}
