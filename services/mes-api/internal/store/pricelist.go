package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/sqldb"
)

// SavePriceList keeps pl when it is newer than the one stored and tells
// whether it did (an older version arriving late is ignored).
func (s *Store) SavePriceList(ctx context.Context, q sqldb.Querier, pl contracts.PriceListV1, at time.Time) (bool, error) {
	body, err := json.Marshal(pl)
	if err != nil {
		return false, fmt.Errorf("marshal price list: %w", err)
	}
	res, err := q.ExecContext(ctx, `INSERT INTO price_list (id, version, body, received_at) VALUES (1, $1, $2, $3)
		ON CONFLICT (id) DO UPDATE SET version = excluded.version, body = excluded.body, received_at = excluded.received_at
		WHERE price_list.version < excluded.version`, pl.Version, string(body), sqldb.Micros(at))
	if err != nil {
		return false, fmt.Errorf("save price list %d: %w", pl.Version, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// LoadPriceList reads the stored price list; ErrNotFound when none came yet.
func (s *Store) LoadPriceList(ctx context.Context, q sqldb.Querier) (contracts.PriceListV1, error) {
	var body string
	if err := q.QueryRowContext(ctx, `SELECT body FROM price_list WHERE id = 1`).Scan(&body); err != nil {
		return contracts.PriceListV1{}, fmt.Errorf("load price list: %w", notFound(err))
	}
	var pl contracts.PriceListV1
	if err := json.Unmarshal([]byte(body), &pl); err != nil {
		return contracts.PriceListV1{}, fmt.Errorf("decode price list: %w", err)
	}
	return pl, nil
}
