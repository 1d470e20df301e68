package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/mes-operator/internal/production"
)

const opColumns = `id, order_id, line_no, seq, operation, workstation, planned_minutes, state, good_qty, scrap_qty,
	scrap_reason, pause_reason, operator, started_at, running_since, worked_us, finished_at, version`

func scanOperation(row interface{ Scan(...any) error }, extra ...any) (production.Operation, error) {
	var op production.Operation
	var state string
	var started, running, worked, finished int64
	dest := []any{&op.ID, &op.OrderID, &op.LineNo, &op.Seq, &op.Name, &op.Workstation, &op.PlannedMinutes, &state,
		&op.GoodQty, &op.ScrapQty, &op.ScrapReason, &op.PauseReason, &op.Operator, &started, &running, &worked, &finished, &op.Version}
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return op, err
	}
	op.State = production.State(state)
	op.StartedAt, op.RunningSince, op.FinishedAt = sqldb.FromMicros(started), sqldb.FromMicros(running), sqldb.FromMicros(finished)
	op.Worked = time.Duration(worked) * time.Microsecond
	return op, nil
}

// Operation returns an operation; ErrNotFound when it is unknown.
func (s *Store) Operation(ctx context.Context, q sqldb.Querier, id string) (production.Operation, error) {
	op, err := scanOperation(q.QueryRowContext(ctx, `SELECT `+opColumns+` FROM operations WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return op, ErrNotFound
	}
	if err != nil {
		return op, fmt.Errorf("get operation %s: %w", id, err)
	}
	return op, nil
}

// OrderOperations returns an order's operations by line and sequence.
func (s *Store) OrderOperations(ctx context.Context, q sqldb.Querier, orderID string) ([]production.Operation, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+opColumns+` FROM operations WHERE order_id = $1 ORDER BY line_no, seq`, orderID)
	if err != nil {
		return nil, fmt.Errorf("list operations of %s: %w", orderID, err)
	}
	defer rows.Close()
	var ops []production.Operation
	for rows.Next() {
		op, err := scanOperation(rows)
		if err != nil {
			return nil, fmt.Errorf("scan operation: %w", err)
		}
		ops = append(ops, op)
	}
	return ops, rows.Err()
}

// InsertOperations adds the operations of a planned order.
func (s *Store) InsertOperations(ctx context.Context, q sqldb.Querier, ops []production.Operation, now time.Time) error {
	for _, op := range ops {
		_, err := q.ExecContext(ctx, `INSERT INTO operations (`+opColumns+`, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)`,
			op.ID, op.OrderID, op.LineNo, op.Seq, op.Name, op.Workstation, op.PlannedMinutes, string(op.State), op.GoodQty, op.ScrapQty,
			op.ScrapReason, op.PauseReason, op.Operator, sqldb.Micros(op.StartedAt), sqldb.Micros(op.RunningSince),
			op.Worked.Microseconds(), sqldb.Micros(op.FinishedAt), op.Version, sqldb.Micros(now))
		if err != nil {
			return fmt.Errorf("insert operation %s/%d/%d: %w", op.OrderID, op.LineNo, op.Seq, err)
		}
	}
	return nil
}

// UpdateOperation writes op if the stored row still has version prev;
// ErrStale otherwise.
func (s *Store) UpdateOperation(ctx context.Context, q sqldb.Querier, op production.Operation, prev int, now time.Time) error {
	err := updatedOne(q.ExecContext(ctx, `UPDATE operations SET state = $2, good_qty = $3, scrap_qty = $4, scrap_reason = $5,
		pause_reason = $6, operator = $7, started_at = $8, running_since = $9, worked_us = $10, finished_at = $11, version = $12,
		updated_at = $13 WHERE id = $1 AND version = $14`,
		op.ID, string(op.State), op.GoodQty, op.ScrapQty, op.ScrapReason, op.PauseReason, op.Operator, sqldb.Micros(op.StartedAt),
		sqldb.Micros(op.RunningSince), op.Worked.Microseconds(), sqldb.Micros(op.FinishedAt), op.Version, sqldb.Micros(now), prev))
	if err != nil {
		return fmt.Errorf("update operation %s: %w", op.ID, err)
	}
	return nil
}

// QueueItem is an operation in a workstation's queue with what the operator
// needs to know of its order.
type QueueItem struct {
	production.Operation
	OrderNumber string
	ShipDate    string
	Rush        bool
}

// Queue returns the open operations of a workstation in priority order: the
// earliest ship date first (orders without one last), then rush orders,
// then the order confirmed first; within an order by line and sequence.
// Held and cancelled orders are left out.
func (s *Store) Queue(ctx context.Context, q sqldb.Querier, workstation string, limit int) ([]QueueItem, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+prefixed("p.", opColumns)+`, o.number, o.ship_date, o.rush
		FROM operations p JOIN orders o ON o.order_id = p.order_id
		WHERE p.workstation = $1 AND p.state IN ('waiting', 'ready', 'running', 'paused')
		  AND o.on_hold = 0 AND o.status IN ('confirmed', 'in_production')
		ORDER BY CASE WHEN o.ship_date = '' THEN 1 ELSE 0 END, o.ship_date, o.rush DESC, o.confirmed_at, o.order_id, p.line_no, p.seq
		LIMIT $2`, workstation, limit)
	if err != nil {
		return nil, fmt.Errorf("queue of %s: %w", workstation, err)
	}
	defer rows.Close()
	var items []QueueItem
	for rows.Next() {
		var it QueueItem
		var rush int
		op, err := scanOperation(rows, &it.OrderNumber, &it.ShipDate, &rush)
		if err != nil {
			return nil, fmt.Errorf("scan queue item: %w", err)
		}
		it.Operation, it.Rush = op, rush == 1
		items = append(items, it)
	}
	return items, rows.Err()
}

func prefixed(p, cols string) string {
	out := make([]byte, 0, len(cols)*2)
	start := true
	for i := 0; i < len(cols); i++ {
		c := cols[i]
		if start && c != ' ' && c != '\t' && c != '\n' {
			out = append(out, p...)
			start = false
		}
		out = append(out, c)
		if c == ',' {
			start = true
		}
	}
	return string(out)
}
