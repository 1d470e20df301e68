package store

import (
	"context"
	"fmt"
	"time"

	"github.com/fabrika/fabrika/platform/sqldb"
)

// AuditEntry is one staff action: who, what, when, from where.
type AuditEntry struct {
	ID        string    `json:"id"` // UUIDv7: time ordered
	At        time.Time `json:"at"`
	StaffID   string    `json:"staff_id"`
	Login     string    `json:"login"`
	Role      string    `json:"role"`
	Action    string    `json:"action"` // signin, signin_failed, signout, request, staff.create, ...
	Method    string    `json:"method"`
	Path      string    `json:"path"`
	Status    int       `json:"status"`
	IP        string    `json:"ip"`
	RequestID string    `json:"request_id"`
	Detail    string    `json:"detail,omitempty"`
}

// PendingAudit is the audit entry of a staff action under way. The store's
// writes done with a context carrying it (WithPendingAudit) insert it in
// their own transaction, so that the action and its entry commit together
// or not at all, and mark it Written; the caller records it apart only if
// no write did.
type PendingAudit struct {
	Entry   AuditEntry
	Written bool
}

type pendingKey struct{}

// WithPendingAudit returns ctx carrying p.
func WithPendingAudit(ctx context.Context, p *PendingAudit) context.Context {
	return context.WithValue(ctx, pendingKey{}, p)
}

// PendingAuditFrom returns the pending entry ctx carries, or nil.
func PendingAuditFrom(ctx context.Context) *PendingAudit {
	p, _ := ctx.Value(pendingKey{}).(*PendingAudit)
	return p
}

// auditInTx inserts the pending entry of ctx, if any, in tx.
func auditInTx(ctx context.Context, tx *sqldb.Tx) error {
	p := PendingAuditFrom(ctx)
	if p == nil || p.Written {
		return nil
	}
	e := p.Entry
	if _, err := tx.ExecContext(ctx, `INSERT INTO staff_audit (id, at, staff_id, login, role, action, method, path, status, ip, request_id, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		e.ID, sqldb.Micros(e.At), e.StaffID, e.Login, e.Role, e.Action, e.Method, e.Path, e.Status, e.IP, e.RequestID, e.Detail); err != nil {
		return fmt.Errorf("audit %s %s: %w", e.Action, e.Path, err)
	}
	tx.AfterCommit(func() { p.Written = true })
	return nil
}

// AddAudit appends an entry.
func (s *Store) AddAudit(ctx context.Context, e AuditEntry) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO staff_audit (id, at, staff_id, login, role, action, method, path, status, ip, request_id, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		e.ID, sqldb.Micros(e.At), e.StaffID, e.Login, e.Role, e.Action, e.Method, e.Path, e.Status, e.IP, e.RequestID, e.Detail)
	if err != nil {
		return fmt.Errorf("audit %s %s: %w", e.Action, e.Path, err)
	}
	return nil
}

// AuditFilter selects entries: newest first, older than Before (an entry id)
// when set, of one login when set.
type AuditFilter struct {
	Login  string
	Before string
	Limit  int
}

// Audit lists entries.
func (s *Store) Audit(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, at, staff_id, login, role, action, method, path, status, ip, request_id, detail
		FROM staff_audit
		WHERE ($1 = '' OR login = $1) AND ($2 = '' OR id < $2)
		ORDER BY id DESC LIMIT $3`, f.Login, f.Before, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.StaffID, &e.Login, &e.Role, &e.Action, &e.Method, &e.Path, &e.Status, &e.IP, &e.RequestID, &e.Detail); err != nil {
			return nil, fmt.Errorf("list audit: %w", err)
		}
		e.At = sqldb.FromMicros(at)
		out = append(out, e)
	}
	return out, rows.Err()
}
