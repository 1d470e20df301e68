package app

import (
	"context"
	"strings"

	"github.com/fabrika/fabrika/platform/ordertrace"
	"github.com/fabrika/fabrika/services/shop/internal/order"
)

// Trace is the shop's part of `fabrika order trace` (an ordertrace.Finder):
// the order as its customer sees it, by id or number, with the events that
// reached it.
func (s *Shop) Trace(ctx context.Context, ref string) (ordertrace.Summary, bool, error) {
	o, found, err := s.st.TracedOrder(ctx, ref)
	if err != nil || !found {
		return ordertrace.Summary{}, found, err
	}
	sum := ordertrace.Summary{OrderID: o.ID, Number: o.Number, Channel: "shop", Status: o.Status, Since: o.PlacedAt,
		Times: []ordertrace.Moment{{What: order.KindPlaced, At: o.PlacedAt}}}
	for _, e := range o.Events {
		sum.Times = append(sum.Times, ordertrace.Moment{What: e.Kind, At: e.At})
		if strings.TrimPrefix(e.Kind, "order.") == o.Status {
			sum.Since = e.At
		}
	}
	if !o.CancelRequestedAt.IsZero() {
		sum.Facts = append(sum.Facts, ordertrace.Fact{Name: "cancel requested", Value: o.CancelRequestedAt.Format("2006-01-02 15:04:05")})
	}
	if o.Carrier != "" {
		sum.Facts = append(sum.Facts, ordertrace.Fact{Name: "tracking", Value: o.Carrier + " " + o.TrackingNumber})
	}
	return sum, true, nil
}
