package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/outbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/text"
	"github.com/fabrika/fabrika/services/shop/internal/order"
	"github.com/fabrika/fabrika/services/shop/internal/orderpage"
	"github.com/fabrika/fabrika/services/shop/internal/store"
)

// Order is an order as the customer sees it.
type Order = store.Order

// ValidKey tells whether an idempotency key is usable: 1 to 128 printable
// ASCII characters.
func ValidKey(k string) bool {
	if k == "" || len(k) > 128 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// PlaceOptions say where an order comes from.
type PlaceOptions struct {
	ClearCart bool // the order was placed from the cart: empty it in the same transaction
}

// PlaceOrder prices a validated request with the current price list and
// writes the order, its lines and its order.placed message in one
// transaction. The idempotency key makes it safe to repeat: the same key
// with the same request returns the order placed first (created false); the
// same key with another request is refused (KindKeyReused).
func (s *Shop) PlaceOrder(ctx context.Context, c Customer, key string, req order.Request, opt PlaceOptions) (Order, bool, error) {
	if !ValidKey(key) {
		return Order{}, false, &Error{Kind: KindBadRequest, Message: "an idempotency key of 1 to 128 printable characters is required",
			Fields: map[string]string{"idempotency_key": "is missing or malformed"}}
	}
	hash := req.Hash()
	// The fast path prices and inserts at once; a repeated key is caught by
	// the unique constraint. Only when the request cannot be priced (now)
	// is the key looked up first, so that a retry of an order placed under
	// an older price list still returns that order.
	pl, err := s.PriceList(ctx)
	var lines []store.Line
	var total int64
	var fe map[string]string
	if err == nil {
		lines, total, fe = price(pl, req.Lines)
	}
	if err != nil || len(fe) > 0 {
		if prev, perr := s.st.OrderByKey(ctx, s.db, c.ID, key); perr == nil {
			return s.replay(ctx, c, prev, hash)
		} else if !errors.Is(perr, store.ErrNotFound) {
			return Order{}, false, perr
		}
		if err != nil {
			return Order{}, false, err
		}
		return Order{}, false, invalid("the order cannot be placed", fe)
	}
	now := s.now()
	number, err := s.numbers.take(ctx, now.Year())
	if err != nil {
		return Order{}, false, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Order{}, false, err
	}
	o := Order{ID: id.String(), Number: number, CustomerID: c.ID, IdempotencyKey: key, RequestHash: hash,
		Status: contracts.StatusPlaced, Currency: pl.Currency, QuotedTotal: total, PriceListVersion: pl.Version,
		LineCount: len(lines), Contact: req.Contact, Delivery: req.Delivery, PlacedAt: now, UpdatedAt: now, Lines: lines}
	msg, err := outbox.NewMessage(contracts.Subject(contracts.OrderPlaced), o.ID, placedEvent(c, o))
	if err != nil {
		return Order{}, false, err
	}
	// The transaction has the statements of a hand-written loop: BEGIN,
	// the order, its lines, the message, COMMIT. A repeated key fails the
	// order's INSERT on the unique constraint (on PostgreSQL after waiting
	// for a concurrent holder of the key to commit); the order that holds
	// the key is then read outside the rolled-back transaction.
	err = s.db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		if err := s.st.InsertOrder(ctx, tx, o); err != nil {
			return err
		}
		if opt.ClearCart {
			if err := s.st.ClearCart(ctx, tx, c.ID); err != nil {
				return err
			}
		}
		tx.AfterCommit(func() { s.caches.Invalidate(cacheOrders, c.ID) })
		msg.Trace = o.ID
		return s.out.Enqueue(ctx, tx, msg)
	})
	if errors.Is(err, store.ErrKeyUsed) {
		prev, perr := s.st.OrderByKey(ctx, s.db, c.ID, key)
		if errors.Is(perr, store.ErrNotFound) {
			return Order{}, false, fmt.Errorf("place order: %w", err) // another unique column: not a replay
		}
		if perr != nil {
			return Order{}, false, perr
		}
		return s.replay(ctx, c, prev, hash)
	}
	if err != nil {
		return Order{}, false, fmt.Errorf("place order: %w", err)
	}
	return o, true, nil
}

func (s *Shop) replay(ctx context.Context, c Customer, prev Order, hash string) (Order, bool, error) {
	if prev.RequestHash != hash {
		return Order{}, false, &Error{Kind: KindKeyReused, Message: fmt.Sprintf(
			"this idempotency key was used for order %s with a different request; use a new key for a new order", prev.Number),
			Fields: map[string]string{"idempotency_key": "already used with a different request"}}
	}
	full, err := s.Order(ctx, c, prev.ID)
	return full, false, err
}

// price quotes every line; the errors name the line's field.
func price(pl *contracts.PriceListV1, req []contracts.Config) ([]store.Line, int64, map[string]string) {
	fe := map[string]string{}
	lines := make([]store.Line, 0, len(req))
	var total int64
	for i, l := range req {
		q, err := pl.Quote(l)
		if err != nil {
			var qe *contracts.QuoteError
			if errors.As(err, &qe) {
				fe[fmt.Sprintf("lines[%d].%s", i, quoteField(qe.Field))] = qe.Message
			} else {
				fe[fmt.Sprintf("lines[%d]", i)] = err.Error()
			}
			continue
		}
		lines = append(lines, store.Line{LineNo: i + 1, Product: l.Product, Options: l.Options, Quantity: l.Quantity,
			Lead: l.Lead, UnitPrice: q.UnitPrice, Total: q.Total, LeadDays: q.LeadDays})
		total += q.Total
	}
	return lines, total, fe
}

func placedEvent(c Customer, o Order) contracts.OrderPlacedV1 {
	ev := contracts.OrderPlacedV1{
		OrderID: o.ID, Number: o.Number, Channel: contracts.ChannelShop,
		Customer: contracts.Customer{ID: c.ID, Name: o.Contact.Name, Email: o.Contact.Email,
			Company: o.Contact.Company, Phone: o.Contact.Phone},
		Delivery: o.Delivery, Currency: o.Currency, QuotedTotal: o.QuotedTotal,
		PriceListVersion: o.PriceListVersion, PlacedAt: o.PlacedAt,
	}
	for _, l := range o.Lines {
		ev.Lines = append(ev.Lines, contracts.LineItem{LineNo: l.LineNo, Product: l.Product, Options: l.Options,
			Quantity: l.Quantity, Lead: l.Lead, UnitPrice: l.UnitPrice, Total: l.Total})
	}
	return ev
}

// Page is a page of "my orders".
type Page struct {
	Orders []store.Summary
	Next   string // cursor of the next page, "" on the last
}

// MaxPageSize bounds a page of "my orders".
const MaxPageSize = 100

// pagesPerCustomer bounds the rendered pages kept per customer: the first
// page of each filter and a few pages deeper.
const pagesPerCustomer = 16

// pageQuery is a validated request for a page of "my orders".
type pageQuery struct {
	status string
	after  *order.Cursor
	limit  int
	key    string // the page's name in the page cache
}

func newPageQuery(status, cursor string, limit int) (pageQuery, error) {
	status = strings.TrimSpace(status)
	if status != "" && !order.ValidStatus(status) {
		return pageQuery{}, &Error{Kind: KindBadRequest, Message: fmt.Sprintf("unknown status %q", status),
			Fields: map[string]string{"status": "must be one of " + strings.Join(contracts.Statuses(), ", ")}}
	}
	if limit == 0 {
		limit = 20
	}
	if limit < 1 || limit > MaxPageSize {
		return pageQuery{}, &Error{Kind: KindBadRequest, Message: fmt.Sprintf("limit must be 1 to %d", MaxPageSize),
			Fields: map[string]string{"limit": fmt.Sprintf("must be 1 to %d", MaxPageSize)}}
	}
	cur, ok, err := order.DecodeCursor(cursor)
	if err != nil {
		return pageQuery{}, &Error{Kind: KindBadRequest, Message: "the cursor is malformed; start again from the first page",
			Fields: map[string]string{"cursor": "malformed"}}
	}
	q := pageQuery{status: status, limit: limit, key: status + "|" + cursor + "|" + strconv.Itoa(limit)}
	if ok {
		q.after = &cur
	}
	return q, nil
}

// ListOrders returns a page of a customer's orders, newest first.
func (s *Shop) ListOrders(ctx context.Context, c Customer, status, cursor string, limit int) (Page, error) {
	q, err := newPageQuery(status, cursor, limit)
	if err != nil {
		return Page{}, err
	}
	return s.listOrders(ctx, c, q)
}

func (s *Shop) listOrders(ctx context.Context, c Customer, q pageQuery) (Page, error) {
	rows, err := s.st.ListOrders(ctx, c.ID, q.status, q.after, q.limit+1)
	if err != nil {
		return Page{}, err
	}
	p := Page{Orders: rows}
	if len(rows) > q.limit {
		p.Orders = rows[:q.limit]
		last := p.Orders[q.limit-1]
		p.Next = order.Cursor{PlacedAt: last.PlacedAtMicros, ID: last.ID}.Encode()
	}
	return p, nil
}

// Rendered is a page of "my orders" as sent: its body and entity tag (a
// hash of the body).
type Rendered = orderpage.Entry

// RenderedOrders returns a page of a customer's orders rendered by render,
// from the page cache when it holds the page. The cache drops a customer's
// pages, on every replica, after every committed change of one of the
// customer's orders (placed, an event of the timeline, a cancellation
// request), and keeps a page at most OrdersCacheTTL (the bound while the
// broker is away).
func (s *Shop) RenderedOrders(ctx context.Context, c Customer, status, cursor string, limit int, render func(Page) ([]byte, error)) (Rendered, error) {
	q, err := newPageQuery(status, cursor, limit)
	if err != nil {
		return Rendered{}, err
	}
	if e, ok := s.pages.Get(c.ID, q.key); ok {
		s.cache.requests.WithLabelValues("orders", "hit").Inc()
		return e, nil
	}
	if s.pages != nil {
		s.cache.requests.WithLabelValues("orders", "miss").Inc()
	}
	t := s.pages.Begin(c.ID)
	p, err := s.listOrders(ctx, c, q)
	if err != nil {
		return Rendered{}, err
	}
	body, err := render(p)
	if err != nil {
		return Rendered{}, fmt.Errorf("render my orders: %w", err)
	}
	sum := sha256.Sum256(body)
	e := Rendered{Body: body, ETag: `"o-` + hex.EncodeToString(sum[:12]) + `"`}
	s.pages.Put(t, q.key, e)
	return e, nil
}

// Order returns one of the customer's orders, by id or number.
func (s *Shop) Order(ctx context.Context, c Customer, ref string) (Order, error) {
	if ref == "" || len(ref) > 64 {
		return Order{}, errorf(KindNotFound, "no such order")
	}
	o, err := s.st.CustomerOrder(ctx, c.ID, ref)
	if errors.Is(err, store.ErrNotFound) {
		return Order{}, errorf(KindNotFound, "no order %s", ref)
	}
	return o, err
}

// RequestCancel asks the CRM to cancel an order: it emits
// order.cancel_requested and notes it on the timeline; the status changes
// only when order.cancelled arrives. Asking twice changes nothing.
func (s *Shop) RequestCancel(ctx context.Context, c Customer, ref, reason string) (Order, error) {
	reason = strings.TrimSpace(reason)
	fe := text.FieldErrors{}
	order.CheckText(fe, "reason", reason, text.Field{Max: 500, Multiline: true}, "")
	if len(fe) > 0 {
		return Order{}, invalid("the request cannot be sent", fe)
	}
	o, err := s.Order(ctx, c, ref)
	if err != nil {
		return Order{}, err
	}
	if !o.CancelRequestedAt.IsZero() {
		return o, nil
	}
	if !order.Cancellable(o.Status) {
		return Order{}, errorf(KindConflict, "order %s is %s and can no longer be cancelled", o.Number, order.StatusLabel(o.Status))
	}
	now := s.now()
	msg, err := outbox.NewMessage(contracts.Subject(contracts.OrderCancelRequested), o.ID, contracts.OrderStatusChangedV1{
		OrderID: o.ID, Channel: contracts.ChannelShop, Reason: reason, By: "customer:" + c.ID, At: now})
	if err != nil {
		return Order{}, err
	}
	err = s.db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		marked, err := s.st.MarkCancelRequested(ctx, tx, o.ID, now)
		if err != nil || !marked {
			return err
		}
		tx.AfterCommit(func() { s.caches.Invalidate(cacheOrders, c.ID) })
		if _, err := s.st.AddEvent(ctx, tx, store.Event{ID: msg.ID, OrderID: o.ID, Kind: order.KindCancelRequested, At: now, Detail: reason}); err != nil {
			return err
		}
		msg.Trace = o.ID
		return s.out.Enqueue(ctx, tx, msg)
	})
	if err != nil {
		return Order{}, fmt.Errorf("request cancel of %s: %w", o.Number, err)
	}
	return s.Order(ctx, c, o.ID)
}

// OrderByKey returns the order a customer placed with an idempotency key.
func (s *Shop) OrderByKey(ctx context.Context, c Customer, key string) (Order, bool, error) {
	if !ValidKey(key) {
		return Order{}, false, nil
	}
	o, err := s.st.OrderByKey(ctx, s.db, c.ID, key)
	if errors.Is(err, store.ErrNotFound) {
		return Order{}, false, nil
	}
	return o, err == nil, err
}
