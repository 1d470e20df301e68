package store

import (
	"context"
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
}

// CreateCustomer inserts an account.
func (s *Store) CreateCustomer(ctx context.Context, c Customer) error {
	_, err := s.DB.ExecContext(ctx, `INSERT INTO customer (id, email, name, company, phone, password_hash, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, c.ID, c.Email, c.Name, c.Company, c.Phone, c.PasswordHash, sqldb.Micros(c.CreatedAt))
	if sqldb.IsUniqueViolation(err) {
		return ErrEmailTaken
	}
	if err != nil {
		return fmt.Errorf("create customer: %w", err)
	}
	return nil
}

const customerCols = `c.id, c.email, c.name, c.company, c.phone, c.password_hash, c.created_at`

func scanCustomer(row interface{ Scan(...any) error }) (Customer, error) {
	var c Customer
	var created int64
	if err := row.Scan(&c.ID, &c.Email, &c.Name, &c.Company, &c.Phone, &c.PasswordHash, &created); err != nil {
		return Customer{}, notFound(err)
	}
	c.CreatedAt = sqldb.FromMicros(created)
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
	err := s.DB.QueryRowContext(ctx, `SELECT `+customerCols+`, s.expires_at FROM session s JOIN customer c ON c.id = s.customer_id
		WHERE s.token_hash = $1 AND s.expires_at > $2`, tokenHash, sqldb.Micros(now)).
		Scan(&c.ID, &c.Email, &c.Name, &c.Company, &c.Phone, &c.PasswordHash, &created, &expires)
	if err != nil {
		return Customer{}, time.Time{}, fmt.Errorf("session: %w", notFound(err))
	}
	c.CreatedAt = sqldb.FromMicros(created)
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
