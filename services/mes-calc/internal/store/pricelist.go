package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/mes-calc/internal/calc"
)

// Lock takes the price list for a change and returns the current version;
// found is false before the list was seeded. Call it first in every
// transaction that changes the list. It waits for the calculations and
// cancellations in flight and holds new ones back until the change commits:
// on PostgreSQL with the EXCLUSIVE lock of workstation_load, which conflicts
// with the ROW EXCLUSIVE lock each of them takes first (Begin); on SQLite
// writers are serialised anyway. Then it locks the settings row, which
// serialises changes with each other.
func (s *Store) Lock(ctx context.Context, tx *sqldb.Tx) (version int64, found bool, err error) {
	if tx.Engine() == sqldb.Postgres {
		if _, err := tx.ExecContext(ctx, `LOCK TABLE workstation_load IN EXCLUSIVE MODE`); err != nil {
			return 0, false, fmt.Errorf("lock price list: %w", err)
		}
	}
	err = tx.QueryRowContext(ctx, `UPDATE settings SET lock_seq = lock_seq + 1 WHERE id = 1 RETURNING version`).Scan(&version)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("lock price list: %w", err)
	}
	return version, true, nil
}

// Begin opens the work of a calculation or a cancellation in tx and returns
// the current version of the price list (found is false before the seed).
// It first declares the intention to write the load (an update that matches
// no row): on PostgreSQL that takes workstation_load's ROW EXCLUSIVE lock,
// which other calculations share but a change of the price list waits for
// (Lock), so the version read after it stays current until tx commits.
// It locks no row: concurrent calculations do not wait for each other here.
func (s *Store) Begin(ctx context.Context, tx *sqldb.Tx) (version int64, found bool, err error) {
	if _, err := tx.ExecContext(ctx, `UPDATE workstation_load SET centiminutes = centiminutes WHERE workstation = ''`); err != nil {
		return 0, false, fmt.Errorf("begin booking: %w", err)
	}
	err = tx.QueryRowContext(ctx, `SELECT version FROM settings WHERE id = 1`).Scan(&version)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("price list version: %w", err)
	}
	return version, true, nil
}

// Started is what a calculation reads before it calculates (Start).
type Started struct {
	Version    int64 // of the current price list
	Found      bool  // false before the seed
	Calculated bool  // the order has a calculation record (GetCalculation)
	Load       *Load // the load as committed when Start read it, from start
}

// startSQL is Begin, the order's calculation record and the load's first
// open days and windows (readOpenSQL) in one statement: kind 2 carries the
// price list's version, kind 3 tells the order has a record. On PostgreSQL
// the update that declares the intention to write the load (see Begin) is
// a data-modifying WITH query, which runs whether or not the rest reads
// it; its lock is taken before the statement's snapshot, so the version
// and the price list's workstations read stay current until the commit.
const startSQL = readOpenSQL + `
UNION ALL SELECT 2, '', version, 0 FROM settings WHERE id = 1
UNION ALL SELECT 3, '', 0, 0 FROM calculations WHERE order_id = $3`

// Start opens a calculation of orderID in tx in one round trip: what
// Begin does, whether the order has a calculation record, and the load
// from start for the first attempt (Schedule). On SQLite, whose immediate
// transactions hold the database's write lock, it declares nothing.
func (s *Store) Start(ctx context.Context, tx *sqldb.Tx, orderID string, start calc.Day) (Started, error) {
	q := startSQL
	if tx.Engine() == sqldb.Postgres {
		q = `WITH intent AS (UPDATE workstation_load SET centiminutes = centiminutes WHERE workstation = '')` + q
	}
	rs, err := tx.QueryContext(ctx, q, int64(start), int64(window), orderID)
	if err != nil {
		return Started{}, fmt.Errorf("begin calculation of %s: %w", orderID, err)
	}
	st := Started{Load: s.NewLoad(ctx, tx, start)}
	if err := st.Load.fill(rs, func(kind int, n int64) {
		switch kind {
		case 2:
			st.Version, st.Found = n, true
		case 3:
			st.Calculated = true
		}
	}); err != nil {
		return Started{}, fmt.Errorf("begin calculation of %s: %w", orderID, err)
	}
	return st, nil
}

// Serialise takes the settings row lock until tx ends, as every calculation
// did before the load was booked optimistically: calculations then run one
// at a time. Only the benchmark's serial variant uses it, to measure what
// the optimistic booking gained.
func (s *Store) Serialise(ctx context.Context, tx *sqldb.Tx) error {
	if _, err := tx.ExecContext(ctx, `UPDATE settings SET lock_seq = lock_seq + 1 WHERE id = 1`); err != nil {
		return fmt.Errorf("serialise: %w", err)
	}
	return nil
}

// CurrentVersion returns the current version without locking (0 before the
// seed).
func (s *Store) CurrentVersion(ctx context.Context, q sqldb.Querier) (int64, error) {
	var v int64
	err := q.QueryRowContext(ctx, `SELECT version FROM settings WHERE id = 1`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("price list version: %w", err)
	}
	return v, nil
}

// LoadPriceList reads the current price list from its tables.
func (s *Store) LoadPriceList(ctx context.Context, q sqldb.Querier) (contracts.PriceListV1, error) {
	var pl contracts.PriceListV1
	var breaks string
	var published int64
	err := q.QueryRowContext(ctx, `SELECT version, currency, margin_pct, minimum_unit_price, rush_multiplier,
		standard_lead_days, rush_lead_days, max_quantity, quantity_breaks, published_at FROM settings WHERE id = 1`).Scan(
		&pl.Version, &pl.Currency, &pl.MarginPct, &pl.MinimumUnitPrice, &pl.RushMultiplier,
		&pl.StandardLeadDays, &pl.RushLeadDays, &pl.MaxQuantity, &breaks, &published)
	if err != nil {
		return pl, fmt.Errorf("load settings: %w", err)
	}
	pl.PublishedAt = sqldb.FromMicros(published)
	if err := json.Unmarshal([]byte(breaks), &pl.QuantityBreaks); err != nil {
		return pl, fmt.Errorf("load settings: quantity breaks: %w", err)
	}
	if pl.Materials, err = queryAll(ctx, q, `SELECT code, name, density_kg_m3, cost_per_kg FROM materials ORDER BY pos, code`,
		func(rs *sql.Rows, m *contracts.Material) error {
			return rs.Scan(&m.Code, &m.Name, &m.DensityKgM3, &m.CostPerKg)
		}); err != nil {
		return pl, err
	}
	if pl.Finishes, err = queryAll(ctx, q, `SELECT code, name, cost_per_m2, workstation, minutes FROM finishes ORDER BY pos, code`,
		func(rs *sql.Rows, f *contracts.Finish) error {
			return rs.Scan(&f.Code, &f.Name, &f.CostPerM2, &f.Workstation, &f.Minutes)
		}); err != nil {
		return pl, err
	}
	if pl.Workstations, err = queryAll(ctx, q, `SELECT code, name, hourly_rate, hours_per_day, max_width_mm, max_height_mm, max_thickness_mm
		FROM workstations ORDER BY pos, code`,
		func(rs *sql.Rows, w *contracts.Workstation) error {
			return rs.Scan(&w.Code, &w.Name, &w.HourlyRate, &w.HoursPerDay, &w.MaxWidthMM, &w.MaxHeightMM, &w.MaxThicknessM)
		}); err != nil {
		return pl, err
	}
	if pl.Products, err = queryAll(ctx, q, `SELECT code, name, description, materials, finishes, width_min, width_max,
		height_min, height_max, thickness_min, thickness_max FROM products ORDER BY pos, code`,
		func(rs *sql.Rows, p *contracts.Product) error {
			var mats, fins string
			if err := rs.Scan(&p.Code, &p.Name, &p.Description, &mats, &fins, &p.Width.Min, &p.Width.Max,
				&p.Height.Min, &p.Height.Max, &p.Thickness.Min, &p.Thickness.Max); err != nil {
				return err
			}
			if err := json.Unmarshal([]byte(mats), &p.Materials); err != nil {
				return err
			}
			return json.Unmarshal([]byte(fins), &p.Finishes)
		}); err != nil {
		return pl, err
	}
	type productOp struct {
		product string
		op      contracts.Operation
	}
	ops, err := queryAll(ctx, q, `SELECT product_code, code, name, workstation, setup_minutes, run_minutes, per_dm2, per_cm3
		FROM product_operations ORDER BY product_code, seq`,
		func(rs *sql.Rows, po *productOp) error {
			o := &po.op
			return rs.Scan(&po.product, &o.Code, &o.Name, &o.Workstation, &o.SetupMinutes, &o.RunMinutes, &o.PerDm2, &o.PerCm3)
		})
	if err != nil {
		return pl, err
	}
	byProduct := map[string][]contracts.Operation{}
	for _, po := range ops {
		byProduct[po.product] = append(byProduct[po.product], po.op)
	}
	for i := range pl.Products {
		pl.Products[i].Operations = byProduct[pl.Products[i].Code]
	}
	return pl, nil
}

func queryAll[T any](ctx context.Context, q sqldb.Querier, query string, scan func(*sql.Rows, *T) error) ([]T, error) {
	rs, err := q.QueryContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("load price list: %w", err)
	}
	defer rs.Close()
	var out []T
	for rs.Next() {
		var v T
		if err := scan(rs, &v); err != nil {
			return nil, fmt.Errorf("load price list: %w", err)
		}
		out = append(out, v)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("load price list: %w", err)
	}
	return out, nil
}

// SavePriceList writes pl as the current price list and records it as a
// published version. The catalogue is small (tens of rows), so its tables
// are rewritten whole: they always equal the published version.
func (s *Store) SavePriceList(ctx context.Context, tx *sqldb.Tx, pl contracts.PriceListV1, by string) error {
	breaks, err := json.Marshal(pl.QuantityBreaks)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO settings (id, version, currency, margin_pct, minimum_unit_price, rush_multiplier,
		standard_lead_days, rush_lead_days, max_quantity, quantity_breaks, published_at) VALUES (1, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (id) DO UPDATE SET version = excluded.version, currency = excluded.currency, margin_pct = excluded.margin_pct,
		minimum_unit_price = excluded.minimum_unit_price, rush_multiplier = excluded.rush_multiplier,
		standard_lead_days = excluded.standard_lead_days, rush_lead_days = excluded.rush_lead_days,
		max_quantity = excluded.max_quantity, quantity_breaks = excluded.quantity_breaks, published_at = excluded.published_at`,
		pl.Version, pl.Currency, pl.MarginPct, pl.MinimumUnitPrice, pl.RushMultiplier, pl.StandardLeadDays, pl.RushLeadDays,
		pl.MaxQuantity, string(breaks), sqldb.Micros(pl.PublishedAt)); err != nil {
		return fmt.Errorf("save settings: %w", err)
	}
	for _, table := range []string{"product_operations", "products", "materials", "finishes", "workstations"} {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+table); err != nil { // fixed table names, not input
			return fmt.Errorf("clear %s: %w", table, err)
		}
	}
	for i, m := range pl.Materials {
		if _, err := tx.ExecContext(ctx, `INSERT INTO materials (code, name, density_kg_m3, cost_per_kg, pos) VALUES ($1, $2, $3, $4, $5)`,
			m.Code, m.Name, m.DensityKgM3, m.CostPerKg, i); err != nil {
			return fmt.Errorf("save material %s: %w", m.Code, err)
		}
	}
	for i, f := range pl.Finishes {
		if _, err := tx.ExecContext(ctx, `INSERT INTO finishes (code, name, cost_per_m2, workstation, minutes, pos) VALUES ($1, $2, $3, $4, $5, $6)`,
			f.Code, f.Name, f.CostPerM2, f.Workstation, f.Minutes, i); err != nil {
			return fmt.Errorf("save finish %s: %w", f.Code, err)
		}
	}
	for i, w := range pl.Workstations {
		if _, err := tx.ExecContext(ctx, `INSERT INTO workstations (code, name, hourly_rate, hours_per_day, max_width_mm, max_height_mm,
			max_thickness_mm, pos) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			w.Code, w.Name, w.HourlyRate, w.HoursPerDay, w.MaxWidthMM, w.MaxHeightMM, w.MaxThicknessM, i); err != nil {
			return fmt.Errorf("save workstation %s: %w", w.Code, err)
		}
	}
	for i, p := range pl.Products {
		mats, _ := json.Marshal(nonNil(p.Materials))
		fins, _ := json.Marshal(nonNil(p.Finishes))
		if _, err := tx.ExecContext(ctx, `INSERT INTO products (code, name, description, materials, finishes, width_min, width_max,
			height_min, height_max, thickness_min, thickness_max, pos) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			p.Code, p.Name, p.Description, string(mats), string(fins), p.Width.Min, p.Width.Max, p.Height.Min, p.Height.Max,
			p.Thickness.Min, p.Thickness.Max, i); err != nil {
			return fmt.Errorf("save product %s: %w", p.Code, err)
		}
		for j, o := range p.Operations {
			if _, err := tx.ExecContext(ctx, `INSERT INTO product_operations (product_code, seq, code, name, workstation, setup_minutes,
				run_minutes, per_dm2, per_cm3) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
				p.Code, j+1, o.Code, o.Name, o.Workstation, o.SetupMinutes, o.RunMinutes, o.PerDm2, o.PerCm3); err != nil {
				return fmt.Errorf("save product %s operation %s: %w", p.Code, o.Code, err)
			}
		}
	}
	body, err := json.Marshal(pl)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO price_list_versions (version, body, published_at, published_by) VALUES ($1, $2, $3, $4)`,
		pl.Version, string(body), sqldb.Micros(pl.PublishedAt), by); err != nil {
		return fmt.Errorf("record price list version %d: %w", pl.Version, err)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Version is a published version as recorded.
type Version struct {
	Version     int64                 `json:"version"`
	PublishedAt time.Time             `json:"published_at"`
	PublishedBy string                `json:"published_by"`
	PriceList   contracts.PriceListV1 `json:"price_list"`
}

// ErrNotFound is returned for a version or calculation that does not exist.
var ErrNotFound = errors.New("not found")

// GetVersion returns a published version.
func (s *Store) GetVersion(ctx context.Context, q sqldb.Querier, version int64) (Version, error) {
	var v Version
	var body string
	var at int64
	err := q.QueryRowContext(ctx, `SELECT version, body, published_at, published_by FROM price_list_versions WHERE version = $1`, version).
		Scan(&v.Version, &body, &at, &v.PublishedBy)
	if errors.Is(err, sql.ErrNoRows) {
		return v, fmt.Errorf("price list version %d: %w", version, ErrNotFound)
	}
	if err != nil {
		return v, fmt.Errorf("price list version %d: %w", version, err)
	}
	v.PublishedAt = sqldb.FromMicros(at)
	if err := json.Unmarshal([]byte(body), &v.PriceList); err != nil {
		return v, fmt.Errorf("price list version %d: %w", version, err)
	}
	return v, nil
}
