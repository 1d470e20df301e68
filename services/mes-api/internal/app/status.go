package app

import "github.com/fabrika/fabrika/contracts"

// eventStatus is the status each consumed event leads to; order.resumed
// returns to the status before the hold.
var eventStatus = map[string]string{
	contracts.OrderPriced:       contracts.StatusPriced,
	contracts.OrderNeedsReview:  contracts.StatusNeedsReview,
	contracts.OrderConfirmed:    contracts.StatusConfirmed,
	contracts.OrderOnHold:       contracts.StatusOnHold,
	contracts.OrderInProduction: contracts.StatusInProduction,
	contracts.OrderProduced:     contracts.StatusProduced,
	contracts.OrderShipped:      contracts.StatusShipped,
	contracts.OrderCancelled:    contracts.StatusCancelled,
}

// WebhookEvents lists the event types a webhook endpoint can subscribe to.
func WebhookEvents() []string {
	return []string{contracts.OrderPriced, contracts.OrderNeedsReview, contracts.OrderConfirmed, contracts.OrderOnHold,
		contracts.OrderResumed, contracts.OrderInProduction, contracts.OrderProduced, contracts.OrderShipped, contracts.OrderCancelled}
}

// transition decides an order's status after an event. Events may come late
// or twice: a status never moves to a lower rank, shipped and cancelled are
// final, a hold remembers what it interrupted and a resume returns to it.
// An event that would lower an order on hold moves what the hold will
// resume to instead. changed tells whether the visible status changed.
func transition(cur, beforeHold, event string) (status, newBeforeHold string, changed bool) {
	if cur == contracts.StatusShipped || cur == contracts.StatusCancelled {
		return cur, beforeHold, false
	}
	if event == contracts.OrderResumed {
		if cur != contracts.StatusOnHold {
			return cur, beforeHold, false
		}
		back := beforeHold
		if back == "" {
			back = contracts.StatusConfirmed
		}
		return back, "", true
	}
	target, ok := eventStatus[event]
	if !ok || target == cur {
		return cur, beforeHold, false
	}
	tr, _ := contracts.StatusRank(target)
	cr, _ := contracts.StatusRank(cur)
	if target == contracts.StatusOnHold {
		if cr > tr {
			return cur, beforeHold, false
		}
		return target, cur, true
	}
	if cur == contracts.StatusOnHold && target != contracts.StatusCancelled && tr <= cr {
		if br, _ := contracts.StatusRank(beforeHold); beforeHold == "" || tr > br {
			return cur, target, false
		}
		return cur, beforeHold, false
	}
	if tr < cr {
		return cur, beforeHold, false
	}
	if cur == contracts.StatusOnHold {
		beforeHold = ""
	}
	return target, beforeHold, true
}
