// Package production is the shop floor's domain: the operations of a
// confirmed order's routing, the states an operation goes through while an
// operator works on it, and the rules that say which step may happen when
// (sequence per line, holds, cancellation, shipping only once produced). It
// imports only the standard library; storage and HTTP live elsewhere.
package production

import (
	"errors"
	"fmt"
)

// Kind classifies an error so that it can be turned into an HTTP status in
// one place.
type Kind int

// Kinds of errors.
const (
	KindInvalid   Kind = iota + 1 // the request itself is wrong (422)
	KindConflict                  // the request is fine but the state forbids it (409)
	KindNotFound                  // no such operation, order or workstation (404)
	KindForbidden                 // the operator may not act here (403)
)

// Error is a domain error with its kind, the field at fault (for forms and
// API clients; "" when none) and a message meant for the operator.
type Error struct {
	Kind    Kind
	Field   string
	Message string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return e.Field + ": " + e.Message
	}
	return e.Message
}

// Is lets errors.Is match errors by kind: errors.Is(err, ErrConflict).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Field == "" && t.Message == "" && t.Kind == e.Kind
}

// Sentinels to test an error's kind with errors.Is.
var (
	ErrInvalid   = &Error{Kind: KindInvalid}
	ErrConflict  = &Error{Kind: KindConflict}
	ErrNotFound  = &Error{Kind: KindNotFound}
	ErrForbidden = &Error{Kind: KindForbidden}
)

func invalid(field, format string, args ...any) error {
	return &Error{Kind: KindInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

func conflict(format string, args ...any) error {
	return &Error{Kind: KindConflict, Message: fmt.Sprintf(format, args...)}
}

// NotFound returns a not-found error about what.
func NotFound(format string, args ...any) error {
	return &Error{Kind: KindNotFound, Message: fmt.Sprintf(format, args...)}
}

// Forbidden returns a forbidden error.
func Forbidden(format string, args ...any) error {
	return &Error{Kind: KindForbidden, Message: fmt.Sprintf(format, args...)}
}

// Conflict returns a conflict error (exported for the stores, which detect
// concurrent changes).
func Conflict(format string, args ...any) error { return conflict(format, args...) }

// Invalid returns an invalid-input error about a field.
func Invalid(field, format string, args ...any) error { return invalid(field, format, args...) }

// AsError returns the domain error in err's chain, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
