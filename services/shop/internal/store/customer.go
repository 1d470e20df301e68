package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/fabrika/fabrika/platform/sqldb"
)

// ErrEmailTaken is returned when an account with the e-mail exists.
var ErrEmailTaken = errors.New("e-mail already registered")

// Customer is a shop account.
type Customer struct {
	ID, Email, Name, Company, Phone string
	PasswordHash                    string
	CreatedAt                       time.Time
	Confirmed                       bool // the e-mail address was confirmed
}

// CreateCustomer inserts an account.
func (s *Store) CreateCustomer(ctx context.Context, c Customer) error {
	var confirmed *int64
	if c.Confirmed {
		at := sqldb.Micros(c.CreatedAt)
		confirmed = &at
	}
	_, err := s.DB.ExecContext(ctx, `INSERT INTO customer (id, email, name, company, phone, password_hash, created_at, confirmed_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, c.ID, c.Email, c.Name, c.Company, c.Phone, c.PasswordHash, sqldb.Micros(c.CreatedAt), confirmed)
	if sqldb.IsUniqueViolation(err) {
		return ErrEmailTaken
	}
	if err != nil {
		return fmt.Errorf("create customer: %w", err)
	}
	return nil
}

const customerCols = `c.id, c.email, c.name, c.company, c.phone, c.password_hash, c.created_at, c.confirmed_at`

func scanCustomer(row interface{ Scan(...any) error }) (Customer, error) {
	var c Customer
	var created int64
	var confirmed sql.NullInt64
	if err := row.Scan(&c.ID, &c.Email, &c.Name, &c.Company, &c.Phone, &c.PasswordHash, &created, &confirmed); err != nil {
		return Customer{}, notFound(err)
	}
	c.CreatedAt, c.Confirmed = sqldb.FromMicros(created), confirmed.Valid
	return c, nil
}

// CustomerByEmail finds an account by its lower-case e-mail.
func (s *Store) CustomerByEmail(ctx context.Context, email string) (Customer, error) {
	c, err := scanCustomer(s.DB.QueryRowContext(ctx, `SELECT `+customerCols+` FROM customer c WHERE c.email = $1`, email))
	if err != nil {
		return Customer{}, fmt.Errorf("customer by e-mail: %w", err)
	}
	return c, nil
}

// CreateSession stores a session by the hash of its token.
func (s *Store) CreateSession(ctx context.Context, tokenHash, customerID string, now, expires time.Time) error {
	_, err := s.DB.ExecContext(ctx, `INSERT INTO session (token_hash, customer_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
		tokenHash, customerID, sqldb.Micros(now), sqldb.Micros(expires))
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// SessionCustomer returns the customer of a live session.
// It also returns when the session expires.
func (s *Store) SessionCustomer(ctx context.Context, tokenHash string, now time.Time) (Customer, time.Time, error) {
	var c Customer
	var created, expires int64
	var confirmed sql.NullInt64
	err := s.DB.QueryRowContext(ctx, `SELECT `+customerCols+`, s.expires_at FROM session s JOIN customer c ON c.id = s.customer_id
		WHERE s.token_hash = $1 AND s.expires_at > $2`, tokenHash, sqldb.Micros(now)).
		Scan(&c.ID, &c.Email, &c.Name, &c.Company, &c.Phone, &c.PasswordHash, &created, &confirmed, &expires)
	if err != nil {
		return Customer{}, time.Time{}, fmt.Errorf("session: %w", notFound(err))
	}
	c.CreatedAt, c.Confirmed = sqldb.FromMicros(created), confirmed.Valid
	return c, sqldb.FromMicros(expires), nil
}

// DeleteSession ends a session.
func (s *Store) DeleteSession(ctx context.Context, tokenHash string) error {
	if _, err := s.DB.ExecContext(ctx, `DELETE FROM session WHERE token_hash = $1`, tokenHash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteExpiredSessions removes sessions that ended before now.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.DB.ExecContext(ctx, `DELETE FROM session WHERE expires_at <= $1`, sqldb.Micros(now))
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	return res.RowsAffected()
}

// CustomerByID finds an account.
func (s *Store) CustomerByID(ctx context.Context, id string) (Customer, error) {
	c, err := scanCustomer(s.DB.QueryRowContext(ctx, `SELECT `+customerCols+` FROM customer c WHERE c.id = $1`, id))
	if err != nil {
		return Customer{}, fmt.Errorf("customer %s: %w", id, err)
	}
	return c, nil
}

// Token purposes.
const (
	TokenConfirm = "confirm"
	TokenReset   = "reset"
)

// CreateToken stores a single-use e-mail token by its hash.
func (s *Store) CreateToken(ctx context.Context, tokenHash, customerID, purpose string, now, expires time.Time) error {
	_, err := s.DB.ExecContext(ctx, `INSERT INTO customer_token (token_hash, customer_id, purpose, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5)`, tokenHash, customerID, purpose, sqldb.Micros(now), sqldb.Micros(expires))
	if err != nil {
		return fmt.Errorf("create %s token: %w", purpose, err)
	}
	return nil
}

// UseToken spends a live token of the purpose in tx and returns its
// customer: ErrNotFound when it is unknown, used or expired. Two requests
// with one token: only one gets it.
func (s *Store) UseToken(ctx context.Context, tx *sqldb.Tx, tokenHash, purpose string, now time.Time) (string, error) {
	var id string
	err := tx.QueryRowContext(ctx, `UPDATE customer_token SET used_at = $1
		WHERE token_hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1 RETURNING customer_id`,
		sqldb.Micros(now), tokenHash, purpose).Scan(&id)
	if err != nil {
		return "", fmt.Errorf("use %s token: %w", purpose, notFound(err))
	}
	return id, nil
}

// SetPassword replaces an account's password hash in tx, ends all its
// sessions and spends its other reset tokens.
func (s *Store) SetPassword(ctx context.Context, tx *sqldb.Tx, customerID, hash string, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `UPDATE customer SET password_hash = $1 WHERE id = $2`, hash, customerID); err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM session WHERE customer_id = $1`, customerID); err != nil {
		return fmt.Errorf("end sessions: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE customer_token SET used_at = $1 WHERE customer_id = $2 AND purpose = $3 AND used_at IS NULL`,
		sqldb.Micros(now), customerID, TokenReset); err != nil {
		return fmt.Errorf("spend reset tokens: %w", err)
	}
	return nil
}

// Confirm marks an account's e-mail address confirmed in tx.
func (s *Store) Confirm(ctx context.Context, tx *sqldb.Tx, customerID string, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `UPDATE customer SET confirmed_at = COALESCE(confirmed_at, $1) WHERE id = $2`,
		sqldb.Micros(now), customerID); err != nil {
		return fmt.Errorf("confirm: %w", err)
	}
	return nil
}
