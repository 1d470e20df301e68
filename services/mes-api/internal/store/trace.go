package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/fabrika/fabrika/platform/ordertrace"
)

// Trace is mes-api's part of `fabrika order trace` (an ordertrace.Finder
// over q): an API order, by id or number, with its status history.
func Trace(ctx context.Context, q Querier, ref string) (ordertrace.Summary, bool, error) {
	o, err := GetOrder(ctx, q, "", ref)
	if errors.Is(err, ErrNotFound) {
		var id string
		if err := q.QueryRowContext(ctx, `SELECT id FROM api_order WHERE number = $1`, ref).Scan(&id); err != nil {
			if errors.Is(notFound(err), ErrNotFound) {
				return ordertrace.Summary{}, false, nil
			}
			return ordertrace.Summary{}, false, fmt.Errorf("order number %s: %w", ref, err)
		}
		o, err = GetOrder(ctx, q, "", id)
	}
	if err != nil {
		return ordertrace.Summary{}, false, err
	}
	s := ordertrace.Summary{OrderID: o.ID, Number: o.Number, Channel: "api", Status: o.Status, Since: o.CreatedAt, Times: []ordertrace.Moment{}}
	for _, h := range o.History {
		s.Times = append(s.Times, ordertrace.Moment{What: h.Event, At: h.At})
		if h.Status == o.Status {
			s.Since = h.At
		}
	}
	if o.Reference != "" {
		s.Facts = append(s.Facts, ordertrace.Fact{Name: "client reference", Value: o.Reference})
	}
	if o.Reason != "" {
		s.Facts = append(s.Facts, ordertrace.Fact{Name: "reason", Value: o.Reason})
	}
	return s, true, nil
}
