// Package contracts holds the messages that Fabrika's services exchange through
// the broker: their subjects, payloads and validation. A service depends on the
// contracts, never on another service's packages.
//
// Every subject is "fabrika." followed by the event type, for example
// "fabrika.order.placed". All of them live in one JetStream stream, FABRIKA.
// Payloads are JSON; unknown fields are ignored so that producers can add
// fields without breaking consumers. Amounts are integer minor units (cents).
package contracts

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// SubjectPrefix starts every subject of the platform.
const SubjectPrefix = "fabrika."

// Event types. The subject of an event is SubjectPrefix + type.
const (
	PriceListPublished   = "pricelist.published"
	OrderPlaced          = "order.placed"
	OrderPriced          = "order.priced"
	OrderNeedsReview     = "order.needs_review"
	OrderConfirmed       = "order.confirmed"
	OrderOnHold          = "order.on_hold"
	OrderResumed         = "order.resumed"
	OrderCancelRequested = "order.cancel_requested"
	OrderCancelled       = "order.cancelled"
	OrderAssigned        = "order.assigned"
	OrderNoteAdded       = "order.note_added"
	OrderInProduction    = "order.in_production"
	OperationStarted     = "operation.started"
	OperationFinished    = "operation.finished"
	OrderProduced        = "order.produced"
	OrderShipped         = "order.shipped"
	CompensationGranted  = "compensation.granted"
	StaffChanged         = "staff.changed"
)

// Subject returns the broker subject of an event type.
func Subject(eventType string) string { return SubjectPrefix + eventType }

// EventType returns the event type of a subject, or "" when the subject is
// not one of the platform's.
func EventType(subject string) string {
	t, ok := strings.CutPrefix(subject, SubjectPrefix)
	if !ok {
		return ""
	}
	return t
}

// Channels through which an order enters the platform.
const (
	ChannelShop = "shop"
	ChannelAPI  = "api"
)

// Order statuses as the whole platform reports them. Rank gives their order:
// an order never moves to a status of lower rank (cancelled and on hold are
// handled apart because they can happen at several points).
const (
	StatusPlaced       = "placed"
	StatusNeedsReview  = "needs_review"
	StatusPriced       = "priced"
	StatusConfirmed    = "confirmed"
	StatusOnHold       = "on_hold"
	StatusInProduction = "in_production"
	StatusProduced     = "produced"
	StatusShipped      = "shipped"
	StatusCancelled    = "cancelled"
)

// Statuses lists every status in rank order.
var statusRank = map[string]int{
	StatusPlaced:       1,
	StatusNeedsReview:  2,
	StatusPriced:       3,
	StatusConfirmed:    4,
	StatusOnHold:       4, // same rank as confirmed: a hold pauses, it does not advance
	StatusInProduction: 5,
	StatusProduced:     6,
	StatusShipped:      7,
	StatusCancelled:    8,
}

// StatusRank returns the rank of a status and whether it is known.
func StatusRank(status string) (int, bool) {
	r, ok := statusRank[status]
	return r, ok
}

// Statuses returns every known status in rank order.
func Statuses() []string {
	return []string{StatusPlaced, StatusNeedsReview, StatusPriced, StatusConfirmed, StatusOnHold,
		StatusInProduction, StatusProduced, StatusShipped, StatusCancelled}
}

// ErrInvalid marks a payload that breaks its contract. A consumer that meets
// one dead-letters the message: retrying cannot fix it.
var ErrInvalid = errors.New("invalid message")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

func require(fields ...field) error {
	var missing []string
	for _, f := range fields {
		if f.empty {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return invalid("missing %s", strings.Join(missing, ", "))
	}
	return nil
}

type field struct {
	name  string
	empty bool
}

func str(name, v string) field            { return field{name, strings.TrimSpace(v) == ""} }
func when(name string, t time.Time) field { return field{name, t.IsZero()} }

// StatusAfter returns the status that an event type announces for its
// order, or "" for an event that sets none by itself (order.placed,
// order.resumed, order.assigned, order.note_added, ...).
func StatusAfter(eventType string) string {
	switch eventType {
	case OrderPriced:
		return StatusPriced
	case OrderNeedsReview:
		return StatusNeedsReview
	case OrderConfirmed:
		return StatusConfirmed
	case OrderOnHold:
		return StatusOnHold
	case OrderInProduction:
		return StatusInProduction
	case OrderProduced:
		return StatusProduced
	case OrderShipped:
		return StatusShipped
	case OrderCancelled:
		return StatusCancelled
	}
	return ""
}
