package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/mes-operator/internal/production"
	"github.com/fabrika/fabrika/services/mes-operator/internal/store"
)

// Result is the answer to an operator action: the status and JSON body
// given the first time, replayed as they were on a retry.
type Result struct {
	Status   int
	Body     []byte
	Replayed bool
	// Workstation and OrderID say where the action happened, for the pages'
	// redirects.
	Workstation string
	OrderID     string
}

// errEventReused is the answer to an event id reused for another action.
func errEventReused() error {
	return production.Invalid("event_id", "this event id was already used for a different action; send a new one")
}

// replay looks for an applied event with the id: ok with the stored answer
// when it is the same action, an error when the id was used for another.
func (a *App) replay(ctx context.Context, q sqldb.Querier, eventID, fingerprint string) (Result, bool, error) {
	e, err := a.store.GetEvent(ctx, q, eventID)
	if errors.Is(err, store.ErrNotFound) {
		return Result{}, false, nil
	}
	if err != nil {
		return Result{}, false, err
	}
	if e.Fingerprint != fingerprint {
		return Result{}, false, errEventReused()
	}
	return Result{Status: e.Status, Body: e.Response, Replayed: true}, true, nil
}

// once runs an action in a transaction unless its event id was applied: fn
// does the work and returns the answer, which is stored with the id. Two
// concurrent requests with one id: the loser fails (on the primary key or
// on a row the winner changed), its transaction rolls back, and it replays
// the winner's answer.
func (a *App) once(ctx context.Context, action, target string, actor identity.Identity, eventID, fp string,
	fn func(ctx context.Context, tx *sqldb.Tx) (any, error)) (Result, error) {
	var res Result
	err := a.db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		r, ok, err := a.replay(ctx, tx, eventID, fp)
		if err != nil || ok {
			res = r
			return err
		}
		v, err := fn(ctx, tx)
		if err != nil {
			return err
		}
		body, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode answer: %w", err)
		}
		res = Result{Status: http.StatusOK, Body: body}
		return a.store.InsertEvent(ctx, tx, store.AppliedEvent{EventID: eventID, Action: action, Target: target,
			Actor: actor.Subject, Fingerprint: fp, Status: res.Status, Response: body, CreatedAt: a.now()})
	})
	if err != nil {
		// A concurrent retry may have won the race: its insert of the same id
		// makes ours fail (unique violation), or its change to the same rows
		// makes ours stale. Either way its answer is the one to give.
		if r, ok, rerr := a.replay(ctx, a.db, eventID, fp); ok || rerr != nil {
			if rerr != nil && !sqldb.IsUniqueViolation(err) {
				return Result{}, err
			}
			return r, rerr
		}
	}
	return res, err
}

// Act applies an operator's action to an operation of a workstation the
// operator is assigned to, once per event id, and emits
// order.in_production on the order's first start, operation.finished, and
// order.produced when the order's last operation is finished.
func (a *App) Act(ctx context.Context, actor identity.Identity, opID string, act production.Action) (res Result, err error) {
	defer func() { a.metrics.observe(string(act.Kind()), res, err) }()
	op, err := a.store.Operation(ctx, a.db, opID)
	if err != nil {
		return Result{}, lookup(err, "operation %s not found", opID)
	}
	if !actor.CanUseWorkstation(op.Workstation) {
		return Result{}, production.Forbidden("you are not assigned to workstation %s", op.Workstation)
	}
	fp := act.Fingerprint(opID, actor.Subject)
	res, err = a.once(ctx, string(act.Kind()), opID, actor, act.EventID(), fp, func(ctx context.Context, tx *sqldb.Tx) (any, error) {
		return a.act(ctx, tx, actor, op.OrderID, opID, act)
	})
	res.Workstation, res.OrderID = op.Workstation, op.OrderID
	return res, err
}

func (a *App) act(ctx context.Context, tx *sqldb.Tx, actor identity.Identity, orderID, opID string, act production.Action) (ActionResult, error) {
	now := a.now()
	ord, err := a.store.Order(ctx, tx, orderID)
	if err != nil {
		return ActionResult{}, err
	}
	ops, err := a.store.OrderOperations(ctx, tx, orderID)
	if err != nil {
		return ActionResult{}, err
	}
	lines, err := a.store.Lines(ctx, tx, orderID)
	if err != nil {
		return ActionResult{}, err
	}
	for i := range ops {
		ops[i].Quantity = lines[ops[i].LineNo].Quantity
	}
	ordPrev, opsPrev := ord.Version, versions(ops)
	who := production.Operator{Subject: actor.Subject, Name: actor.Name}
	eff, err := production.Apply(&ord, ops, opID, act, who, now)
	if err != nil {
		return ActionResult{}, err
	}
	if err := a.saveChanged(ctx, tx, ord, ordPrev, ops, opsPrev, now); err != nil {
		return ActionResult{}, err
	}
	op := ops[slices.IndexFunc(ops, func(o production.Operation) bool { return o.ID == opID })]
	if eff.OrderStarted {
		if err := a.enqueue(ctx, tx, contracts.OrderInProduction, ord.ID, contracts.OrderStatusChangedV1{
			OrderID: ord.ID, Channel: ord.Channel, By: actor.Name, At: now}); err != nil {
			return ActionResult{}, err
		}
	}
	if act.Kind() == production.ActStart {
		if err := a.enqueue(ctx, tx, contracts.OperationStarted, ord.ID, contracts.OperationStartedV1{
			OrderID: ord.ID, LineNo: op.LineNo, Seq: op.Seq, Operation: op.Name, Workstation: op.Workstation,
			Operator: actor.Name, At: now}); err != nil {
			return ActionResult{}, err
		}
	}
	if eff.Finished {
		if err := a.enqueue(ctx, tx, contracts.OperationFinished, ord.ID, contracts.OperationFinishedV1{
			OrderID: ord.ID, LineNo: op.LineNo, Seq: op.Seq, Operation: op.Name, Workstation: op.Workstation,
			GoodQty: op.GoodQty, ScrapQty: op.ScrapQty, ScrapReason: op.ScrapReason, Operator: actor.Name, At: now}); err != nil {
			return ActionResult{}, err
		}
	}
	if eff.OrderProduced {
		if err := a.enqueue(ctx, tx, contracts.OrderProduced, ord.ID, contracts.OrderStatusChangedV1{
			OrderID: ord.ID, Channel: ord.Channel, By: actor.Name, At: now}); err != nil {
			return ActionResult{}, err
		}
	}
	v := operationView(op, ord.Number, ord.ShipDate, ord.Rush)
	v.withLine(lines[op.LineNo])
	return ActionResult{EventID: act.EventID(), Action: string(act.Kind()), Operation: &v, Order: orderView(ord, nil)}, nil
}

// Ship marks a produced order shipped with its carrier and tracking number,
// once per event id, and emits order.shipped. Operators bound to the
// shipping workstation or to a workstation of the order's routing may ship.
func (a *App) Ship(ctx context.Context, actor identity.Identity, orderID string, s production.Shipment) (res Result, err error) {
	defer func() { a.metrics.observe(string(production.ActShip), res, err) }()
	ord, err := a.store.Order(ctx, a.db, orderID)
	if err == nil && ord.Status == production.Unconfirmed {
		err = store.ErrNotFound
	}
	if err != nil {
		return Result{}, lookup(err, "order %s not found", orderID)
	}
	ops, err := a.store.OrderOperations(ctx, a.db, orderID)
	if err != nil {
		return Result{}, err
	}
	if !a.mayShip(actor, ops) {
		return Result{}, production.Forbidden("you are not assigned to the shipping workstation or to a workstation of this order")
	}
	fp := s.Fingerprint(orderID, actor.Subject)
	res, err = a.once(ctx, string(production.ActShip), orderID, actor, s.EventID(), fp, func(ctx context.Context, tx *sqldb.Tx) (any, error) {
		now := a.now()
		ord, err := a.store.Order(ctx, tx, orderID)
		if err != nil {
			return nil, err
		}
		prev := ord.Version
		if err := production.Ship(&ord, s, production.Operator{Subject: actor.Subject, Name: actor.Name}, now); err != nil {
			return nil, err
		}
		if err := a.store.UpdateOrder(ctx, tx, ord, prev, now); err != nil {
			return nil, stale(err)
		}
		if err := a.enqueue(ctx, tx, contracts.OrderShipped, ord.ID, contracts.OrderShippedV1{OrderID: ord.ID, Channel: ord.Channel,
			Carrier: ord.Carrier, TrackingNumber: ord.TrackingNumber, By: actor.Name, At: now}); err != nil {
			return nil, err
		}
		return ActionResult{EventID: s.EventID(), Action: string(production.ActShip), Order: orderView(ord, nil)}, nil
	})
	res.OrderID = orderID
	return res, err
}

func (a *App) mayShip(actor identity.Identity, ops []production.Operation) bool {
	if a.cfg.ShippingWorkstation != "" && actor.CanUseWorkstation(a.cfg.ShippingWorkstation) {
		return true
	}
	for _, op := range ops {
		if actor.CanUseWorkstation(op.Workstation) {
			return true
		}
	}
	return false
}
