package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/fabrika/fabrika/platform/sqldb"
)

// Session is a signed-in browser.
type Session struct {
	TokenHash  string // SHA-256 of the cookie's token, hex
	StaffID    string
	CSRFToken  string
	IP         string
	UserAgent  string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
}

// CreateSession stores a new session.
func (s *Store) CreateSession(ctx context.Context, se Session) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO staff_sessions (token_hash, staff_id, csrf_token, ip, user_agent, created_at, last_seen_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		se.TokenHash, se.StaffID, se.CSRFToken, se.IP, se.UserAgent, sqldb.Micros(se.CreatedAt), sqldb.Micros(se.LastSeenAt), sqldb.Micros(se.ExpiresAt))
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// SessionByHash returns a session with its account.
func (s *Store) SessionByHash(ctx context.Context, hash string) (Session, Account, error) {
	var se Session
	var created, seen, expires int64
	row := s.db.QueryRowContext(ctx, `SELECT s.token_hash, s.staff_id, s.csrf_token, s.ip, s.user_agent, s.created_at, s.last_seen_at, s.expires_at,
			a.id, a.login, a.role, a.password_hash, a.workstations, a.disabled, a.failed_attempts, a.locked_until, a.totp_secret, a.created_at, a.updated_at
		FROM staff_sessions s JOIN staff_accounts a ON a.id = s.staff_id WHERE s.token_hash = $1`, hash)
	a, err := scanAccount(scanFunc(func(dest ...any) error {
		return row.Scan(append([]any{&se.TokenHash, &se.StaffID, &se.CSRFToken, &se.IP, &se.UserAgent, &created, &seen, &expires}, dest...)...)
	}))
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, Account{}, fmt.Errorf("session: %w", ErrNotFound)
	}
	if err != nil {
		return Session{}, Account{}, fmt.Errorf("session: %w", err)
	}
	se.CreatedAt, se.LastSeenAt, se.ExpiresAt = sqldb.FromMicros(created), sqldb.FromMicros(seen), sqldb.FromMicros(expires)
	return se, a, nil
}

type scanFunc func(dest ...any) error

func (f scanFunc) Scan(dest ...any) error { return f(dest...) }

// TouchSession records activity.
func (s *Store) TouchSession(ctx context.Context, hash string, now time.Time) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE staff_sessions SET last_seen_at = $2 WHERE token_hash = $1`, hash, sqldb.Micros(now)); err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// DeleteSession ends a session.
func (s *Store) DeleteSession(ctx context.Context, hash string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM staff_sessions WHERE token_hash = $1`, hash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteExpiredSessions removes sessions past their expiry or idle since
// before idleBefore.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now, idleBefore time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM staff_sessions WHERE expires_at <= $1 OR last_seen_at < $2`, sqldb.Micros(now), sqldb.Micros(idleBefore))
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	return res.RowsAffected()
}
