package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/sqldb"
)

// SavePriceList stores a received price list; a version already stored is
// left alone. It tells whether the list was new.
func (s *Store) SavePriceList(ctx context.Context, tx *sqldb.Tx, pl contracts.PriceListV1, now time.Time) (bool, error) {
	b, err := json.Marshal(pl)
	if err != nil {
		return false, fmt.Errorf("marshal price list %d: %w", pl.Version, err)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO price_list (version, payload, published_at, received_at)
		VALUES ($1, $2, $3, $4) ON CONFLICT (version) DO NOTHING`,
		pl.Version, string(b), sqldb.Micros(pl.PublishedAt), sqldb.Micros(now))
	if err != nil {
		return false, fmt.Errorf("save price list %d: %w", pl.Version, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// CurrentPriceList returns the price list of highest version: an older
// version received late never replaces a newer one.
func (s *Store) CurrentPriceList(ctx context.Context) (contracts.PriceListV1, error) {
	var payload string
	err := s.DB.QueryRowContext(ctx, `SELECT payload FROM price_list ORDER BY version DESC LIMIT 1`).Scan(&payload)
	if err != nil {
		return contracts.PriceListV1{}, fmt.Errorf("current price list: %w", notFound(err))
	}
	var pl contracts.PriceListV1
	if err := json.Unmarshal([]byte(payload), &pl); err != nil {
		return contracts.PriceListV1{}, fmt.Errorf("decode stored price list: %w", err)
	}
	return pl, nil
}

// ProductInfo is the shop's own text about a product.
type ProductInfo struct {
	Code, Tagline, Details string
	SortOrder              int
}

// ProductInfos returns the shop's texts by product code.
func (s *Store) ProductInfos(ctx context.Context) (map[string]ProductInfo, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT code, tagline, details, sort_order FROM product_info`)
	if err != nil {
		return nil, fmt.Errorf("product info: %w", err)
	}
	defer rows.Close()
	out := map[string]ProductInfo{}
	for rows.Next() {
		var p ProductInfo
		if err := rows.Scan(&p.Code, &p.Tagline, &p.Details, &p.SortOrder); err != nil {
			return nil, err
		}
		out[p.Code] = p
	}
	return out, rows.Err()
}
