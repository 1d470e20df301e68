package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/fabrika/fabrika/platform/ordertrace"
	"github.com/fabrika/fabrika/platform/sqldb"
)

// Trace is mes-api's part of `fabrika order trace` (an ordertrace.Finder
// over q): an API order, by id or number, with its status history.
func (s *Store) Trace(ctx context.Context, q sqldb.Querier, ref string) (ordertrace.Summary, bool, error) {
	o, err := s.GetOrder(ctx, q, "", ref)
	if errors.Is(err, ErrNotFound) {
		var id string
		if err := q.QueryRowContext(ctx, `SELECT id FROM api_order WHERE number = $1`, ref).Scan(&id); err != nil {
			if errors.Is(notFound(err), ErrNotFound) {
				return ordertrace.Summary{}, false, nil
			}
			return ordertrace.Summary{}, false, fmt.Errorf("order number %s: %w", ref, err)
		}
		o, err = s.GetOrder(ctx, q, "", id)
	}
	if err != nil {
		return ordertrace.Summary{}, false, err
	}
	sum := ordertrace.Summary{OrderID: o.ID, Number: o.Number, Channel: "api", Status: o.Status, Since: o.CreatedAt, Times: []ordertrace.Moment{}}
	for _, h := range o.History {
		sum.Times = append(sum.Times, ordertrace.Moment{What: h.Event, At: h.At})
		if h.Status == o.Status {
			sum.Since = h.At
		}
	}
	if o.Reference != "" {
		sum.Facts = append(sum.Facts, ordertrace.Fact{Name: "client reference", Value: o.Reference})
	}
	if o.Reason != "" {
		sum.Facts = append(sum.Facts, ordertrace.Fact{Name: "reason", Value: o.Reason})
	}
	return sum, true, nil
}
