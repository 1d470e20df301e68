package store

import (
	"context"
	"fmt"
	"time"

	"github.com/fabrika/fabrika/platform/sqldb"
)

// StaffMember is the CRM's copy of a staff account.
type StaffMember struct {
	ID       string
	Login    string
	Role     string
	Disabled bool
}

// SaveStaff keeps a staff account as of changedAt, unless a later state of
// it is already kept (events may arrive in any order).
func (s *Store) SaveStaff(ctx context.Context, q sqldb.Querier, m StaffMember, changedAt time.Time) error {
	disabled := 0
	if m.Disabled {
		disabled = 1
	}
	_, err := q.ExecContext(ctx, `INSERT INTO crm_staff (staff_id, login, role, disabled, changed_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (staff_id) DO UPDATE SET login = excluded.login, role = excluded.role, disabled = excluded.disabled, changed_at = excluded.changed_at
		WHERE crm_staff.changed_at <= excluded.changed_at`,
		m.ID, m.Login, m.Role, disabled, sqldb.Micros(changedAt))
	if err != nil {
		return fmt.Errorf("save staff %s: %w", m.Login, err)
	}
	return nil
}

// Managers lists the active staff who may own orders (managers and
// admins), by login.
func (s *Store) Managers(ctx context.Context, q sqldb.Querier) ([]StaffMember, error) {
	rows, err := q.QueryContext(ctx, `SELECT staff_id, login, role FROM crm_staff
		WHERE role IN ('manager', 'admin') AND disabled = 0 ORDER BY login`)
	if err != nil {
		return nil, fmt.Errorf("list managers: %w", err)
	}
	defer rows.Close()
	out := []StaffMember{}
	for rows.Next() {
		var m StaffMember
		if err := rows.Scan(&m.ID, &m.Login, &m.Role); err != nil {
			return nil, fmt.Errorf("list managers: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// Name is what a price list calls one of its codes.
type Name struct{ Kind, Code, Name string }

// Kinds of names.
const (
	NameProduct     = "product"
	NameMaterial    = "material"
	NameFinish      = "finish"
	NameOperation   = "operation"
	NameWorkstation = "workstation"
)

// SaveNames keeps the names of price list version, each unless a newer
// list named its code already.
func (s *Store) SaveNames(ctx context.Context, q sqldb.Querier, version int64, names []Name) error {
	for _, n := range names {
		_, err := q.ExecContext(ctx, `INSERT INTO crm_names (kind, code, name, version) VALUES ($1, $2, $3, $4)
			ON CONFLICT (kind, code) DO UPDATE SET name = excluded.name, version = excluded.version
			WHERE crm_names.version <= excluded.version`, n.Kind, n.Code, n.Name, version)
		if err != nil {
			return fmt.Errorf("save name of %s %s: %w", n.Kind, n.Code, err)
		}
	}
	return nil
}

// Names returns every known name, by kind and code.
func (s *Store) Names(ctx context.Context, q sqldb.Querier) (map[string]map[string]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT kind, code, name FROM crm_names`)
	if err != nil {
		return nil, fmt.Errorf("names: %w", err)
	}
	defer rows.Close()
	out := map[string]map[string]string{}
	for rows.Next() {
		var n Name
		if err := rows.Scan(&n.Kind, &n.Code, &n.Name); err != nil {
			return nil, fmt.Errorf("names: %w", err)
		}
		if out[n.Kind] == nil {
			out[n.Kind] = map[string]string{}
		}
		out[n.Kind][n.Code] = n.Name
	}
	return out, rows.Err()
}
