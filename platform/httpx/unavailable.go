package httpx

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// RetryAfterOutage is the Retry-After (seconds) of a 503 answered because a
// dependency is down.
const RetryAfterOutage = "5"

// Unavailable tells whether err means that a dependency the request needs is
// down or unreachable, rather than that the request is wrong or the code
// failed: the database refused or closed the connection (or the driver had
// closed it), the pool could not
// hand one out in time, the driver reported a bad connection, PostgreSQL is
// shutting down, starting or out of connections, SQLite is busy. Such a
// request is answered 503 with Retry-After: a client may try again.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, pgconn.ErrConnClosed) {
		return true
	}
	var op *net.OpError
	if errors.As(err, &op) {
		return true
	}
	// PostgreSQL (pgconn.PgError): class 08 connection exception, 57P01-03
	// shutting down or starting up, 53300 too many connections.
	var pg interface{ SQLState() string }
	if errors.As(err, &pg) {
		s := pg.SQLState()
		return strings.HasPrefix(s, "08") || s == "57P01" || s == "57P02" || s == "57P03" || s == "53300"
	}
	// SQLite (modernc.org/sqlite's Error): SQLITE_BUSY (5), SQLITE_LOCKED (6)
	// once its busy timeout has passed.
	var lite interface{ Code() int }
	if errors.As(err, &lite) {
		c := lite.Code() & 0xff // the primary code of an extended one
		return c == 5 || c == 6
	}
	// database/sql's closed pool ("sql: database is closed") is not exported.
	return strings.Contains(err.Error(), "sql: database is closed")
}
