// Package ordertrace answers "where is this order?" for one service: what
// its own tables say of the order (the service's Finder), the order's
// messages still in its outbox and those its inbox processed or
// dead-lettered. Each service serves it on its admin listener
// (host.HandleOrderTrace, GET /admin/orders/{ref}/trace); `fabrika order
// trace` asks every service and ends with Verdict, one line that says where
// the order is and what it waits for.
package ordertrace

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/fabrika/fabrika/platform/httpx"
	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/outbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/text"
)

// Summary is a service's own view of an order, from its tables.
type Summary struct {
	OrderID string `json:"order_id"`
	Number  string `json:"number,omitempty"`
	Channel string `json:"channel,omitempty"` // shop | api
	// Status is the order's status as this service keeps it; a status of
	// contracts (placed ... cancelled) where the service has one.
	Status string    `json:"status"`
	Since  time.Time `json:"since,omitzero"` // when it took Status, as far as the service knows
	// Times are the order's key moments the service recorded, oldest first.
	Times []Moment `json:"times"`
	// Facts are what else the service knows that explains the order's place
	// (who confirmed it, operations done, the review reason...).
	Facts []Fact `json:"facts,omitempty"`
	// Thresholds are the stuck thresholds per status (the CRM's), in seconds.
	Thresholds map[string]int64 `json:"stuck_after_seconds,omitempty"`
}

// Moment is a time in an order's life.
type Moment struct {
	What string    `json:"what"`
	At   time.Time `json:"at"`
}

// Fact is a named detail of a Summary.
type Fact struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Finder finds an order in a service's tables by its id or its number; found
// is false when the service has no row of it.
type Finder func(ctx context.Context, ref string) (s Summary, found bool, err error)

// Report is what one service knows of an order.
type Report struct {
	Service string `json:"service"`
	Ref     string `json:"ref"`      // as asked: an order id or number
	OrderID string `json:"order_id"` // the key the messages were looked up by
	// Rows is the service's own summary; nil when it has no row of the order.
	Rows        *Summary           `json:"rows"`
	Outbox      []outbox.Entry     `json:"outbox"`       // its messages not yet published, or in error
	Inbox       []inbox.Record     `json:"inbox"`        // the messages it processed
	DeadLetters []inbox.DeadLetter `json:"dead_letters"` // the messages it gave up on
}

// Knows tells whether the service has anything of the order.
func (r Report) Knows() bool {
	return r.Rows != nil || len(r.Outbox) > 0 || len(r.Inbox) > 0 || len(r.DeadLetters) > 0
}

// ErrBadRef is a reference that cannot be an order id or number.
var ErrBadRef = errors.New("not an order id or number")

// maxRef bounds a reference: ids are UUIDs, numbers are short.
const maxRef = 64

// Trace builds a service's report of the order ref: find resolves it (by id
// or number) to the service's row; the outbox and the inbox are asked by the
// resolved id, or by ref itself when the service has no row (a message may
// have been dead-lettered before any row was written).
func Trace(ctx context.Context, service string, db *sqldb.DB, find Finder, ref string) (Report, error) {
	if ref == "" || len(ref) > maxRef || text.Clean(ref) != nil {
		return Report{}, fmt.Errorf("%q: %w", ref, ErrBadRef)
	}
	rep := Report{Service: service, Ref: ref, OrderID: ref}
	if find != nil {
		s, found, err := find(ctx, ref)
		if err != nil {
			return rep, fmt.Errorf("trace %s in %s: %w", ref, service, err)
		}
		if found {
			if s.Times == nil {
				s.Times = []Moment{}
			}
			rep.Rows, rep.OrderID = &s, s.OrderID
		}
	}
	var err error
	if rep.Outbox, err = outbox.NewAdmin(db).ByKey(ctx, rep.OrderID, 0); err != nil {
		return rep, err
	}
	h, err := inbox.ByKey(ctx, db, rep.OrderID, 0)
	if err != nil {
		return rep, err
	}
	rep.Inbox, rep.DeadLetters = h.Processed, h.DeadLetters
	return rep, nil
}

// Handler serves GET .../{ref}/trace: 200 with the Report, 404 when the
// service knows nothing of the order, 422 for a reference that cannot be
// one.
func Handler(service string, db *sqldb.DB, find Finder, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ref := r.PathValue("ref")
		rep, err := Trace(r.Context(), service, db, find, ref)
		switch {
		case errors.Is(err, ErrBadRef):
			httpx.WriteProblem(w, r, httpx.Invalid("not an order id or number", map[string]string{"ref": "an order id or number, at most 64 characters of text"}))
		case err != nil:
			httpx.WriteError(w, r, log, err)
		case !rep.Knows():
			httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusNotFound, fmt.Sprintf("%s knows no order %s", service, ref)))
		default:
			httpx.WriteJSON(w, http.StatusOK, rep)
		}
	})
}
