package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/outbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/text"
	"github.com/fabrika/fabrika/services/mes-api/internal/orderreq"
	"github.com/fabrika/fabrika/services/mes-api/internal/store"
)

// QuoteLine is the quote of one line.
type QuoteLine struct {
	LineNo    int                     `json:"line_no"`
	Product   string                  `json:"product"`
	Quantity  int                     `json:"quantity"`
	Lead      string                  `json:"lead"`
	UnitPrice int64                   `json:"unit_price"`
	Total     int64                   `json:"total"`
	LeadDays  int                     `json:"lead_days"`
	Breaks    []contracts.Break       `json:"breaks"`
	Routing   []contracts.RoutingStep `json:"routing"`
}

// QuoteResult answers POST /v1/quotes.
type QuoteResult struct {
	PriceListVersion int64       `json:"price_list_version"`
	Currency         string      `json:"currency"`
	Lines            []QuoteLine `json:"lines"`
	Total            int64       `json:"total"`
}

// requestError turns what orderreq refuses into 400 or 422.
func requestError(err error) error {
	var se *orderreq.SyntaxError
	var fe text.FieldErrors
	switch {
	case errors.As(err, &se):
		return fail(KindBadRequest, "%s", se.Msg)
	case errors.As(err, &fe):
		return invalid("the request is not valid: "+fe.Error(), fe)
	}
	return err
}

func (a *App) price(ctx context.Context, body []byte, withDelivery bool) (orderreq.Request, orderreq.Priced, error) {
	req, err := orderreq.Parse(body, withDelivery)
	if err != nil {
		return orderreq.Request{}, orderreq.Priced{}, requestError(err)
	}
	pl, ok, err := a.PriceList(ctx)
	if err != nil {
		return orderreq.Request{}, orderreq.Priced{}, err
	}
	if !ok {
		return orderreq.Request{}, orderreq.Priced{}, fail(KindUnavailable, "%s; try again shortly", contracts.ErrNoPriceList)
	}
	p, err := orderreq.Price(pl, req)
	if err != nil {
		return orderreq.Request{}, orderreq.Priced{}, requestError(err)
	}
	return req, p, nil
}

// Quote prices lines from mes-api's copy of the price list.
func (a *App) Quote(ctx context.Context, body []byte) (QuoteResult, error) {
	_, p, err := a.price(ctx, body, false)
	if err != nil {
		return QuoteResult{}, err
	}
	r := QuoteResult{PriceListVersion: p.PriceListVersion, Currency: p.Currency, Total: p.Total}
	for i, l := range p.Lines {
		q := p.Quotes[i]
		r.Lines = append(r.Lines, QuoteLine{LineNo: l.LineNo, Product: l.Product, Quantity: l.Quantity, Lead: l.Lead,
			UnitPrice: q.UnitPrice, Total: q.Total, LeadDays: q.LeadDays, Breaks: q.Breaks, Routing: q.Routing})
	}
	return r, nil
}

// Placed is the answer to POST /v1/orders, first or replayed.
type Placed struct {
	Status   int
	Body     []byte
	Replayed bool
}

// ValidIdempotencyKey tells whether a header value can be an
// Idempotency-Key: 1 to 255 printable ASCII characters.
func ValidIdempotencyKey(k string) bool {
	if k == "" || len(k) > 255 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// RequestHash is the hash of a request body compared across retries: JSON is
// compacted first, so whitespace does not matter.
func RequestHash(body []byte) string {
	var buf bytes.Buffer
	if json.Compact(&buf, body) != nil {
		buf.Reset()
		buf.Write(body)
	}
	s := sha256.Sum256(buf.Bytes())
	return hex.EncodeToString(s[:])
}

// replayOrRefuse answers a request whose key is already recorded; ok false
// when the record is an abandoned claim of the same request that may be
// taken over.
func (a *App) replayOrRefuse(rec store.Idempotency, hash string) (Placed, bool, error) {
	if rec.RequestHash != hash {
		return Placed{}, true, invalid("this Idempotency-Key was used with a different request body",
			map[string]string{"Idempotency-Key": "already used with a different body"})
	}
	if rec.State == store.IdemDone {
		return Placed{Status: rec.ResponseStatus, Body: rec.ResponseBody, Replayed: true}, true, nil
	}
	if rec.LockedUntil.After(a.now()) {
		return Placed{}, true, fail(KindConflict, "a request with this Idempotency-Key is still being processed; retry later")
	}
	return Placed{}, false, nil
}

// PlaceOrder accepts an order once per Idempotency-Key: it is checked and
// priced before anything is written, then the order and its order.placed
// message are written in one transaction with the answer that a retry with
// the same key and body gets back.
func (a *App) PlaceOrder(ctx context.Context, who store.Principal, idemKey string, body []byte) (Placed, error) {
	if !ValidIdempotencyKey(idemKey) {
		return Placed{}, fail(KindBadRequest, "the Idempotency-Key header is required: 1 to 255 printable ASCII characters")
	}
	clientID := who.Key.ClientID
	hash := RequestHash(body)
	rec, err := a.store.GetIdempotency(ctx, a.db, clientID, idemKey)
	switch {
	case err == nil:
		if p, done, err := a.replayOrRefuse(rec, hash); done {
			return p, err
		}
	case !errors.Is(err, store.ErrNotFound):
		return Placed{}, err
	}
	req, priced, err := a.price(ctx, body, true)
	if err != nil {
		return Placed{}, err
	}
	now := a.now()
	token := store.NewID()
	claimed, err := a.store.ClaimIdempotency(ctx, a.db, store.Idempotency{ClientID: clientID, Key: idemKey, RequestHash: hash,
		LockedUntil: now.Add(a.cfg.IdempotencyLease), CreatedAt: now, Token: token})
	if err != nil {
		return Placed{}, err
	}
	if !claimed {
		rec, err := a.store.GetIdempotency(ctx, a.db, clientID, idemKey)
		if err != nil {
			return Placed{}, err
		}
		p, _, err := a.replayOrRefuse(rec, hash)
		if err == nil && p.Status == 0 {
			err = fail(KindConflict, "a request with this Idempotency-Key is still being processed; retry later")
		}
		return p, err
	}
	stop := a.keepClaim(ctx, clientID, idemKey, token)
	placed, err := a.createOrder(ctx, who, idemKey, token, req, priced)
	stop()
	switch {
	case errors.Is(err, store.ErrClaimLost):
		// Our lease ran out and a retry took the key over: it decides.
		return Placed{}, fail(KindConflict, "a request with this Idempotency-Key is still being processed; retry later")
	case err != nil:
		_ = a.store.ReleaseIdempotency(context.WithoutCancel(ctx), a.db, clientID, idemKey, token)
		return Placed{}, err
	}
	return placed, nil
}

// keepClaim renews a claim's lease every third of it until the returned
// function is called, so that a live request keeps its key however long it
// takes while a dead one's key is free again within a lease.
func (a *App) keepClaim(ctx context.Context, clientID, key, token string) (stop func()) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(a.cfg.IdempotencyLease / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := a.store.RenewIdempotency(ctx, a.db, clientID, key, token, a.now().Add(a.cfg.IdempotencyLease)); errors.Is(err, store.ErrClaimLost) {
					return
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}

func newNumber() string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return "API-" + base32.StdEncoding.EncodeToString(b[:])
}

func (a *App) createOrder(ctx context.Context, who store.Principal, idemKey, token string, req orderreq.Request, p orderreq.Priced) (Placed, error) {
	now := a.now()
	o := store.Order{ID: store.NewID(), Number: newNumber(), ClientID: who.Key.ClientID, Reference: req.Reference,
		Status: contracts.StatusPlaced, Lines: p.Lines, Delivery: req.Delivery, Currency: p.Currency, QuotedTotal: p.Total,
		PriceListVersion: p.PriceListVersion, CreatedAt: now, UpdatedAt: now}
	msg := contracts.OrderPlacedV1{OrderID: o.ID, Number: o.Number, Channel: contracts.ChannelAPI,
		Customer: contracts.Customer{ID: who.Key.ClientID, Name: who.ClientName, Email: who.Email, Company: who.ClientName},
		Lines:    o.Lines, Delivery: o.Delivery, Currency: o.Currency, QuotedTotal: o.QuotedTotal,
		PriceListVersion: o.PriceListVersion, PlacedAt: now}
	if err := msg.Validate(); err != nil {
		return Placed{}, fmt.Errorf("order.placed for %s: %w", o.ID, err)
	}
	o.History = []store.HistoryEntry{{Event: contracts.OrderPlaced, Status: o.Status, At: now}}
	resp, err := json.Marshal(o)
	if err != nil {
		return Placed{}, fmt.Errorf("marshal order: %w", err)
	}
	err = a.db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		if err := a.store.InsertOrder(ctx, tx, o); err != nil {
			return err
		}
		m, err := outbox.NewMessage(contracts.Subject(contracts.OrderPlaced), o.ID, msg)
		if err != nil {
			return err
		}
		m.Trace = o.ID
		if err := a.outbox.Enqueue(ctx, tx, m); err != nil {
			return err
		}
		// The fence: the order commits only with the claim still ours.
		return a.store.CompleteIdempotency(ctx, tx, who.Key.ClientID, idemKey, token, http.StatusCreated, resp)
	})
	if err != nil {
		return Placed{}, fmt.Errorf("place order: %w", err)
	}
	return Placed{Status: http.StatusCreated, Body: resp}, nil
}

// GetOrder reads one of the client's orders.
func (a *App) GetOrder(ctx context.Context, clientID, id string) (store.Order, error) {
	o, err := a.store.GetOrder(ctx, a.db, clientID, id)
	return o, notFound(err, "order")
}

// Page is one page of a list with the cursor of the next ("" at the end).
type Page[T any] struct {
	Data       []T    `json:"data"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// MaxPageSize bounds a page.
const MaxPageSize = 100

func decodeCursor(c string) (string, error) {
	if c == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || !utf8.Valid(b) || len(b) > 64 {
		return "", invalid("the cursor is not valid", map[string]string{"cursor": "not a cursor this API returned"})
	}
	return string(b), nil
}

func encodeCursor(id string) string { return base64.RawURLEncoding.EncodeToString([]byte(id)) }

func pageSize(limit int) (int, error) {
	switch {
	case limit == 0:
		return 20, nil
	case limit < 1 || limit > MaxPageSize:
		return 0, invalid("the limit is not valid", map[string]string{"limit": fmt.Sprintf("must be between 1 and %d", MaxPageSize)})
	}
	return limit, nil
}

// ListOrders lists a client's orders newest first.
func (a *App) ListOrders(ctx context.Context, clientID string, f store.OrderFilter, cursor string, limit int) (Page[store.Order], error) {
	if _, ok := contracts.StatusRank(f.Status); f.Status != "" && !ok {
		return Page[store.Order]{}, invalid("unknown status", map[string]string{"status": "must be one of " + strings.Join(contracts.Statuses(), ", ")})
	}
	before, err := decodeCursor(cursor)
	if err != nil {
		return Page[store.Order]{}, err
	}
	n, err := pageSize(limit)
	if err != nil {
		return Page[store.Order]{}, err
	}
	for name, v := range map[string]string{"number": f.Number, "reference": f.Reference} {
		if err := (text.Field{Max: 100}).Check(v); err != nil {
			return Page[store.Order]{}, invalid("the "+name+" is not valid", map[string]string{name: err.Error()})
		}
	}
	os, err := a.store.ListOrders(ctx, a.db, clientID, f, before, n+1)
	if err != nil {
		return Page[store.Order]{}, err
	}
	p := Page[store.Order]{Data: os}
	if len(os) > n {
		p.Data = os[:n]
		p.NextCursor = encodeCursor(os[n-1].ID)
	}
	if p.Data == nil {
		p.Data = []store.Order{}
	}
	return p, nil
}

// RequestCancel asks for an order to be cancelled: it emits
// order.cancel_requested once; the order is cancelled when the platform says
// so (order.cancelled).
func (a *App) RequestCancel(ctx context.Context, who store.Principal, id, reason string) (store.Order, error) {
	reason = strings.TrimSpace(reason)
	if err := (text.Field{Max: 500, Multiline: true}).Check(reason); err != nil {
		return store.Order{}, invalid("the reason is not valid", map[string]string{"reason": err.Error()})
	}
	var o store.Order
	err := a.db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		var err error
		if o, err = a.store.GetOrder(ctx, tx, who.Key.ClientID, id); err != nil {
			return notFound(err, "order")
		}
		switch o.Status {
		case contracts.StatusShipped, contracts.StatusCancelled:
			return fail(KindConflict, "the order is %s and can no longer be cancelled", o.Status)
		}
		now := a.now()
		first, err := a.store.MarkCancelRequested(ctx, tx, id, now)
		if err != nil || !first {
			return err
		}
		o.CancelRequestedAt, o.UpdatedAt = now, now
		m, err := outbox.NewMessage(contracts.Subject(contracts.OrderCancelRequested), id, contracts.OrderStatusChangedV1{
			OrderID: id, Channel: contracts.ChannelAPI, Reason: reason, By: "api:" + who.Key.Prefix, At: now})
		if err != nil {
			return err
		}
		m.Trace = id
		return a.outbox.Enqueue(ctx, tx, m)
	})
	return o, err
}
