package httpx_test

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "modernc.org/sqlite"

	"github.com/fabrika/fabrika/platform/httpx"
	"github.com/fabrika/fabrika/platform/sqldb"
)

// realErrors returns what the engines and the pool really answer when a
// database is away, busy or closed, and errors that are not outages.
func realErrors(t *testing.T) (down, notDown map[string]error) {
	t.Helper()
	ctx := context.Background()
	down, notDown = map[string]error{}, map[string]error{}

	// PostgreSQL on a port where nothing listens.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	pgCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if db, err := sqldb.Open(pgCtx, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/x?sslmode=disable", port)); err == nil {
		_, err = db.ExecContext(pgCtx, "SELECT 1")
		db.Close()
		down["postgres connection refused"] = err
	} else {
		down["postgres connection refused"] = err
	}

	// SQLite busy: another connection holds the write lock past the busy
	// timeout.
	path := filepath.Join(t.TempDir(), "busy.db")
	a, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, _ := sql.Open("sqlite", path+"?_pragma=busy_timeout(1)")
	defer b.Close()
	if _, err := a.Exec("CREATE TABLE t (x INTEGER)"); err != nil {
		t.Fatal(err)
	}
	ca, _ := a.Conn(ctx)
	defer ca.Close()
	if _, err := ca.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	_, down["sqlite busy"] = b.Exec("INSERT INTO t VALUES (1)")
	_, _ = ca.ExecContext(ctx, "ROLLBACK")
	_, notDown["sqlite syntax error"] = a.Exec("SELEC 1")
	notDown["no rows"] = a.QueryRow("SELECT x FROM t").Scan(new(int))

	// The pool cannot hand out a connection in time.
	one, _ := sql.Open("sqlite", filepath.Join(t.TempDir(), "pool.db"))
	defer one.Close()
	one.SetMaxOpenConns(1)
	held, _ := one.Conn(ctx)
	waitCtx, cancelWait := context.WithTimeout(ctx, 20*time.Millisecond)
	_, down["pool acquire timeout"] = one.ExecContext(waitCtx, "SELECT 1")
	cancelWait()
	held.Close()

	// A closed pool.
	closed, _ := sql.Open("sqlite", filepath.Join(t.TempDir(), "closed.db"))
	closed.Close()
	_, down["closed pool"] = closed.Exec("SELECT 1")

	down["driver bad connection"] = fmt.Errorf("query: %w", driver.ErrBadConn)
	down["pgx connection closed under it"] = fmt.Errorf("begin: %w", pgconn.ErrConnClosed)
	notDown["application error"] = errors.New("order total mismatch")
	for name, err := range down {
		if err == nil {
			t.Fatalf("%s: no error to classify", name)
		}
	}
	return down, notDown
}

func TestUnavailable(t *testing.T) {
	t.Parallel()
	down, notDown := realErrors(t)
	for name, err := range down {
		if !httpx.Unavailable(err) {
			t.Errorf("%s (%v): not seen as unavailable", name, err)
		}
	}
	for name, err := range notDown {
		if httpx.Unavailable(err) {
			t.Errorf("%s (%v): seen as unavailable", name, err)
		}
	}
}

// TestWriteErrorAnswersOutagesWith503: a dependency that is down is a 503
// problem with Retry-After, logged at ERROR; any other error a 500.
func TestWriteErrorAnswersOutagesWith503(t *testing.T) {
	t.Parallel()
	down, _ := realErrors(t)
	for name, err := range down {
		var logged bytes.Buffer
		log := slog.New(slog.NewJSONHandler(&logged, nil))
		w := httptest.NewRecorder()
		httpx.WriteError(w, httptest.NewRequest("GET", "/orders", nil), log, fmt.Errorf("load order: %w", err))
		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" ||
			w.Header().Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %v", name, w.Code, w.Header())
		}
		if !strings.Contains(logged.String(), `"level":"ERROR"`) {
			t.Errorf("%s: not logged at ERROR: %s", name, logged.String())
		}
	}
	w := httptest.NewRecorder()
	httpx.WriteError(w, httptest.NewRequest("GET", "/orders", nil), slog.New(slog.DiscardHandler), errors.New("bug"))
	if w.Code != http.StatusInternalServerError || w.Header().Get("Retry-After") != "" {
		t.Errorf("an application error: %d %v", w.Code, w.Header())
	}
}
