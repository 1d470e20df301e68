package store

import (
	"context"
	"fmt"

	"github.com/fabrika/fabrika/platform/sqldb"
)

// Workstation is a machine or bench of the shop floor, as mes-calc's price
// list names it.
type Workstation struct {
	Code string
	Name string
}

// ApplyWorkstations makes the workstations of price list version the known
// set, unless a newer list is already applied (price lists may arrive out
// of order); it tells whether it changed anything.
func ApplyWorkstations(ctx context.Context, tx *sqldb.Tx, version int64, ws []Workstation) (bool, error) {
	var have int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM workstations`).Scan(&have); err != nil {
		return false, fmt.Errorf("workstations version: %w", err)
	}
	if version <= have {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM workstations`); err != nil {
		return false, fmt.Errorf("replace workstations: %w", err)
	}
	for _, w := range ws {
		if _, err := tx.ExecContext(ctx, `INSERT INTO workstations (code, name, version) VALUES ($1, $2, $3)`, w.Code, w.Name, version); err != nil {
			return false, fmt.Errorf("add workstation %s: %w", w.Code, err)
		}
	}
	return true, nil
}

// Workstations lists the known workstations by code.
func (s *Store) Workstations(ctx context.Context) ([]Workstation, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT code, name FROM workstations ORDER BY code`)
	if err != nil {
		return nil, fmt.Errorf("list workstations: %w", err)
	}
	defer rows.Close()
	out := []Workstation{}
	for rows.Next() {
		var w Workstation
		if err := rows.Scan(&w.Code, &w.Name); err != nil {
			return nil, fmt.Errorf("list workstations: %w", err)
		}
		out = append(out, w)
	}
	return out, rows.Err()
}
