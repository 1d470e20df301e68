package app

import (
	"testing"

	"github.com/fabrika/fabrika/contracts"
)

func TestTransition(t *testing.T) {
	t.Parallel()
	const (
		placed = contracts.StatusPlaced
		review = contracts.StatusNeedsReview
		priced = contracts.StatusPriced
		conf   = contracts.StatusConfirmed
		hold   = contracts.StatusOnHold
		inprod = contracts.StatusInProduction
		prod   = contracts.StatusProduced
		ship   = contracts.StatusShipped
		canc   = contracts.StatusCancelled
	)
	for _, tc := range []struct {
		cur, before, event string
		want, wantBefore   string
		changed            bool
	}{
		{placed, "", contracts.OrderPriced, priced, "", true},
		{placed, "", contracts.OrderNeedsReview, review, "", true},
		{review, "", contracts.OrderPriced, priced, "", true},
		{priced, "", contracts.OrderNeedsReview, priced, "", false}, // late: never backwards
		{priced, "", contracts.OrderPriced, priced, "", false},      // twice
		{priced, "", contracts.OrderConfirmed, conf, "", true},
		{inprod, "", contracts.OrderConfirmed, inprod, "", false},
		{conf, "", contracts.OrderOnHold, hold, conf, true},
		{hold, conf, contracts.OrderResumed, conf, "", true},
		{priced, "", contracts.OrderOnHold, hold, priced, true},
		{hold, priced, contracts.OrderResumed, priced, "", true},
		{hold, priced, contracts.OrderConfirmed, hold, conf, false}, // confirmed while held: resume goes there
		{hold, conf, contracts.OrderPriced, hold, conf, false},
		{hold, conf, contracts.OrderInProduction, inprod, "", true},
		{hold, conf, contracts.OrderCancelled, canc, "", true},
		{conf, "", contracts.OrderResumed, conf, "", false}, // resume without hold
		{inprod, "", contracts.OrderOnHold, inprod, "", false},
		{inprod, "", contracts.OrderProduced, prod, "", true},
		{prod, "", contracts.OrderShipped, ship, "", true},
		{placed, "", contracts.OrderShipped, ship, "", true}, // early events jump ahead
		{ship, "", contracts.OrderCancelled, ship, "", false},
		{canc, "", contracts.OrderShipped, canc, "", false},
		{priced, "", contracts.OrderCancelled, canc, "", true},
		{priced, "", "order.unknown", priced, "", false},
	} {
		got, before, changed := transition(tc.cur, tc.before, tc.event)
		if got != tc.want || before != tc.wantBefore || changed != tc.changed {
			t.Errorf("%s(%s) + %s = %s(%s) %v; want %s(%s) %v", tc.cur, tc.before, tc.event, got, before, changed, tc.want, tc.wantBefore, tc.changed)
		}
	}
}
