package order

import "github.com/fabrika/fabrika/contracts"

// Event kinds of the timeline that are not platform events.
const (
	KindPlaced          = "order.placed"
	KindCancelRequested = contracts.OrderCancelRequested
)

// Target is the status an event moves an order to, "" when it moves none
// (a compensation, or a resume of an order that is not on hold).
func Target(eventType, current string) string {
	if eventType == contracts.OrderResumed {
		if current == contracts.StatusOnHold {
			return contracts.StatusConfirmed
		}
		return ""
	}
	return contracts.StatusAfter(eventType)
}

// Next returns the status after an event and whether it changed. An order
// never moves to a status of lower rank; between confirmed and on hold
// (equal rank) only a hold or a resume moves it; a cancelled order stays so.
func Next(current, eventType string) (string, bool) {
	target := Target(eventType, current)
	if target == "" || target == current || current == contracts.StatusCancelled {
		return current, false
	}
	cr, ok1 := contracts.StatusRank(current)
	tr, ok2 := contracts.StatusRank(target)
	if !ok1 || !ok2 {
		return current, false
	}
	switch {
	case tr > cr:
		return target, true
	case tr == cr && (eventType == contracts.OrderOnHold || eventType == contracts.OrderResumed):
		return target, true
	}
	return current, false
}

// Cancellable tells whether a customer may still ask to cancel.
func Cancellable(status string) bool {
	switch status {
	case contracts.StatusPlaced, contracts.StatusPriced, contracts.StatusConfirmed,
		contracts.StatusNeedsReview, contracts.StatusOnHold:
		return true
	}
	return false
}

// ValidStatus tells whether s is a status a list may be filtered by.
func ValidStatus(s string) bool {
	_, ok := contracts.StatusRank(s)
	return ok
}

// Label is how the timeline names an event kind.
func Label(kind string) string {
	switch kind {
	case KindPlaced:
		return "Order placed"
	case contracts.OrderPriced:
		return "Priced"
	case contracts.OrderNeedsReview:
		return "Under review by our team"
	case contracts.OrderConfirmed:
		return "Confirmed"
	case contracts.OrderOnHold:
		return "On hold"
	case contracts.OrderResumed:
		return "Resumed"
	case contracts.OrderInProduction:
		return "In production"
	case contracts.OrderProduced:
		return "Produced"
	case contracts.OrderShipped:
		return "Shipped"
	case contracts.OrderCancelled:
		return "Cancelled"
	case KindCancelRequested:
		return "Cancellation requested"
	case contracts.CompensationGranted:
		return "Compensation granted"
	}
	return kind
}

// StatusLabel is how pages name a status.
func StatusLabel(s string) string {
	switch s {
	case contracts.StatusPlaced:
		return "Placed"
	case contracts.StatusNeedsReview:
		return "Under review"
	case contracts.StatusPriced:
		return "Priced"
	case contracts.StatusConfirmed:
		return "Confirmed"
	case contracts.StatusOnHold:
		return "On hold"
	case contracts.StatusInProduction:
		return "In production"
	case contracts.StatusProduced:
		return "Produced"
	case contracts.StatusShipped:
		return "Shipped"
	case contracts.StatusCancelled:
		return "Cancelled"
	}
	return s
}
