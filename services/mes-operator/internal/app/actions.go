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

// once runs an action in a transaction and stores its answer with its
// event id in the same one: fn does the work, adds its writes to w and
// returns the answer; w and the id's record are written together. The id
// is not looked up first: a retry of an applied action (the same id) does
// the work again, fails on the id's primary key and is rolled back, or fails
// on the state the first try left; then the answer stored with the id is
// given. Two concurrent requests with one id end the same way: the loser
// fails (on the primary key or on a row the winner changed) and replays the
// winner's answer. An id used for another action is refused whatever the
// action's own outcome.
func (a *App) once(ctx context.Context, action, target string, actor identity.Identity, eventID, fp string,
	fn func(ctx context.Context, tx *sqldb.Tx, w *store.Writes) (any, error)) (Result, error) {
	var res Result
	err := a.db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		var w store.Writes
		v, err := fn(ctx, tx, &w)
		if err != nil {
			return err
		}
		body, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode answer: %w", err)
		}
		res = Result{Status: http.StatusOK, Body: body}
		w.InsertEvent(store.AppliedEvent{EventID: eventID, Action: action, Target: target,
			Actor: actor.Subject, Fingerprint: fp, Status: res.Status, Response: body, CreatedAt: a.now()})
		return stale(a.store.Write(ctx, tx, &w))
	})
	if err == nil {
		return res, nil
	}
	if errors.Is(err, production.ErrNotFound) || errors.Is(err, production.ErrForbidden) {
		return Result{}, err // a stored answer only for those who may ask
	}
	e, lerr := a.store.GetEvent(ctx, a.db, eventID)
	switch {
	case errors.Is(lerr, store.ErrNotFound):
		return Result{}, err // a first try that failed: not stored, evaluated again next time
	case lerr != nil:
		if sqldb.IsUniqueViolation(err) {
			return Result{}, lerr
		}
		return Result{}, err
	case e.Fingerprint != fp:
		return Result{}, errEventReused()
	}
	return Result{Status: e.Status, Body: e.Response, Replayed: true}, nil
}

// Act applies an operator's action to an operation of a workstation the
// operator is assigned to, once per event id, and emits
// order.in_production on the order's first start, operation.finished, and
// order.produced when the order's last operation is finished.
func (a *App) Act(ctx context.Context, actor identity.Identity, opID string, act production.Action) (res Result, err error) {
	defer func() { a.metrics.observe(string(act.Kind()), res, err) }()
	var workstation, orderID string
	fp := act.Fingerprint(opID, actor.Subject)
	res, err = a.once(ctx, string(act.Kind()), opID, actor, act.EventID(), fp, func(ctx context.Context, tx *sqldb.Tx, w *store.Writes) (any, error) {
		work, err := a.store.WorkOfOperation(ctx, tx, opID)
		if err != nil {
			return nil, lookup(err, "operation %s not found", opID)
		}
		op := work.Operation(opID)
		workstation, orderID = op.Workstation, op.OrderID
		if !actor.CanUseWorkstation(op.Workstation) {
			return nil, production.Forbidden("you are not assigned to workstation %s", op.Workstation)
		}
		return a.act(ctx, tx, w, actor, work, opID, act)
	})
	res.Workstation, res.OrderID = workstation, orderID
	return res, err
}

func (a *App) act(ctx context.Context, tx *sqldb.Tx, w *store.Writes, actor identity.Identity, work store.Work, opID string, act production.Action) (ActionResult, error) {
	now := a.now()
	ord, ops, lines := work.Order, work.Operations, work.Lines
	for i := range ops {
		ops[i].Quantity = lines[ops[i].LineNo].Quantity
	}
	ordPrev, opsPrev := ord.Version, versions(ops)
	who := production.Operator{Subject: actor.Subject, Name: actor.Name}
	eff, err := production.Apply(&ord, ops, opID, act, who, now)
	if err != nil {
		return ActionResult{}, err
	}
	saveChanged(w, ord, ordPrev, ops, opsPrev, now)
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
	fp := s.Fingerprint(orderID, actor.Subject)
	res, err = a.once(ctx, string(production.ActShip), orderID, actor, s.EventID(), fp, func(ctx context.Context, tx *sqldb.Tx, w *store.Writes) (any, error) {
		work, err := a.store.WorkOfOrder(ctx, tx, orderID)
		if err == nil && work.Order.Status == production.Unconfirmed {
			err = store.ErrNotFound
		}
		if err != nil {
			return nil, lookup(err, "order %s not found", orderID)
		}
		if !a.mayShip(actor, work.Operations) {
			return nil, production.Forbidden("you are not assigned to the shipping workstation or to a workstation of this order")
		}
		now := a.now()
		ord := work.Order
		prev := ord.Version
		if err := production.Ship(&ord, s, production.Operator{Subject: actor.Subject, Name: actor.Name}, now); err != nil {
			return nil, err
		}
		w.UpdateOrder(ord, prev, now)
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
