package app

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/outbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/crm/internal/order"
	"github.com/fabrika/fabrika/services/crm/internal/store"
)

// Action is what a manager asks for on an order. Only the fields of the
// action's kind are read.
type Action struct {
	Kind    string // order.ActConfirm, ...
	Version int64  // the order version the manager saw
	By      string // the manager's name
	Reason  string // cancel, compensate
	Manager string // assign
	Note    string // note
	// Compensation.
	CompKind string
	Amount   int64
}

// validate checks and normalises the typed fields.
func (act *Action) validate() error {
	fields := map[string]string{}
	check := func(field string, v *string, max int) {
		s, err := order.Text(field, *v, max)
		if err != nil {
			if ve, ok := err.(*order.ValidationError); ok {
				for k, m := range ve.Fields {
					fields[k] = m
				}
			}
			return
		}
		*v = s
	}
	switch act.Kind {
	case order.ActConfirm, order.ActHold, order.ActResume:
	case order.ActCancel:
		check("reason", &act.Reason, order.MaxReason)
	case order.ActAssign:
		check("manager", &act.Manager, order.MaxManager)
	case order.ActNote:
		check("note", &act.Note, order.MaxNote)
	case order.ActCompensation:
		check("reason", &act.Reason, order.MaxReason)
		if _, err := order.CompensationKind(act.CompKind); err != nil {
			fields["kind"] = `must be "discount" or "voucher"`
		}
		if _, err := order.CheckAmount("amount", act.Amount); err != nil {
			fields["amount"] = err.(*order.ValidationError).Fields["amount"]
		}
	default:
		fields["action"] = "unknown action " + act.Kind
	}
	if act.Version <= 0 {
		fields["version"] = "the order version you saw is required"
	}
	if len(fields) > 0 {
		return &order.ValidationError{Fields: fields}
	}
	return nil
}

// Act carries out a manager's action on an order: the change, its timeline
// entry and its outbox message in one transaction, provided the order is
// still at the version the manager saw.
func (a *App) Act(ctx context.Context, orderID string, act Action) (store.Order, error) {
	if err := act.validate(); err != nil {
		return store.Order{}, fmt.Errorf("%s order %s: %w", act.Kind, orderID, err)
	}
	var saved store.Order
	err := a.db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		o, err := a.store.GetOrder(ctx, tx, orderID)
		if err != nil {
			return err
		}
		if o.Version != act.Version {
			return &order.ConflictError{Seen: act.Version, Current: o.Version}
		}
		before := store.ListFactsOf(o)
		ns, err := o.State().Apply(act.Kind)
		if err != nil {
			return err
		}
		now := a.now().UTC()
		oldStatus := o.Status
		if ns.Status != o.Status {
			o.StatusSince = now
		}
		o.Status, o.HeldFrom = ns.Status, ns.HeldFrom
		o.UpdatedAt = now
		var eventType, summary string
		var payload any
		var w store.Writes
		status := func() contracts.OrderStatusChangedV1 {
			return contracts.OrderStatusChangedV1{OrderID: o.ID, Channel: o.Channel, Reason: act.Reason, By: act.By, At: now}
		}
		switch act.Kind {
		case order.ActConfirm:
			if len(o.Routing) == 0 {
				return &order.TransitionError{Action: act.Kind, Status: oldStatus, Reason: "the order has no production routing yet"}
			}
			eventType, summary = contracts.OrderConfirmed, "Confirmed for production"
			lines, err := a.store.Lines(ctx, tx, o.ID)
			if err != nil {
				return err
			}
			confirmed := contracts.OrderConfirmedV1{OrderID: o.ID, Number: o.Number, Channel: o.Channel, Routing: o.Routing,
				ShipDate: o.ShipDate, Rush: o.Rush, By: act.By, At: now}
			for _, l := range lines {
				confirmed.Lines = append(confirmed.Lines, contracts.LineItem{LineNo: l.LineNo, Product: l.Product, Options: l.Options,
					Quantity: l.Quantity, Lead: l.Lead})
			}
			payload = confirmed
		case order.ActHold:
			eventType, summary, payload = contracts.OrderOnHold, "Put on hold", status()
		case order.ActResume:
			eventType, summary, payload = contracts.OrderResumed, "Resumed to "+o.Status, status()
		case order.ActCancel:
			uncount(&o, &w)
			o.CancelReason = act.Reason
			eventType, summary, payload = contracts.OrderCancelled, "Cancelled: "+act.Reason, status()
		case order.ActAssign:
			if err := a.checkAssignee(ctx, tx, act.Manager); err != nil {
				return err
			}
			o.Manager = act.Manager
			eventType, summary = contracts.OrderAssigned, "Assigned to "+act.Manager
			payload = contracts.OrderAssignedV1{OrderID: o.ID, Manager: act.Manager, By: act.By, At: now}
		case order.ActNote:
			w.AddNote(store.Note{ID: uuid.Must(uuid.NewV7()).String(), OrderID: o.ID, CustomerID: o.CustomerID,
				Body: act.Note, By: act.By, At: now})
			eventType, summary = contracts.OrderNoteAdded, "Note: "+act.Note
			payload = contracts.OrderNoteAddedV1{OrderID: o.ID, Note: act.Note, By: act.By, At: now}
		case order.ActCompensation:
			currency := o.Currency
			c := store.Compensation{ID: uuid.Must(uuid.NewV7()).String(), OrderID: o.ID, CustomerID: o.CustomerID, Kind: act.CompKind,
				Amount: act.Amount, Currency: currency, Reason: act.Reason, By: act.By, At: now}
			w.AddCompensation(c)
			eventType = contracts.CompensationGranted
			summary = fmt.Sprintf("Compensation granted: %s of %s (%s)", c.Kind, money(c.Amount, c.Currency), c.Reason)
			payload = contracts.CompensationGrantedV1{CompensationID: c.ID, OrderID: o.ID, CustomerID: o.CustomerID, Kind: c.Kind,
				Amount: c.Amount, Currency: c.Currency, Reason: c.Reason, By: act.By, At: now}
		}
		if v, ok := payload.(interface{ Validate() error }); ok {
			if err := v.Validate(); err != nil {
				return fmt.Errorf("%s: %w", eventType, err)
			}
		}
		msg, err := outbox.NewMessage(contracts.Subject(eventType), o.ID, payload)
		if err != nil {
			return err
		}
		msg.Trace = o.ID
		saved = w.SaveOrder(o, act.Version, oldStatus)
		w.AddEvent(store.Event{OrderID: o.ID, MessageID: msg.ID, Type: eventType, Source: "crm",
			At: now, RecordedAt: now, By: act.By, Summary: summary})
		if err := a.store.Write(ctx, tx, &w); err != nil {
			return err
		}
		if err := a.out.Enqueue(ctx, tx, msg); err != nil {
			return err
		}
		a.orderChanged(tx, pageChange{OrderID: o.ID, Before: &before, After: store.ListFactsOf(saved)})
		return nil
	})
	if err != nil {
		return store.Order{}, fmt.Errorf("%s order %s: %w", act.Kind, orderID, err)
	}
	return saved, nil
}
