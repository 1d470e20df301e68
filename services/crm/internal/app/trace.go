package app

import (
	"context"
	"errors"
	"strings"

	"github.com/fabrika/fabrika/platform/ordertrace"
	"github.com/fabrika/fabrika/services/crm/internal/order"
)

// Trace is the CRM's part of `fabrika order trace` (an ordertrace.Finder):
// the order by id or number with its status, since when, its timeline and
// the stuck thresholds, which the verdict measures the wait against. An
// order the CRM has no row of may still have events parked for it.
func (a *App) Trace(ctx context.Context, ref string) (ordertrace.Summary, bool, error) {
	thresholds := make(map[string]int64, len(a.thresholds))
	for s, d := range a.thresholds {
		thresholds[s] = int64(d.Seconds())
	}
	o, err := a.store.GetOrder(ctx, a.db, ref)
	if errors.Is(err, order.ErrNotFound) {
		id, nerr := a.store.OrderIDByNumber(ctx, a.db, ref)
		if nerr != nil {
			return ordertrace.Summary{}, false, nerr
		}
		if id == "" {
			return a.parkedOnly(ctx, ref, thresholds)
		}
		o, err = a.store.GetOrder(ctx, a.db, id)
	}
	if err != nil {
		return ordertrace.Summary{}, false, err
	}
	s := ordertrace.Summary{OrderID: o.ID, Number: o.Number, Channel: o.Channel, Status: o.Status, Since: o.StatusSince,
		Times: []ordertrace.Moment{}, Thresholds: thresholds}
	timeline, err := a.store.Timeline(ctx, a.db, o.ID)
	if err != nil {
		return s, false, err
	}
	by := ""
	for _, e := range timeline {
		s.Times = append(s.Times, ordertrace.Moment{What: e.Type, At: e.At})
		if e.By != "" && strings.TrimPrefix(e.Type, "order.") == o.Status {
			by = e.By
		}
	}
	fact := func(name, value string) {
		if value != "" {
			s.Facts = append(s.Facts, ordertrace.Fact{Name: name, Value: value})
		}
	}
	fact("by", by)
	fact("manager", o.Manager)
	fact("held from", o.HeldFrom)
	fact("reason", o.ReviewReason)
	if o.CancelRequested {
		fact("cancel requested", o.CancelReason)
	}
	fact("tracking", strings.TrimSpace(o.Carrier+" "+o.TrackingNumber))
	return s, true, nil
}

// parkedOnly reports an order the CRM has events of but no row yet.
func (a *App) parkedOnly(ctx context.Context, id string, thresholds map[string]int64) (ordertrace.Summary, bool, error) {
	parked, err := a.store.ParkedFor(ctx, a.db, id)
	if err != nil || len(parked) == 0 {
		return ordertrace.Summary{}, false, err
	}
	return ordertrace.Summary{OrderID: id, Status: "unknown (its order.placed has not arrived)", Times: []ordertrace.Moment{},
		Facts: []ordertrace.Fact{{Name: "parked events", Value: strings.Join(parked, ", ")}}, Thresholds: thresholds}, true, nil
}
