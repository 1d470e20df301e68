package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/fabrika/fabrika/platform/sqldb"
)

// Workstation is a machine or bench operators work at.
type Workstation struct {
	Code string
	Name string
}

// UpsertWorkstation adds a workstation or, when name is not empty, renames
// it. A workstation first seen in a routing has its code as name until a
// price list names it.
func (s *Store) UpsertWorkstation(ctx context.Context, q sqldb.Querier, code, name string, now time.Time) error {
	var err error
	if name == "" {
		_, err = q.ExecContext(ctx, `INSERT INTO workstations (code, name, updated_at) VALUES ($1, $1, $2)
			ON CONFLICT (code) DO NOTHING`, code, sqldb.Micros(now))
	} else {
		_, err = q.ExecContext(ctx, `INSERT INTO workstations (code, name, updated_at) VALUES ($1, $2, $3)
			ON CONFLICT (code) DO UPDATE SET name = excluded.name, updated_at = excluded.updated_at`, code, name, sqldb.Micros(now))
	}
	if err != nil {
		return fmt.Errorf("upsert workstation %s: %w", code, err)
	}
	return nil
}

// AddWorkstations makes the workstations of a routing known, with their
// codes as names until a price list names them, in one statement. The codes
// are inserted sorted, so that concurrent transactions adding the same new
// ones take their locks in the same order.
func (s *Store) AddWorkstations(ctx context.Context, q sqldb.Querier, codes []string, now time.Time) error {
	codes = slices.Compact(slices.Sorted(slices.Values(codes)))
	err := insertRows(ctx, q, `INSERT INTO workstations (code, name, updated_at) VALUES `, ` ON CONFLICT (code) DO NOTHING`,
		len(codes), 3, func(i int) []any { return []any{codes[i], codes[i], sqldb.Micros(now)} })
	if err != nil {
		return fmt.Errorf("add workstations %v: %w", codes, err)
	}
	return nil
}

// GetWorkstation returns a workstation; ErrNotFound when it is unknown.
func (s *Store) GetWorkstation(ctx context.Context, q sqldb.Querier, code string) (Workstation, error) {
	w := Workstation{Code: code}
	err := q.QueryRowContext(ctx, `SELECT name FROM workstations WHERE code = $1`, code).Scan(&w.Name)
	if errors.Is(err, sql.ErrNoRows) {
		return w, ErrNotFound
	}
	if err != nil {
		return w, fmt.Errorf("get workstation %s: %w", code, err)
	}
	return w, nil
}

// Workstations returns every known workstation by code.
func (s *Store) Workstations(ctx context.Context, q sqldb.Querier) ([]Workstation, error) {
	rows, err := q.QueryContext(ctx, `SELECT code, name FROM workstations ORDER BY code`)
	if err != nil {
		return nil, fmt.Errorf("list workstations: %w", err)
	}
	defer rows.Close()
	var out []Workstation
	for rows.Next() {
		var w Workstation
		if err := rows.Scan(&w.Code, &w.Name); err != nil {
			return nil, fmt.Errorf("scan workstation: %w", err)
		}
		out = append(out, w)
	}
	return out, rows.Err()
}
