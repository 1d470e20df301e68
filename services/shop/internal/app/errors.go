package app

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies an application error; the web package turns each into
// one HTTP status.
type Kind int

// Kinds of errors.
const (
	KindInvalid      Kind = iota + 1 // a field is wrong (422)
	KindBadRequest                   // a request the shop cannot read (400)
	KindUnauthorized                 // not signed in or wrong credentials (401)
	KindNotFound                     // (404)
	KindConflict                     // the state does not allow it (409)
	KindKeyReused                    // an idempotency key with another body (422)
	KindRateLimited                  // too many attempts (429)
	KindUnavailable                  // e.g. no price list yet (503)
)

// Error is an error the customer can act on.
type Error struct {
	Kind       Kind
	Message    string
	Fields     map[string]string // field -> what is wrong
	RetryAfter time.Duration     // for KindRateLimited and KindUnavailable
	Err        error             // the cause, for the log (never shown)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// retryOutage is what a client is told to wait while a dependency is down.
const retryOutage = 5 * time.Second

// outage is the error of a request that needs a dependency that is down
// (the database): 503 with Retry-After, never "not signed in".
func outage(what string, err error) *Error {
	return &Error{Kind: KindUnavailable, Message: what + " is unavailable; try again shortly", RetryAfter: retryOutage, Err: err}
}

func (e *Error) Error() string {
	if len(e.Fields) > 0 {
		return fmt.Sprintf("%s: %v", e.Message, e.Fields)
	}
	return e.Message
}

// ErrNoPriceList is the error of a quote asked before any price list arrived.
var ErrNoPriceList = &Error{Kind: KindUnavailable, Message: "no price list yet", RetryAfter: time.Minute}

func errorf(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

func invalid(msg string, fields map[string]string) *Error {
	return &Error{Kind: KindInvalid, Message: msg, Fields: fields}
}

// AsError returns the *Error in err's chain, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
