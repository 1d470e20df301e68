package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/fabrika/fabrika/platform/sqldb"
)

// Account is a staff member who signs in at the gateway.
type Account struct {
	ID             string
	Login          string
	Role           string
	PasswordHash   string
	Workstations   []string
	Disabled       bool
	FailedAttempts int
	LockedUntil    time.Time
	TOTPSecret     string // sealed (platform/secretbox); empty: no second factor
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

const accountCols = `id, login, role, password_hash, workstations, disabled, failed_attempts, locked_until, totp_secret, created_at, updated_at`

type scanner interface{ Scan(dest ...any) error }

func scanAccount(s scanner) (Account, error) {
	var a Account
	var ws string
	var disabled int
	var locked, created, updated int64
	if err := s.Scan(&a.ID, &a.Login, &a.Role, &a.PasswordHash, &ws, &disabled, &a.FailedAttempts, &locked, &a.TOTPSecret, &created, &updated); err != nil {
		return Account{}, err
	}
	if err := json.Unmarshal([]byte(ws), &a.Workstations); err != nil {
		return Account{}, fmt.Errorf("account %s workstations: %w", a.ID, err)
	}
	a.Disabled = disabled != 0
	a.LockedUntil, a.CreatedAt, a.UpdatedAt = sqldb.FromMicros(locked), sqldb.FromMicros(created), sqldb.FromMicros(updated)
	return a, nil
}

// SetTOTP stores an account's sealed TOTP seed ("" removes it).
func (s *Store) SetTOTP(ctx context.Context, id, sealed string, now time.Time) error {
	return s.db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE staff_accounts SET totp_secret = $2, updated_at = $3 WHERE id = $1`, id, sealed, sqldb.Micros(now))
		if err != nil {
			return fmt.Errorf("set TOTP of %s: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("set TOTP of %s: %w", id, ErrNotFound)
		}
		return auditInTx(ctx, tx)
	})
}

// UseTOTPStep records that the account signed in with the one-time code of
// time step step, and tells whether that step was still unused (newer than
// the last one used): a code is good once.
func (s *Store) UseTOTPStep(ctx context.Context, id string, step int64) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE staff_accounts SET totp_last_step = $2 WHERE id = $1 AND totp_last_step < $2`, id, step)
	if err != nil {
		return false, fmt.Errorf("use TOTP step of %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("use TOTP step of %s: %w", id, err)
	}
	return n == 1, nil
}

func workstationsJSON(ws []string) string {
	if ws == nil {
		ws = []string{}
	}
	b, _ := json.Marshal(ws)
	return string(b)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// CreateAccount inserts a; ErrLoginTaken when the login exists.
func (s *Store) CreateAccount(ctx context.Context, a Account) error {
	return s.db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO staff_accounts (`+accountCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, 0, 0, '', $7, $8)`,
			a.ID, a.Login, a.Role, a.PasswordHash, workstationsJSON(a.Workstations), boolInt(a.Disabled),
			sqldb.Micros(a.CreatedAt), sqldb.Micros(a.CreatedAt))
		if sqldb.IsUniqueViolation(err) {
			return fmt.Errorf("create staff %s: %w", a.Login, ErrLoginTaken)
		}
		if err != nil {
			return fmt.Errorf("create staff %s: %w", a.Login, err)
		}
		if err := s.notify(ctx, tx, a.ID); err != nil {
			return err
		}
		return auditInTx(ctx, tx)
	})
}

// AccountByLogin returns the account with the login.
func (s *Store) AccountByLogin(ctx context.Context, login string) (Account, error) {
	a, err := scanAccount(s.db.QueryRowContext(ctx, `SELECT `+accountCols+` FROM staff_accounts WHERE login = $1`, login))
	if errors.Is(err, sql.ErrNoRows) {
		return Account{}, fmt.Errorf("staff %s: %w", login, ErrNotFound)
	}
	return a, err
}

// AccountByID returns the account with the id.
func (s *Store) AccountByID(ctx context.Context, id string) (Account, error) {
	a, err := scanAccount(s.db.QueryRowContext(ctx, `SELECT `+accountCols+` FROM staff_accounts WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Account{}, fmt.Errorf("staff %s: %w", id, ErrNotFound)
	}
	return a, err
}

// Accounts lists every account by login.
func (s *Store) Accounts(ctx context.Context) ([]Account, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+accountCols+` FROM staff_accounts ORDER BY login`)
	if err != nil {
		return nil, fmt.Errorf("list staff: %w", err)
	}
	defer rows.Close()
	var out []Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// UpdateAccount changes role, workstations and the disabled flag. Disabling
// an account ends its sessions in the same transaction.
func (s *Store) UpdateAccount(ctx context.Context, id, role string, workstations []string, disabled bool, now time.Time) error {
	return s.db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE staff_accounts SET role = $2, workstations = $3, disabled = $4, updated_at = $5 WHERE id = $1`,
			id, role, workstationsJSON(workstations), boolInt(disabled), sqldb.Micros(now))
		if err != nil {
			return fmt.Errorf("update staff %s: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("update staff %s: %w", id, ErrNotFound)
		}
		if disabled {
			if _, err := tx.ExecContext(ctx, `DELETE FROM staff_sessions WHERE staff_id = $1`, id); err != nil {
				return fmt.Errorf("end sessions of %s: %w", id, err)
			}
		}
		if err := s.notify(ctx, tx, id); err != nil {
			return err
		}
		return auditInTx(ctx, tx)
	})
}

// SetPassword stores a new password hash, clears a lock-out and ends the
// account's sessions except keep (the session that made the change, "" for
// none).
func (s *Store) SetPassword(ctx context.Context, id, hash, keep string, now time.Time) error {
	return s.db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE staff_accounts SET password_hash = $2, failed_attempts = 0, locked_until = 0, updated_at = $3 WHERE id = $1`,
			id, hash, sqldb.Micros(now))
		if err != nil {
			return fmt.Errorf("set password of %s: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("set password of %s: %w", id, ErrNotFound)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM staff_sessions WHERE staff_id = $1 AND token_hash <> $2`, id, keep); err != nil {
			return fmt.Errorf("end sessions of %s: %w", id, err)
		}
		return auditInTx(ctx, tx)
	})
}
