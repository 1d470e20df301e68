// Package order holds the CRM's rules about an order's status: how events
// move it forward (never backwards), which manager actions are allowed in
// which status, and the validation of what a manager types. Standard library
// only.
package order

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/fabrika/fabrika/contracts"
)

// Errors the use cases return; the web layer maps them to HTTP statuses.
var (
	// ErrNotFound: no such order or customer.
	ErrNotFound = errors.New("not found")
	// ErrVersionConflict: the order changed since the caller saw it.
	ErrVersionConflict = errors.New("the order was changed by someone else")
	// ErrTransition: the action is not allowed in the order's status.
	ErrTransition = errors.New("not allowed in this status")
	// ErrInvalid: a field is wrong (see *ValidationError).
	ErrInvalid = errors.New("invalid input")
)

// ValidationError names the fields at fault.
type ValidationError struct{ Fields map[string]string }

func (e *ValidationError) Error() string {
	parts := make([]string, 0, len(e.Fields))
	for k, v := range e.Fields {
		parts = append(parts, k+": "+v)
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

// Is makes a ValidationError match ErrInvalid.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

func invalid(field, msg string) error {
	return &ValidationError{Fields: map[string]string{field: msg}}
}

// TransitionError says why an action is refused in a status.
type TransitionError struct{ Action, Status, Reason string }

func (e *TransitionError) Error() string {
	return fmt.Sprintf("cannot %s an order that is %s: %s", e.Action, e.Status, e.Reason)
}

// Is makes a TransitionError match ErrTransition.
func (e *TransitionError) Is(target error) bool { return target == ErrTransition }

// ConflictError carries the version the caller saw and the current one.
type ConflictError struct{ Seen, Current int64 }

func (e *ConflictError) Error() string {
	return fmt.Sprintf("the order was changed by someone else since you opened it (you saw version %d, it is now at version %d); reload it and try again", e.Seen, e.Current)
}

// Is makes a ConflictError match ErrVersionConflict.
func (e *ConflictError) Is(target error) bool { return target == ErrVersionConflict }

// State is an order's status and, while on hold, the status it resumes to.
type State struct {
	Status   string
	HeldFrom string
}

func rank(s string) int {
	r, _ := contracts.StatusRank(s)
	return r
}

// Advance applies a status reported by an event. It never moves an order
// backwards: a status of lower or equal rank changes nothing, cancelled is
// terminal. While on hold, a status that production reports past the hold
// (in production, produced, shipped) wins because it happened; a lower one
// only raises the status the order will resume to.
func (s State) Advance(target string) (State, bool) {
	if _, ok := contracts.StatusRank(target); !ok || s.Status == contracts.StatusCancelled || target == s.Status {
		return s, false
	}
	if target == contracts.StatusCancelled {
		return State{Status: target}, true
	}
	if s.Status == contracts.StatusOnHold {
		if rank(target) > rank(contracts.StatusOnHold) {
			return State{Status: target}, true
		}
		if target != contracts.StatusOnHold && rank(target) > rank(s.HeldFrom) {
			return State{Status: s.Status, HeldFrom: target}, true
		}
		return s, false
	}
	if target == contracts.StatusOnHold {
		if !Holdable(s.Status) {
			return s, false
		}
		return State{Status: target, HeldFrom: s.Status}, true
	}
	if rank(target) > rank(s.Status) {
		return State{Status: target}, true
	}
	return s, false
}

// Resumed is the state after a resume event or action.
func (s State) Resumed() (State, bool) {
	if s.Status != contracts.StatusOnHold {
		return s, false
	}
	to := s.HeldFrom
	if to == "" {
		to = contracts.StatusPlaced
	}
	return State{Status: to}, true
}

// Holdable tells whether an order in status may be put on hold.
func Holdable(status string) bool {
	switch status {
	case contracts.StatusPlaced, contracts.StatusNeedsReview, contracts.StatusPriced, contracts.StatusConfirmed, contracts.StatusInProduction:
		return true
	}
	return false
}

// Actions a manager takes.
const (
	ActConfirm      = "confirm"
	ActHold         = "hold"
	ActResume       = "resume"
	ActCancel       = "cancel"
	ActAssign       = "assign"
	ActNote         = "note"
	ActCompensation = "compensate"
)

// Limits of what a manager types.
const (
	MaxNote               = 2000
	MaxReason             = 500
	MaxManager            = 100
	MaxCompensation int64 = 100_000_00 // 100,000.00 in minor units
)

// Apply checks that an action is allowed in s and returns the new state.
// Assign, note and compensate leave the status as it is.
func (s State) Apply(action string) (State, error) {
	refuse := func(reason string) (State, error) {
		return s, &TransitionError{Action: action, Status: s.Status, Reason: reason}
	}
	switch action {
	case ActConfirm:
		if s.Status != contracts.StatusPriced {
			return refuse("only a priced order can be confirmed")
		}
		return State{Status: contracts.StatusConfirmed}, nil
	case ActHold:
		if !Holdable(s.Status) {
			return refuse("only an order that is not on hold, produced, shipped or cancelled can be put on hold")
		}
		return State{Status: contracts.StatusOnHold, HeldFrom: s.Status}, nil
	case ActResume:
		ns, ok := s.Resumed()
		if !ok {
			return refuse("only an order on hold can be resumed")
		}
		return ns, nil
	case ActCancel:
		if s.Status == contracts.StatusShipped || s.Status == contracts.StatusCancelled {
			return refuse("a shipped or cancelled order cannot be cancelled")
		}
		return State{Status: contracts.StatusCancelled}, nil
	case ActAssign, ActNote, ActCompensation:
		if s.Status == contracts.StatusCancelled && action == ActAssign {
			return refuse("a cancelled order needs no manager")
		}
		return s, nil
	}
	return s, invalid("action", "unknown action "+action)
}

// Text checks a free text field: trimmed, required, at most max characters.
func Text(field, v string, max int) (string, error) {
	v = strings.TrimSpace(v)
	switch n := utf8.RuneCountInString(v); {
	case !utf8.ValidString(v):
		return "", invalid(field, "must be valid UTF-8 text")
	case n == 0:
		return "", invalid(field, "is required")
	case n > max:
		return "", invalid(field, fmt.Sprintf("is %d characters long; at most %d are allowed", n, max))
	}
	return v, nil
}

// Compensation kinds.
const (
	KindDiscount = "discount"
	KindVoucher  = "voucher"
)

// CompensationKind checks a compensation kind.
func CompensationKind(k string) (string, error) {
	if k != KindDiscount && k != KindVoucher {
		return "", invalid("kind", `must be "discount" or "voucher"`)
	}
	return k, nil
}

// ParseAmount parses an amount typed as "12", "12.5" or "12.50" into minor
// units, positive and at most MaxCompensation.
func ParseAmount(field, v string) (int64, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, invalid(field, "is required")
	}
	whole, frac, hasFrac := strings.Cut(v, ".")
	if whole == "" || len(whole) > 9 || (hasFrac && (len(frac) == 0 || len(frac) > 2)) {
		return 0, invalid(field, "must be an amount like 25 or 25.50")
	}
	var n int64
	for _, c := range whole + frac {
		if c < '0' || c > '9' {
			return 0, invalid(field, "must be an amount like 25 or 25.50")
		}
		n = n*10 + int64(c-'0')
	}
	if len(frac) < 2 {
		for range 2 - len(frac) {
			n *= 10
		}
	}
	return CheckAmount(field, n)
}

// CheckAmount checks an amount in minor units.
func CheckAmount(field string, n int64) (int64, error) {
	if n <= 0 {
		return 0, invalid(field, "must be positive")
	}
	if n > MaxCompensation {
		return 0, invalid(field, fmt.Sprintf("must be at most %d.%02d", MaxCompensation/100, MaxCompensation%100))
	}
	return n, nil
}

// Source names the service an event comes from, derived from its type and
// the order's channel.
func Source(eventType, channel string) string {
	switch eventType {
	case contracts.OrderPlaced, contracts.OrderCancelRequested:
		if channel == contracts.ChannelAPI {
			return "mes-api"
		}
		return "shop"
	case contracts.OrderPriced, contracts.OrderNeedsReview:
		return "mes-calc"
	case contracts.OrderInProduction, contracts.OperationStarted, contracts.OperationFinished, contracts.OrderProduced, contracts.OrderShipped:
		return "mes-operator"
	case contracts.OrderConfirmed, contracts.OrderOnHold, contracts.OrderResumed, contracts.OrderAssigned,
		contracts.OrderNoteAdded, contracts.CompensationGranted:
		return "crm"
	case contracts.OrderCancelled:
		if channel == contracts.ChannelAPI {
			return "mes-api"
		}
		return "crm"
	}
	return "unknown"
}
