package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/fabrika/fabrika/services/shop/internal/order"
)

// TracedOrder returns any customer's order, by id or number, with its
// timeline (no lines), for `fabrika order trace`; found is false when the
// shop has no such order.
func (s *Store) TracedOrder(ctx context.Context, ref string) (o Order, found bool, err error) {
	q := `SELECT ` + orderCols + ` FROM orders WHERE number = $1`
	if order.ValidID(ref) {
		q = `SELECT ` + orderCols + ` FROM orders WHERE id = $1`
	}
	o, err = scanOrder(s.DB.QueryRowContext(ctx, q, ref))
	if errors.Is(err, ErrNotFound) {
		return Order{}, false, nil
	}
	if err != nil {
		return Order{}, false, fmt.Errorf("order %s: %w", ref, err)
	}
	if o.Events, err = s.events(ctx, o.ID); err != nil {
		return Order{}, false, err
	}
	return o, true, nil
}
