package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/fabrika/fabrika/platform/ordertrace"
	"github.com/fabrika/fabrika/platform/sqldb"
)

// Trace is mes-calc's part of `fabrika order trace` (an ordertrace.Finder
// over q): its calculation of the order, by the order's id (mes-calc keeps
// no order numbers).
func (s *Store) Trace(ctx context.Context, q sqldb.Querier, ref string) (ordertrace.Summary, bool, error) {
	c, err := s.GetCalculation(ctx, q, ref)
	if errors.Is(err, ErrNotFound) {
		return ordertrace.Summary{}, false, nil
	}
	if err != nil {
		return ordertrace.Summary{}, false, err
	}
	sum := ordertrace.Summary{OrderID: c.OrderID, Channel: c.Channel, Status: c.Status, Since: c.UpdatedAt,
		Times: []ordertrace.Moment{{What: "calculated (" + c.Status + ")", At: c.CalculatedAt}}}
	if c.UpdatedAt.After(c.CalculatedAt) {
		sum.Times = append(sum.Times, ordertrace.Moment{What: c.Status, At: c.UpdatedAt})
	}
	sum.Facts = append(sum.Facts, ordertrace.Fact{Name: "price list version", Value: fmt.Sprint(c.PriceListVersion)})
	if c.Total > 0 {
		sum.Facts = append(sum.Facts, ordertrace.Fact{Name: "total", Value: fmt.Sprintf("%d (minor units)", c.Total)})
	}
	if c.ShipDate != "" {
		sum.Facts = append(sum.Facts, ordertrace.Fact{Name: "ship date", Value: c.ShipDate})
	}
	if c.Reason != "" {
		sum.Facts = append(sum.Facts, ordertrace.Fact{Name: "reason", Value: c.Reason})
	}
	return sum, true, nil
}
