package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/mes-calc/internal/calc"
	"github.com/fabrika/fabrika/services/mes-calc/internal/pricing"
	"github.com/fabrika/fabrika/services/mes-calc/internal/store"
)

// ErrVersionMismatch is returned when a change names a version (If-Match)
// that is no longer current.
var ErrVersionMismatch = errors.New("the price list has changed since that version")

// PriceList returns the current price list.
func (a *App) PriceList(ctx context.Context) (contracts.PriceListV1, error) {
	v, err := a.store.CurrentVersion(ctx, a.db)
	if err != nil {
		return contracts.PriceListV1{}, err
	}
	if c := a.cache.Load(); c != nil && c.Version == v {
		return *c, nil
	}
	return a.store.LoadPriceList(ctx, a.db)
}

// Change applies a change to the price list as one new version: the tables,
// the version record and the pricelist.published event in one transaction.
// ifVersion, when not 0, must be the current version. A change that would
// leave the list invalid is refused with text.FieldErrors.
func (a *App) Change(ctx context.Context, by string, ifVersion int64, change pricing.Change) (contracts.PriceListV1, error) {
	var next contracts.PriceListV1
	err := a.db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		version, found, err := a.store.Lock(ctx, tx)
		if err != nil {
			return err
		}
		if !found {
			return errors.New("no price list yet")
		}
		if ifVersion != 0 && ifVersion != version {
			return fmt.Errorf("%w: current is %d, not %d", ErrVersionMismatch, version, ifVersion)
		}
		cur, err := a.store.LoadPriceList(ctx, tx)
		if err != nil {
			return err
		}
		if next, err = change(cur); err != nil {
			return err
		}
		if err := pricing.Check(next); err != nil {
			return err
		}
		next.Version = cur.Version + 1
		next.PublishedAt = a.Now().Truncate(time.Microsecond)
		if capacityChanged(cur, next) {
			if err := a.store.ResetOpen(ctx, tx); err != nil {
				return err
			}
		}
		if err := a.store.SavePriceList(ctx, tx, next, by); err != nil {
			return err
		}
		if err := a.publish(ctx, tx, next); err != nil {
			return err
		}
		pl := next
		tx.AfterCommit(func() { a.remember(pl) })
		return nil
	})
	if err != nil {
		return contracts.PriceListV1{}, err
	}
	a.log.InfoContext(ctx, "price list changed and published", "version", next.Version, "by", by)
	return next, nil
}

func capacityChanged(a, b contracts.PriceListV1) bool {
	hours := func(pl contracts.PriceListV1) []string {
		out := make([]string, 0, len(pl.Workstations))
		for _, w := range pl.Workstations {
			out = append(out, fmt.Sprintf("%s=%g", w.Code, w.HoursPerDay))
		}
		slices.Sort(out)
		return out
	}
	return !slices.Equal(hours(a), hours(b))
}

// Version returns a published version.
func (a *App) Version(ctx context.Context, version int64) (store.Version, error) {
	return a.store.GetVersion(ctx, a.db, version)
}

// Calculation returns what was decided for an order.
func (a *App) Calculation(ctx context.Context, orderID string) (store.Calculation, error) {
	return a.store.GetCalculation(ctx, a.db, orderID)
}

// Load returns the planned load of the days [from, from+days).
func (a *App) Load(ctx context.Context, from calc.Day, days int) ([]store.DayLoad, error) {
	return a.store.LoadBetween(ctx, a.db, from, from+calc.Day(days))
}
