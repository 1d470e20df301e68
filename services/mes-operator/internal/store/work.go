package store

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/mes-operator/internal/production"
)

// Work is an order with its operations, by line and sequence, and the lines
// they make: what an operator's action or an order's event reads and
// changes, read in one query.
type Work struct {
	Order      production.Order
	Operations []production.Operation
	Lines      map[int]Line // none for an order confirmed without its lines
}

// Operation returns the operation with the id, which must be one of the
// order's (as it is in the Work of that operation).
func (w Work) Operation(id string) production.Operation {
	return w.Operations[slices.IndexFunc(w.Operations, func(o production.Operation) bool { return o.ID == id })]
}

// WorkOfOperation returns the order of an operation with all its operations
// and lines; ErrNotFound when the operation is unknown.
func (s *Store) WorkOfOperation(ctx context.Context, q sqldb.Querier, opID string) (Work, error) {
	w, err := s.work(ctx, q, `o.order_id = (SELECT order_id FROM operations WHERE id = $1)`, opID)
	if err != nil {
		return w, fmt.Errorf("order of operation %s: %w", opID, err)
	}
	return w, nil
}

// WorkOfOrder returns an order with its operations and lines; ErrNotFound
// when the order is unknown. An order without operations (not confirmed,
// or cancelled before) costs a second query.
func (s *Store) WorkOfOrder(ctx context.Context, q sqldb.Querier, orderID string) (Work, error) {
	w, err := s.work(ctx, q, `o.order_id = $1`, orderID)
	if errors.Is(err, ErrNotFound) {
		w.Order, err = s.Order(ctx, q, orderID)
		return w, err
	}
	if err != nil {
		return w, fmt.Errorf("order %s: %w", orderID, err)
	}
	return w, nil
}

// work reads an order, its operations and their lines, the order named by
// where; ErrNotFound when it has no operation.
func (s *Store) work(ctx context.Context, q sqldb.Querier, where string, arg string) (Work, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+prefixed("o.", orderColumns)+`, `+prefixed("p.", opColumns)+`, `+lineColumns+`
		FROM orders o JOIN operations p ON p.order_id = o.order_id
		LEFT JOIN order_lines l ON l.order_id = p.order_id AND l.line_no = p.line_no
		WHERE `+where+`
		ORDER BY p.line_no, p.seq`, arg)
	if err != nil {
		return Work{}, err
	}
	defer rows.Close()
	w := Work{Lines: map[int]Line{}}
	for rows.Next() {
		var o orderRow
		var op operationRow
		var l lineRow
		if err := rows.Scan(append(append(o.dest(), op.dest()...), l.dest()...)...); err != nil {
			return Work{}, fmt.Errorf("scan: %w", err)
		}
		if len(w.Operations) == 0 {
			w.Order = o.order()
		}
		w.Operations = append(w.Operations, op.operation())
		line, ok, err := l.line(op.op.LineNo)
		if err != nil {
			return Work{}, err
		}
		if ok {
			w.Lines[line.LineNo] = line
		}
	}
	if err := rows.Err(); err != nil {
		return Work{}, err
	}
	if len(w.Operations) == 0 {
		return Work{}, ErrNotFound
	}
	return w, nil
}
