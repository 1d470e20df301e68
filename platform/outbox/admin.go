package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/telemetry"
)

// Entry is a message waiting in the outbox, as a person inspecting it sees it.
type Entry struct {
	ID            string    `json:"id"`
	Subject       string    `json:"subject"`
	Key           string    `json:"key"`
	Status        string    `json:"status"`
	Attempts      int       `json:"attempts"`
	LastError     string    `json:"last_error"`
	CreatedAt     time.Time `json:"created_at"`
	NextAttemptAt time.Time `json:"next_attempt_at"`
	Payload       string    `json:"payload"`
	// LeaseOwner and LeaseUntil name the relay instance that holds the
	// message while it publishes it (ByKey reports such a message with
	// status "leased").
	LeaseOwner string    `json:"lease_owner,omitempty"`
	LeaseUntil time.Time `json:"lease_until,omitzero"`
	TraceID    string    `json:"trace_id,omitempty"` // from the message's trace context
}

// ErrNotFound is returned for a message id that is not in the outbox, or
// not in the status the operation needs.
var ErrNotFound = errors.New("outbox: no such message")

// Admin inspects and requeues outbox messages; it needs no broker, so it
// works from a command line against the service's database.
type Admin struct{ db *sqldb.DB }

// NewAdmin returns an Admin over a service's database.
func NewAdmin(db *sqldb.DB) *Admin { return &Admin{db: db} }

// List returns up to limit messages with the status ("pending", "error" or
// "" for both), oldest first.
func (a *Admin) List(ctx context.Context, status string, limit int) ([]Entry, error) {
	if limit <= 0 || limit > 10000 {
		limit = 100
	}
	rs, err := a.db.QueryContext(ctx, `SELECT id, subject, msg_key, status, attempts, last_error, created_at, next_attempt_at, payload
		FROM outbox WHERE ($1 = '' OR status = $1) ORDER BY seq LIMIT $2`, status, limit)
	if err != nil {
		return nil, fmt.Errorf("list outbox: %w", err)
	}
	defer rs.Close()
	out := []Entry{} // an empty list is [], not null, in JSON
	for rs.Next() {
		var e Entry
		var created, next int64
		if err := rs.Scan(&e.ID, &e.Subject, &e.Key, &e.Status, &e.Attempts, &e.LastError, &created, &next, &e.Payload); err != nil {
			return nil, err
		}
		e.CreatedAt, e.NextAttemptAt = sqldb.FromMicros(created), sqldb.FromMicros(next)
		out = append(out, e)
	}
	return out, rs.Err()
}

// Retry puts a message in status error back to pending with fresh attempts;
// id "all" retries every message in error. It returns how many it requeued.
func (a *Admin) Retry(ctx context.Context, id string) (int64, error) {
	res, err := a.db.ExecContext(ctx, `UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = 0, lease_until = 0
		WHERE status = 'error' AND ($1 = 'all' OR id = $1)`, id)
	if err != nil {
		return 0, fmt.Errorf("retry %s: %w", id, err)
	}
	n, _ := res.RowsAffected()
	if n == 0 && id != "all" {
		return 0, fmt.Errorf("retry %s: %w", id, ErrNotFound)
	}
	return n, nil
}

// Drop deletes a message in status error: it will never be sent. The payload
// is returned so that the caller can log or keep it.
func (a *Admin) Drop(ctx context.Context, id string) (Entry, error) {
	var e Entry
	err := a.db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		var created, next int64
		err := tx.QueryRowContext(ctx, `SELECT id, subject, msg_key, status, attempts, last_error, created_at, next_attempt_at, payload
			FROM outbox WHERE id = $1 AND status = 'error'`, id).
			Scan(&e.ID, &e.Subject, &e.Key, &e.Status, &e.Attempts, &e.LastError, &created, &next, &e.Payload)
		if err != nil {
			return fmt.Errorf("drop %s: %w", id, ErrNotFound)
		}
		e.CreatedAt, e.NextAttemptAt = sqldb.FromMicros(created), sqldb.FromMicros(next)
		_, err = tx.ExecContext(ctx, `DELETE FROM outbox WHERE id = $1`, id)
		return err
	})
	return e, err
}

// ByKey returns the messages of key still in the outbox (an order's, by its
// id), in the order the relay publishes them, at most limit (default and
// maximum 1000). A pending message a relay holds now has status "leased".
// A published message has left the outbox: the receivers' inboxes know it.
func (a *Admin) ByKey(ctx context.Context, key string, limit int) ([]Entry, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	q := `SELECT id, subject, msg_key,
			CASE WHEN status = 'pending' AND lease_until > NOW_US THEN 'leased' ELSE status END,
			attempts, last_error, created_at, next_attempt_at, payload, headers, lease_owner, lease_until
		FROM outbox WHERE msg_key = $1 ORDER BY seq LIMIT $2`
	rs, err := a.db.QueryContext(ctx, strings.ReplaceAll(q, "NOW_US", a.db.Engine().NowMicros()), key, limit)
	if err != nil {
		return nil, fmt.Errorf("outbox of key %s: %w", key, err)
	}
	defer rs.Close()
	out := []Entry{}
	for rs.Next() {
		var e Entry
		var created, next, until int64
		var headers string
		if err := rs.Scan(&e.ID, &e.Subject, &e.Key, &e.Status, &e.Attempts, &e.LastError, &created, &next, &e.Payload, &headers, &e.LeaseOwner, &until); err != nil {
			return nil, fmt.Errorf("outbox of key %s: %w", key, err)
		}
		e.CreatedAt, e.NextAttemptAt = sqldb.FromMicros(created), sqldb.FromMicros(next)
		if until > 0 {
			e.LeaseUntil = sqldb.FromMicros(until)
		}
		var h map[string]string
		if json.Unmarshal([]byte(headers), &h) == nil {
			e.TraceID = telemetry.TraceIDOf(h)
		}
		out = append(out, e)
	}
	return out, rs.Err()
}
