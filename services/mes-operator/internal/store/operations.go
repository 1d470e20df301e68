package store

import (
	"context"
	"fmt"
	"time"

	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/mes-operator/internal/production"
)

const opColumns = `id, order_id, line_no, seq, operation, workstation, planned_minutes, state, good_qty, scrap_qty,
	scrap_reason, pause_reason, operator, started_at, running_since, worked_us, finished_at, version`

// operationRow is an operations row as scanned, for queries that read it
// beside other tables' columns.
type operationRow struct {
	op                                 production.Operation
	state                              string
	started, running, worked, finished int64
}

// dest lists where the opColumns go.
func (r *operationRow) dest() []any {
	op := &r.op
	return []any{&op.ID, &op.OrderID, &op.LineNo, &op.Seq, &op.Name, &op.Workstation, &op.PlannedMinutes, &r.state,
		&op.GoodQty, &op.ScrapQty, &op.ScrapReason, &op.PauseReason, &op.Operator, &r.started, &r.running, &r.worked, &r.finished, &op.Version}
}

func (r *operationRow) operation() production.Operation {
	op := r.op
	op.State = production.State(r.state)
	op.StartedAt, op.RunningSince, op.FinishedAt = sqldb.FromMicros(r.started), sqldb.FromMicros(r.running), sqldb.FromMicros(r.finished)
	op.Worked = time.Duration(r.worked) * time.Microsecond
	return op
}

func scanOperation(row interface{ Scan(...any) error }) (production.Operation, error) {
	var r operationRow
	if err := row.Scan(r.dest()...); err != nil {
		return production.Operation{}, err
	}
	return r.operation(), nil
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

// InsertOperations adds the operations of a planned order, in one
// statement for a usual routing, with the order's due date, rush flag and
// confirmation time, by which the queues are sorted.
func (s *Store) InsertOperations(ctx context.Context, q sqldb.Querier, o production.Order, ops []production.Operation, now time.Time) error {
	err := insertRows(ctx, q, `INSERT INTO operations (`+opColumns+`, ship_date, rush, confirmed_at, updated_at) VALUES `, "", len(ops), 22, func(i int) []any {
		op := ops[i]
		return []any{op.ID, op.OrderID, op.LineNo, op.Seq, op.Name, op.Workstation, op.PlannedMinutes, string(op.State), op.GoodQty, op.ScrapQty,
			op.ScrapReason, op.PauseReason, op.Operator, sqldb.Micros(op.StartedAt), sqldb.Micros(op.RunningSince),
			op.Worked.Microseconds(), sqldb.Micros(op.FinishedAt), op.Version, o.ShipDate, bool01(o.Rush), sqldb.Micros(o.ConfirmedAt), sqldb.Micros(now)}
	})
	if err != nil {
		return fmt.Errorf("insert operations of %s: %w", o.ID, err)
	}
	return nil
}

// UpdateOperation writes op if the stored row still has version prev;
// ErrStale otherwise.
func (s *Store) UpdateOperation(ctx context.Context, q sqldb.Querier, op production.Operation, prev int, now time.Time) error {
	var w Writes
	w.UpdateOperation(op, prev, now)
	return s.Write(ctx, q, &w)
}

// UpdateOperation adds the write of op, if the stored row still has
// version prev.
func (w *Writes) UpdateOperation(op production.Operation, prev int, now time.Time) {
	w.add("operation "+op.ID, `UPDATE operations SET state = $2, good_qty = $3, scrap_qty = $4, scrap_reason = $5,
		pause_reason = $6, operator = $7, started_at = $8, running_since = $9, worked_us = $10, finished_at = $11, version = $12,
		updated_at = $13 WHERE id = $1 AND version = $14`,
		op.ID, string(op.State), op.GoodQty, op.ScrapQty, op.ScrapReason, op.PauseReason, op.Operator, sqldb.Micros(op.StartedAt),
		sqldb.Micros(op.RunningSince), op.Worked.Microseconds(), sqldb.Micros(op.FinishedAt), op.Version, sqldb.Micros(now), prev)
}

// QueueItem is an operation in a workstation's queue with what the operator
// needs to know of its order and the line it makes.
type QueueItem struct {
	production.Operation
	OrderNumber string
	ShipDate    string
	Rush        bool
	Line        Line // zero for an order confirmed without its lines
}

// Queue returns the open operations of a workstation in priority order: the
// earliest ship date first (orders without one last), then rush orders,
// then the order confirmed first; within an order by line and sequence.
// Held and cancelled orders are left out. The index operations_queue gives
// the operations in this order: the read stops after limit of them, however
// many are open.
func (s *Store) Queue(ctx context.Context, q sqldb.Querier, workstation string, limit int) ([]QueueItem, error) {
	rows, err := q.QueryContext(ctx, queueQuery(), workstation, limit)
	if err != nil {
		return nil, fmt.Errorf("queue of %s: %w", workstation, err)
	}
	defer rows.Close()
	var items []QueueItem
	for rows.Next() {
		var it QueueItem
		var op operationRow
		var line lineRow
		var rush int
		if err := rows.Scan(append(op.dest(), append([]any{&it.OrderNumber, &it.ShipDate, &rush}, line.dest()...)...)...); err != nil {
			return nil, fmt.Errorf("scan queue item: %w", err)
		}
		it.Operation, it.Rush = op.operation(), rush == 1
		if it.Line, _, err = line.line(it.LineNo); err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	return items, rows.Err()
}

// queueQuery is the query of Queue: a workstation ($1), a limit ($2).
func queueQuery() string {
	return `SELECT ` + prefixed("p.", opColumns) + `, o.number, p.ship_date, p.rush, ` + lineColumns + `
		FROM operations p JOIN orders o ON o.order_id = p.order_id
		LEFT JOIN order_lines l ON l.order_id = p.order_id AND l.line_no = p.line_no
		WHERE p.workstation = $1 AND p.state IN ('waiting', 'ready', 'running', 'paused')
		  AND o.on_hold = 0 AND o.status IN ('confirmed', 'in_production')
		ORDER BY (p.ship_date = ''), p.ship_date, p.rush DESC, p.confirmed_at, p.order_id, p.line_no, p.seq
		LIMIT $2`
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
